"""Optional parts of the install (pyproject extras): the module that provides each, loaded on first use.

The core install serves the embedded index with exact vector search and LightGBM trees; these need an
extra, and using them without it is a `MissingExtraError` that names the pip command, never an
ImportError from deep inside a request.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

from ragsearch.retrieval.errors import RagsearchError

EXTRAS = {
    "usearch.index": ("ann", "HNSW vector search"),
    "faiss": ("ann", "IVF vector search"),
    "elasticsearch": ("elasticsearch", "the Elasticsearch backend"),
    "streamlit": ("ui", "the search UI"),
    "datasets": ("train", "fine-tuning the embedding model"),
    "accelerate": ("train", "fine-tuning the embedding model"),
}


class MissingExtraError(RagsearchError):
    """A feature whose optional dependencies are not installed."""


def require(module: str) -> ModuleType:
    """`module`, imported; MissingExtraError naming the extra to install when it is absent."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        extra, purpose = EXTRAS[module]
        raise MissingExtraError(
            f"{purpose} needs the '{extra}' extra: pip install 'ragsearch[{extra}]' ({e})"
        ) from None


@functools.cache
def available(module: str) -> bool:
    """Whether `module` can be imported (it is imported to find out; the answer is kept, because a failed
    import is not cached by Python and this is asked on every vector search of a large `auto` index)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True

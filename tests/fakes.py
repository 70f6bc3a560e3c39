"""Deterministic fakes, named as fakes. Each one keeps a unit test fast; a real-model test sits beside it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


class FakeHashEmbedder:
    """FAKE embedder: a bag of hashed lowercase words, L2-normalised. Not a language model.

    It passes the embedder contract (tests/retrieval/embedder_contract.py) like the real models do.

    Texts sharing words get positive cosine, which is enough to exercise vector storage and search.
    """

    def __init__(self, dim: int = 64, name: str = "fake-hash-64") -> None:
        self._dim = dim
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def _one(self, text: str) -> NDArray[np.float32]:
        v = np.zeros(self._dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            v[h % self._dim] += 1.0 if (h >> 32) & 1 else -1.0
        n = np.linalg.norm(v)
        if not n:  # no words (or they cancel): one fixed direction, as a model embeds only its specials
            v[0] = 1.0
            return v
        return v / n

    def embed_documents(self, texts: Sequence[str], batch_size=None, progress=None) -> NDArray[np.float32]:  # type: ignore[no-untyped-def]
        out = np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self._dim), np.float32)
        if progress:
            progress(len(texts))
        return out

    def embed_queries(self, texts: Sequence[str], batch_size=None) -> NDArray[np.float32]:  # type: ignore[no-untyped-def]
        return self.embed_documents(texts)

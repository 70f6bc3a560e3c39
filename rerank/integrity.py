"""Checks that a registered model file is whole before LightGBM (or the tree compiler) reads it.

LightGBM trusts its input: a truncated `model.txt` can crash the process (a segfault in the parser, or an
abort in compiled code built from it). So a model file is verified first, and a damaged one raises
`ModelUnavailableError`, which the search engine turns into a hybrid fallback with a notice:
- models saved by this code have the file's sha256 digest in their manifest (`model_sha256`), compared
  byte for byte;
- older models without a digest get a structural check of LightGBM's text format: the header's
  `tree_sizes` list matches the `Tree=N` blocks, and the `end of trees` (and, when present, `end of
  parameters`) trailers are there.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ragsearch.rerank.errors import ModelUnavailableError

TREE_RE = re.compile(rb"^Tree=\d+$", re.MULTILINE)
SIZES_RE = re.compile(rb"^tree_sizes=(.*)$", re.MULTILINE)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_model_file(path: Path, version: str, sha256: str | None) -> None:
    """Raise `ModelUnavailableError` (naming the fix, not the path) unless `path` is a whole model file."""
    fix = f"retrain, or promote another version (`ragsearch models promote V`); model {version} is unusable"
    try:
        if sha256 is not None:
            if file_sha256(path) != sha256:
                raise ModelUnavailableError(
                    f"model {version}: model.txt does not match the digest recorded when it was saved; {fix}"
                )
            return
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelUnavailableError(f"model {version}: model.txt is missing; {fix}") from None
    except OSError as exc:
        raise ModelUnavailableError(
            f"model {version}: model.txt cannot be read ({exc.strerror}); {fix}"
        ) from None
    problem = structure_problem(data)
    if problem:
        raise ModelUnavailableError(f"model {version}: model.txt is damaged ({problem}); {fix}")


def structure_problem(data: bytes) -> str | None:
    """What is wrong with a LightGBM text model, or None when its structure is whole."""
    if not data.startswith(b"tree\n"):
        return "it does not start with LightGBM's 'tree' header"
    sizes = SIZES_RE.search(data)
    if sizes is None:
        return "no tree_sizes line"
    expected = len(sizes.group(1).split())
    head, sep, tail = data.partition(b"\nend of trees\n")
    if not sep:
        return "the 'end of trees' trailer is missing: the file is truncated"
    found = len(TREE_RE.findall(head))
    if found != expected:
        return f"{found} trees where the header lists {expected}"
    if b"\nparameters:\n" in tail and b"\nend of parameters\n" not in tail:
        return "the parameters section is not closed: the file is truncated"
    return None

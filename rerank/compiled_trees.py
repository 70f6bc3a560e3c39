"""How a served LTR model's trees are evaluated: LightGBM itself, or the same trees compiled to machine code.

For the few hundred candidates of one query, LightGBM's `Booster.predict` spends most of its time walking
trees through generic node arrays (~3 ms for 200 rows x 500 trees here). lleaves compiles a LightGBM
text model with LLVM into one native function per model and gives the same scores (within 1e-12) in
~0.5 ms. The compiled object is written once per model file into a cache folder (keyed by the model
file's bytes, the compiler versions and the host CPU, since the code is built for it, with a sha256 digest
beside it) and loaded by every later process in milliseconds.

Compilation is an optimisation, never a requirement: when lleaves is not installed or fails, the model is
served by LightGBM and a warning is logged.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import threading
from pathlib import Path
from typing import Literal, Protocol

import lightgbm as lgb
import numpy as np
import structlog
from numpy.typing import NDArray

log = structlog.get_logger(__name__)

TreeRuntime = Literal["compiled", "lightgbm"]

# Compile time and memory grow with the forest (500 trees x 15 leaves: 5 s here); past this many leaves
# the first load would stall for minutes, so such a model is served by LightGBM.
MAX_COMPILED_LEAVES = 60_000
# lleaves' "small" code model is ~20% faster but documented to crash on very large forests.
CODE_MODEL = "large"


class TreePredictor(Protocol):
    """Raw tree scores (before any prior) for a feature matrix, one per row."""

    name: str

    def predict(self, features: NDArray[np.float32]) -> NDArray[np.float64]: ...


class BoosterPredictor:
    """LightGBM's own evaluator."""

    name = "lightgbm"

    def __init__(self, booster: lgb.Booster, num_iteration: int | None = None) -> None:
        self.booster = booster
        self.num_iteration = num_iteration

    def predict(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        # one thread: for a few hundred rows, waking LightGBM's OpenMP pool costs more than the trees
        out = self.booster.predict(features, num_iteration=self.num_iteration, num_threads=1)
        return np.asarray(out, dtype=np.float64)


class CompiledPredictor:
    """The trees of a LightGBM text model compiled to native code by lleaves."""

    name = "compiled"

    def __init__(self, model_file: Path, cache_dir: Path) -> None:
        import lleaves  # optional speed-up; ImportError sends the caller to LightGBM

        leaves = total_leaves(model_file)
        if leaves > MAX_COMPILED_LEAVES:
            raise ValueError(
                f"{leaves} leaves is more than the {MAX_COMPILED_LEAVES} compiled in reasonable time"
            )
        self.path = Path(cache_dir) / f"{cache_key(model_file)}.so"
        digest = self.path.with_suffix(".sha256")
        model = lleaves.Model(model_file=str(model_file))
        if intact(self.path, digest):
            model.compile(cache=str(self.path), fcodemodel=CODE_MODEL)
        else:
            # LLVM aborts the whole process on a damaged object file, so a cached object is only loaded
            # when it matches the digest written beside it; otherwise it is compiled again. Both files are
            # written privately and moved into place: a concurrent process sees each whole or not at all.
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                model.compile(cache=str(tmp), fcodemodel=CODE_MODEL)
                digest_tmp = tmp.with_suffix(".sha256tmp")
                digest_tmp.write_text(sha256_of(tmp) + "\n")
                digest_tmp.replace(digest)
                tmp.replace(self.path)
            finally:
                tmp.unlink(missing_ok=True)
                tmp.with_suffix(".sha256tmp").unlink(missing_ok=True)
            log.info("rerank.trees_compiled", model=str(model_file), path=str(self.path))
        self.model = model

    def predict(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        return np.asarray(self.model.predict(features, n_jobs=1), dtype=np.float64)


def total_leaves(model_file: Path) -> int:
    """Leaves over all trees of a LightGBM text model (each tree has a `num_leaves=` line)."""
    with Path(model_file).open() as f:
        return sum(int(line[len("num_leaves=") :]) for line in f if line.startswith("num_leaves="))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def intact(obj: Path, digest: Path) -> bool:
    """Whether the compiled object exists and is byte for byte what was written beside its digest."""
    try:
        return sha256_of(obj) == digest.read_text().strip()
    except OSError:
        return False


def cache_key(model_file: Path) -> str:
    """Changes with the model's bytes, the compiler's versions and the CPU the code is generated for."""
    import llvmlite.binding as llvm

    h = hashlib.sha256(Path(model_file).read_bytes())
    for pkg in ("lleaves", "llvmlite"):
        h.update(f"{pkg}={md.version(pkg)}".encode())
    h.update(llvm.get_host_cpu_name().encode())
    h.update(llvm.get_host_cpu_features().flatten().encode())
    return h.hexdigest()[:24]


def tree_predictor(
    booster: lgb.Booster,
    model_file: Path,
    num_iteration: int,
    runtime: TreeRuntime,
    cache_dir: Path,
) -> TreePredictor:
    """The compiled trees when asked for and possible, else LightGBM (with a warning saying why).

    `num_iteration` is how many trees score; lleaves compiles every tree in the file, so a file holding
    more (not one the registry wrote) is served by LightGBM.
    """
    if runtime == "compiled":
        try:
            if booster.num_trees() != num_iteration:
                raise ValueError(
                    f"the file holds {booster.num_trees()} trees, the model uses {num_iteration}"
                )
            return CompiledPredictor(model_file, cache_dir)
        except Exception as e:
            log.warning("rerank.trees_not_compiled", model=str(model_file), error=f"{type(e).__name__}: {e}")
    return BoosterPredictor(booster, num_iteration)

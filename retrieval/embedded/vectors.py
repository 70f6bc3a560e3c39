"""The vector part of an embedded index: the current generation's vector file (`vectors-<gen>.f32`), which
slot holds which passage, and the approximate index over it when one is configured.

The view is built from committed rows only: the live mask and the mapping stop at the highest committed
slot, so rows past it (a write that crashed, or one in progress in another process) are never read.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import structlog
from numpy.typing import NDArray

from ragsearch.retrieval.ann import ApproximateVectors, HnswVectors, IvfVectors
from ragsearch.retrieval.embedded.store import Row
from ragsearch.retrieval.extras import available
from ragsearch.retrieval.types import Vector
from ragsearch.retrieval.vector_file import VectorFile, cosine_scores, top_k

VECTOR_INDEXES = ("auto", "exact", "hnsw", "ivf")
AUTO_ANN_ROWS = 100_000
"""`auto` switches from exact search to IVF at this many passages (exact costs ~0.13 ms per 1k rows here)."""
COPY_ROWS = 65_536
log = structlog.get_logger(__name__)


def generation_of(file_name: str) -> int:
    """`vectors-3.f32` -> 3."""
    return int(file_name.removeprefix("vectors-").removesuffix(".f32"))


class Vectors:
    def __init__(self, directory: Path, dim: int, vector_index: str) -> None:
        self.directory = directory
        self.dim = dim
        self.vector_index = vector_index
        self.file: VectorFile | None = None
        self.needed = 0
        self.live: NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self.slot_ids: list[str | None] = []
        self.slot_of: dict[str, int] = {}
        self.doc_of: dict[str, str] = {}
        self._ann: ApproximateVectors | None = None
        self._ann_dirty = True
        self._warned_no_ann = False

    @property
    def vector_file(self) -> VectorFile:
        assert self.file is not None, "load() first"
        return self.file

    def load(self, file_name: str, rows: list[Row]) -> None:
        """Rebuild the view from committed rows; maps the file named (a new generation: a new file)."""
        if self.file is None or self.file.path.name != file_name:
            self.file = VectorFile(self.directory / file_name, self.dim, 0)
            self._ann = None  # another generation's slots; rebuilt (or loaded) for this one
        self.needed = max((r[0] for r in rows), default=-1) + 1
        self.file.map(self.needed)
        self.live = np.zeros(self.needed, dtype=bool)
        self.slot_ids = [None] * self.needed
        self.slot_of, self.doc_of = {}, {}
        for slot, pid, doc_id in rows:
            self.live[slot] = True
            self.slot_ids[slot] = pid
            self.slot_of[pid] = slot
            self.doc_of[pid] = doc_id
        self._ann_dirty = True

    def problems(self) -> list[str]:
        f = self.vector_file
        if self.needed == 0:
            return []
        if not f.path.exists():
            return [f"the vector file {f.path.name} is missing ({self.needed} rows are needed)"]
        present = f.file_rows()
        if present < self.needed:
            return [
                f"the vector file {f.path.name} has {present} rows, the stored passages need {self.needed}"
            ]
        return []

    def dead_rows(self) -> int:
        return self.vector_file.file_rows() - len(self.slot_of)

    # ---- changes the writer made ----------------------------------------------------------------
    def assign(self, placed: list[tuple[str, str, int]]) -> None:
        """Passages (id, doc_id, slot) just committed at new slots; their old slots die."""
        needed = max([self.needed, *(slot + 1 for *_, slot in placed)])
        grow = needed - self.needed
        if grow > 0:
            self.live = np.concatenate([self.live, np.zeros(grow, dtype=bool)])
            self.slot_ids.extend([None] * grow)
            self.needed = needed
            self.vector_file.map(needed)
        for pid, doc_id, slot in placed:
            old = self.slot_of.get(pid)
            if old is not None:
                self.live[old] = False
                self.slot_ids[old] = None
            self.live[slot] = True
            self.slot_ids[slot] = pid
            self.slot_of[pid] = slot
            self.doc_of[pid] = doc_id
        self._ann_dirty = True

    def forget(self, ids: list[str]) -> None:
        for pid in ids:
            slot = self.slot_of.pop(pid)
            self.doc_of.pop(pid, None)
            self.live[slot] = False
            self.slot_ids[slot] = None
        self._ann_dirty = True

    def write_generation(
        self, fill: dict[str, NDArray[np.float32]] | None = None
    ) -> tuple[str, list[tuple[int, str]]]:
        """Write the live rows (and `fill`: vectors for passages whose rows are missing) into the next
        generation's file; returns its name and the new (slot, id) of every passage. Not yet committed."""
        fill = fill or {}
        name = f"vectors-{generation_of(self.vector_file.path.name) + 1}.f32"
        new = VectorFile.create(self.directory / name, self.dim)
        ids = sorted(self.slot_of, key=self.slot_of.__getitem__)
        present = self.vector_file.rows
        for i in range(0, len(ids), COPY_ROWS):
            part = ids[i : i + COPY_ROWS]
            slots = [self.slot_of[p] for p in part]
            if all(s < present for s in slots) and not any(p in fill for p in part):
                rows = np.asarray(self.vector_file.matrix[np.asarray(slots, dtype=np.intp)])
            else:
                rows = np.stack(
                    [
                        fill[p] if p in fill else self.vector_file.matrix[s]
                        for p, s in zip(part, slots, strict=True)
                    ]
                )
            new.append(np.asarray(rows, dtype=np.float32))
        return name, [(slot, pid) for slot, pid in enumerate(ids)]

    def stale_files(self) -> list[Path]:
        """Files of other generations (and their approximate indexes), for the writer to delete."""
        current = self.vector_file.path.name
        keep = f"ann-{current.removesuffix('.f32')}."
        return [p for p in self.directory.glob("vectors-*.f32") if p.name != current] + [
            p for p in self.directory.glob("ann-*") if not p.name.startswith(keep)
        ]

    # ---- reads ----------------------------------------------------------------------------------
    def get(self, ids: list[str]) -> dict[str, Vector]:
        pairs = [(i, self.slot_of[i]) for i in ids if i in self.slot_of]
        return dict(zip([p[0] for p in pairs], self.vector_file.get([p[1] for p in pairs]), strict=True))

    def search(
        self, q: NDArray[np.float32], k: int, mask: NDArray[np.bool_] | None
    ) -> list[tuple[str, float]]:
        """(passage id, cosine) best first over the live slots (and the mask)."""
        ann = self._ann_index()
        if ann is not None:
            return [
                (pid, score)
                for slot, score in ann.search(q, k, mask)
                if (pid := self.slot_ids[slot]) is not None
            ]
        allowed = self.live if mask is None else self.live & mask
        matrix = self.vector_file.matrix
        n = min(len(allowed), matrix.shape[0])
        if k <= 0 or n == 0:
            return []
        scores = np.where(allowed[:n], cosine_scores(matrix[:n], q), -np.inf).astype(np.float32)
        return [
            (pid, float(scores[slot]))
            for slot in top_k(scores, k)
            if (pid := self.slot_ids[int(slot)]) is not None
        ]

    def _ann_index(self) -> ApproximateVectors | None:
        """The approximate index when configured (IVF when `auto` and the index is large), synced with the
        live slots; None for exact search."""
        kind = self.vector_index
        if kind == "auto":
            kind = "ivf" if len(self.slot_of) >= AUTO_ANN_ROWS else "exact"
            if kind == "ivf" and not available("faiss"):
                if not self._warned_no_ann:
                    self._warned_no_ann = True
                    log.warning("vectors.exact_without_ann_extra", rows=len(self.slot_of),
                                fix="pip install 'ragsearch[ann]'")  # fmt: skip
                kind = "exact"
        if kind == "exact":
            return None
        if self._ann is None:
            stem = self.vector_file.path.name.removesuffix(".f32")
            if kind == "hnsw":
                self._ann = HnswVectors(self.directory / f"ann-{stem}.usearch", self.dim)
            else:
                self._ann = IvfVectors(self.directory / f"ann-{stem}.faiss", self.dim)
        if self._ann_dirty or len(self._ann) == 0:
            self._ann.sync(self.vector_file.matrix, self.live)
            self._ann_dirty = False
        return self._ann

    def save_ann(self) -> None:
        """Save the approximate index beside the vector file (derived data; the caller holds the write lock)."""
        if self._ann is not None and self.vector_file.path.exists():
            with contextlib.suppress(OSError):
                self._ann.save()

"""Read-modify-write of a small state file by several processes: an exclusive lock on `<file>.lock` for the
whole update, and the new content written to a temporary file renamed over the old one, so no update is lost
and a reader never sees half a file."""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def locked_update(path: Path, read: Callable[[], T], dump: Callable[[T], str]) -> Iterator[T]:
    """`read()` under the lock; the (mutated) value is written back with `dump` when the block ends without
    an error (an error writes nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = read()
        yield state
        tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_text(dump(state), encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

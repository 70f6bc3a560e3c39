"""The write lock of an embedded index: one writing process at a time, waited for with a bound."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ragsearch.retrieval.errors import IndexLockedError

POLL_S = 0.02


class WriteLock:
    """An OS file lock (flock) on `write.lock`; the holder writes its PID into the file."""

    def __init__(self, path: Path, name: str, timeout_s: float) -> None:
        self.path = path
        self.name = name
        self.timeout_s = timeout_s

    @contextlib.contextmanager
    def hold(self, timeout_s: float | None = None) -> Iterator[None]:
        wait = self.timeout_s if timeout_s is None else timeout_s
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise IndexLockedError(
                            f"index {self.name!r} is being written by process {self._holder(fd)} "
                            f"(waited {wait:g} s); try again when it has finished"
                        ) from None
                    time.sleep(POLL_S)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @staticmethod
    def _holder(fd: int) -> str:
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return pid or "(unknown)"

"""Loopback helpers for tests that start real servers."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx
import pytest


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (also used as a port nobody listens on)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float, what: str) -> None:
    """Poll `url` until it answers 200; fail the test if `proc` exits or the time runs out."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
        if proc.poll() is not None:
            pytest.fail(f"{what} exited at start")
    proc.kill()
    pytest.fail(f"{what} did not start in {timeout_s:.0f} s")

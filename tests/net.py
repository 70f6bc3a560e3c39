"""Loopback helpers for tests that start real servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

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


REPO = Path(__file__).resolve().parents[1]


def serve_process(
    home: Path, index: str, api_key: str, **env_extra: str
) -> tuple[subprocess.Popen[bytes], str]:
    """`ragsearch serve` on `home` in its own process (a crash there cannot take the test run with it, and
    its memory is its own to measure), with only our settings and `env_extra`; returns once /health is 200."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
    env.update(RAGSEARCH_HOME=str(home), RAGSEARCH_INDEX=index, RAGSEARCH_API_API_KEY=api_key, HF_HUB_OFFLINE="1",
               RAGSEARCH_EMBEDDING_ONNX_CACHE=os.environ.get("RAGSEARCH_EMBEDDING_ONNX_CACHE", ""), **env_extra)  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ragsearch.app.cli import main; main()", "serve", "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/health", proc, 120, "ragsearch serve")
    return proc, url

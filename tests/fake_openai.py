"""A real HTTP server on loopback answering the OpenAI chat-completions format with fixed replies: a fault
injector for the LLM client's callers (garbage, HTTP errors, slowness), not a stand-in for a model. The
`serve` fixture (tests/app/conftest.py) starts them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI(ThreadingHTTPServer):
    """A real HTTP server answering POST /v1/chat/completions with `reply(n)` (n: the request's number
    from 1), or HTTP 503 when it returns None; it counts requests and the most in flight at once."""

    def __init__(self, reply: Callable[[int], str | None], delay_s: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.reply, self.delay_s = reply, delay_s
        self.requests = self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        s = self.server
        with s.lock:
            s.requests += 1
            n = s.requests
            s.in_flight += 1
            s.max_in_flight = max(s.max_in_flight, s.in_flight)
        time.sleep(s.delay_s)
        text = s.reply(n)
        with s.lock:
            s.in_flight -= 1
        if text is None:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if request.get("stream"):
            self.stream(n, text)
            return
        body = json.dumps({
            "id": f"c{n}", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 4, "total_tokens": 104},
        }).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream(self, n: int, text: str) -> None:
        """The reply as the streaming API sends it: server-sent chunks, a word each, then the usage, then
        [DONE] (HTTP/1.0: the connection closes after it)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunk = {"id": f"c{n}", "object": "chat.completion.chunk", "created": 0, "model": "fake"}
        for word in text.split(" "):
            delta = {"index": 0, "delta": {"content": word + " "}, "finish_reason": None}
            self.wfile.write(f"data: {json.dumps(chunk | {'choices': [delta]})}\n\n".encode())
        done = {"index": 0, "delta": {}, "finish_reason": "stop"}
        usage = {"prompt_tokens": 100, "completion_tokens": len(text.split(" ")), "total_tokens": 104}
        self.wfile.write(f"data: {json.dumps(chunk | {'choices': [done]})}\n\n".encode())
        self.wfile.write(
            f"data: {json.dumps(chunk | {'choices': [], 'usage': usage})}\n\ndata: [DONE]\n\n".encode()
        )
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


def servers() -> Iterator[Callable[..., FakeOpenAI]]:
    started: list[FakeOpenAI] = []

    def start(reply: Callable[[int], str | None], delay_s: float = 0.0) -> FakeOpenAI:
        server = FakeOpenAI(reply, delay_s)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()

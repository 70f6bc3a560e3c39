"""Locust users for `bench.load`: each sends the next real query to `GET /search` as soon as the
previous answer arrives (closed loop, no think time). Driven headless by `bench.load`, which passes the
queries file and the search mode through the environment; every non-200 answer is a failure.

    RAGSEARCH_LOAD_QUERIES=q.json RAGSEARCH_LOAD_MODE=hybrid locust -f bench/locustfile.py --headless \
        -u 4 -r 4 -t 30s -H http://127.0.0.1:8000 --csv out --only-summary
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from locust import FastHttpUser, constant, task

QUERIES: list[str] = json.loads(Path(os.environ["RAGSEARCH_LOAD_QUERIES"]).read_text())
MODE = os.environ.get("RAGSEARCH_LOAD_MODE", "hybrid")
_starts = itertools.count()


class Searcher(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        start = next(_starts)  # users walk the queries from different offsets
        self.queries = itertools.islice(itertools.cycle(QUERIES), start * 7919 % len(QUERIES), None)

    @task
    def search(self) -> None:
        params = {"q": next(self.queries), "k": 10, "mode": MODE}
        with self.client.get("/search", params=params, name="/search", catch_response=True) as r:
            if r.status_code == 0:  # no HTTP answer at all
                r.failure(f"transport error: {r.error!r}")
            elif r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")

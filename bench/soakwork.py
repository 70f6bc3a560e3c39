"""The workers of `bench.soak` and the ledger of acknowledged writes they keep (see bench/soak.py)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

KEY = "soak-key-0123456789"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Ledger:
    """Acknowledged writes. `uncertain`: a write whose answer never came (its outcome is unknown)."""

    live: dict[str, dict[str, str]] = field(default_factory=dict)
    gone: dict[str, dict[str, str]] = field(default_factory=dict)
    uncertain: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def added(self, recs: list[dict[str, str]]) -> None:
        with self.lock:
            for r in recs:
                self.live[r["_id"]] = r

    def removed(self, doc_id: str) -> dict[str, str]:
        with self.lock:
            self.gone[doc_id] = self.live.pop(doc_id)
            return self.gone[doc_id]

    def pick(self, prefix: str, rng: random.Random) -> str | None:
        with self.lock:
            ids = [i for i in self.live if i.startswith(prefix)]
        return rng.choice(ids) if ids else None


@dataclass
class Stats:
    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    notices: set[str] = field(default_factory=set)
    answer_status: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, kind: str, ms: float) -> None:
        with self.lock:
            self.samples.setdefault(kind, []).append(ms)

    def error(self, kind: str, what: str) -> None:
        with self.lock:
            self.errors.setdefault(kind, []).append(what)


class Pool:
    """Real abstracts that are in no index: each text is written once; a deleted one's text is reused."""

    def __init__(self, corpus: Path, home: Path, base_docs: int) -> None:
        self.state = home / "soak-pool.json"
        start = json.loads(self.state.read_text())["next"] if self.state.is_file() else base_docs
        with open(corpus, encoding="utf-8") as f:
            self.records = [json.loads(line) for line in f][start:]
        self.next, self.run = start, f"{int(time.time()) % 10**6:06d}"
        self.counter, self.lock = 0, threading.Lock()
        self.free: list[dict[str, str]] = []

    def take(self, who: str, n: int) -> list[dict[str, str]]:
        out = []
        with self.lock:
            for _ in range(n):
                if self.free:
                    r = self.free.pop(0)
                elif self.records:
                    r, self.next = self.records.pop(0), self.next + 1
                    self.state.write_text(json.dumps({"next": self.next}))
                else:
                    raise RuntimeError("the pool of unused abstracts is empty: use a fresh --home")
                self.counter += 1
                out.append(
                    {"_id": f"soak-{who}-{self.run}-{self.counter}", "title": r["title"], "text": r["text"]}
                )
        return out

    def give_back(self, rec: dict[str, str]) -> None:
        with self.lock:
            self.free.append(rec)


def worker(stats: Stats, fn: Callable[..., None], *args: Any) -> None:
    """Run one load loop; an exception in it is an error of the run, not a silently dead thread."""
    try:
        fn(*args)
    except Exception as exc:
        stats.error(f"worker {fn.__name__}", f"{type(exc).__name__}: {exc}")


def cli(env: dict[str, str], *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from ragsearch.app.launch import main; main()", *args]
    return subprocess.run(
        cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


def call(
    stats: Stats, kind: str, c: httpx.Client, method: str, path: str, **kw: Any
) -> httpx.Response | None:
    """One request; its time goes to `kind` when it answers 200, anything else to the errors."""
    t0 = time.perf_counter()
    try:
        r = c.request(method, path, **kw)
    except httpx.HTTPError as exc:
        stats.error(kind, f"transport: {type(exc).__name__}")
        return None
    if r.status_code == 200:
        stats.ok(kind, (time.perf_counter() - t0) * 1e3)
    else:
        stats.error(kind, f"HTTP {r.status_code}: {r.text[:200]}")
    return r


def searcher(
    url: str,
    queries: list[str],
    modes: list[str],
    stop: threading.Event,
    stats: Stats,
    seed: int,
    think_s: float,
) -> None:
    """Searches in every mode in turn with `think_s` between an answer and the next request."""
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=60) as c:
        while not stop.wait(think_s * rng.uniform(0.5, 1.5)):
            mode = rng.choice(modes)
            params = {"q": rng.choice(queries), "k": 10, "mode": mode}
            r = call(stats, f"search {mode}", c, "GET", "/search", params=params)
            if r is not None and r.status_code == 200:
                body = r.json()
                stats.ok(f"server {mode}", body["took_ms"])  # the server's own share, without HTTP and logs
                with stats.lock:
                    stats.notices.update(body["notices"])


def answerer(url: str, queries: list[str], stop: threading.Event, stats: Stats) -> None:
    rng = random.Random(7)
    with httpx.Client(base_url=url, timeout=120) as c:
        while not stop.is_set():
            r = call(stats, "answer", c, "POST", "/answer", json={"question": rng.choice(queries)})
            if r is not None and r.status_code == 200:
                status = r.json()["status"]
                with stats.lock:
                    stats.answer_status[status] = stats.answer_status.get(status, 0) + 1
            stop.wait(0.2)


def api_writer(url: str, pool: Pool, ledger: Ledger, stop: threading.Event, stats: Stats) -> None:
    rng, h = random.Random(11), {"X-API-Key": KEY}
    with httpx.Client(base_url=url, timeout=120, headers=h) as c:
        step = 0
        while not stop.is_set():
            step += 1
            victim = ledger.pick("soak-api-", rng) if step % 3 == 0 else None
            if victim:
                r = call(stats, "api delete", c, "DELETE", f"/documents/{victim}")
                if r is None:
                    ledger.uncertain.add(victim)
                elif r.status_code == 200:
                    pool.give_back(ledger.removed(victim))
            else:
                recs = pool.take("api", rng.choice((1, 2)))
                body = {"passages": [{"id": x["_id"], "title": x["title"], "text": x["text"]} for x in recs]}
                r = call(stats, "api add", c, "POST", "/documents", json=body)
                if r is None:
                    ledger.uncertain.update(x["_id"] for x in recs)
                elif r.status_code == 200 and r.json()["added"] == len(recs):
                    ledger.added(recs)
                elif r.status_code == 200:
                    stats.error("api add", f"200 but added {r.json()['added']} of {len(recs)}")
            stop.wait(0.2)


def cli_writer(
    env: dict[str, str], index: str, pool: Pool, ledger: Ledger, stop: threading.Event, stats: Stats
) -> None:
    rng = random.Random(13)
    with tempfile.TemporaryDirectory() as tmp:
        step = 0
        while not stop.is_set():
            step += 1
            recs = pool.take("cli", 2)
            path = Path(tmp) / f"batch{step}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in recs))
            t0 = time.perf_counter()
            r = cli(env, "ingest", str(path), "--index", index, "--json")
            if r.returncode == 0 and json.loads(r.stdout)["added"] == len(recs):
                stats.ok("cli ingest", (time.perf_counter() - t0) * 1e3)
                ledger.added(recs)
            else:
                stats.error("cli ingest", f"exit {r.returncode}: {r.stdout[-200:]} {r.stderr[-300:]}")
                ledger.uncertain.update(x["_id"] for x in recs)
            victim = ledger.pick("soak-cli-", rng)  # each step: 2 in, 1 out (finished even after stop)
            if victim:
                t0 = time.perf_counter()
                r = cli(env, "delete", victim, "--index", index)
                if r.returncode == 0:
                    stats.ok("cli delete", (time.perf_counter() - t0) * 1e3)
                    pool.give_back(ledger.removed(victim))
                else:
                    stats.error("cli delete", f"exit {r.returncode}: {r.stderr[-300:]}")
                    ledger.uncertain.add(victim)


def cli_reader(
    env: dict[str, str], index: str, queries: list[str], stop: threading.Event, stats: Stats
) -> None:
    """`ragsearch search` processes in a loop: a CLI process's start and model load, without a write."""
    rng = random.Random(17)
    while not stop.is_set():
        t0 = time.perf_counter()
        r = cli(env, "search", rng.choice(queries), "--index", index, "--mode", "dense", "--json")
        if r.returncode == 0:
            stats.ok("cli search", (time.perf_counter() - t0) * 1e3)
        else:
            stats.error("cli search", f"exit {r.returncode}: {r.stderr[-300:]}")


def idle_latency(url: str, queries: list[str], modes: list[str], n: int, stats: Stats) -> None:
    with httpx.Client(base_url=url, timeout=60) as c:
        for q in queries[:3]:  # warm-up: model loads, first compilations
            for mode in modes:
                c.get("/search", params={"q": q, "k": 10, "mode": mode})
        for i in range(n):
            for mode in modes:
                r = call(
                    stats,
                    f"search {mode}",
                    c,
                    "GET",
                    "/search",
                    params={"q": queries[i % len(queries)], "k": 10, "mode": mode},
                )
                if r is not None and r.status_code == 200:
                    stats.ok(f"server {mode}", r.json()["took_ms"])


def verify(url: str, index: str, ledger: Ledger, base: int) -> dict[str, Any]:
    """The index against the ledger, through the API."""
    problems: list[str] = []
    with httpx.Client(base_url=url, timeout=120) as c:
        for doc_id, rec in sorted(ledger.live.items()):
            got = c.get(f"/documents/{doc_id}")
            if got.status_code != 200 or got.json()["text"] != rec["text"]:
                problems.append(f"live {doc_id}: GET answered {got.status_code}")
            q = f"{rec['title']} {rec['text']}"[:900]
            for mode in ("bm25", "dense"):
                hits = c.get("/search", params={"q": q, "k": 3, "mode": mode}).json()["hits"]
                if doc_id not in {h["doc_id"] for h in hits}:
                    problems.append(f"live {doc_id}: not in the {mode} top 3 for its own text")
        for doc_id in sorted(set(ledger.gone) - ledger.uncertain):
            if (code := c.get(f"/documents/{doc_id}").status_code) != 404:
                problems.append(f"deleted {doc_id}: GET answered {code}")
            rec = ledger.gone[doc_id]
            hits = c.get(
                "/search", params={"q": f"{rec['title']} {rec['text']}"[:900], "k": 10, "mode": "bm25"}
            )
            if doc_id in {h["doc_id"] for h in hits.json()["hits"]}:
                problems.append(f"deleted {doc_id}: still in the bm25 hits for its text")
        count = c.get("/health").json()["indexes"][index]
    return {"live": len(ledger.live), "deleted": len(ledger.gone), "uncertain": sorted(ledger.uncertain),
            "passages": count, "expected_passages": base + len(ledger.live), "problems": problems}  # fmt: skip

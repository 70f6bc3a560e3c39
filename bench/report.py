"""The whole benchmark report in one command: Markdown + JSON, with the machine, the date and the commands.

    python -m bench.report --scale-home DIR [--passages 1000000] [--load-seconds 30] [--out docs/report]

Needs `RAGSEARCH_HOME` with the `scifact` index and a promoted LTR model (`make demo`, then `ragsearch
train ... --promote-if-better`). Each part runs as its own process (the benchmarks below, each usable alone),
so one part's memory or threads never colour another's figures; run it on an otherwise idle machine.

1. `bench.latency`: search latency p50/p95/p99 per mode at SciFact scale, query encoding alone, ingest vs raw
   encoder passages/s.
2. `bench.rerank`: reranking 100 and 200 candidates (features, predict, total).
3. `bench.scale`: the same modes at `--passages` synthetic passages (how they are made: its docstring),
   IVF recall@100 against exact search, and memory per million passages.
4. `bench.load`: `ragsearch serve` on loopback under closed-loop concurrent clients, hybrid and ltr,
   at SciFact scale and at scale; errors and p95 at the achieved throughput.
5. The schemathesis fuzz test of the API (`tests/app/test_api_fuzz.py`).

The targets of issue 8 are checked at the end; a miss is printed with the measured number. Exit status 1
when a part failed or a target was missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.latency import machine
from ragsearch.app.logs import configure_logging
from ragsearch.app.settings import get_settings
from ragsearch.rerank.registry import ModelRegistry


@dataclass(frozen=True, slots=True)
class Target:
    what: str
    limit: float
    measured: float | None
    higher_is_better: bool = False

    @property
    def met(self) -> bool:
        if self.measured is None:
            return False
        return self.measured >= self.limit if self.higher_is_better else self.measured <= self.limit


def run_part(
    label: str, args: list[str], out: Path | None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run `python -m ARGS [--json OUT]`; its output streams to stderr; returns the JSON it wrote."""
    cmd = [sys.executable, "-m", *args, *(["--json", str(out)] if out else [])]
    sys.stderr.write(f"\n== {label}: {' '.join(cmd[1:])}\n")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, stdout=sys.stderr, check=False)
    result: dict[str, Any] = {
        "command": " ".join(["python", *cmd[1 : -2 if out else None]]),
        "exit": proc.returncode,
    }
    if out and out.is_file():
        result.update(json.loads(out.read_text()))
    result["wall_seconds"] = time.perf_counter() - t0
    return result


def copy_model(home: Path, scale_home: Path) -> str:
    """The promoted LTR model of `home`, copied into `scale_home`'s registry and promoted there, so a server
    on the scale index can serve mode ltr. Returns its version."""
    source = ModelRegistry(home)
    version = source.resolve(None)
    target = ModelRegistry(scale_home)
    dest = target.root / version
    if dest.exists():
        if (dest / "model.txt").read_bytes() != (source.path(version) / "model.txt").read_bytes():
            raise SystemExit(
                f"{dest} holds another model than {source.path(version)}; use a fresh --scale-home"
            )
    else:
        shutil.copytree(source.path(version), dest)
    target.promote(version)
    return version


def gib(mem_total: str | None) -> str:
    """/proc/meminfo's `MemTotal` ("24684084 kB") in GiB."""
    if not mem_total or not mem_total.endswith(" kB"):
        return mem_total or "unknown"
    return f"{int(mem_total[:-3]) / 2**20:.1f} GiB"


def latency_rows(latency: dict[str, Any]) -> list[str]:
    rows = ["| stage | p50 ms | p95 ms | p99 ms |", "|---|---:|---:|---:|"]
    for name, p in latency.items():
        if isinstance(p, dict) and "p50_ms" in p:
            rows.append(f"| {name} | {p['p50_ms']:.1f} | {p['p95_ms']:.1f} | {p['p99_ms']:.1f} |")
    return rows


def markdown(report: dict[str, Any]) -> str:
    m, parts = report["machine"], report["parts"]
    lines = [
        f"# ragsearch benchmark report, {report['date']}",
        "",
        f"Machine: {m.get('cpus')} CPUs ({m.get('cpu_model') or m.get('processor')}), memory {gib(m.get('memory'))}, "
        f"{m.get('platform')}, Python {m.get('python')}, torch threads {m.get('torch_threads')}; no GPU used. "
        f"Embedding model `{report['settings']['embedding_model']}`, LTR model {report['ltr_model']} "
        f"(trees: {report['settings']['tree_runtime']}).",
        "",
        f"Regenerate: `{report['command']}` (with `RAGSEARCH_HOME` holding the scifact index and a promoted "
        "model). Each section names the command it ran; every one of them also runs alone.",
        "",
        "## Targets",
        "",
        "| target | limit | measured | met |",
        "|---|---:|---:|---|",
    ]
    for t in report["targets"]:
        got = "not measured" if t["measured"] is None else f"{t['measured']:.3g}"
        lines.append(f"| {t['what']} | {t['limit']:g} | {got} | {'yes' if t['met'] else '**NO**'} |")
    b = parts["search"]
    lines += [
        "",
        f"## Search latency at SciFact scale ({b['index']['passages']:,} passages), k = 10",
        "",
        f"`{b['command']}`: {b['search_latency']['query_encoding']['n']} test queries, query encoding "
        "included in every mode; `query_encoding` is the encoder alone.",
        "",
    ]
    lines += latency_rows(b["search_latency"])
    lines += [
        "",
        "## Reranking (features + trees; candidate retrieval not included)",
        "",
        "| candidates | features p50 / p95 ms | predict p50 / p95 ms | total p50 / p95 ms |",
        "|---:|---:|---:|---:|",
    ]
    for key in ("rerank_100", "rerank_200"):
        r = parts[key]
        f, p, t = r["features"], r["predict"], r["total"]
        lines.append(
            f"| {r['candidates']} (mean {r['mean_candidates']:.0f}) | {f['p50_ms']:.1f} / {f['p95_ms']:.1f} | "
            f"{p['p50_ms']:.2f} / {p['p95_ms']:.2f} | {t['p50_ms']:.1f} / {t['p95_ms']:.1f} |"
        )
    lines += ["", f"`{parts['rerank_200']['command']}` (and `--candidates 100`)."]
    ing = b["ingest"]
    lines += [
        "",
        "## Ingest",
        "",
        f"{ing['passages']} SciFact passages through the ingest pipeline: {ing['ingest_passages_per_s']:.1f} "
        f"passages/s; the raw encoder on the same texts {ing['raw_encoder_passages_per_s']:.1f} passages/s "
        f"(ingest/raw {ing['ingest_vs_raw']:.2f}); from `{b['command']}`.",
    ]
    s = parts.get("scale")
    if s:
        lines += [
            "",
            f"## At {s['passages']:,} synthetic passages",
            "",
            f"`{s['command']}`. Passages: 6-word titles and 40-word texts drawn from SciFact's unigram "
            "distribution; vectors: unit-normalised 0.7 / 0.3 mixes of two real SciFact document embeddings "
            "plus N(0, 0.01) noise per dimension; queries: real SciFact test claims, encoded at query time.",
            "",
        ]
        lines += latency_rows(s["latency_ms"])
        for kind, r in s["recall_at_100"].items():
            lines.append(f"\n{kind.upper()} recall@100 against exact search: {r:.3f}.")
        mem = parts.get("memory", {}).get("memory")
        if mem:
            lines += [
                "",
                f"Memory: {mem['mb_per_million_passages']:.0f} MB per million passages ({mem['vector_index']} "
                f"vectors; RSS growth of a process opening the index and answering hybrid queries, model "
                f"already loaded; `{parts['memory']['command']}`).",
            ]
    lines += [
        "",
        "## API under concurrent load",
        "",
        "| index | mode | clients | seconds | requests | errors | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, r in parts.items():
        if not key.startswith("load_"):
            continue
        lat = r.get("latency") or {}
        lines.append(
            f"| {r['index']} | {r['mode']} | {r['clients']} | {r['seconds']:.0f} | {r['requests']:,} | "
            f"{r['errors']} | {r['throughput_rps']:.1f} | {lat.get('p50_ms', float('nan')):.1f} | "
            f"{lat.get('p95_ms', float('nan')):.1f} | {lat.get('p99_ms', float('nan')):.1f} |"
        )
    lines += [
        "",
        "`python -m bench.load --index NAME --mode MODE --clients N --seconds S`: `ragsearch serve` on "
        "loopback, a headless locust run of `bench/locustfile.py` (closed loop, no think time; locust shares the "
        "machine with the server and rounds times above 100 ms to 2 significant digits).",
    ]
    fz = parts.get("fuzz")
    if fz:
        lines += [
            "",
            "## Fuzzing",
            "",
            f"`{fz['command']}`: exit {fz['exit']} "
            f"({'passed: no 5xx, every 4xx with a message' if fz['exit'] == 0 else 'FAILED'}).",
        ]
    failed = [k for k, r in parts.items() if r.get("exit") not in (0, None)]
    if failed:
        lines += ["", f"Parts that failed: {', '.join(failed)}."]
    return "\n".join(lines) + "\n"


def p(part: dict[str, Any] | None, *path: str) -> float | None:
    cur: Any = part
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return float(cur)


def targets(parts: dict[str, Any]) -> list[Target]:
    found = [
        Target("SciFact hybrid + LTR p50 ms", 15, p(parts.get("search"), "search_latency", "ltr", "p50_ms")),
        Target("SciFact hybrid + LTR p95 ms", 40, p(parts.get("search"), "search_latency", "ltr", "p95_ms")),
    ]
    if "scale" in parts:
        ltr = next((k for k in parts["scale"].get("latency_ms", {}) if k.startswith("ltr")), "ltr")
        found.append(Target("scale hybrid + LTR p95 ms", 60, p(parts["scale"], "latency_ms", ltr, "p95_ms")))
        found.append(Target("IVF recall@100 vs exact", 0.95, p(parts["scale"], "recall_at_100", "ivf"), True))
    found += [
        Target(f"errors under load ({k[5:]})", 0, p(r, "errors"))
        for k, r in parts.items()
        if k.startswith("load_")
    ]
    return found


def main(argv: list[str] | None = None) -> int:
    s = get_settings()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default="scifact", help="the SciFact index under RAGSEARCH_HOME")
    ap.add_argument("--dataset-dir", type=Path, default=s.data_dir / "scifact", help="what --index holds")
    ap.add_argument("--ingest-docs", type=int, default=512, help="passages for ingest vs raw encoder")
    ap.add_argument("--scale-home", type=Path, help="where the synthetic index lives (built on first use)")
    ap.add_argument("--passages", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=300, help="SciFact-scale latency queries")
    ap.add_argument("--scale-queries", type=int, default=200)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--load-seconds", type=float, default=30.0)
    ap.add_argument("--no-fuzz", action="store_true", help="skip the schemathesis run (needs the dev extras)")
    ap.add_argument("--out", type=Path, default=Path("docs/report"), help="writes OUT.md and OUT.json")
    args = ap.parse_args(argv)
    configure_logging(s.log_level)  # events to stderr: stdout is the report

    model = ModelRegistry(s.home).resolve(s.rerank.model)
    data = str(args.dataset_dir)
    load = ["bench.load", "--dataset-dir", data, "--clients", str(args.clients)]
    load += ["--seconds", str(args.load_seconds)]
    parts: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        bench = [
            "bench.latency",
            "--index",
            args.index,
            "--dataset-dir",
            data,
            "--queries",
            str(args.queries),
        ]
        parts["search"] = run_part("search latency", [*bench, "--ingest-docs", str(args.ingest_docs)],
                                   t / "search.json")  # fmt: skip
        for n in (100, 200):
            rerank = ["bench.rerank", "--index", args.index, "--dataset", data, "--candidates", str(n)]
            parts[f"rerank_{n}"] = run_part(
                f"rerank {n}", [*rerank, "--skip-training"], t / f"rerank{n}.json"
            )
        for mode in ("hybrid", "ltr"):
            r = run_part(
                f"load {mode}", [*load, "--index", args.index, "--mode", mode], t / f"load-{mode}.json"
            )
            parts[f"load_{args.index}_{mode}"] = {"index": args.index, **r}
        if args.scale_home:
            name = f"synthetic-{args.passages}"
            scale = ["bench.scale", "--home", str(args.scale_home), "--passages", str(args.passages),
                     "--dataset-dir", data, "--source-index", args.index, "--queries", str(args.scale_queries)]  # fmt: skip
            parts["scale"] = run_part(
                "scale", [*scale, "--ann", "ivf", "--ltr-model", model], t / "scale.json"
            )
            parts["memory"] = run_part("memory", [*scale, "--memory", "ivf"], t / "memory.json")
            copy_model(s.home, args.scale_home)  # the server on the scale home serves mode ltr with it
            env = {"RAGSEARCH_HOME": str(args.scale_home),
                   "RAGSEARCH_EMBEDDING_ONNX_CACHE": str(s.embedding.onnx_cache or s.home / "cache" / "onnx")}  # fmt: skip
            for mode in ("hybrid", "ltr"):
                r = run_part(f"load {mode} at scale", [*load, "--index", name, "--mode", mode],
                             t / f"load-scale-{mode}.json", env)  # fmt: skip
                parts[f"load_{name}_{mode}"] = {"index": name, **r}
        if not args.no_fuzz:
            fuzz = ["pytest", "-q", "-p", "no:cacheprovider", "tests/app/test_api_fuzz.py"]
            parts["fuzz"] = run_part("fuzz", fuzz, None)

    found = targets(parts)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "command": "python -m bench.report " + " ".join(argv if argv is not None else sys.argv[1:]),
        "settings": {
            "embedding_model": s.embedding.model,
            "tree_runtime": s.rerank.tree_runtime,
            "vector_index": s.retrieval.vector_index,
        },
        "ltr_model": model,
        "targets": [{"what": x.what, "limit": x.limit, "measured": x.measured, "met": x.met} for x in found],
        "parts": parts,
    }
    text = markdown(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    sys.stdout.write(text)
    failed = any(r.get("exit") not in (0, None) for r in parts.values())
    return 1 if failed or not all(x.met for x in found) else 0


if __name__ == "__main__":
    raise SystemExit(main())

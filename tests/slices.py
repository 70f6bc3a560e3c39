"""Small slices of the shared judged datasets, built at test time (data is never committed)."""

from __future__ import annotations

import json
import random
from pathlib import Path


def make_slice(src: Path, dest: Path, per_split: dict[str, int], n_extra_docs: int, seed: int = 13) -> Path:
    """A small BEIR folder: the first judged queries of each split, their relevant docs, plus other docs
    drawn at random (seeded)."""
    (dest / "qrels").mkdir(parents=True, exist_ok=True)
    wanted: set[str] = set()
    qids: set[str] = set()
    for split, n_queries in per_split.items():
        lines = (src / "qrels" / f"{split}.tsv").read_text().splitlines()
        header, rows = lines[0], [r.split("\t") for r in lines[1:]]
        keep_q = list(dict.fromkeys(r[0] for r in rows))[:n_queries]
        keep_rows = [r for r in rows if r[0] in keep_q]
        (dest / "qrels" / f"{split}.tsv").write_text(
            header + "\n" + "\n".join("\t".join(r) for r in keep_rows) + "\n"
        )
        wanted |= {r[1] for r in keep_rows}
        qids |= set(keep_q)
    corpus = (src / "corpus.jsonl").read_text().splitlines()
    rng = random.Random(seed)
    ids = [json.loads(ln)["_id"] for ln in corpus]
    others = [ln for ln, i in zip(corpus, ids, strict=True) if i not in wanted]
    picked = [ln for ln, i in zip(corpus, ids, strict=True) if i in wanted] + rng.sample(others, n_extra_docs)
    rng.shuffle(picked)
    (dest / "corpus.jsonl").write_text("\n".join(picked) + "\n")
    queries = [ln for ln in (src / "queries.jsonl").read_text().splitlines() if json.loads(ln)["_id"] in qids]
    (dest / "queries.jsonl").write_text("\n".join(queries) + "\n")
    return dest

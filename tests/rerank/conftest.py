from __future__ import annotations

import json
import random
from pathlib import Path

import pytest


def make_ltr_slice(src: Path, dest: Path, n_train: int, n_test: int, n_extra_docs: int) -> Path:
    """A small BEIR folder with train and test judgments: the first judged queries of each split, their
    relevant documents, and other documents drawn at random (seeded)."""
    (dest / "qrels").mkdir(parents=True, exist_ok=True)
    wanted: set[str] = set()
    qids: set[str] = set()
    for split, n in (("train", n_train), ("test", n_test)):
        lines = (src / "qrels" / f"{split}.tsv").read_text().splitlines()
        rows = [r.split("\t") for r in lines[1:]]
        keep_q = list(dict.fromkeys(r[0] for r in rows))[:n]
        keep = [r for r in rows if r[0] in keep_q]
        (dest / "qrels" / f"{split}.tsv").write_text(
            lines[0] + "\n" + "\n".join("\t".join(r) for r in keep) + "\n"
        )
        wanted |= {r[1] for r in keep}
        qids |= set(keep_q)
    corpus = (src / "corpus.jsonl").read_text().splitlines()
    rng = random.Random(7)
    ids = [json.loads(ln)["_id"] for ln in corpus]
    others = [ln for ln, i in zip(corpus, ids, strict=True) if i not in wanted]
    picked = [ln for ln, i in zip(corpus, ids, strict=True) if i in wanted] + rng.sample(others, n_extra_docs)
    rng.shuffle(picked)
    (dest / "corpus.jsonl").write_text("\n".join(picked) + "\n")
    queries = [ln for ln in (src / "queries.jsonl").read_text().splitlines() if json.loads(ln)["_id"] in qids]
    (dest / "queries.jsonl").write_text("\n".join(queries) + "\n")
    return dest


@pytest.fixture(scope="session")
def scifact_ltr_slice(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SciFact: 150 train and 50 test queries, their relevant abstracts and 200 others (real data)."""
    return make_ltr_slice(
        shared_data / "scifact", tmp_path_factory.mktemp("ltrdata") / "scifact", 150, 50, 200
    )


@pytest.fixture(scope="session")
def scifact_cli_slice(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SciFact: 60 train and 20 test queries, their relevant abstracts and 100 others (real data)."""
    return make_ltr_slice(shared_data / "scifact", tmp_path_factory.mktemp("ltrcli") / "scifact", 60, 20, 100)

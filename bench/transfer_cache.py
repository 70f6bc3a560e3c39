"""Logged features of judged query sets, cached on disk per (index, split): what the transfer study and the
feature-shift benchmark train and measure on, extracted once.

    python -m bench.transfer_cache --cache DIR   # RAGSEARCH_HOME holds indexes scifact, nfcorpus, cranfield

Every feature of `rerank.features.ALL_FEATURE_NAMES` is logged (the served set is a subset of them), with
the default first stage (`default_search_config`) and the default embedder.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ragsearch.app.services import (
    default_search_config,
    make_backend,
    make_embedder,
    make_engine,
    make_feature_logger,
)
from ragsearch.app.settings import get_settings
from ragsearch.eval.data import JudgedSplit, load_split
from ragsearch.rerank.dataset import TrainingSet, log_training_set
from ragsearch.rerank.features import ALL_FEATURE_NAMES

DATA = Path(os.environ.get("RAGSEARCH_DATA_DIR", "../shared/data"))
COLLECTIONS = {
    "scifact": ("scifact", ("train", "test")),
    "nfcorpus": ("nfcorpus-processed", ("train", "test")),
    "cranfield": ("cranfield", ("fold1", "fold2")),
}


def dataset_dir(index: str) -> Path:
    return DATA / COLLECTIONS[index][0]


def split_of(index: str, split: str) -> JudgedSplit:
    return load_split(dataset_dir(index), split)


def path_of(cache: Path, index: str, split: str) -> Path:
    return cache / f"{index}-{split}.npz"


def extract(cache: Path, index: str, splits: tuple[str, ...]) -> None:
    s = get_settings()
    idx = make_backend(s).open(index)
    try:
        retriever = make_engine(idx, make_embedder(s), s).retriever(default_search_config(s))
        logger = make_feature_logger(idx, s)
        for split in splits:
            target = path_of(cache, index, split)
            if target.is_file():
                continue
            t0 = time.perf_counter()
            js = split_of(index, split)
            qids = list(js.queries)
            vectors = dict(zip(qids, retriever.encode([js.queries[q] for q in qids]), strict=True))
            ts = log_training_set(retriever, logger, js.queries, js.qrels, vectors, names=ALL_FEATURE_NAMES)
            ts.save(target.with_suffix(".tmp.npz"))
            os.replace(target.with_suffix(".tmp.npz"), target)
            sys.stdout.write(f"{index}/{split}: {len(ts.qids)} queries, {ts.n_rows} rows, "
                             f"{time.perf_counter() - t0:.0f} s\n")  # fmt: skip
            sys.stdout.flush()
    finally:
        idx.close()


def load(cache: Path, index: str, split: str) -> TrainingSet:
    return TrainingSet.load(path_of(cache, index, split))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--only", nargs="*", default=list(COLLECTIONS))
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    for index in args.only:
        extract(args.cache, index, COLLECTIONS[index][1])


if __name__ == "__main__":
    main()

"""Named subsets of judged queries, computed from the qrels (never hard-coded lists)."""

from __future__ import annotations

from pathlib import Path

from ragsearch.eval.data import Qrels, load_split, splits
from ragsearch.retrieval.errors import InvalidInputError, UnknownNameError

SUBSETS = ("held-apart",)


def held_apart(test: Qrels, train: Qrels) -> list[str]:
    """Test queries none of whose relevant documents is relevant to any train query.

    On these a ranker cannot profit from having seen the same relevant documents during training.
    """
    seen = {doc for judged in train.values() for doc, rel in judged.items() if rel > 0}
    return [
        q for q, judged in test.items() if not any(rel > 0 and doc in seen for doc, rel in judged.items())
    ]


def subset_queries(name: str, dataset_dir: Path, split: str, qrels: Qrels) -> list[str]:
    if name not in SUBSETS:
        raise UnknownNameError("subset", name, list(SUBSETS))
    if "train" not in splits(dataset_dir):
        raise InvalidInputError(
            f"subset {name!r} needs train judgments: {dataset_dir} has only {', '.join(splits(dataset_dir))}"
        )
    if split == "train":
        raise InvalidInputError(f"subset {name!r} compares a split with train: evaluate another split")
    return held_apart(qrels, load_split(dataset_dir, "train").qrels)

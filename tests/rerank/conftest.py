from __future__ import annotations

from pathlib import Path

import pytest

from tests.slices import make_slice


def make_ltr_slice(src: Path, dest: Path, n_train: int, n_test: int, n_extra_docs: int) -> Path:
    """A small BEIR folder with train and test judgments (see tests/conftest.make_slice)."""
    return make_slice(src, dest, {"train": n_train, "test": n_test}, n_extra_docs, seed=7)


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

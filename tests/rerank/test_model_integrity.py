"""A damaged model file is refused with `ModelUnavailableError` before LightGBM or the tree compiler reads it.

Real LightGBM models (trained here on random rows with the real feature names), saved by the real registry;
the damage is done to the files on disk. Loads of damaged files run in a child process, so a crash (what a
truncated model.txt did to LightGBM before) fails the test instead of killing the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from ragsearch.rerank.errors import ModelUnavailableError
from ragsearch.rerank.features import FEATURE_NAMES, FEATURES_VERSION
from ragsearch.rerank.integrity import structure_problem
from ragsearch.rerank.registry import ModelManifest, ModelRegistry, now_utc

REPO = Path(__file__).resolve().parents[2]


def registered(home: Path, runtime: str = "lightgbm", trees: int = 40) -> ModelRegistry:
    rng = np.random.default_rng(7)
    x = rng.random((600, len(FEATURE_NAMES)), dtype=np.float64)
    y = (x[:, 0] * 3 + rng.random(600)).astype(int).clip(0, 3)
    params = {"objective": "lambdarank", "num_leaves": 7, "verbose": -1, "min_data_in_leaf": 5}
    data = lgb.Dataset(x, y, group=[20] * 30, feature_name=list(FEATURE_NAMES))
    booster = lgb.train(params, data, num_boost_round=trees)
    manifest = ModelManifest(
        version="v0001", created_at=now_utc(), feature_names=FEATURE_NAMES, features_version=FEATURES_VERSION,
        params={"prior_weight": 0.0}, best_iteration=trees, training_data={}, dataset="random",
        train_split="train", dev="holdout", candidates={}, embedding_model="none", index="none", libraries={},
    )  # fmt: skip
    registry = ModelRegistry(home, runtime)  # type: ignore[arg-type]
    registry.register(manifest, booster, {}, {})
    return registry


def model_file(home: Path) -> Path:
    return home / "models" / "ltr" / "v0001" / "model.txt"


def drop_digest(home: Path) -> None:
    path = model_file(home).with_name("manifest.json")
    d = json.loads(path.read_text())
    d.pop("model_sha256", None)
    path.write_text(json.dumps(d))


def load_in_child(home: Path, runtime: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\nfrom rerank.registry import ModelRegistry\n"
        f"try:\n    ModelRegistry(sys.argv[1], {runtime!r}).load('v0001')\n"
        "except Exception as e:\n    print(type(e).__name__, e)\nelse:\n    print('loaded')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))}
    return subprocess.run([sys.executable, "-c", code, str(home)], capture_output=True, text=True, errors="replace", env=env,
                          cwd=REPO, timeout=300)  # fmt: skip


def test_the_digest_is_recorded_at_save_time_and_a_whole_model_loads(tmp_path: Path) -> None:
    registry = registered(tmp_path)
    manifest = registry.manifest("v0001")
    import hashlib

    assert manifest.model_sha256 == hashlib.sha256(model_file(tmp_path).read_bytes()).hexdigest()
    assert registry.load("v0001").predict(np.zeros((3, len(FEATURE_NAMES)), dtype=np.float32)).shape == (3,)


@pytest.mark.parametrize("legacy", [False, True], ids=["digest", "legacy-no-digest"])
@pytest.mark.parametrize("runtime", ["lightgbm", "compiled"])
def test_a_truncated_model_is_refused_without_crashing(tmp_path: Path, legacy: bool, runtime: str) -> None:
    registry = registered(tmp_path, runtime)
    if runtime == "compiled":
        registry.load("v0001")  # compiled trees of the whole file are in the cache
    if legacy:
        drop_digest(tmp_path)
    path = model_file(tmp_path)
    data = path.read_bytes()
    for cut in (len(data) // 3, len(data) // 2, data.index(b"end of trees") + 4):
        path.write_bytes(data[:cut])
        out = load_in_child(tmp_path, runtime)
        assert out.returncode == 0, f"the loading process died ({out.returncode}): {out.stderr[-500:]}"
        assert out.stdout.startswith("ModelUnavailableError"), out.stdout + out.stderr[-500:]
        assert str(tmp_path) not in out.stdout


def test_a_changed_byte_is_caught_by_the_digest(tmp_path: Path) -> None:
    registry = registered(tmp_path)
    path = model_file(tmp_path)
    text = path.read_text()
    i = text.index("leaf_value=") + len("leaf_value=")
    path.write_text(text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1 :])  # same structure
    assert structure_problem(path.read_bytes()) is None
    with pytest.raises(ModelUnavailableError, match="digest"):
        registry.load("v0001")


def test_legacy_structure_check(tmp_path: Path) -> None:
    registered(tmp_path)
    data = model_file(tmp_path).read_bytes()
    assert structure_problem(data) is None
    assert "end of trees" in (structure_problem(data[: data.index(b"end of trees")]) or "")
    one_tree_less = data.replace(b"\nTree=1\n", b"\nTree_1\n")
    assert "trees where the header lists" in (structure_problem(one_tree_less) or "")
    assert structure_problem(b"garbage") is not None
    assert structure_problem(data[: data.index(b"end of parameters")]) is not None


def test_missing_file_and_damaged_registry_or_manifest(tmp_path: Path) -> None:
    registry = registered(tmp_path)
    registry.promote("v0001")
    assert registry.promoted == "v0001"
    model_file(tmp_path).unlink()
    with pytest.raises(ModelUnavailableError, match="missing"):
        registry.verify()
    (registry.root / "registry.json").write_text("{not json")
    with pytest.raises(ModelUnavailableError, match=r"registry\.json"):
        _ = registry.promoted
    model_file(tmp_path).with_name("manifest.json").write_text("[")
    with pytest.raises(ModelUnavailableError, match=r"manifest\.json"):
        registry.manifest("v0001")

"""Versioned LTR models under `<home>/models/ltr/`, with a promoted version and a rollback history.

Each version is a folder `vNNNN/` holding:
- `model.txt`: the LightGBM text model (no pickle),
- `manifest.json`: feature names and order, params, training data hash, dataset and splits, candidate
  depths, embedding model, library versions, created_at, dev and test metrics,
- `importance.json`: gain and split importance per feature,
- `training.npz` / `dev.npz`: the logged matrices the model was fitted and early-stopped on.

`registry.json` holds `promoted` and `history` (the promotions in order; rollback steps back one).
A model whose recorded features differ from `rerank.features.FEATURE_NAMES` refuses to load.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from ragsearch.rerank.compiled_trees import TreePredictor, TreeRuntime, tree_predictor
from ragsearch.rerank.errors import FeatureMismatchError, ModelNotFoundError, ModelUnavailableError
from ragsearch.rerank.features import FEATURE_NAMES, FEATURES_VERSION
from ragsearch.rerank.integrity import file_sha256, verify_model_file
from ragsearch.rerank.train import prior

VERSION_RE = re.compile(r"^v\d{4,}$")


@dataclass(frozen=True, slots=True)
class ModelManifest:
    version: str
    created_at: str
    feature_names: tuple[str, ...]
    features_version: int
    params: dict[str, Any]
    best_iteration: int
    training_data: dict[str, Any]
    """sha256, rows, queries and file of the training and dev matrices."""
    dataset: str
    train_split: str
    dev: str
    """the dev split's name, or how the dev queries were held out of train."""
    candidates: dict[str, Any]
    """bm25_depth, dense_depth, fusion, dense_weight, boosts: how the first stage made candidates."""
    embedding_model: str
    index: str
    libraries: dict[str, str]
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    """{"dev": {"ltr": nDCG@10, "hybrid": ...}, "test": {...}}."""
    train_seconds: float = 0.0
    model_sha256: str | None = None
    """sha256 of model.txt, recorded at save time and checked before every load (None: an older model)."""
    seen_queries: dict[str, list[str]] | None = None
    """{"train": [query ids], "dev": [query ids]}: what evaluation must not measure it on. None in
    manifests written before it was recorded (then evaluation can only compare split names)."""
    cv_curve: list[dict[str, float]] | None = None
    """nDCG@10 by number of trees in the CV that chose the trees: [{"trees", "mean", "std"}] over folds
    (None: a manifest from before trees were chosen by CV)."""
    chosen_trees: int | None = None
    fallback_to_fused: bool = False
    """True when no number of trees beat the fused score in CV: the model has no trees and serves the
    fused (hybrid) ranking."""
    cv_folds: int | None = None
    cv_split_by: str = "queries"
    """What the CV folds split: queries, document-disjoint groups of queries, or the training collections
    (left out one at a time; many-collection models)."""
    sources: list[dict[str, Any]] | None = None
    """Many-collection models (`rerank.many`): one record per source (index, dataset, split, queries, rows,
    query_weight, seen_queries ...); None for a model of one collection."""

    @property
    def trained_on(self) -> set[str]:
        """Splits whose judgments the model saw (training or early stopping)."""
        dev_split = self.dev if not self.dev.startswith("holdout") else self.train_split
        return {self.train_split, dev_split}

    @property
    def trained_queries(self) -> frozenset[str] | None:
        """Ids of the queries it was trained or early-stopped on (None: a legacy manifest)."""
        if self.seen_queries is None:
            return None
        return frozenset(q for ids in self.seen_queries.values() for q in ids)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["feature_names"] = list(self.feature_names)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelManifest:
        try:
            return cls(**{**d, "feature_names": tuple(d["feature_names"])})
        except (KeyError, TypeError) as exc:
            raise ModelUnavailableError(
                f"model {d.get('version', '?')}: manifest.json is damaged ({exc}); retrain or promote another version"
            ) from None


@dataclass(frozen=True, slots=True)
class LoadedModel:
    manifest: ModelManifest
    booster: lgb.Booster
    trees: TreePredictor  # what evaluates the booster's trees when serving (compiled or LightGBM)

    def predict(self, features: np.ndarray, fused: np.ndarray | None = None) -> np.ndarray:
        """Tree scores plus the prior `prior_weight * fused_score`; `fused` (the candidates' own float64
        fused scores) replaces the float32 feature column, so a model of no trees orders candidates exactly
        as the fused ranking does, ties included."""
        weight = float(self.manifest.params.get("prior_weight", 0.0))
        base = prior(features, self.manifest.feature_names, weight) if fused is None else weight * fused
        if self.manifest.best_iteration == 0:
            return base
        return self.trees.predict(features) + base


def check_features(manifest: ModelManifest) -> None:
    """Refuse a model trained on other features than the running code computes."""
    if manifest.feature_names == FEATURE_NAMES and manifest.features_version == FEATURES_VERSION:
        return
    theirs, ours = list(manifest.feature_names), list(FEATURE_NAMES)
    missing = [n for n in theirs if n not in ours]
    extra = [n for n in ours if n not in theirs]
    if missing or extra:
        why = f"it uses {missing or 'no'} features this code lacks and lacks {extra or 'none'} of this code's"
    elif theirs != ours:
        why = "its features are in another order"
    else:
        why = f"its features are version {manifest.features_version}, this code computes version {FEATURES_VERSION}"
    raise FeatureMismatchError(
        f"model {manifest.version} does not match the running code's features: {why}; "
        "retrain with `ragsearch train` or serve another version with --model"
    )


class ModelRegistry:
    def __init__(self, home: Path, tree_runtime: TreeRuntime = "compiled") -> None:
        self.root = Path(home) / "models" / "ltr"
        self.tree_runtime: TreeRuntime = tree_runtime
        self.compiled_cache = Path(home) / "cache" / "trees"

    # ---- state ------------------------------------------------------------------------------
    def _state_path(self) -> Path:
        return self.root / "registry.json"

    def _state(self) -> dict[str, Any]:
        p = self._state_path()
        if not p.is_file():
            return {"promoted": None, "history": []}
        try:
            state = json.loads(p.read_text())
            if not isinstance(state, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(
                f"the model registry's registry.json is damaged ({type(exc).__name__}); promote a version again "
                "with `ragsearch models promote V` to rewrite it"
            ) from None
        return dict(state)

    def _write_state(self, state: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self._state_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self._state_path())

    def versions(self) -> list[str]:
        return versions_in(self.root, VERSION_RE)

    @property
    def promoted(self) -> str | None:
        v = self._state().get("promoted")
        return str(v) if v else None

    def next_version(self) -> str:
        have = self.versions()
        n = int(have[-1][1:]) + 1 if have else 1
        return f"v{n:04d}"

    def path(self, version: str) -> Path:
        if version not in self.versions():
            known = ", ".join(self.versions()) or "none"
            raise ModelNotFoundError(
                f"no model {version!r} under {self.root} (known: {known}); train one with `ragsearch train`"
            )
        return self.root / version

    # ---- write ------------------------------------------------------------------------------
    def register(
        self,
        manifest: ModelManifest,
        booster: lgb.Booster,
        importance: dict[str, dict[str, float]],
        matrices: dict[str, Any],
    ) -> Path:
        """Write a new version folder; `matrices` maps file stems to objects with `save(path)`."""
        folder = self.root / manifest.version
        folder.mkdir(parents=True, exist_ok=False)
        booster.save_model(str(folder / "model.txt"), num_iteration=manifest.best_iteration)
        manifest = replace(manifest, model_sha256=file_sha256(folder / "model.txt"))
        for stem, ts in matrices.items():
            ts.save(folder / f"{stem}.npz")
        (folder / "importance.json").write_text(json.dumps(importance, indent=2) + "\n")
        (folder / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
        return folder

    def promote(self, version: str) -> None:
        """Serve `version` from now on. It is loaded first: a model that cannot load is refused, and the
        load compiles its trees into the cache, so the first request after promotion does not wait for it."""
        self.load(version)
        state = self._state()
        if state.get("promoted") == version:
            return
        state["promoted"] = version
        state["history"] = [*state.get("history", []), version]
        self._write_state(state)

    def rollback(self) -> str:
        """Promote the previously promoted version again; returns it."""
        state = self._state()
        history = list(state.get("history", []))
        if len(history) < 2:
            raise ModelNotFoundError("nothing to roll back to: fewer than two versions were ever promoted")
        history.pop()
        state["promoted"] = history[-1]
        state["history"] = history
        self._write_state(state)
        return str(history[-1])

    # ---- read -------------------------------------------------------------------------------
    def manifest(self, version: str) -> ModelManifest:
        try:
            d = json.loads((self.path(version) / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(
                f"model {version}: manifest.json cannot be read ({type(exc).__name__}); retrain or promote "
                "another version"
            ) from None
        if not isinstance(d, dict):
            raise ModelUnavailableError(
                f"model {version}: manifest.json is damaged; retrain or promote another version"
            )
        return ModelManifest.from_dict(d)

    def verify(self, version: str | None = None) -> ModelManifest:
        """The manifest of `version` (default: the promoted one) once its model file is checked whole;
        raises `ModelUnavailableError` when it is not. Cheap: reads the file, loads nothing."""
        v = self.resolve(version)
        manifest = self.manifest(v)
        verify_model_file(self.path(v) / "model.txt", v, manifest.model_sha256)
        return manifest

    def importance(self, version: str) -> dict[str, dict[str, float]]:
        return dict(json.loads((self.path(version) / "importance.json").read_text()))

    def resolve(self, version: str | None) -> str:
        if version:
            return version
        promoted = self.promoted
        if promoted is None:
            known = ", ".join(self.versions()) or "none"
            raise ModelNotFoundError(
                f"no promoted LTR model under {self.root} (versions: {known}); "
                "train one with `ragsearch train ... --promote-if-better` or `ragsearch models promote V`"
            )
        return promoted

    def load(self, version: str | None = None) -> LoadedModel:
        """The given version, or the promoted one; refuses a model whose features differ from the code's."""
        v = self.resolve(version)
        manifest = self.verify(v)
        check_features(manifest)
        try:
            booster = lgb.Booster(model_file=str(self.path(v) / "model.txt"))
        except lgb.basic.LightGBMError:
            raise ModelUnavailableError(f"model {v}: LightGBM cannot read model.txt; retrain it") from None
        if booster.feature_name() != list(manifest.feature_names):
            raise FeatureMismatchError(
                f"model {v}: model.txt and manifest.json list different features; the version is corrupt"
            )
        trees = tree_predictor(
            booster,
            self.path(v) / "model.txt",
            manifest.best_iteration,
            self.tree_runtime,
            self.compiled_cache,
        )
        return LoadedModel(manifest, booster, trees)


def versions_in(root: Path, pattern: re.Pattern[str]) -> list[str]:
    """Version folders (a letter and a number) under `root` that hold a manifest, in numeric order."""
    if not root.is_dir():
        return []
    found = (p.name for p in root.iterdir() if pattern.match(p.name) and (p / "manifest.json").is_file())
    return sorted(found, key=lambda v: int(v[1:]))


def now_utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def versions_of_libraries() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("lightgbm", "numpy", "tantivy", "sentence-transformers", "torch", "ragsearch"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out

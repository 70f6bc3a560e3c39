"""Why a result ranks where it does: its score taken apart into parts that add up to it.

- `ltr`: the served model's score is `prior_weight x fused score` (the trees boost from it, LightGBM
  `init_score`) plus the trees' output. TreeSHAP (LightGBM `Booster.predict(..., pred_contrib=True)`) splits
  the trees' output into one contribution per feature plus the trees' expected value. The parts: the prior,
  one per feature family (`family`: lexical match, semantic similarity, ...), and the trees' base value;
  they sum to the model score. Each feature's own contribution comes with it.
- `fusion`: a hybrid score is the weighted sum of each first-stage list's normalised score (min-max,
  z-score or reciprocal rank, as the configuration fuses, with `retrieval.fusion`'s own normalisations);
  the parts are those terms.
- `score`: a bm25 or dense result's score is that system's score: one part.

Only the top `EXPLAIN_TOP` results are explained (TreeSHAP costs about as much as predicting, per row).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from ragsearch.retrieval.errors import UnknownNameError
from ragsearch.retrieval.fusion import minmax_normalize, ranks, zscore_normalize
from ragsearch.retrieval.types import Candidate, Vector

EXPLAIN_TOP = 10
PRIOR = "prior (fused score)"
BASE = "base"
OTHER = "other"

FAMILY_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # first match wins: a rank or the fused score is agreement even when it names a system (bm25_rank)
    ("first-stage agreement", re.compile(r"(^|_)(rank|ranks|fused|rrf|agree|agreement)(_|$)")),
    ("lengths", re.compile(r"(^|_)(len|length|lengths)(_|$)")),
    ("proximity", re.compile(r"(^|_)(bigram|bigrams|phrase|span|window|proximity)(_|$)")),
    ("semantic similarity", re.compile(r"(^|_)(dense|cosine|embedding|semantic)(_|$)")),
    ("query", re.compile(r"^query_")),
    ("lexical match", re.compile(r"(^|_)(bm25|coverage|idf|density|term|terms|tf|match|lexical)(_|$)")),
)
FAMILIES: tuple[str, ...] = (
    "lexical match",
    "semantic similarity",
    "first-stage agreement",
    "proximity",
    "lengths",
    "query",
    OTHER,
)
"""Feature families in display order; a feature no rule recognises is `other`."""


def family(feature: str) -> str:
    """The family of a feature, from its name alone (so features added later land in one, or `other`)."""
    return next((name for name, rule in FAMILY_RULES if rule.search(feature)), OTHER)


@dataclass(frozen=True, slots=True)
class Part:
    """One addend of a score: `contribution` is `weight x normalized` for a fusion term, `weight x raw`
    for the LTR prior, and the summed feature contributions for an LTR family."""

    name: str
    contribution: float
    raw: float | None = None
    """What went in: a first-stage score (fusion) or the fused score (the LTR prior)."""
    normalized: float | None = None
    """The fusion's normalised value of `raw` (min-max, z-score or 1 / (k + rank))."""
    weight: float | None = None

    @property
    def formula(self) -> str:
        """How the contribution was made, for people: `0.5 x 0.8312` or `4 x fused score 0.9021`."""
        if self.weight is not None and self.normalized is not None:
            return f"{self.weight:g} x {self.normalized:.4f}"
        if self.weight is not None and self.raw is not None:
            return f"{self.weight:g} x fused score {self.raw:.4f}"
        return ""


@dataclass(frozen=True, slots=True)
class FeatureContribution:
    name: str
    family: str
    value: float | None
    """The feature's value for this result (None: missing)."""
    contribution: float
    """Its TreeSHAP contribution to the model score."""


@dataclass(frozen=True, slots=True)
class Explanation:
    """A result's score as parts that sum to it (to 1e-6)."""

    method: Literal["ltr", "fusion", "score"]
    score: float
    """The score the result was ranked by."""
    parts: tuple[Part, ...]
    features: tuple[FeatureContribution, ...] = ()
    """LTR only: every feature's contribution, largest magnitude first."""
    detail: str = ""
    """How the parts were made, in words (the fusion and its weights; the model, its prior and trees)."""

    @property
    def total(self) -> float:
        return math.fsum(p.contribution for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class ExplainingReranker(Protocol):
    """A reranker that can say why: reranks like `Reranker.rerank` and explains the first `top` results."""

    def rerank_explained(
        self, query: str, candidates: Sequence[Candidate], query_vector: Vector, top: int
    ) -> tuple[list[Candidate], dict[str, Explanation]]: ...


def tree_contributions(
    booster: lgb.Booster, features: NDArray[np.float32], num_trees: int
) -> NDArray[np.float64]:
    """TreeSHAP: (rows x features + 1), the last column the trees' expected value; zeros for no trees
    (LightGBM reads num_iteration=0 as "every tree")."""
    if num_trees == 0 or len(features) == 0:
        return np.zeros((len(features), features.shape[1] + 1), dtype=np.float64)
    out = booster.predict(features, num_iteration=num_trees, pred_contrib=True, num_threads=1)
    return np.asarray(out, dtype=np.float64)


def explain_ltr(
    contributions: NDArray[np.float64],
    features: NDArray[np.float32],
    feature_names: Sequence[str],
    fused: NDArray[np.float64],
    prior_weight: float,
    scores: Sequence[float],
    detail: str = "",
) -> list[Explanation]:
    """One explanation a row: the prior `prior_weight x fused`, one part per family present in
    `feature_names`, and the trees' base value (`contributions`' last column)."""
    fams, present, member = families_of(tuple(feature_names))
    by_family = contributions[:, :-1] @ member
    # each row's features, largest contribution first (stable: equal magnitudes keep the features' order)
    order = np.argsort(-np.abs(contributions[:, :-1]), axis=1, kind="stable").tolist()
    out = []
    for i, score in enumerate(scores):
        row = contributions[i]
        parts = (
            Part(PRIOR, prior_weight * float(fused[i]), raw=float(fused[i]), weight=prior_weight),
            *(Part(p, float(v)) for p, v in zip(present, by_family[i].tolist(), strict=True)),
            Part(BASE, float(row[-1])),
        )
        values, contrib = features[i].tolist(), row.tolist()
        feats = tuple(
            FeatureContribution(
                feature_names[j], fams[j], None if math.isnan(values[j]) else values[j], contrib[j]
            )
            for j in order[i]
        )
        out.append(Explanation("ltr", float(score), parts, feats, detail))
    return out


@functools.lru_cache(maxsize=16)
def families_of(
    feature_names: tuple[str, ...],
) -> tuple[tuple[str, ...], tuple[str, ...], NDArray[np.float64]]:
    """(each feature's family, the families present in display order, the features x families 0/1 matrix),
    once per feature list (a model's never changes)."""
    fams = tuple(family(n) for n in feature_names)
    present = tuple(f for f in FAMILIES if f in fams)
    member = np.array([[f == p for p in present] for f in fams], dtype=np.float64).reshape(len(fams), -1)
    member.setflags(write=False)
    return fams, present, member


FUSION_WORDS = {
    "minmax": "min-max fusion: each list's scores scaled to [0, 1] by its min and max (0 when absent)",
    "zscore": "z-score fusion: each list's scores standardised (absent: the list's lowest)",
    "rrf": "reciprocal rank fusion: 1 / (k + rank) in each list (0 when absent)",
}


def explain_fusion(
    candidates: Sequence[Candidate], fusion: str, dense_weight: float, rrf_k: float, ids: Iterable[str]
) -> dict[str, Explanation]:
    """The fusion arithmetic of the candidates `ids`, from the whole fused candidate list (the lists'
    min, max, mean and ranks are over all of it): bm25 weighted 1 - `dense_weight`, dense `dense_weight`."""
    lists = (
        ("bm25", {c.id: c.bm25_score for c in candidates if c.bm25_score is not None}, 1.0 - dense_weight),
        ("dense", {c.id: c.dense_score for c in candidates if c.dense_score is not None}, dense_weight),
    )
    terms = []
    for name, scores, weight in lists:
        if fusion == "rrf":
            norm = {doc: 1.0 / (rrf_k + r) for doc, r in ranks(scores).items()}
            missing = 0.0
        elif fusion == "zscore":
            norm = zscore_normalize(scores)
            missing = min(norm.values(), default=0.0)
        elif fusion == "minmax":
            norm, missing = minmax_normalize(scores), 0.0
        else:
            raise UnknownNameError("fusion", fusion, list(FUSION_WORDS))
        terms.append((name, scores, weight, norm, missing))
    by_id = {c.id: c for c in candidates}
    out = {}
    for i in ids:
        parts = tuple(
            Part(name, weight * norm.get(i, missing), raw=scores.get(i), normalized=norm.get(i, missing),
                 weight=weight)
            for name, scores, weight, norm, missing in terms
        )  # fmt: skip
        c = by_id[i]
        score = c.fused_score if c.fused_score is not None else c.score
        words = f"{FUSION_WORDS.get(fusion, fusion)}; bm25 x {1 - dense_weight:g} + dense x {dense_weight:g}"
        out[i] = Explanation("fusion", score, parts, detail=words)
    return out


def explain_score(hits: Sequence[Candidate], system: Literal["bm25", "dense"]) -> dict[str, Explanation]:
    """A single system's results: the score is that system's score."""
    return {h.id: Explanation("score", h.score, (Part(system, h.score, raw=h.score),)) for h in hits}

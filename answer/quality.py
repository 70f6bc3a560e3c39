"""Answer quality on judged queries: do the answers cite passages, and are the cited ones relevant?

- citation coverage: share of answers citing at least one passage;
- citation precision: share of cited passages whose document is judged relevant (micro-averaged);
- answers with a relevant citation: share of answers citing at least one relevant passage;
- plus the share of not-found and fallback answers, and mean time to first token / tokens per second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from ragsearch.answer.answering import Answer, Answerer
from ragsearch.eval.data import JudgedSplit


@dataclass(frozen=True, slots=True)
class AnswerQuality:
    answers: int
    generated: int
    not_found: int
    fallback: int
    citation_coverage: float
    citation_precision: float
    answers_with_relevant_citation: float
    invalid_citations: int
    mean_ttft_ms: float | None
    mean_tokens_per_s: float | None
    model: str | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def score_answers(answers: dict[str, Answer], split: JudgedSplit) -> AnswerQuality:
    generated = [(q, a) for q, a in answers.items() if a.status == "generated"]
    cited_total = cited_relevant = with_citation = with_relevant = invalid = 0
    for qid, a in generated:
        rel = {d for d, g in split.qrels.get(qid, {}).items() if g > 0}
        hits = [c.doc_id in rel for c in a.cited]
        cited_total += len(hits)
        cited_relevant += sum(hits)
        with_citation += bool(hits)
        with_relevant += any(hits)
        invalid += len(a.invalid_citations)
    n = len(generated)
    ttft = [a.metrics.ttft_ms for _, a in generated if a.metrics.ttft_ms is not None]
    tps = [a.metrics.tokens_per_s for _, a in generated if a.metrics.tokens_per_s is not None]
    return AnswerQuality(
        answers=len(answers),
        generated=n,
        not_found=sum(a.status == "not_found" for a in answers.values()),
        fallback=sum(a.status == "extractive" for a in answers.values()),
        citation_coverage=with_citation / n if n else 0.0,
        citation_precision=cited_relevant / cited_total if cited_total else 0.0,
        answers_with_relevant_citation=with_relevant / n if n else 0.0,
        invalid_citations=invalid,
        mean_ttft_ms=float(np.mean(ttft)) if ttft else None,
        mean_tokens_per_s=float(np.mean(tps)) if tps else None,
        model=next((a.metrics.model for _, a in generated if a.metrics.model), None),
    )


def answer_split(
    answerer: Answerer, split: JudgedSplit, limit: int, progress: Callable[[int], None] | None = None
) -> dict[str, Answer]:
    out = {}
    for qid in list(split.queries)[:limit]:
        out[qid] = answerer.answer(split.queries[qid])
        if progress:
            progress(1)
    return out

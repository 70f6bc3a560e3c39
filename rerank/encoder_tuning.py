"""Fine-tuning the bi-encoder on judged queries: MultipleNegativesRankingLoss with mined hard negatives.

Each judged (query, relevant document) pair of the training split becomes a triple with one hard negative:
a passage the current first stage ranks between `negatives_from` and `negatives_to` for that query and that
no judgment marks relevant. The loss also uses every other passage in the batch as a negative, so training
runs on sentence-transformers' SentenceTransformerTrainer with the no-duplicates batch sampler: a batch never
holds one text (query, positive or negative) twice, and a query with several relevant documents never meets its
other positives as in-batch negatives.

A version is a folder `<home>/models/encoders/eNNNN/`: the sentence-transformers model and `manifest.json`
(base model, dataset and splits, params and seed, training-data hash, library versions, created_at, dev
metrics before and after, trainer: batch sampler and training arguments). Serve it by setting RAGSEARCH_EMBEDDING_MODEL to the folder and ingesting into a
new index (an index refuses vectors from another model).

The dev metric needs no re-embedding of the corpus: each dev query's first-stage candidates (hybrid top
`dev_depth` of the mining index) are reordered by cosine under the base and under the tuned encoder, and
nDCG@10 of both orders is recorded. Test judgments are never read here.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragsearch.eval.data import JudgedSplit
from ragsearch.eval.metrics import evaluate
from ragsearch.ingest.readers import read_source
from ragsearch.rerank.errors import ModelNotFoundError, TrainingDataError
from ragsearch.rerank.registry import now_utc, versions_in, versions_of_libraries
from ragsearch.rerank.train import holdout
from ragsearch.retrieval.embedding import passage_text, resolve_model_path
from ragsearch.retrieval.extras import require
from ragsearch.retrieval.index import SearchIndex
from ragsearch.retrieval.searcher import Retriever
from ragsearch.retrieval.types import Passage

VERSION_RE = re.compile(r"^e\d{4,}$")
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class TuneParams:
    """Defaults chosen on SciFact's train hold-out (dev), never on test."""

    epochs: int = 1
    learning_rate: float = 2e-5
    batch_size: int = 32
    warmup_fraction: float = 0.1
    negatives_from: int = 3
    """hard negatives come from first-stage ranks [negatives_from, negatives_to): the very top is skipped,
    where unjudged relevant passages are most likely."""
    negatives_to: int = 30
    max_seq_length: int = 256
    dev_depth: int = 30
    seed: int = 0


@dataclass(frozen=True, slots=True)
class EncoderManifest:
    version: str
    created_at: str
    base_model: str
    dataset: str
    train_split: str
    dev: str
    index: str
    params: dict[str, Any]
    training_data: dict[str, Any]
    libraries: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    train_seconds: float = 0.0
    trainer: dict[str, Any] = field(default_factory=dict)
    """how it was trained: trainer, loss, batch sampler, SentenceTransformerTrainingArguments, optimizer steps
    (empty in versions made before the trainer)"""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Triple:
    query: str
    positive: str
    negative: str


class EncoderRegistry:
    """Fine-tuned encoders under `<home>/models/encoders/`."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "models" / "encoders"

    def versions(self) -> list[str]:
        return versions_in(self.root, VERSION_RE)

    def path(self, version: str) -> Path:
        p = self.root / version
        if not VERSION_RE.match(version) or not (p / "manifest.json").is_file():
            have = ", ".join(self.versions()) or "none"
            raise ModelNotFoundError(f"no fine-tuned encoder {version!r} (have: {have})")
        return p

    def manifest(self, version: str) -> EncoderManifest:
        return EncoderManifest(**json.loads((self.path(version) / "manifest.json").read_text()))

    def next_version(self) -> str:
        numbers = [int(v[1:]) for v in self.versions()]
        return f"e{max(numbers, default=0) + 1:04d}"


def corpus_texts(dataset_dir: Path, doc_ids: set[str]) -> dict[str, str]:
    """What the encoder sees for each wanted document of a BEIR corpus: title and text (as `passage_text`)."""
    out: dict[str, str] = {}
    for rec in read_source(dataset_dir):
        if isinstance(rec, Passage) and rec.doc_id in doc_ids and rec.doc_id not in out:
            out[rec.doc_id] = passage_text(rec.title, rec.text)
    return out


def mine_triples(
    retriever: Retriever,
    split: JudgedSplit,
    positives: dict[str, str],
    qids: Sequence[str],
    params: TuneParams,
    progress: Progress | None = None,
) -> list[Triple]:
    """(query, relevant document, hard negative passage) for every judged relevant document of `qids` that
    `positives` holds text for."""
    rng = random.Random(params.seed)
    triples: list[Triple] = []
    for qid in qids:
        text, judged = split.queries[qid], split.qrels[qid]
        hits = retriever.candidates(text, min_depth=params.negatives_to)[
            params.negatives_from : params.negatives_to
        ]
        negatives = [h.id for h in hits if h.doc_id not in judged]
        texts = {p.id: passage_text(p.title, p.text) for p in retriever.index.get(negatives)}
        for doc, rel in judged.items():
            if rel > 0 and doc in positives and texts:
                triples.append(Triple(text, positives[doc], texts[rng.choice(sorted(texts))]))
        if progress:
            progress(1)
    return triples


def triples_hash(triples: Sequence[Triple]) -> str:
    h = hashlib.sha256()
    for t in triples:
        h.update(json.dumps([t.query, t.positive, t.negative]).encode())
    return h.hexdigest()


def triples_dataset(triples: Sequence[Triple]) -> Any:
    """The triples as a `datasets.Dataset` with the (anchor, positive, negative) columns the loss reads in order."""
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "anchor": [t.query for t in triples],
            "positive": [t.positive for t in triples],
            "negative": [t.negative for t in triples],
        }
    )


def trainer_args(params: TuneParams) -> dict[str, Any]:
    """SentenceTransformerTrainingArguments for `params` (recorded in the manifest). NO_DUPLICATES keeps a text
    (query, positive or negative) to one row per batch: a query judged with several relevant documents would
    otherwise meet its other positives as in-batch negatives."""
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    return {
        "batch_sampler": BatchSamplers.NO_DUPLICATES,  # a str enum: "no_duplicates" in the manifest
        "per_device_train_batch_size": params.batch_size,
        "num_train_epochs": params.epochs,
        "learning_rate": params.learning_rate,
        "lr_scheduler_type": "linear",
        "warmup_steps": params.warmup_fraction,  # under 1: a fraction of the steps
        "weight_decay": 0.01,
        "max_grad_norm": 1.0,
        "seed": params.seed,
        "use_cpu": True,
        "dataloader_pin_memory": False,
        "save_strategy": "no",
        "eval_strategy": "no",
        "logging_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
    }


def fit_encoder(
    model: Any, triples: Sequence[Triple], params: TuneParams, progress: Progress | None = None
) -> int:
    """Train `model` (a SentenceTransformer) in place with SentenceTransformerTrainer; returns the number of
    optimizer steps. `progress` gets each step."""
    import tempfile

    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    class StepProgress(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if progress:
                progress(1)

    model.max_seq_length = params.max_seq_length
    with tempfile.TemporaryDirectory(prefix="ragsearch-finetune-") as out:
        trainer = SentenceTransformerTrainer(
            model=model,
            args=SentenceTransformerTrainingArguments(output_dir=out, **trainer_args(params)),
            train_dataset=triples_dataset(triples),
            loss=MultipleNegativesRankingLoss(model),
            callbacks=[StepProgress()],
        )
        for quiet in (PrinterCallback, ProgressCallback):  # stdout may carry --json; progress is ours
            trainer.remove_callback(quiet)
        steps = int(trainer.train().global_step)
    model.eval()
    return steps


def candidate_ndcg(
    model: Any, retriever: Retriever, split: JudgedSplit, qids: Sequence[str], depth: int
) -> float:
    """nDCG@10 of each query's hybrid top `depth` reordered by cosine under `model`."""
    index: SearchIndex = retriever.index
    run: dict[str, dict[str, float]] = {}
    for qid in qids:
        hits = retriever.candidates(split.queries[qid], min_depth=depth)[:depth]
        if not hits:
            run[qid] = {}
            continue
        passages = {p.id: passage_text(p.title, p.text) for p in index.get([h.id for h in hits])}
        vecs = model.encode([passages[h.id] for h in hits], normalize_embeddings=True, convert_to_numpy=True)
        q = model.encode([split.queries[qid]], normalize_embeddings=True, convert_to_numpy=True)[0]
        scores: dict[str, float] = {}
        for h, s in zip(hits, np.asarray(vecs) @ q, strict=True):
            scores[h.doc_id] = max(scores.get(h.doc_id, -1.0), float(s))
        run[qid] = scores
    return float(evaluate({q: split.qrels[q] for q in qids}, run, ("nDCG@10",)).means["nDCG@10"])


def finetune_encoder(
    dataset_dir: Path,
    retriever: Retriever,
    registry: EncoderRegistry,
    train: JudgedSplit,
    dev: JudgedSplit | None,
    base_model: str,
    index_name: str,
    params: TuneParams,
    holdout_fraction: float = 0.2,
    progress: Callable[[str, int], Progress] | None = None,
) -> EncoderManifest:
    """Mine triples from `train` (minus the dev hold-out when no dev split is given; relevant documents' text
    from the dataset's corpus, negatives from the index), fine-tune a copy of
    `base_model`, measure both encoders on the dev queries, register the result as a new version."""
    from sentence_transformers import SentenceTransformer

    for module in ("datasets", "accelerate"):  # the `train` extra; checked before minutes of mining
        require(module)

    if dev is None:
        train_q, dev_q = holdout(list(train.queries), holdout_fraction)
        dev_split, dev_name = train, f"holdout {holdout_fraction:g} of {train.split}"
    else:
        train_q, dev_q, dev_split, dev_name = list(train.queries), list(dev.queries), dev, dev.split
    step = progress(f"mine negatives {train.dataset}/{train.split}", len(train_q)) if progress else None
    relevant = {d for q in train_q for d, rel in train.qrels[q].items() if rel > 0}
    triples = mine_triples(retriever, train, corpus_texts(dataset_dir, relevant), train_q, params, step)
    if not triples:
        raise TrainingDataError(
            "no (query, relevant passage, negative) triple could be built: check that the index holds the judged corpus"
        )
    model = SentenceTransformer(resolve_model_path(base_model), device="cpu")
    before = candidate_ndcg(model, retriever, dev_split, dev_q, params.dev_depth)
    steps = -(-len(triples) // params.batch_size) * params.epochs
    t0 = time.perf_counter()
    steps = fit_encoder(
        model, triples, params, progress(f"fine-tune {steps} steps", steps) if progress else None
    )
    seconds = time.perf_counter() - t0
    after = candidate_ndcg(model, retriever, dev_split, dev_q, params.dev_depth)
    version = registry.next_version()
    folder = registry.root / version
    tmp = registry.root / f".{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save(str(tmp))
    manifest = EncoderManifest(
        version=version,
        created_at=now_utc(),
        base_model=base_model,
        dataset=train.dataset,
        train_split=train.split,
        dev=dev_name,
        index=index_name,
        params=asdict(params),
        training_data={"sha256": triples_hash(triples), "triples": len(triples), "queries": len(train_q)},
        libraries=versions_of_libraries(),
        metrics={
            "dev_queries": float(len(dev_q)),
            f"dev_candidate_nDCG@10_{params.dev_depth}_base": round(before, 6),
            f"dev_candidate_nDCG@10_{params.dev_depth}_tuned": round(after, 6),
        },
        train_seconds=round(seconds, 2),
        trainer={
            "class": "SentenceTransformerTrainer",
            "loss": "MultipleNegativesRankingLoss",
            "batch_sampler": "NoDuplicatesBatchSampler",
            "args": trainer_args(params),
            "steps": steps,
        },
    )
    (tmp / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    tmp.replace(folder)  # the version appears whole or not at all
    return manifest

"""The BM25 part of an embedded index: a tantivy index over title and text (Lucene-style BM25, k1=1.2,
b=0.75) in `bm25/`, derived from the store and brought up to date from its change log.

An existing index whose `bm25/` folder is gone or empty is not recreated on open (tantivy would silently
start an empty one): `missing` says so, and the index refuses BM25 searches until `repair` rebuilds it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import tantivy

from ragsearch.retrieval.analysis import analyzer_name
from ragsearch.retrieval.index import Filters
from ragsearch.retrieval.scoring import BM25_K1, best_fields_score
from ragsearch.retrieval.types import AnalyzerSpec, FieldBoosts, FieldScores

WRITER_HEAP = 64_000_000

Document = tuple[str, str, str, str, str]
"""(id, doc_id, title, text, metadata JSON), as the store gives them."""


def _is_scalar(v: object) -> bool:
    return isinstance(v, str | int | float | bool)


class Bm25:
    def __init__(
        self, path: Path, analyzer_spec: AnalyzerSpec, analyzer: tantivy.TextAnalyzer, create: bool
    ) -> None:
        self.path = path
        self._tok = analyzer_name(analyzer_spec)
        self._analyzer = analyzer
        sb = tantivy.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw")
        sb.add_text_field("doc_id", stored=False, tokenizer_name="raw")
        sb.add_text_field("title", stored=False, tokenizer_name=self._tok, index_option="position")
        sb.add_text_field("text", stored=False, tokenizer_name=self._tok, index_option="position")
        sb.add_json_field("meta", stored=False, tokenizer_name="raw")
        self.schema = sb.build()
        if create:
            path.mkdir(exist_ok=True)
            tantivy.Index(self.schema, path=str(path), reuse=True)  # writes meta.json
        self.index = self._open()

    @property
    def missing(self) -> bool:
        return not (self.path / "meta.json").is_file()

    def _open(self) -> tantivy.Index:
        if self.missing:  # a stand-in with no documents; nothing is written to disk
            index = tantivy.Index(self.schema)
        else:
            index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        index.register_tokenizer(self._tok, self._analyzer)
        self._on_disk = not self.missing
        return index

    def reload(self) -> None:
        """See what other processes committed; reopen the folder if it appeared or vanished."""
        if self._on_disk == self.missing:
            self.index = self._open()
        elif self._on_disk:
            self.index.reload()

    def num_docs(self) -> int:
        return int(self.index.searcher().num_docs)

    # ---- writes (the caller holds the index's write lock) -------------------------------------
    def apply(self, ids: Sequence[str], docs: Iterable[Document], rebuild: bool = False) -> None:
        """Delete `ids` (or everything, when rebuilding), add `docs`, commit."""
        if rebuild and not self._on_disk:
            self.path.mkdir(exist_ok=True)
            self.index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
            self.index.register_tokenizer(self._tok, self._analyzer)
            self._on_disk = True
        writer = self.index.writer(WRITER_HEAP, 1)
        try:
            if rebuild:
                writer.delete_all_documents()
            for pid in ids:
                writer.delete_documents_by_term("id", pid)
            for pid, doc_id, title, text, metadata in docs:
                doc = tantivy.Document(id=pid, doc_id=doc_id, title=title, text=text)
                meta = json.loads(metadata)
                if meta:
                    doc.add_json("meta", {k: v for k, v in meta.items() if _is_scalar(v)})
                writer.add_document(doc)
            writer.commit()
            writer.wait_merging_threads()
        except BaseException:
            with contextlib.suppress(Exception):
                writer.rollback()
            raise
        self.index.reload()

    # ---- reads ----------------------------------------------------------------------------------
    def doc_freqs(self, tokens: Sequence[str]) -> tuple[int, dict[str, int]]:
        searcher = self.index.searcher()
        return searcher.num_docs, {
            t: max(searcher.doc_freq("title", t), searcher.doc_freq("text", t)) for t in tokens
        }

    def _field_query(self, field: str, tokens: list[str]) -> tantivy.Query:
        return tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, tantivy.Query.term_query(self.schema, field, t, index_option="freq"))
                for t in tokens
            ]
        )

    def _search(self, query: tantivy.Query, limit: int) -> list[tuple[str, float]]:
        searcher = self.index.searcher()
        result = searcher.search(query, limit, count=False)
        return [(searcher.doc(addr)["id"][0], score / (1.0 + BM25_K1)) for score, addr in result.hits]

    def search(
        self, tokens: list[str], k: int, boosts: FieldBoosts, filters: Filters | None
    ) -> list[tuple[str, float]]:
        dismax = tantivy.Query.disjunction_max_query(
            [
                tantivy.Query.boost_query(self._field_query("title", tokens), boosts.title),
                tantivy.Query.boost_query(self._field_query("text", tokens), boosts.text),
            ],
            tie_breaker=boosts.tie_breaker,
        )
        clauses = [
            (
                tantivy.Occur.Must,
                tantivy.Query.const_score_query(
                    tantivy.Query.term_query(self.schema, f"meta.{key}", value), 0.0
                ),
            )
            for key, value in (filters or {}).items()
        ]
        q = tantivy.Query.boolean_query([(tantivy.Occur.Must, dismax), *clauses]) if clauses else dismax
        return self._search(q, k)

    def field_scores(self, tokens: list[str], ids: list[str], boosts: FieldBoosts) -> dict[str, FieldScores]:
        per_field: dict[str, dict[str, float]] = {"title": {}, "text": {}}
        if tokens and ids:
            only = tantivy.Query.const_score_query(tantivy.Query.term_set_query(self.schema, "id", ids), 0.0)
            for field in per_field:
                q = tantivy.Query.boolean_query(
                    [(tantivy.Occur.Must, self._field_query(field, tokens)), (tantivy.Occur.Must, only)]
                )
                per_field[field] = dict(self._search(q, len(ids)))
        out = {}
        for pid in ids:
            title = per_field["title"].get(pid)
            text = per_field["text"].get(pid)
            out[pid] = FieldScores(title=title, text=text, best_fields=best_fields_score(title, text, boosts))
        return out

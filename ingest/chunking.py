"""Token-aware chunking: cut text into passages that fit the embedding model, at the best boundary.

Each passage holds at most `max_tokens` tokens of the model's own tokenizer (title included), so the model
never truncates it. Inside that budget a cut is placed at a paragraph break, else a sentence end, else a
line break, else a word boundary, and only as a last resort inside a word. Consecutive passages of a section
share up to `overlap` tokens, starting at the best boundary in that range. Sections (headings, PDF pages)
are never merged. Long sections are tokenized in windows, so memory stays flat on huge files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Protocol

from ragsearch.retrieval.embedding import Embedder, TokenizingEmbedder

Span = tuple[int, int]

WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
SENTENCE_END = ".!?。！？"
CLOSERS = "\"')]}»”’"
SAFETY_TOKENS = 2
"""Kept free in each passage: a hard cut inside a word can re-tokenize one or two tokens longer."""


class Tokenizer(Protocol):
    """Splits text into tokens and gives their character spans (no special tokens)."""

    @property
    def name(self) -> str: ...

    def spans(self, text: str) -> list[Span]: ...


class HFTokenizer:
    """A Hugging Face fast tokenizer (the embedding model's own), with truncation and padding off."""

    def __init__(self, backend: Any, name: str) -> None:
        from tokenizers import Tokenizer as RustTokenizer

        self._tok = RustTokenizer.from_str(backend.to_str())
        self._tok.no_truncation()
        self._tok.no_padding()
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def spans(self, text: str) -> list[Span]:
        return list(self._tok.encode(text, add_special_tokens=False).offsets)

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def special_tokens(self) -> int:
        """How many special tokens the model adds around one sequence."""
        return int(self._tok.num_special_tokens_to_add(False))


class RegexTokenizer:
    """Words and punctuation marks as tokens: for embedders that do not expose a tokenizer."""

    name = "regex-words"

    def spans(self, text: str) -> list[Span]:
        return [m.span() for m in WORD_RE.finditer(text)]


def tokenizer_for(embedder: Embedder) -> tuple[Tokenizer, int]:
    """The embedder's tokenizer and how many text tokens one passage may hold (specials and the
    document prefix already taken off); a word tokenizer and 256 for embedders without one."""
    if not isinstance(embedder, TokenizingEmbedder):
        return RegexTokenizer(), 256
    backend, max_seq_length = embedder.hf_tokenizer()
    tok = HFTokenizer(backend, embedder.name)
    prefix = embedder.document_prefix or ""
    reserved = tok.special_tokens() + (tok.count(prefix) if prefix else 0)
    return tok, max(16, int(max_seq_length) - reserved)


class Chunker:
    def __init__(
        self,
        tokenizer: Tokenizer,
        max_tokens: int,
        overlap: int = 32,
        min_fill: float = 0.5,
        window_chars: int = 20_000,
    ) -> None:
        if max_tokens < 8:
            raise ValueError(f"max_tokens must be at least 8, got {max_tokens}")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.overlap = max(0, min(overlap, max_tokens // 2))
        self.min_fill = min_fill
        self.window_chars = window_chars

    @property
    def signature(self) -> str:
        """Changes whenever the same text would be cut differently (part of every document hash)."""
        return f"chunker-1:{self.tokenizer.name}:{self.max_tokens}:{self.overlap}:{self.min_fill}"

    def fit_title(self, title: str) -> tuple[str, int]:
        """The title as it goes into passages (cut to a quarter of the budget) and the tokens it uses."""
        spans = self.tokenizer.spans(title)
        cap = self.max_tokens // 4
        if len(spans) > cap:
            title = title[: spans[cap - 1][1]].rstrip() + "…"
            spans = self.tokenizer.spans(title)
        return title, (len(spans) + 1 if spans else 0)

    def split(self, text: str, start: int, end: int, title_tokens: int = 0) -> Iterator[Span]:
        """Character spans of the passages of text[start:end]."""
        budget = max(4, self.max_tokens - title_tokens - SAFETY_TOKENS)
        pos, window = start, self.window_chars
        while pos < end:
            while pos < end and text[pos].isspace():
                pos += 1
            if pos >= end:
                return
            wend = min(end, pos + window)
            if wend < end:
                cut = max(text.rfind(" ", pos + window // 2, wend), text.rfind("\n", pos + window // 2, wend))
                if cut > pos:
                    wend = cut
            offs = [(a + pos, b + pos) for a, b in self.tokenizer.spans(text[pos:wend])]
            if not offs:
                pos = wend
                continue
            final = wend >= end
            i, n = 0, len(offs)
            while True:
                if n - i <= budget:
                    if final:
                        yield offs[i][0], offs[-1][1]
                        pos = end
                    elif i == 0:
                        window *= 2  # too few tokens to place a cut: read a longer window
                    else:
                        pos, window = offs[i][0], self.window_chars
                    break
                j = self._best_cut(text, offs, i, i + budget, i + max(1, int(budget * self.min_fill)))
                yield offs[i][0], offs[j - 1][1]
                i = self._overlap_start(text, offs, i, j)

    @staticmethod
    def _priority(text: str, offs: list[Span], j: int) -> int:
        """How good a cut before token j is: 4 paragraph, 3 sentence, 2 line, 1 word, 0 inside a word."""
        prev_end, next_start = offs[j - 1][1], offs[j][0]
        if next_start == prev_end:
            return 0
        gap = text[prev_end:next_start]
        newlines = gap.count("\n")
        if newlines >= 2:
            return 4
        last = text[prev_end - 1]
        if last in CLOSERS and prev_end >= 2:
            last = text[prev_end - 2]
        if last in SENTENCE_END:
            return 3
        return 2 if newlines else 1

    def _best_cut(self, text: str, offs: list[Span], i: int, hi: int, lo: int) -> int:
        best_j, best_p = hi, -1
        for j in range(hi, lo - 1, -1):
            p = self._priority(text, offs, j)
            if p > best_p:
                best_j, best_p = j, p
                if p == 4:
                    break
        return best_j

    def _overlap_start(self, text: str, offs: list[Span], i: int, j: int) -> int:
        if self.overlap == 0:
            return j
        best_k, best_p = j, -1
        for k in range(max(i + 1, j - self.overlap), j):
            p = self._priority(text, offs, k)
            if p > best_p:
                best_k, best_p = k, p
        return best_k if best_p >= 1 else j  # never start a passage inside a word

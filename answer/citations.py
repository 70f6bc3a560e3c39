"""Citation markers in generated answers: find them, check them against the supplied passages."""

from __future__ import annotations

import re
from dataclasses import dataclass

CITATION_RE = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")


@dataclass(frozen=True, slots=True)
class ParsedCitations:
    valid: list[int]
    """Passage numbers cited that were supplied, in order of first citation."""
    invalid: list[int]
    """Numbers cited that map to no supplied passage."""
    text: str
    """The answer with invalid markers removed."""


def parse_citations(answer: str, n_passages: int) -> ParsedCitations:
    valid: list[int] = []
    invalid: list[int] = []

    def keep(match: re.Match[str]) -> str:
        nums = [int(x) for x in re.split(r"\s*[,;]\s*", match.group(1))]
        good = [n for n in nums if 1 <= n <= n_passages]
        for n in nums:
            target = good and n in good
            bucket = valid if target else invalid
            if n not in bucket:
                bucket.append(n)
        return "".join(f"[{n}]" for n in good)

    text = CITATION_RE.sub(keep, answer)
    return ParsedCitations(valid, invalid, re.sub(r"[ \t]+([.,;:])", r"\1", text))

"""The answer stage's seam: an LLM client that streams chat completions, and the events it yields."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ragsearch.retrieval.errors import RagsearchError


class LLMUnavailableError(RagsearchError):
    """The LLM could not be reached, timed out or refused the request."""


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str
    estimated: bool = False
    """True when the server sent no usage (llama.cpp ignores stream_options) and the completion tokens
    were counted as streamed chunks (one token each on llama.cpp, vLLM and OpenAI)."""


LLMEvent = TextDelta | Usage


@runtime_checkable
class LLMClient(Protocol):
    """Streams a chat completion as text deltas, ending with one Usage event."""

    @property
    def model(self) -> str: ...

    def chat(self, messages: Sequence[Message], stream: bool = True) -> Iterator[LLMEvent]: ...

    def ping(self, timeout_s: float = 3.0) -> bool:
        """Whether the server answers within the timeout (for health checks; never raises)."""
        ...

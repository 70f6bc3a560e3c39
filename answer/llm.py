"""The OpenAI-client implementation of the LLM seam (OpenAI, vLLM, Ollama, llama.cpp server...)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import cast

import openai
from openai.types.chat import ChatCompletionMessageParam

from ragsearch.answer.protocol import LLMEvent, LLMUnavailableError, Message, TextDelta, Usage
from ragsearch.retrieval.errors import redact_url


class OpenAIChatClient:
    """Chat completions through the official `openai` client against any compatible server."""

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.1,
        max_tokens: int = 512,
        timeout_s: float = 60.0,
        max_retries: int = 0,
        connect_timeout_s: float = 3.0,
        first_token_timeout_s: float = 20.0,
    ) -> None:
        """`timeout_s` bounds a whole answer; `connect_timeout_s` the connection; `first_token_timeout_s` the
        wait for the server's first bytes (and any later silence of a stream). No retry by default: a
        retry doubles the wait before an answer falls back to its sources."""
        self._model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.total_timeout_s = timeout_s
        first = min(first_token_timeout_s, timeout_s)
        self._stream_timeout = openai.Timeout(first, connect=min(connect_timeout_s, timeout_s))
        self._whole_timeout = openai.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))
        # A local server needs no key, but the client insists on one.
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "unused",
            timeout=self._stream_timeout,
            max_retries=max_retries,
        )
        self.base_url = redact_url(self._client.base_url)
        """Where the server is, without credentials: safe for errors, logs and health."""

    @property
    def model(self) -> str:
        return self._model

    def chat(self, messages: Sequence[Message], stream: bool = True) -> Iterator[LLMEvent]:
        payload = [cast(ChatCompletionMessageParam, {"role": m.role, "content": m.content}) for m in messages]
        try:
            if not stream:
                resp = self._client.with_options(timeout=self._whole_timeout).chat.completions.create(
                    model=self._model,
                    messages=payload,
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                )
                yield TextDelta(resp.choices[0].message.content or "")
                u = resp.usage
                yield Usage(u.prompt_tokens if u else None, u.completion_tokens if u else None, resp.model)
                return
            chunks = self._client.chat.completions.create(
                model=self._model,
                messages=payload,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
            usage: Usage | None = None
            model = self._model
            pieces = 0
            deadline = time.monotonic() + self.total_timeout_s
            for chunk in chunks:
                if time.monotonic() > deadline:
                    chunks.close()
                    raise LLMUnavailableError(
                        f"the LLM at {self.base_url} did not finish within {self.total_timeout_s:g} s "
                        "(RAGSEARCH_LLM_TOTAL_TIMEOUT_S)"
                    )
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens, model)
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        pieces += 1
                        yield TextDelta(choice.delta.content)
            yield usage or Usage(None, pieces, model, estimated=True)
        except openai.APITimeoutError:
            raise LLMUnavailableError(f"the LLM at {self.base_url} timed out") from None
        except openai.APIConnectionError:
            raise LLMUnavailableError(f"cannot connect to the LLM at {self.base_url}") from None
        except openai.AuthenticationError:
            raise LLMUnavailableError(f"the LLM at {self.base_url} refused the API key") from None
        except openai.APIStatusError as exc:
            raise LLMUnavailableError(f"the LLM at {self.base_url} answered HTTP {exc.status_code}") from None

    def ping(self, timeout_s: float = 3.0) -> bool:
        """Whether the server answers a model listing within the timeout."""
        t0 = time.perf_counter()
        try:
            self._client.with_options(timeout=timeout_s, max_retries=0).models.list()
        except openai.OpenAIError:
            return False
        return time.perf_counter() - t0 < timeout_s

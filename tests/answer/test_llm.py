"""The OpenAI-client LLM seam implementation (answer/llm.py) against a real llama.cpp server on loopback serving
SmolLM2-135M: the LLM client contract, and what is particular to this client (usage estimated when the server
sends none while streaming, its error messages)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ragsearch.answer.llm import OpenAIChatClient
from ragsearch.answer.protocol import LLMUnavailableError, Message, TextDelta, Usage
from tests.answer.llm_contract import LLMContract
from tests.net import free_port

pytestmark = [pytest.mark.llm, pytest.mark.slow]


def client(url: str, **kw) -> OpenAIChatClient:  # type: ignore[no-untyped-def]
    # generous deadlines: a loaded 2-core CI machine has taken 43 s to SmolLM2's first token
    kw.setdefault("first_token_timeout_s", 180.0)
    kw.setdefault("timeout_s", 300.0)
    return OpenAIChatClient("smollm2", base_url=url, max_tokens=kw.pop("max_tokens", 48), **kw)


class TestOpenAIChatClientOnLlamaCpp(LLMContract):
    @pytest.fixture()
    def make_llm(self, llm_url: str) -> Callable[..., OpenAIChatClient]:
        def make(
            base_url: str | None = None, max_tokens: int = 32, timeout_s: float = 300.0
        ) -> OpenAIChatClient:
            return OpenAIChatClient(
                "smollm2",
                base_url=base_url or llm_url,
                max_tokens=max_tokens,
                timeout_s=timeout_s,
                first_token_timeout_s=180.0,  # capped by timeout_s; 43 s to a first token seen under load
                temperature=0.0,
            )

        return make


def test_streaming_and_non_streaming(llm_url: str) -> None:
    msgs = [Message("user", "Say hello in three words.")]
    for stream in (True, False):
        events = list(client(llm_url).chat(msgs, stream=stream))
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        usage = events[-1]
        assert text.strip(), stream
        assert isinstance(usage, Usage) and usage.completion_tokens
        if stream:  # llama.cpp sends no usage when streaming: counted chunks, flagged as estimated
            assert usage.estimated and usage.completion_tokens == sum(
                isinstance(e, TextDelta) for e in events
            )
        else:
            assert usage.prompt_tokens and not usage.estimated
    assert len([e for e in client(llm_url).chat(msgs) if isinstance(e, TextDelta)]) > 1  # really streamed


def test_timeout_and_refused(llm_url: str) -> None:
    with pytest.raises(LLMUnavailableError, match="timed out"):
        list(client(llm_url, timeout_s=0.01, max_retries=0).chat([Message("user", "Write a long story.")]))
    with pytest.raises(LLMUnavailableError, match="cannot connect"):
        list(client(f"http://127.0.0.1:{free_port()}/v1", max_retries=0).chat([Message("user", "hi")]))

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.fake_openai import FakeOpenAI, servers


@pytest.fixture()
def serve() -> Iterator[Callable[..., FakeOpenAI]]:
    """Start FakeOpenAI servers on loopback: `serve(reply, delay_s=0)`; all are shut down afterwards."""
    yield from servers()

"""Structured logging (app/logs.py): key=value lines on stderr, filtered at the configured level."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from ragsearch.app.logs import configure_logging


@pytest.fixture()
def restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("restore_structlog")
def test_key_value_lines_on_stderr_at_the_level(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    log = structlog.get_logger("t")
    log.debug("hidden.event")
    log.info("search.done", index="kb", hits=3)
    err = capsys.readouterr().err
    assert "hidden.event" not in err
    [line] = err.splitlines()
    assert line.startswith("timestamp=") and "level='info' event='search.done'" in line
    assert "index='kb'" in line and "hits=3" in line
    configure_logging("error")
    log.warning("also.hidden")
    assert capsys.readouterr().err == ""

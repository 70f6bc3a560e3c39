"""Schemathesis fuzzes every operation of the app's OpenAPI schema over real HTTP: no 5xx, and every 4xx
carries the error body with a non-empty message."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.app.test_api import KEY, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_url(scifact_index, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("fuzz-home")
    shutil.copytree(scifact_index.path, Path(home) / "indexes" / "sf")
    yield from serve({"api": {"api_key": KEY}}, home)


def test_no_server_errors_and_clear_client_errors(fuzz_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json")
    seen = []
    for result in schema.get_all_operations():
        operation = result.ok()
        seen.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers={"X-API-Key": KEY}, timeout=60)
            assert response.status_code < 500, (case.method, case.path, case.query, case.body, response.text)
            if 400 <= response.status_code < 500:
                error = response.json()["error"]
                assert error["type"] and error["message"].strip(), response.text

        check()
    assert {"GET /search", "POST /answer", "POST /documents", "DELETE /documents/{item_id}"} <= set(seen)

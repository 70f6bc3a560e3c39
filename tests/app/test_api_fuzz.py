"""Schemathesis fuzzes every operation of the app's OpenAPI schema over real HTTP: no 5xx, and every 4xx
carries the error body with a non-empty message; once per operation, then statefully, as chains of calls
that follow OpenAPI links (added in the test: see `with_links`) with the ids earlier calls produced."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from ragsearch.app.api.main import create_app
from ragsearch.app.settings import load_settings
from tests.app.test_api import KEY, serve_app

pytestmark = pytest.mark.slow


class Server:
    """The API over a copy of the SciFact slice index, and a way back to that copy.

    Hypothesis replays and mutates earlier examples and requires the same inputs to draw the same way; the
    stateful test's choices depend on the server's answers (a DELETE that found its id, the hits of a
    search), so every example starts from the same index (`reset`): otherwise hypothesis stops with
    FlakyStrategyDefinition ("data generation depending on external state") or reports a failure it cannot
    replay."""

    def __init__(self, home: Path, pristine: Path) -> None:
        self.home, self.pristine = home, pristine
        self.app = create_app(load_settings(home=home, index="sf", api={"api_key": KEY}))
        self.url = ""

    def reset(self) -> None:
        self.app.state.runtime.forget("sf")
        target = self.home / "indexes" / "sf"
        shutil.rmtree(target)
        shutil.copytree(self.pristine, target)


@pytest.fixture(scope="module")
def server(scifact_index, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    home, pristine = tmp_path_factory.mktemp("fuzz-home"), tmp_path_factory.mktemp("fuzz-pristine") / "sf"
    shutil.copytree(scifact_index.path, pristine)
    shutil.copytree(pristine, home / "indexes" / "sf")
    s = Server(home, pristine)
    for url in serve_app(s.app):
        s.url = url
        yield s


@pytest.fixture()
def fuzz_url(server: Server) -> str:
    server.reset()
    return server.url


def test_no_server_errors_and_clear_client_errors(server: Server, fuzz_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json")
    seen = []
    for result in schema.get_all_operations():
        operation = result.ok()
        seen.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:  # type: ignore[no-untyped-def]
            server.reset()
            response = case.call(headers={"X-API-Key": KEY}, timeout=60)
            assert response.status_code < 500, (case.method, case.path, case.query, case.body, response.text)
            if 400 <= response.status_code < 500:
                error = response.json()["error"]
                assert error["type"] and error["message"].strip(), response.text

        check()
    assert {"GET /search", "POST /answer", "POST /documents", "DELETE /documents/{item_id}"} <= set(seen)


def operation_ids(raw: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """{"METHOD /path": (operationId, its one path parameter or "")} of an OpenAPI document."""
    out = {}
    for path, item in raw["paths"].items():
        for method, op in item.items():
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            out[f"{method.upper()} {path}"] = (op["operationId"], names[0] if names else "")
    return out


def with_links(raw: dict[str, Any]) -> dict[str, Any]:
    """The app's schema plus OpenAPI links between its operations, so that schemathesis chains real ids:
    POST /documents -> GET / DELETE /documents/{id} (the id is in the request body: IngestOut carries no
    ids, so schemathesis cannot infer these links from the responses), DELETE -> GET of the same id (a 404
    then), GET /search -> GET / DELETE of the first hit and POST /feedback on it."""
    ops = operation_ids(raw)
    get, get_param = next(v for k, v in ops.items() if k.startswith("GET /documents/{"))
    delete, del_param = next(v for k, v in ops.items() if k.startswith("DELETE /documents/{"))
    feedback = ops["POST /feedback"][0]

    def link(op_id: str, **params: str) -> dict[str, Any]:
        return {"operationId": op_id, "parameters": params}

    links = {
        "POST /documents": {
            "GetAdded": link(get, **{get_param: "$request.body#/passages/0/id", "index": "$response.body#/index"}),
            "DeleteAdded": link(delete, **{del_param: "$request.body#/passages/0/id", "index": "$response.body#/index"}),
        },
        f"DELETE /documents/{{{del_param}}}": {
            "GetDeleted": link(get, **{get_param: f"$request.path.{del_param}", "index": "$response.body#/index"}),
        },
        "GET /search": {
            "GetHit": link(get, **{get_param: "$response.body#/hits/0/id", "index": "$response.body#/index"}),
            "DeleteHit": link(delete, **{del_param: "$response.body#/hits/0/id", "index": "$response.body#/index"}),
            "FeedbackOnHit": {"operationId": feedback, "requestBody": {
                "query": "$request.query.q", "passage_id": "$response.body#/hits/0/id", "kind": "up",
                "index": "$response.body#/index"}},
        },
    }  # fmt: skip
    for key, named in links.items():
        method, path = key.split(" ", 1)
        raw["paths"][path][method.lower()]["responses"]["200"]["links"] = named
    return raw


def test_stateful_links_no_server_errors(server: Server, fuzz_url: str) -> None:
    """Sequences of calls that reuse real ids (added passages, search hits): no 5xx, clear 4xx."""
    raw = with_links(httpx.get(f"{fuzz_url}/openapi.json", timeout=30).json())
    schema = schemathesis.openapi.from_dict(raw)
    schema.config.update(base_url=fuzz_url)
    calls: list[str] = []

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            server.reset()

        def get_call_kwargs(self, case) -> dict[str, Any]:  # type: ignore[no-untyped-def]
            return {"headers": {"X-API-Key": KEY}, "timeout": 60}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:  # type: ignore[no-untyped-def]
            calls.append(f"{case.method} {case.path} {response.status_code}")
            assert response.status_code < 500, (
                case.method,
                case.path,
                case.path_parameters,
                case.body,
                response.text,
            )
            if 400 <= response.status_code < 500:
                error = response.json()["error"]
                assert error["type"] and error["message"].strip(), response.text

    Workflow.run(settings=settings(max_examples=40, stateful_step_count=6, deadline=None,
                                   suppress_health_check=list(HealthCheck), database=None))  # fmt: skip
    # the links were followed: real ids reached GET and DELETE, which answered 200 at least once each
    assert any(c.startswith("GET /documents/") and c.endswith(" 200") for c in calls), calls
    assert any(c.startswith("DELETE /documents/") and c.endswith(" 200") for c in calls), calls

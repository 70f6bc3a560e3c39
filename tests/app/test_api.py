"""The JSON API over real HTTP: uvicorn on loopback, the real model, a SciFact slice index."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from ragsearch.app.api.main import create_app, server_config
from ragsearch.app.settings import load_settings
from tests.net import free_port

pytestmark = pytest.mark.slow
KEY = "test-key-0123456789"


def serve(settings_overrides: dict, home: Path) -> Iterator[str]:  # type: ignore[type-arg]
    settings = load_settings(**{"home": home, "index": "sf", **settings_overrides})
    yield from serve_app(create_app(settings))


def serve_app(app: FastAPI) -> Iterator[str]:
    """`app` under uvicorn (as `ragsearch serve` runs it) in a thread, on a free loopback port."""
    port = free_port()
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, "warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def home(scifact_index, real_embedder, scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    h = tmp_path_factory.mktemp("api-home")
    shutil.copytree(scifact_index.path, h / "indexes" / "sf")
    # a small LTR model so mode ltr and the registry endpoints have something to serve (plumbing only:
    # it is trained on the slice's test judgments, so its quality means nothing)
    from ragsearch.eval.data import load_split
    from ragsearch.rerank.build import train_ltr
    from ragsearch.rerank.extract import FeatureLogger
    from ragsearch.rerank.registry import ModelRegistry
    from ragsearch.rerank.train import TrainParams
    from ragsearch.retrieval.searcher import Retriever

    retriever = Retriever(scifact_index, real_embedder, bm25_depth=30, dense_depth=30)
    params = TrainParams(num_boost_round=30, early_stopping_rounds=10, min_data_in_leaf=5)
    split = load_split(scifact_slice, "test")
    train_ltr(
        retriever,
        FeatureLogger(scifact_index),
        ModelRegistry(h),
        split,
        None,
        None,
        params,
        promote_if_better=True,
    )
    return h


@pytest.fixture(scope="module")
def api(home: Path) -> Iterator[httpx.Client]:
    for url in serve({"api": {"api_key": KEY}}, home):
        with httpx.Client(base_url=url, timeout=60) as c:
            yield c


def test_health(api: httpx.Client, scifact_index) -> None:  # type: ignore[no-untyped-def]
    r = api.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["backend"] == "embedded"
    assert body["indexes"]["sf"] == scifact_index.count()
    assert body["llm"] == {"configured": False}


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_search_modes(api: httpx.Client, mode: str) -> None:
    r = api.get("/search", params={"q": "vitamin D and bone health", "k": 5, "mode": mode})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == mode and len(body["hits"]) == 5 and body["index"] == "sf"
    assert [h["rank"] for h in body["hits"]] == [1, 2, 3, 4, 5]
    assert all(h["title"] or h["text"] for h in body["hits"])
    for h in body["hits"]:  # a query-centred snippet with the matching words' offsets (stems, no stop words)
        assert (
            h["snippet"]
            and len(h["snippet"]) <= 302
            and " ".join(h["text"].split()).find(h["snippet"].strip("…")) >= 0
        )
        words = {h["snippet"][a:b].lower() for a, b in h["snippet_highlights"]}
        assert words <= {"vitamin", "vitamins", "d", "bone", "bones", "health"}, words
        assert {h["title"][a:b].lower() for a, b in h["title_highlights"]} <= {
            "vitamin",
            "vitamins",
            "d",
            "bone",
            "bones",
            "health",
        }
    if mode == "bm25":  # every bm25 hit matches some query word in its title or snippet
        assert all(h["snippet_highlights"] or h["title_highlights"] for h in body["hits"])
    page2 = api.get(
        "/search", params={"q": "vitamin D and bone health", "k": 5, "offset": 5, "mode": mode}
    ).json()
    assert page2["hits"][0]["rank"] == 6
    assert not {h["id"] for h in page2["hits"]} & {h["id"] for h in body["hits"]}


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"q": "x", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
        ({"q": "x", "k": 500}, 422, "the limit is 100"),
        ({"q": "x" * 1001}, 422, "the limit is 1000"),
        ({"q": "x", "mode": "sparse"}, 422, "unknown mode 'sparse'"),
        ({}, 422, "q: Field required"),
        ({"q": ""}, 422, "q: String should have at least 1 character"),
        ({"q": "x", "index": "nope"}, 404, "index 'nope' does not exist"),
        ({"q": "x", "filter": "novalue"}, 422, "not of the form key:value"),
        ({"q": "x", "index": "../../etc"}, 422, "invalid index name"),
    ],
)
def test_search_bounds_give_clear_errors(api: httpx.Client, params: dict, status: int, message: str) -> None:  # type: ignore[type-arg]
    r = api.get("/search", params=params)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]["message"]


def test_answer_json_and_stream_without_llm(api: httpx.Client) -> None:
    r = api.post("/answer", json={"question": "Vitamin D deficiency is associated with bone disease"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "extractive" and body["cited"] and "no LLM" in body["generation_error"]
    with api.stream("POST", "/answer", json={"question": "Vitamin D and bone disease", "stream": True}) as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("event: ") for line in s.iter_lines() if line.startswith("event: ")]
    assert events[0] == "sources" and events[-1] == "answer"
    for bad, message in [
        ({"question": ""}, "at least 1 character"),
        ({"question": "v" * 3000}, "limit is 2000"),
        ({}, "Field required"),
    ]:
        r = api.post("/answer", json=bad)
        assert r.status_code == 422 and message in r.json()["error"]["message"], r.text


def test_documents_need_the_key(api: httpx.Client) -> None:
    doc = {"passages": [{"id": "x1", "title": "T", "text": "quokka"}]}
    r = api.post("/documents", json=doc)
    assert r.status_code == 401 and "X-API-Key" in r.json()["error"]["message"]
    r = api.post("/documents", json=doc, headers={"X-API-Key": "wrong"})
    assert r.status_code == 401 and r.json()["error"]["message"] == "the API key is not valid"
    assert api.delete("/documents/x1").status_code == 401


def test_documents_round_trip_and_html_stays_text(api: httpx.Client) -> None:
    h = {"X-API-Key": KEY}
    evil = '<script>alert("x")</script><b>Quokka</b> & wallabies'
    r = api.post(
        "/documents",
        json={"passages": [{"id": "q1", "title": "<i>Quokka</i>", "text": evil, "metadata": {"src": "api"}}]},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    got = api.get("/documents/q1")
    assert got.headers["content-type"] == "application/json"
    assert got.json()["text"] == evil and got.json()["title"] == "<i>Quokka</i>"
    hit = api.get("/search", params={"q": "quokka wallabies", "mode": "bm25", "k": 1}).json()["hits"][0]
    assert (hit["id"], hit["text"], hit["metadata"]) == ("q1", evil, {"src": "api"})
    assert (
        api.get("/search", params={"q": "quokka", "mode": "bm25", "filter": "src:api"}).json()["hits"][0][
            "id"
        ]
        == "q1"
    )
    again = api.post(
        "/documents",
        json={"passages": [{"id": "q1", "title": "<i>Quokka</i>", "text": evil, "metadata": {"src": "api"}}]},
        headers=h,
    )
    assert again.json()["unchanged"] == 1
    assert api.delete("/documents/q1", headers=h).json() == {"id": "q1", "deleted": 1}
    assert api.get("/documents/q1").status_code == 404
    assert api.delete("/documents/q1", headers=h).status_code == 404


def test_passage_view_highlights_it_in_its_document_with_its_neighbours(api: httpx.Client) -> None:
    h = {"X-API-Key": KEY}
    texts = [
        "Quolls are marsupials.",
        "Quolls hunt <b>at night</b>.",
        "They nest in logs.",
        "Dens of quolls.",
        "End.",
    ]
    passages = [{"id": f"web/quoll.md#{i}", "doc_id": "web/quoll.md", "title": "Quoll & kin", "text": t,
                 "metadata": {"position": i, "source": "web/quoll.md"}} for i, t in enumerate(texts)]  # fmt: skip
    assert api.post("/documents", json={"passages": passages[::-1]}, headers=h).status_code == 200
    try:
        r = api.get("/passages/web/quoll.md%231", params={"q": "hunting quolls", "context": 2})
        assert r.status_code == 200, r.text
        view = r.json()
        assert (view["index"], view["position"], view["document_passages"]) == ("sf", 1, 5)
        got = view["passage"]
        assert (got["id"], got["doc_id"], got["text"], got["metadata"]["source"]) == (
            "web/quoll.md#1", "web/quoll.md", texts[1], "web/quoll.md"
        )  # fmt: skip
        assert [texts[1][a:b] for a, b in got["text_highlights"]] == ["Quolls", "hunt"]  # stemmed: hunting
        assert got["title_highlights"] == [[0, 5]]
        assert [p["id"] for p in view["before"]] == ["web/quoll.md#0"]
        assert [p["id"] for p in view["after"]] == ["web/quoll.md#2", "web/quoll.md#3"]
        assert [texts[3][a:b] for a, b in view["after"][1]["text_highlights"]] == ["quolls"]
        plain = api.get("/passages/web/quoll.md%234", params={"context": 0}).json()
        assert (plain["before"], plain["after"], plain["passage"]["text_highlights"]) == ([], [], [])
        missing = api.get("/passages/web/none.md%230")
        assert (
            missing.status_code == 404 and "no passage 'web/none.md#0'" in missing.json()["error"]["message"]
        )
        assert api.get("/passages/web/quoll.md%231", params={"context": 21}).status_code == 422
    finally:
        api.delete("/documents/web/quoll.md", headers=h)


def test_upload_jsonl_limits_and_bad_files(api: httpx.Client) -> None:
    h = {"X-API-Key": KEY}
    good = b'{"_id": "u1", "title": "Numbat", "text": "Numbats eat termites."}\n{bad json\n'
    r = api.post("/documents/upload", files={"file": ("../../etc/passwd", good)}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 1 and r.json()["failed"] == [
        "../../etc/passwd:2: invalid JSON: Expecting property name enclosed in double quotes at column 2"
    ]
    r = api.post("/documents/upload", files={"file": ("x.jsonl", b"{bad\n")}, headers=h)
    assert r.status_code == 422 and "no valid record" in r.json()["error"]["message"]
    r = api.post("/documents/upload", files={"file": ("big.jsonl", b"x" * 10_000_001)}, headers=h)
    assert r.status_code == 413 and "limit of 10000000 bytes" in r.json()["error"]["message"]
    r = api.post("/documents", json={"passages": []}, headers=h)
    assert r.status_code == 422


def test_feedback_is_stored(api: httpx.Client, home: Path) -> None:
    hit = api.get("/search", params={"q": "vitamin D", "k": 1}).json()["hits"][0]
    r = api.post("/feedback", json={"query": "vitamin D", "passage_id": hit["id"], "rank": 1, "kind": "up"})
    assert r.status_code == 200, r.text
    from ragsearch.app.feedback import FeedbackStore

    rows = FeedbackStore(home / "feedback.sqlite").rows()
    assert (rows[-1].query, rows[-1].passage_id, rows[-1].kind, rows[-1].rank) == (
        "vitamin D",
        hit["id"],
        "up",
        1,
    )
    assert api.post("/feedback", json={"query": "q", "passage_id": "nope", "kind": "up"}).status_code == 404
    r = api.post("/feedback", json={"query": "q", "passage_id": hit["id"], "kind": "love"})
    assert r.status_code == 422 and "kind" in r.json()["error"]["message"]


def test_metrics_and_openapi(api: httpx.Client) -> None:
    api.get("/search", params={"q": "vitamin", "k": 3})
    text = api.get("/metrics").text
    assert 'ragsearch_http_requests_total{method="GET",route="/search",status="200"}' in text
    assert 'ragsearch_search_stage_seconds_count{stage="encode"}' in text
    schema = api.get("/openapi.json").json()
    assert {
        "/search",
        "/answer",
        "/documents",
        "/documents/{passage_id}",
        "/passages/{passage_id}",
        "/feedback",
        "/health",
        "/metrics",
    } <= set(schema["paths"])


def test_missing_index_files_then_recovery_without_restart(api: httpx.Client, home: Path) -> None:
    shutil.copytree(home / "indexes" / "sf", home / "indexes" / "sf2")
    (home / "indexes" / "sf2").rename(home / "sf2.away")
    r = api.get("/search", params={"q": "vitamin", "index": "sf2"})
    assert r.status_code == 404 and "index 'sf2' does not exist" in r.json()["error"]["message"]
    (home / "sf2.away").rename(home / "indexes" / "sf2")
    r = api.get("/search", params={"q": "vitamin", "index": "sf2"})
    assert r.status_code == 200 and r.json()["hits"]


def test_ltr_mode_and_model_registry(api: httpx.Client) -> None:
    r = api.get("/search", params={"q": "vitamin D and bone health", "k": 5, "mode": "ltr"})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert len(hits) == 5 and all(h["rerank_score"] is not None for h in hits)
    assert [h["rerank_score"] for h in hits] == sorted([h["rerank_score"] for h in hits], reverse=True)
    models = api.get("/models").json()
    assert [m["version"] for m in models] == ["v0001"] and models[0]["promoted"]
    assert api.post("/models/v0001/promote").status_code == 401
    r = api.post("/models/v0001/promote", headers={"X-API-Key": KEY})
    assert r.status_code == 200 and r.json()["promoted"]
    r = api.post("/models/v0099/promote", headers={"X-API-Key": KEY})
    assert r.status_code == 404 and "v0099" in r.json()["error"]["message"]
    r = api.get("/search", params={"q": "vitamin", "mode": "ltr", "model": "v0042"})
    assert r.status_code == 404
    # filters apply to ltr's candidates like to every other mode's (no passage of the slice has a=b)
    r = api.get("/search", params={"q": "vitamin", "mode": "ltr", "filter": "a:b"})
    assert r.status_code == 200 and r.json()["hits"] == [] and r.json()["mode"] == "ltr"


def test_explain_gives_the_top_10_their_score_as_parts(api: httpx.Client) -> None:
    q = {"q": "vitamin D and bone health", "k": 12}
    hits = api.get("/search", params={**q, "mode": "ltr", "explain": "true"}).json()["hits"]
    assert [("explanation" in h) for h in hits] == [True] * 10 + [False] * 2
    for h in hits[:10]:
        e = h["explanation"]
        assert (
            e["method"] == "ltr"
            and e["score"] == h["score"]
            and e["parts"][0]["name"] == "prior (fused score)"
        )
        assert abs(sum(p["contribution"] for p in e["parts"]) - h["score"]) < 1e-6 and e["features"]
    hybrid = api.get("/search", params={**q, "mode": "hybrid", "explain": "true"}).json()["hits"]
    e = hybrid[0]["explanation"]
    assert e["method"] == "fusion" and [p["name"] for p in e["parts"]] == ["bm25", "dense"]
    assert abs(sum(p["contribution"] for p in e["parts"]) - hybrid[0]["fused_score"]) < 1e-9
    assert all("explanation" not in h for h in api.get("/search", params={**q, "mode": "ltr"}).json()["hits"])


def test_drift_report_from_served_queries(api: httpx.Client) -> None:
    for i in range(12):
        api.get("/search", params={"q": f"vitamin D trial {i}", "k": 3})
    r = api.get("/drift", params={"recent": 10, "reference": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["current_n"] == 10 and body["reference_n"] >= 10
    assert {"query_terms", "no_result_rate"} <= {s["signal"] for s in body["signals"]}
    # each entry names its index: another index's window holds none of them (modes: tests/app/test_drift.py)
    r = api.get("/drift", params={"recent": 10, "reference": 10, "index": "other"})
    assert r.status_code == 200 and r.json()["current_n"] == 0, r.text


def test_write_endpoints_disabled_without_a_configured_key(home: Path) -> None:
    for url in serve({}, home):
        r = httpx.post(
            f"{url}/documents", json={"passages": [{"id": "a", "text": "b"}]}, headers={"X-API-Key": "x"}
        )
        assert r.status_code == 403 and "RAGSEARCH_API_API_KEY" in r.json()["error"]["message"]
        r = httpx.get(f"{url}/search", params={"q": "vitamin"})
        assert r.status_code == 200 and json.loads(r.text)["hits"]


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid", "ltr"])
def test_answer_sources_are_the_results_of_the_same_configuration(api: httpx.Client, mode: str) -> None:
    q = "ALDH1 expression in breast cancer"
    hits = api.get("/search", params={"q": q, "k": 5, "mode": mode}).json()["hits"]
    answer = api.post("/answer", json={"question": q, "mode": mode}).json()
    sources = sorted(answer["cited"] + answer["uncited"], key=lambda s: s["n"])
    assert answer["mode"] == mode and answer["status"] == "extractive" and len(sources) == 5
    assert [s["id"] for s in sources] == [h["id"] for h in hits]  # source [n] is result n

"""Issue 18's API defects, each reproduced against a real server on loopback over a real SciFact slice index
(the real embedding model, a real LightGBM model): damaged models, indexes and storage, credentials in
errors, bodies read before the key check, hanging LLMs, passage ids with '/', one error shape."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app.test_api import KEY, home, serve  # noqa: F401  (home: the module fixture with a trained model)
from tests.net import free_port, serve_process

pytestmark = pytest.mark.slow
QUESTION = "Vitamin D deficiency is associated with bone disease"


@pytest.fixture()
def own_home(home: Path, tmp_path: Path) -> Path:  # noqa: F811
    """A private copy of the trained home (index `sf`, model v0001 promoted) that a test may damage."""
    return Path(shutil.copytree(home, tmp_path / "home"))


def client(home_dir: Path, **overrides: object) -> Iterator[httpx.Client]:
    for url in serve({"api": {"api_key": KEY}, **overrides}, home_dir):
        with httpx.Client(base_url=url, timeout=60) as c:
            yield c


def start_process(home_dir: Path, **env_extra: str) -> tuple[subprocess.Popen[bytes], str]:
    return serve_process(home_dir, "sf", KEY, **env_extra)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def assert_error_shape(r: httpx.Response, status: int) -> dict[str, str]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}, body
    return dict(body["error"])


# ---- 2 + 8: a damaged LTR model never crashes the server; search and answers fall back to hybrid ------------
@pytest.mark.parametrize("legacy", [False, True], ids=["digest", "legacy-no-digest"])
def test_truncated_model_serves_hybrid_and_health_says_why(own_home: Path, legacy: bool) -> None:
    import json

    model = own_home / "models" / "ltr" / "v0001" / "model.txt"
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 2])
    if legacy:  # a model saved before digests were recorded: only the structural check can catch it
        manifest = model.with_name("manifest.json")
        d = json.loads(manifest.read_text())
        d.pop("model_sha256", None)
        manifest.write_text(json.dumps(d))
    proc, url = start_process(own_home)
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            r = api.get("/search", params={"q": QUESTION, "mode": "ltr"})
            assert r.status_code == 200, r.text
            assert r.json()["mode"] == "hybrid" and "served hybrid instead of ltr" in r.json()["notices"][0]
            a = api.post("/answer", json={"question": QUESTION, "mode": "ltr"})
            assert a.status_code == 200, a.text
            assert a.json()["mode"] == "hybrid" and a.json()["notices"]
            # the index serves the default hybrid (no promotion on it): answers never needed the model
            a = api.post("/answer", json={"question": QUESTION})
            assert a.status_code == 200 and a.json()["mode"] == "hybrid" and not a.json()["notices"], a.text
            h = api.get("/health").json()
            assert h["status"] == "degraded" and h["promoted_model"] == "v0001"
            assert any("ltr model" in p and "v0001" in p for p in h["problems"]), h["problems"]
            assert not any(str(own_home) in p for p in h["problems"])
        assert proc.poll() is None  # the server never died
    finally:
        stop(proc)


def test_corrupt_registry_answers_from_hybrid(own_home: Path) -> None:
    (own_home / "models" / "ltr" / "registry.json").write_text('{"promoted": "v00')
    for api in client(own_home):
        a = api.post("/answer", json={"question": QUESTION, "mode": "ltr"})
        assert a.status_code == 200, a.text
        assert a.json()["mode"] == "hybrid" and a.json()["notices"]
        h = api.get("/health").json()
        assert h["status"] == "degraded" and any("registry.json" in p for p in h["problems"])


def test_health_reports_the_promoted_model(home: Path) -> None:  # noqa: F811
    for api in client(home):
        h = api.get("/health").json()
        assert h["status"] == "ok" and h["promoted_model"] == "v0001", h


# ---- 3: a damaged index makes health degraded; writes to it get 503 in the error shape ---------------------
def test_damaged_index_degrades_health_and_refuses_writes_with_503(own_home: Path) -> None:
    shutil.rmtree(own_home / "indexes" / "sf" / "bm25")
    for api in client(own_home):
        h = api.get("/health").json()
        assert h["status"] == "degraded"
        assert any(p.startswith("index sf:") and "BM25" in p for p in h["problems"]), h["problems"]
        assert not any(str(own_home) in p for p in h["problems"])
        r = api.post("/documents", headers={"X-API-Key": KEY},
                     json={"passages": [{"id": "new-1", "title": "t", "text": "some text"}]})  # fmt: skip
        err = assert_error_shape(r, 503)
        assert err["type"] == "IndexCorruptError" and str(own_home) not in err["message"]


# ---- 4: credentials in the LLM URL never reach an answer or health -----------------------------------------
def test_llm_credentials_are_redacted(home: Path) -> None:  # noqa: F811
    base = f"http://alice:s3cret-pw@127.0.0.1:{free_port()}/v1"
    for api in client(home, llm={"base_url": base, "api_key": "sk-not-real"}):
        a = api.post("/answer", json={"question": QUESTION}).json()
        assert a["status"] == "extractive" and a["generation_error"], a
        assert "s3cret-pw" not in a["generation_error"] and "alice" not in a["generation_error"]
        assert "127.0.0.1" in a["generation_error"]
        h = api.get("/health").text
        assert "s3cret-pw" not in h and "sk-not-real" not in h


# ---- 5: a log that cannot be written never fails a search, nor the start ------------------------------------
def test_unwritable_logs_do_not_stop_the_server_or_searches(own_home: Path) -> None:
    for name in (
        "querylog.sqlite",
        "feedback.sqlite",
    ):  # sqlite cannot open a directory: writes fail, for real
        for old in own_home.glob(name + "*"):
            old.unlink()
        (own_home / name).mkdir()
    for api in client(own_home):
        for _ in range(2):
            r = api.get("/search", params={"q": QUESTION})
            assert r.status_code == 200 and r.json()["hits"], r.text
        metrics = api.get("/metrics").text
        assert 'ragsearch_log_write_failures_total{log="querylog"} 2.0' in metrics
        h = api.get("/health").json()
        assert h["status"] == "degraded" and any(p.startswith("query log:") for p in h["problems"])
        hit = r.json()["hits"][0]["id"]
        f = api.post("/feedback", json={"query": QUESTION, "passage_id": hit, "kind": "up"})
        assert assert_error_shape(f, 503)["type"] == "BackendUnavailableError"


def test_a_full_disk_does_not_fail_searches(own_home: Path) -> None:
    """ENOSPC for real: once the server runs, its file-size limit drops to 0 (`prlimit`; Python ignores
    SIGXFSZ, so every write() fails with EFBIG, which SQLite reports as a full disk or an I/O error)."""
    import resource

    proc, url = start_process(own_home)
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            assert api.get("/search", params={"q": QUESTION}).status_code == 200  # index and log are open
            resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (0, 0))
            for _ in range(2):
                r = api.get("/search", params={"q": QUESTION})
                assert r.status_code == 200 and r.json()["hits"], r.text
            assert 'ragsearch_log_write_failures_total{log="querylog"} 2.0' in api.get("/metrics").text
            h = api.get("/health").json()
            assert h["status"] == "degraded" and any(p.startswith("query log:") for p in h["problems"]), h
        assert proc.poll() is None
    finally:
        stop(proc)


# ---- 6: the key is checked before the body is read; bodies are bounded ----------------------------------
def raw_request(url: str, head: str, body: bytes, read_timeout: float) -> bytes:
    """Send the head and a first part of a body, then read what the server answers (b"" on a timeout)."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(head.encode() + body)
        try:
            return s.recv(65536)
        except TimeoutError:
            return b""


def test_no_key_gets_401_before_the_body_is_sent(home: Path) -> None:  # noqa: F811
    for api in client(home):
        url = str(api.base_url).rstrip("/")
        head = ("POST /documents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {100_000_000}\r\n\r\n")  # fmt: skip
        answer = raw_request(url, head, b'{"passages": [' + b" " * 65536, read_timeout=5)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_large_bodies_without_key_do_not_grow_server_memory(home: Path, tmp_path: Path) -> None:  # noqa: F811
    proc, url = start_process(Path(shutil.copytree(home, tmp_path / "home")))  # the key is checked first
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            api.get("/search", params={"q": QUESTION})  # warm: model loaded, first request served
            before = rss_kb(proc.pid)
            chunk = b" " * (1 << 20)
            statuses = []
            for _ in range(4):
                try:
                    r = api.post("/documents", content=iter([chunk] * 100),
                                 headers={"Content-Type": "application/json", "Content-Length": str(100 << 20)})  # fmt: skip
                    statuses.append(r.status_code)
                except httpx.TransportError:
                    pass  # the server answered 401 and closed the connection while we were still sending
            after = rss_kb(proc.pid)
        print(f"server RSS {before // 1024} MB -> {after // 1024} MB after 4 x 100 MB bodies without a key")
        assert after - before < 50 * 1024, (before, after)
        assert set(statuses) <= {401}, statuses
    finally:
        stop(proc)


def test_body_limit_from_content_length_and_while_streaming(home: Path) -> None:  # noqa: F811
    for api in client(home, api={"api_key": KEY, "max_body_bytes": 100_000}):
        big = b'{"passages": []}' + b" " * 200_000
        r = api.post(
            "/documents", content=big, headers={"X-API-Key": KEY, "Content-Type": "application/json"}
        )
        assert assert_error_shape(r, 413)["type"] == "too_large"
        # no Content-Length (chunked): counted while it streams
        r = api.post("/documents", content=iter([big[:50_000]] * 4),
                     headers={"X-API-Key": KEY, "Content-Type": "application/json"})  # fmt: skip
        assert assert_error_shape(r, 413)
        small = api.post("/documents", headers={"X-API-Key": KEY},
                         json={"passages": [{"id": "small-1", "title": "t", "text": "fits"}]})  # fmt: skip
        assert small.status_code == 200, small.text
        api.delete("/documents/small-1", headers={"X-API-Key": KEY})


# ---- 8: a hanging LLM falls back within the first-token timeout ---------------------------------------------
def test_hanging_llm_falls_back_within_first_token_timeout(home: Path) -> None:  # noqa: F811
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []

    def accept_and_hang() -> None:  # accepts connections and never answers
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept_and_hang, daemon=True).start()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    try:
        for api in client(home, llm={"base_url": base, "first_token_timeout_s": 2}):
            t0 = time.perf_counter()
            a = api.post("/answer", json={"question": QUESTION}, timeout=30)
            took = time.perf_counter() - t0
            assert a.status_code == 200 and a.json()["status"] == "extractive", a.text
            assert "timed out" in a.json()["generation_error"]
            assert took < 2 + 5, took
    finally:
        listener.close()
        for s in held:
            s.close()


# ---- 9: passage ids with '/' ---------------------------------------------------------------------------
def test_passage_ids_with_slashes_can_be_fetched_and_deleted(home: Path) -> None:  # noqa: F811
    pid = "docs/guide/intro.md#0"
    for api in client(home):
        r = api.post("/documents", headers={"X-API-Key": KEY},
                     json={"passages": [{"id": pid, "title": "Intro", "text": "how to install"}]})  # fmt: skip
        assert r.status_code == 200, r.text
        quoted = "docs/guide/intro.md%230"
        got = api.get(f"/documents/{quoted}")
        assert got.status_code == 200 and got.json()["id"] == pid, got.text
        gone = api.delete(f"/documents/{quoted}", headers={"X-API-Key": KEY})
        assert gone.status_code == 200 and gone.json()["deleted"] == 1, gone.text
        assert_error_shape(api.get(f"/documents/{quoted}"), 404)


# ---- 10: one error shape, no paths, no index list; protected reads -----------------------------------------
def test_framework_errors_have_the_one_shape(home: Path) -> None:  # noqa: F811
    for api in client(home):
        assert assert_error_shape(api.get("/no-such-route"), 404)["type"] == "not_found"
        assert assert_error_shape(api.put("/search"), 405)["type"] == "method_not_allowed"
        bad_json = api.post("/documents", content=b"{not json", headers={"X-API-Key": KEY,
                            "Content-Type": "application/json"})  # fmt: skip
        assert_error_shape(bad_json, 422)
        nul = api.get("/search", params={"q": "vitamin", "filter": "a\x00b:1"})
        assert "filter key" in assert_error_shape(nul, 422)["message"]
        ctrl = api.get("/search", params={"q": "vitamin", "filter": "a\x07b:1"})
        assert_error_shape(ctrl, 422)
        missing = assert_error_shape(api.get("/search", params={"q": "x", "index": "nope"}), 404)
        assert str(home) not in missing["message"] and "known" not in missing["message"], missing
        assert not re.search(r"(?<![\w>])/\w", missing["message"].split("`")[0]), missing  # no absolute path


def test_protect_reads_covers_health_and_drift(home: Path) -> None:  # noqa: F811
    for api in client(home, api={"api_key": KEY, "protect_reads": True}):
        for path in ("/health", "/drift", "/search?q=vitamin"):
            assert assert_error_shape(api.get(path), 401)["type"] == "unauthorized"
            assert api.get(path, headers={"X-API-Key": KEY}).status_code == 200


def test_llm_timeout_settings_and_the_old_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from ragsearch.app.settings import load_settings

    llm = load_settings().llm
    assert (llm.connect_timeout_s, llm.first_token_timeout_s, llm.total_timeout_s, llm.max_retries) == (
        3,
        20,
        60,
        0,
    )
    monkeypatch.setenv("RAGSEARCH_LLM_TIMEOUT_S", "7")
    assert load_settings().llm.total_timeout_s == 7
    monkeypatch.setenv("RAGSEARCH_LLM_FIRST_TOKEN_TIMEOUT_S", "2.5")
    assert load_settings().llm.first_token_timeout_s == 2.5


# ---- a long query URL: a clear 400, never a reset connection ----------------------------------------------


def test_a_query_at_the_schema_limit_gets_an_error_not_a_reset(own_home: Path) -> None:
    """The schema takes q up to 100,000 characters (longer than the configured limit: 422), sent in a URL of up to 1.2 MB (':' is 3 bytes encoded,
    a 4-byte character 12). uvicorn's default request-head limit (16 KiB) made `ragsearch serve` close the
    connection mid-request (a reset, found by the stateful fuzz test); the head limit now covers the
    schema and the app answers with its own error (the q limit of RAGSEARCH_API_MAX_QUERY_CHARS)."""
    proc, url = start_process(own_home)
    try:
        for q in (":" * 100_000, "\U0001d518" * 100_000, "vitamin " * 2_000):
            # urllib: httpx refuses to send a query string over 64 KiB
            query = urllib.parse.urlencode({"q": q, "mode": "bm25"})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{url}/search?{query}", timeout=60)
            body = json.loads(refused.value.read())["error"]
            assert refused.value.code == 422, (len(q), body)
            assert set(body) == {"type", "message"} and "the limit is 1000" in body["message"], body
        r = httpx.get(f"{url}/search", params={"q": "vitamin", "mode": "bm25"}, timeout=60)
        assert r.status_code == 200, r.text
    finally:
        stop(proc)

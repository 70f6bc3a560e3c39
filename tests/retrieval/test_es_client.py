"""Connection errors become one-line messages that name the fix (no Elasticsearch needed).

A tiny loopback HTTP server plays a cluster that refuses: it is a fault injector for the client's
error paths, not a stand-in for Elasticsearch's search behaviour.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ragsearch.retrieval.elasticsearch import ElasticsearchBackend
from ragsearch.retrieval.errors import BackendAuthError, BackendUnavailableError, IndexNotFoundError
from ragsearch.retrieval.es_client import connect
from ragsearch.retrieval.es_connection import EsConnection


class Refusing(BaseHTTPRequestHandler):
    status = 401
    error_type = "security_exception"

    def do_GET(self) -> None:
        body = json.dumps({"error": {"type": self.error_type, "reason": "nope"}, "status": self.status})
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.end_headers()
        self.wfile.write(body.encode())

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def refusing_cluster(request: pytest.FixtureRequest) -> Iterator[str]:
    status, error_type = request.param
    handler = type("H", (Refusing,), {"status": status, "error_type": error_type})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def backend(url: str) -> ElasticsearchBackend:
    return ElasticsearchBackend(EsConnection(url=url, username="u", password="wrong", max_retries=0))


@pytest.mark.parametrize("refusing_cluster", [(401, "security_exception")], indirect=True)
def test_wrong_credentials(refusing_cluster: str) -> None:
    with pytest.raises(BackendAuthError, match=r"refused the credentials .*RAGSEARCH_ES_API_KEY") as e:
        backend(refusing_cluster).open("kb")
    assert "wrong" not in str(e.value)


@pytest.mark.parametrize("refusing_cluster", [(403, "security_exception")], indirect=True)
def test_missing_privileges(refusing_cluster: str) -> None:
    with pytest.raises(BackendAuthError, match=r"denied the request \(403.*privileges on index 'kb'"):
        backend(refusing_cluster).open("kb")


@pytest.mark.parametrize("refusing_cluster", [(404, "index_not_found_exception")], indirect=True)
def test_missing_index(refusing_cluster: str) -> None:
    with pytest.raises(IndexNotFoundError, match="index 'kb' does not exist on Elasticsearch"):
        backend(refusing_cluster).open("kb")


def test_unreachable() -> None:
    dead = ElasticsearchBackend(EsConnection(url="http://127.0.0.1:9", max_retries=0, request_timeout=2))
    with pytest.raises(BackendUnavailableError, match=r"cannot reach Elasticsearch at http://127\.0\.0\.1:9"):
        dead.list()


def test_connect_picks_one_auth_and_never_shows_secrets() -> None:
    conn = EsConnection(url="https://es:9200", api_key="k3y", username="u", password="s3cret")
    assert "k3y" not in repr(conn) and "s3cret" not in repr(conn)
    client = connect(conn)
    assert client._headers["authorization"].startswith("ApiKey ")
    basic = connect(EsConnection(url="http://es:9200", username="elastic", password="pw"))
    assert basic._headers["authorization"].startswith("Basic ")

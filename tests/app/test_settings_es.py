"""The `es` settings section: env names, one auth method, secrets never shown."""

from __future__ import annotations

import pytest

from ragsearch.app.services import es_connection, make_backend
from ragsearch.app.settings import load_settings, valid_env_names
from ragsearch.retrieval.elasticsearch import ElasticsearchBackend
from ragsearch.retrieval.errors import RagsearchError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for k in list(os.environ):
        if k.upper().startswith("RAGSEARCH_"):
            monkeypatch.delenv(k)


def test_env_names_and_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {
        "RAGSEARCH_ES_URL",
        "RAGSEARCH_ES_API_KEY",
        "RAGSEARCH_ES_CA_CERTS",
        "RAGSEARCH_ES_MAX_RETRIES",
    } <= (valid_env_names())
    monkeypatch.setenv("RAGSEARCH_BACKEND", "elasticsearch")
    monkeypatch.setenv("RAGSEARCH_ES_URL", "https://es.example:9243")
    monkeypatch.setenv("RAGSEARCH_ES_API_KEY", "c2VjcmV0LWtleQ==")
    monkeypatch.setenv("RAGSEARCH_ES_REQUEST_TIMEOUT", "5")
    s = load_settings()
    conn = es_connection(s)
    assert (conn.url, conn.api_key, conn.request_timeout) == (
        "https://es.example:9243",
        "c2VjcmV0LWtleQ==",
        5.0,
    )
    assert "c2VjcmV0LWtleQ==" not in repr(s) and "c2VjcmV0LWtleQ==" not in s.model_dump_json()
    assert "c2VjcmV0LWtleQ==" not in repr(conn)
    assert isinstance(make_backend(s), ElasticsearchBackend)  # no request is sent until first use


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"RAGSEARCH_ES_API_KEY": "k", "RAGSEARCH_ES_USERNAME": "u", "RAGSEARCH_ES_PASSWORD": "p"},
            "not both",
        ),
        ({"RAGSEARCH_ES_USERNAME": "u"}, "go together"),
        ({"RAGSEARCH_ES_URL": "localhost:9200"}, "must start with http"),
        ({"RAGSEARCH_ES_MAX_RETRIES": "-1"}, "es.max_retries"),
    ],
)
def test_invalid_es_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(RagsearchError, match=message) as e:
        load_settings()
    assert "invalid settings" in str(e.value)
    assert all(secret not in str(e.value) for secret in ("'k'", "'p'"))

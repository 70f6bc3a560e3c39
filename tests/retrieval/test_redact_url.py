"""Credentials in URLs never reach an error message: `redact_url` and the Elasticsearch error mapping."""

from __future__ import annotations

import elastic_transport
import pytest

from ragsearch.retrieval.errors import BackendUnavailableError, redact_url
from ragsearch.retrieval.es_client import es_errors


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://alice:s3cret@llm.local:8080/v1", "http://***@llm.local:8080/v1"),
        ("https://token@es.example.com/", "https://***@es.example.com/"),
        ("http://127.0.0.1:8000/v1?api_key=s3cret", "http://127.0.0.1:8000/v1"),
        ("http://[::1]:9200", "http://[::1]:9200"),
        ("http://localhost:9200", "http://localhost:9200"),
        ("not a url", "not a url"),
        ("http://host:notaport/", "<url hidden>"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_es_errors_hide_credentials_of_the_url_and_of_the_client_message() -> None:
    url = "http://elastic:s3cret@127.0.0.1:1"
    with pytest.raises(BackendUnavailableError) as caught, es_errors(url, "idx"):
        raise elastic_transport.ConnectionError(f"Connection refused to {url}/idx/_search")
    assert "s3cret" not in str(caught.value) and "elastic:" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)

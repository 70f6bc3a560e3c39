"""Connecting to Elasticsearch, and turning its exceptions into one-line errors that say the fix."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import elastic_transport
from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    Elasticsearch,
    NotFoundError,
)

from ragsearch.retrieval.errors import (
    BackendAuthError,
    BackendUnavailableError,
    IndexNotFoundError,
    RagsearchError,
    redact_url,
)
from ragsearch.retrieval.es_connection import EsConnection


def connect(conn: EsConnection) -> Elasticsearch:
    """A client; no request is sent until first use."""
    kwargs: dict[str, object] = {
        "request_timeout": conn.request_timeout,
        "max_retries": conn.max_retries,
        "retry_on_timeout": True,
    }
    if conn.api_key:
        kwargs["api_key"] = conn.api_key
    elif conn.username:
        kwargs["basic_auth"] = (conn.username, conn.password or "")
    if conn.url.startswith("https"):
        kwargs["verify_certs"] = conn.verify_certs
        if conn.ca_certs:
            kwargs["ca_certs"] = str(conn.ca_certs)
    return Elasticsearch(conn.url, **kwargs)  # type: ignore[arg-type]


@contextlib.contextmanager
def es_errors(url: str, index: str | None = None) -> Iterator[None]:
    """Re-raise client exceptions as RagsearchError subclasses whose message names the fix (the URL shown
    without credentials, and the client's own message too: it can quote the URL)."""
    url = redact_url(url)
    try:
        yield
    except RagsearchError:
        raise
    except AuthenticationException:
        raise BackendAuthError(
            f"Elasticsearch at {url} refused the credentials (401): set RAGSEARCH_ES_API_KEY, or "
            "RAGSEARCH_ES_USERNAME and RAGSEARCH_ES_PASSWORD"
        ) from None
    except AuthorizationException as exc:
        raise BackendAuthError(
            f"Elasticsearch at {url} denied the request (403: {_reason(exc)}): give the user or API key "
            f"read/write privileges on {'index ' + repr(index) if index else 'the indexes'}"
        ) from None
    except NotFoundError as exc:
        if index is not None and _error_type(exc) == "index_not_found_exception":
            raise IndexNotFoundError(
                f"index {index!r} does not exist on Elasticsearch at {url}; create it with "
                f"`ragsearch ingest PATH --index {index} --backend elasticsearch`"
            ) from None
        raise RagsearchError(f"Elasticsearch at {url}: not found ({_reason(exc)})") from None
    except elastic_transport.TlsError as exc:
        raise BackendUnavailableError(
            f"TLS failed talking to Elasticsearch at {url} ({exc.message}): set RAGSEARCH_ES_CA_CERTS to the "
            "cluster's CA certificate (or RAGSEARCH_ES_VERIFY_CERTS=false on a test cluster)"
        ) from None
    except elastic_transport.ConnectionTimeout:
        raise BackendUnavailableError(
            f"Elasticsearch at {url} did not answer in time: check the cluster's health or raise "
            "RAGSEARCH_ES_REQUEST_TIMEOUT"
        ) from None
    except elastic_transport.ConnectionError as exc:
        raise BackendUnavailableError(
            f"cannot reach Elasticsearch at {url} ({_short(exc.message)}): start it (`docker compose up -d "
            "elasticsearch`) or set RAGSEARCH_ES_URL to a running cluster"
        ) from None
    except ApiError as exc:
        raise RagsearchError(f"Elasticsearch at {url} answered {exc.meta.status}: {_reason(exc)}") from None


def _error_type(exc: ApiError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error")
    return str(err.get("type", "")) if isinstance(err, dict) else ""


def _reason(exc: ApiError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error")
    if isinstance(err, dict):
        return f"{err.get('type', '')}: {err.get('reason', '')}".strip(": ")
    return _short(str(exc.message))


def _short(text: str, limit: int = 160) -> str:
    line = " ".join(redact_url(word) for word in str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."

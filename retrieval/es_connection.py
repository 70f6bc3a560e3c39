"""Where and how to reach an Elasticsearch cluster: plain settings, importable without the client (the
`elasticsearch` extra), which only `es_client` needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class EsConnection:
    """Where and how to reach a cluster. Secrets are plain strings here; never log this object."""

    url: str = "http://localhost:9200"
    api_key: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_certs: Path | None = None
    verify_certs: bool = True
    request_timeout: float = 30.0
    max_retries: int = 3

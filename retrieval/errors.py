"""Errors every stage raises. Each message says what went wrong and how to fix it."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: object) -> str:
    """`url` without credentials, for errors, logs, health and metrics: `http://user:pw@host/x?key=s`
    becomes `http://***@host/x` (user info and query string dropped); text that is not a URL comes back
    unchanged, and a URL that cannot be parsed comes back as `<url hidden>`."""
    text = str(url)
    try:
        parts = urlsplit(text)
        if not parts.scheme or not parts.netloc:
            return text
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port is not None else "")
        if parts.username is not None or parts.password is not None:
            netloc = "***@" + netloc
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "<url hidden>"


class RagsearchError(Exception):
    """Base class of errors shown to users as one line, without a traceback."""


class IndexNotFoundError(RagsearchError):
    pass


class IndexExistsError(RagsearchError):
    pass


class EmbeddingMismatchError(RagsearchError):
    pass


class IndexLockedError(RagsearchError):
    """Another process held the index's write lock for longer than the wait allowed."""


class IndexCorruptError(RagsearchError):
    """Part of an index is missing or disagrees with its store; the message names the part and the fix."""


class InvalidInputError(RagsearchError):
    pass


class BackendUnavailableError(RagsearchError):
    """Storage could not be read or written (disk full, files missing, cluster down)."""


class UnknownNameError(RagsearchError):
    """A lookup by name (mode, fusion, system, dataset...) that names nothing known."""

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]) -> None:
        super().__init__(f"unknown {kind} {name!r}: valid choices are {', '.join(sorted(valid))}")
        self.kind = kind
        self.name = name
        self.valid = tuple(valid)


class BackendAuthError(RagsearchError):
    """The search cluster refused the credentials or the permissions."""


class BulkRejectedError(RagsearchError):
    """Some passages of a bulk write were rejected; the accepted ones are stored."""

    def __init__(self, index: str, accepted: int, rejected: list[tuple[str, str]]) -> None:
        shown = "; ".join(f"{pid}: {reason}" for pid, reason in rejected[:5])
        more = f" (and {len(rejected) - 5} more)" if len(rejected) > 5 else ""
        super().__init__(
            f"{len(rejected)} passage(s) rejected by index {index!r}, {accepted} accepted and stored: "
            f"{shown}{more}; fix those records and ingest again (unchanged ones are skipped)"
        )
        self.index = index
        self.accepted = accepted
        self.rejected = rejected

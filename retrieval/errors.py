"""Errors every stage raises. Each message says what went wrong and how to fix it."""


class RagsearchError(Exception):
    """Base class of errors shown to users as one line, without a traceback."""


class IndexNotFoundError(RagsearchError):
    pass


class IndexExistsError(RagsearchError):
    pass


class EmbeddingMismatchError(RagsearchError):
    pass


class IndexLockedError(RagsearchError):
    pass


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

"""The `ragsearch` command. Each module holds one group of commands; use cases live in `app.usecases`.

Exit codes: 0 success, 1 failure (a one-line `error: ...` on stderr), 2 usage error, 3 drift found (`drift`).
"""

from __future__ import annotations

import sys

from ragsearch.app.cli import (  # noqa: F401  (registers commands)
    agreement,
    clicks,
    demo,
    documents,
    evaluation,
    experiments,
    indexes,
    judging,
    judgments,
    ltr,
    online,
    operations,
    optimize,
    queries,
    query_sets,
    querying,
    serving,
)
from ragsearch.app.cli.common import cli
from ragsearch.retrieval.errors import RagsearchError


def main() -> None:
    try:
        cli()
    except RagsearchError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
    except OSError as exc:  # disk full, permissions, missing files: what was committed before stays
        sys.stderr.write(
            f"error: {exc.strerror or exc} ({exc.filename or 'storage'}); nothing committed was lost\n"
        )
        sys.exit(1)

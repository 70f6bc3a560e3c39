"""The `ragsearch` entry point: lowers a batch command's CPU priority (app.priority) before the CLI and its
heavy imports (torch, the models: about 1.7 s of CPU on an idle machine) load, then runs the CLI."""

from __future__ import annotations

import sys

from ragsearch.app.priority import is_batch, lower_priority


def early_priority(argv: list[str]) -> None:
    """Apply RAGSEARCH_CLI_NICE / RAGSEARCH_CLI_IDLE now for a batch command. Settings that do not validate
    are left for the CLI to report."""
    if not argv or not is_batch(argv):
        return
    from pydantic import ValidationError

    from ragsearch.app.settings import get_settings

    try:
        s = get_settings()
    except ValidationError:
        return
    lower_priority(s.cli_nice, s.cli_idle)


def main() -> None:
    early_priority(sys.argv[1:])
    from ragsearch.app.cli import main as cli_main

    cli_main()

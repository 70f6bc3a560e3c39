"""CPU priority of batch commands (every `ragsearch` command but serve and ui), kept free of heavy imports so
the entry point can apply it before torch and the models load.

On 2 cores, a loop of CLI commands beside a served index tripled the server's p95 search latency
(docs/benchmarks.md, soak). A batch command therefore raises its nice value to RAGSEARCH_CLI_NICE and, with
RAGSEARCH_CLI_IDLE (off by default: on a busy machine such a command can wait a long time; Linux only), switches to the SCHED_IDLE policy: it then runs only when no
normal-priority task wants the CPU, and a server thread that wakes up preempts it at once. Both only ever
lower this process's priority (no privileges needed) and apply to the threads it starts afterwards.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Sequence

UNBATCHED = frozenset({"serve", "ui"})
"""Commands that serve users and keep their priority."""


def is_batch(argv: Sequence[str]) -> bool:
    """Whether the command line `argv` (without the program name) runs a batch command."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first not in UNBATCHED


def lower_priority(nice: int, idle: bool = False) -> None:
    """Raise this process's nice value to `nice` (never lowers it: that needs privileges), and switch it to
    SCHED_IDLE when `idle` and the platform has it."""
    current = os.nice(0)
    if nice > current:
        os.nice(nice - current)
    if idle and hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):  # a sandbox may refuse it; the nice value still applies
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def lower_thread_priority(nice: int) -> None:
    """Raise the calling thread's nice value to `nice` (never lowers it); threads it starts afterwards, such as
    torch's OpenMP workers, inherit it. Linux only: there a thread id names one thread, while elsewhere the same
    call would change the whole process, so it does nothing."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):
        if nice > os.getpriority(os.PRIO_PROCESS, tid):
            os.setpriority(os.PRIO_PROCESS, tid, nice)

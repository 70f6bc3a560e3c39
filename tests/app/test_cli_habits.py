"""Issue 19 part 6, through real `ragsearch` processes: --version, help everywhere, exit codes, server URLs,
snippets and --filter in search, progress lines when stderr is not a terminal, Cranfield's empty records."""

from __future__ import annotations

import io
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import httpx
import numpy as np
import pytest
import typer.main
from rich.progress import Progress

from ragsearch.app.cli import cli as cli_app
from ragsearch.app.querylog import LoggedQuery, QueryLog
from tests.app.test_cli import REPO, cli
from tests.net import free_port, wait_for_http


def walk(command: object, path: str) -> list[tuple[str, object]]:
    found = [(path, command)]
    if hasattr(command, "list_commands"):
        ctx = typer.Context(command)  # type: ignore[arg-type]
        for name in command.list_commands(ctx):
            found += walk(command.get_command(ctx, name), f"{path} {name}")
    return found


def test_every_command_and_option_has_help() -> None:
    commands = walk(typer.main.get_command(cli_app), "ragsearch")
    assert len(commands) > 25 and any(p == "ragsearch indexes check" for p, _ in commands)
    missing = [p for p, c in commands if not (getattr(c, "help", None) or "").strip()]
    missing += [
        f"{p} {param.name}"
        for p, c in commands
        for param in getattr(c, "params", [])
        if not (getattr(param, "help", None) or "").strip() and param.param_type_name == "option"
    ]
    assert missing == []


def test_version_and_usage_exit_codes(tmp_path: Path) -> None:
    r = cli(tmp_path, "--version")
    assert (r.returncode, r.stdout) == (0, f"ragsearch {version('ragsearch')}\n")
    assert cli(tmp_path, "search").returncode == 2  # usage error: the query is missing
    assert "3 drift found" in cli(tmp_path, "--help").stdout


def q(terms: int, dense: float, hits: int = 10) -> LoggedQuery:
    return LoggedQuery(
        0.0, "search", "hybrid", terms * 6, terms, hits, dense, dense, None, 10.0, index="default"
    )


def test_drift_found_is_exit_3_not_the_usage_code(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    log = QueryLog(tmp_path / "querylog.sqlite")
    for _ in range(100):
        log.add(q(int(rng.integers(8, 20)), float(rng.normal(0.6, 0.08))))
    for _ in range(100):  # off-topic: short queries, low cosine
        log.add(q(int(rng.integers(2, 5)), float(rng.normal(0.2, 0.05))))
    log.close()
    r = cli(tmp_path, "drift", "--recent", "100", "--reference", "100", "--json")
    assert r.returncode == 3, r.stderr
    assert json.loads(r.stdout)["drifted"] is True
    r = cli(tmp_path, "drift", "--recent", "100", "--reference", "100", "--no-fail-on-drift")
    assert r.returncode == 0, r.stderr
    assert cli(tmp_path, "drift", "--recent", "1").returncode == 2


def first_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout_s):
        return ""
    return proc.stdout.readline()


def start(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
    env.update(RAGSEARCH_HOME=str(home), HF_HUB_OFFLINE="1")
    return subprocess.Popen(
        [sys.executable, "-c", "from ragsearch.app.cli import main; main()", *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip


def stop(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.slow
def test_serve_prints_the_url_it_answers_on(tmp_path: Path) -> None:
    port = free_port()
    proc = start(tmp_path, "serve", "--port", str(port))
    try:
        line = first_line(proc, 120)
        url = f"http://127.0.0.1:{port}"
        assert line == f"ragsearch API: {url} (docs: {url}/docs)\n"
        deadline = time.time() + 60
        while True:
            try:
                assert httpx.get(f"{url}/health", timeout=2).status_code == 200
                break
            except httpx.TransportError:
                assert time.time() < deadline and proc.poll() is None
                time.sleep(0.3)
    finally:
        stop(proc)


def test_ui_prints_its_url_listens_on_loopback_and_stops_with_its_command(tmp_path: Path) -> None:
    port = free_port()
    proc = start(tmp_path, "ui", "--port", str(port))
    try:
        assert first_line(proc, 60) == f"ragsearch UI: http://127.0.0.1:{port} (API: http://127.0.0.1:8000)\n"
        wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", proc, 90, "streamlit")
        listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
        local = [line.split()[3] for line in listening.splitlines()]  # State Recv-Q Send-Q Local Peer
        assert local and all(a == f"127.0.0.1:{port}" for a in local), listening
        proc.send_signal(signal.SIGTERM)  # the command only, not its process group: Streamlit must stop too
        proc.wait(timeout=30)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
    finally:
        if proc.poll() is None:
            stop(proc)


def test_plain_progress_lines_are_periodic_and_final() -> None:
    from ragsearch.app.cli.common import PlainLines

    stream = io.StringIO()
    progress = Progress(disable=True)
    with PlainLines(progress, stream, every=0.05):
        task = progress.add_task("finetune step", total=10, rate="")
        progress.advance(task, 4)
        time.sleep(0.3)
        progress.advance(task, 6)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3
    assert lines[0].startswith("finetune step, 4/10 (40%), ")
    assert lines[-1].startswith("finetune step, 10/10 (100%), ") and "left" not in lines[-1]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    h = tmp_path_factory.mktemp("home")
    docs = tmp_path_factory.mktemp("docs")
    filler = "General remarks on the project history, the team and the weather in spring. " * 6
    (docs / "guide.md").write_text(
        f"# Guide\n\n{filler}\n\nQuokkas are small marsupials that live on Rottnest Island near Perth.\n"
    )
    (docs / "notes.txt").write_text(f"{filler} The quokka marsupial population on the island is counted.\n")
    r = cli(h, "ingest", str(docs), "--index", "kb")
    return h, r


@pytest.mark.slow
def test_ingest_reports_progress_when_stderr_is_not_a_terminal(home: tuple[Path, object]) -> None:
    _, r = home
    assert r.returncode == 0, r.stderr  # type: ignore[attr-defined]
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("ingest -> kb, ")]  # type: ignore[attr-defined]
    assert lines and "(100%), 2/2 files, " in lines[-1], r.stderr  # type: ignore[attr-defined]


@pytest.mark.slow
def test_search_filter_and_snippets(home: tuple[Path, object]) -> None:
    h, _ = home
    r = cli(h, "search", "quokka marsupials island", "--index", "kb", "--mode", "bm25", "--json")
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["hits"]
    assert {hit["id"].split("#")[0] for hit in hits} == {"guide.md", "notes.txt"}
    for hit in hits:
        assert "quokka" in hit["snippet"].lower() and hit["snippet"].startswith("…")
    r = cli(h, "search", "quokka marsupials", "--index", "kb", "--filter", "format:text", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["filters"] == {"format": "text"} and [hit["id"] for hit in out["hits"]] == ["notes.txt#0"]
    r = cli(h, "search", "quokka", "--index", "kb", "--filter", "format:text", "--filter", "doc_title:nope")
    assert r.returncode == 0 and "notes.txt" not in r.stdout
    r = cli(h, "search", "quokka", "--index", "kb", "--filter", "format")
    assert r.returncode == 2 and "is not of the form key:value" in r.stderr
    table = cli(h, "search", "quokka marsupials", "--index", "kb", "--mode", "bm25")
    assert "snippet" in table.stdout and "Rottnest" in table.stdout


@pytest.mark.slow
def test_cranfield_empty_records_do_not_fail_the_ingest(shared_data: Path, tmp_path: Path) -> None:
    lines = (shared_data / "cranfield" / "corpus.jsonl").read_text().splitlines()
    (tmp_path / "cran").mkdir()
    (tmp_path / "cran" / "corpus.jsonl").write_text("\n".join(lines[460:480]) + "\n")
    r = cli(tmp_path / "home", "ingest", str(tmp_path / "cran"), "--index", "cran")
    assert r.returncode == 0, r.stderr
    assert "added 19," in r.stdout and "skipped 1, failed 0" in r.stdout
    assert ":11: title and text are both empty" in r.stderr


@pytest.mark.parametrize(("env", "batch", "expected", "idle"), [
    ({}, True, 10, False), ({"RAGSEARCH_CLI_NICE": "0"}, True, 0, False), ({"RAGSEARCH_CLI_IDLE": "true"}, False, 0, False),
    ({"RAGSEARCH_CLI_NICE": "3", "RAGSEARCH_CLI_IDLE": "true"}, True, 3, True)])  # fmt: skip
def test_batch_commands_yield_the_cpu_to_a_server(
    tmp_path: Path, env: dict[str, str], batch: bool, expected: int, idle: bool
) -> None:
    """Every command but serve and ui runs at RAGSEARCH_CLI_NICE (default 10), and under SCHED_IDLE with
    RAGSEARCH_CLI_IDLE: next to a server, a CLI ingest or search loop tripled the server's p95 on 2 cores (bench.soak)."""
    code = (
        "import os\nfrom ragsearch.app.cli.common import settings\n"
        f"settings(batch={batch})\nprint(os.nice(0), os.sched_getscheduler(0) == os.SCHED_IDLE)\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                       env={**base, "RAGSEARCH_HOME": str(tmp_path), **env})  # fmt: skip
    assert r.returncode == 0, r.stderr
    nice, sched_idle = r.stdout.split()
    assert int(nice) == max(os.nice(0), expected)  # never below the parent's (unprivileged)
    assert sched_idle == str(idle or os.sched_getscheduler(0) == os.SCHED_IDLE)


@pytest.mark.parametrize(("argv", "lowered"), [(["ingest", "x"], True), (["--help"], True), (["serve"], False),
                                               (["ui", "--port", "1"], False)])  # fmt: skip
def test_the_entry_point_lowers_the_priority_before_the_heavy_imports(
    tmp_path: Path, argv: list[str], lowered: bool
) -> None:
    code = (
        "import os, sys\nfrom ragsearch.app.launch import early_priority\n"
        f"early_priority({argv!r})\nprint(os.nice(0), 'torch' in sys.modules, 'ragsearch.app.cli' in sys.modules)\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                       env={**base, "RAGSEARCH_HOME": str(tmp_path), "RAGSEARCH_CLI_NICE": "7"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(max(os.nice(0), 7 if lowered else 0)), "False", "False"]

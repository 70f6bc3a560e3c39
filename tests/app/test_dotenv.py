"""`.env` is shared with other tools (compose's ELASTIC_PASSWORD, OPENAI_API_KEY): a real `.env` in the working
folder of a real `ragsearch` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.app.test_cli import REPO


def run_in(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSEARCH_")}
    full_env.update({"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", **(env or {})})
    full_env.pop("OPENAI_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-c", "from ragsearch.app.cli import main; main()", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_foreign_keys_in_dotenv_are_ignored_and_ours_are_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / ".env").write_text(
        f"ELASTIC_PASSWORD=0123abcd\nOPENAI_API_KEY=sk-test\nCOMPOSE_PROJECT_NAME=x\nRAGSEARCH_HOME={home}\n"
    )
    r = run_in(tmp_path, "models", "list", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
    r = run_in(tmp_path, "models", "list")
    assert r.returncode == 0, r.stderr
    assert str(home) in r.stdout.replace("\n", "")  # RAGSEARCH_HOME from .env was read


def test_unknown_ragsearch_names_are_still_refused(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ELASTIC_PASSWORD=x\nRAGSEARCH_EMBEDING_MODEL=typo\n")
    r = run_in(tmp_path, "models", "list", "--json")
    assert r.returncode == 1
    assert "RAGSEARCH_EMBEDING_MODEL" in r.stderr and "RAGSEARCH_EMBEDDING_MODEL" in r.stderr
    assert "Traceback" not in r.stderr

    (tmp_path / ".env").write_text("ELASTIC_PASSWORD=x\n")
    r = run_in(tmp_path, "models", "list", "--json", env={"RAGSEARCH_BOGUS": "1"})
    assert r.returncode == 1 and "RAGSEARCH_BOGUS" in r.stderr and "valid names are" in r.stderr

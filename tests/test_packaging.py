"""The installed package: one top-level name, `ragsearch`, that sits next to a project with its own `app`.

The wheel is built from this checkout (setuptools follows the links under ragsearch/) and installed into a
new virtual environment beside a small project whose top-level package is `app`; both import and the
`ragsearch` command runs. The new environment installs the wheel without resolving its dependencies (torch
and the rest would take minutes to copy): it borrows them, read-only, from the environment running the
tests through a path entry, which adds no package named `app`, `eval` or `ragsearch` (checked). The full
dependency resolution of the core and the extras is measured, not tested: README "Installing as a package".
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGES = ("app", "answer", "search", "rerank", "ingest", "eval", "retrieval")
pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src") / "ragsearch"
    # a copy of the checkout's tracked files (links kept as links), so the build leaves no trace in it
    files = run("git", "ls-files", "-z", cwd=REPO).stdout.split("\0")
    for name in filter(None, files):
        target, origin = src / name, REPO / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_symlink():
            target.symlink_to(origin.readlink())
        elif origin.is_file():
            target.write_bytes(origin.read_bytes())
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", out, src)
    (built,) = out.glob("ragsearch-*.whl")
    return built


def test_the_wheel_holds_one_top_level_package_with_every_module(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"ragsearch", wheel.name.split("-py3")[0] + ".dist-info"}
    for stage in STAGES:
        modules = {str(p.relative_to(REPO)) for p in (REPO / stage).rglob("*.py")}
        assert modules, stage
        assert {f"ragsearch/{m}" for m in modules} <= set(names), stage
    assert not any(n.startswith("ragsearch/bench/") for n in names), "benchmarks are not installed"


def test_installs_beside_a_project_with_its_own_app_package(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    py, bin_dir = venv / "bin" / "python", venv / "bin"
    run(py, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel)
    site = run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    # another project whose top-level packages are `app` and `eval`, on the path as an installed project is
    # (after site-packages: a top-level `app` of the wheel would shadow it)
    other = tmp_path / "other"
    for pkg in ("app", "eval"):
        (other / pkg).mkdir(parents=True)
        (other / pkg / "__init__.py").write_text(f"WHO = 'other.{pkg}'\n")
    Path(site, "other.pth").write_text(f"{other}\n")
    # the dependencies, borrowed from this environment (a path line, not a site dir: its .pth files and
    # editable-install finders are not run, so none of this checkout's packages comes with it)
    Path(site, "zz-borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    neutral = tmp_path / "elsewhere"
    neutral.mkdir()
    probe = (
        "import app, eval, ragsearch, ragsearch.app.cli, ragsearch.search.engine, ragsearch.app.api.main\n"
        "print(app.WHO, eval.WHO, ragsearch.__version__, ragsearch.app.cli.__file__)\n"
    )
    r = run(py, "-c", probe, cwd=neutral)
    who_app, who_eval, version, cli_file = r.stdout.split()
    assert (who_app, who_eval) == ("other.app", "other.eval")
    assert version != "0+unknown" and Path(cli_file).is_relative_to(site)
    r = run(bin_dir / "ragsearch", "--version", cwd=neutral)
    assert r.stdout.strip() == f"ragsearch {version}"

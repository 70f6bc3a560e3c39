"""A full disk for real: a small tmpfs in a private mount namespace (`unshare`: a user namespace with root
mapped, so no privilege is needed where unprivileged user namespaces are allowed), filled to the last block,
so every write gets ENOSPC. The namespace ends with the command; nothing stays mounted."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHELL = (
    'mount -t tmpfs -o size="$3" tmpfs "$1" || exit 77; cp -a "$2" "$1/home" || exit 1; '
    'dd if=/dev/zero of="$1/fill" bs=4k 2>/dev/null; shift 3; exec "$@"'
)


def run_on_full_disk(
    src: Path, mnt: Path, argv: list[str], env: dict[str, str] | None = None, size: str = "2m"
) -> subprocess.CompletedProcess[str]:
    """Copy the folder `src` to `mnt/home` on a tmpfs of `size` mounted at `mnt` (an empty folder), fill the
    rest (`mnt/fill`), then run `argv` there (in the repository root). Skips the test where no tmpfs can be
    mounted this way."""
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux unshare to mount a private tmpfs")
    mnt.mkdir(exist_ok=True)
    proc = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", SHELL, "sh", str(mnt), str(src), size, *argv],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if proc.returncode == 77 or "unshare failed" in proc.stderr:
        pytest.skip(f"cannot mount a private tmpfs here: {proc.stderr.strip()[-300:]}")
    return proc

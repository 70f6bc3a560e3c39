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


def full_disk_argv(src: Path, mnt: Path, argv: list[str], size: str = "2m") -> list[str]:
    """The command line that copies the folder `src` to `mnt/home` on a tmpfs of `size` mounted at `mnt` (an
    empty folder), fills the rest (`mnt/fill`), then runs `argv`; it exits 77 where no tmpfs can be mounted.
    Only the mount namespace is private: a server started this way listens on the host's loopback."""
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux unshare to mount a private tmpfs")
    mnt.mkdir(exist_ok=True)
    return [
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        SHELL,
        "sh",
        str(mnt),
        str(src),
        size,
        *argv,
    ]


def run_on_full_disk(
    src: Path, mnt: Path, argv: list[str], env: dict[str, str] | None = None, size: str = "2m"
) -> subprocess.CompletedProcess[str]:
    """`argv` run to the end on a full disk (see `full_disk_argv`), in the repository root. Skips the test
    where no tmpfs can be mounted this way."""
    proc = subprocess.run(
        full_disk_argv(src, mnt, argv, size), cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    if proc.returncode == 77 or "unshare failed" in proc.stderr:
        pytest.skip(f"cannot mount a private tmpfs here: {proc.stderr.strip()[-300:]}")
    return proc

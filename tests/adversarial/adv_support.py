"""Helpers shared by the adversarial tests: running the CLI, private roots, privilege, namespaces.

Nothing here touches the host's /etc, /run or $HOME: every file lives under a temp dir given to
the tool with --root, and every mount is made by a child in its own `unshare --mount` namespace.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from support import mount_ns_problem, require_mount_ns, unavailable  # noqa: F401
from support import require_root as support_require_root

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
EXIT_CODES = {0, 1, 2, 3}  # everything an input can cause; 4 needs a daemon, 70 is a bug
TMP_MARK = ".dockercfg-tmp-"


def require_root() -> None:
    support_require_root("needs root (chattr, mount namespaces, dropping to another user)")


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for a dockercfg child: this checkout first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("DOCKERCFG_FAULT", None)
    env.pop("DOCKERCFG_LOCK_TIMEOUT", None)
    env.update(extra)
    return env


def cli_argv(root: Path | None, *args: str) -> list[str]:
    return [sys.executable, "-m", "dockercfg", *(["--root", str(root)] if root else []), *args]


def cli(
    root: Path | None, *args: str, env: dict | None = None, timeout: float = 60, **kw
) -> subprocess.CompletedProcess:
    """`python -m dockercfg --root ROOT ARGS` in a child; never raises on the exit status."""
    return subprocess.run(
        cli_argv(root, *args),
        env=tool_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        **kw,
    )


def shown(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def one_json(proc: subprocess.CompletedProcess) -> dict:
    """--json prints exactly one object on stdout, whatever happened."""
    obj = json.loads(proc.stdout)
    assert isinstance(obj, dict), shown(proc)
    return obj


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and "internal error" not in text, text


@contextlib.contextmanager
def in_process(stdin: str = "") -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """dockercfg.cli.main(argv) in this process: (exit code, stdout, stderr)."""
    from dockercfg.cli import main

    with in_process() as (out, err):
        try:
            main(argv)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def make_root(base: Path, content: bytes | None = b"{}\n", mode: int = 0o644) -> Path:
    """base/etc/docker/daemon.json (absent when content is None); returns the file's path."""
    conf = base / "etc" / "docker" / "daemon.json"
    conf.parent.mkdir(parents=True, exist_ok=True)
    if content is not None:
        conf.write_bytes(content)
        conf.chmod(mode)
    return conf


@contextlib.contextmanager
def world_dir() -> Iterator[Path]:
    """A fresh directory under /tmp that another user can enter (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="dcfg-adv-", dir="/tmp"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def temp_files(*directories: Path) -> list[str]:
    found = []
    for directory in directories:
        with contextlib.suppress(FileNotFoundError):
            found += [str(directory / n) for n in os.listdir(directory) if TMP_MARK in n]
    return sorted(found)


def tree(directory: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under directory: relative path -> (mode, content for regular files)."""
    found: dict[str, tuple[int, bytes | None]] = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            data = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
            found[str(path.relative_to(directory))] = (st.st_mode, data)
    return found


def as_nobody(argv: list[str], **kw) -> subprocess.CompletedProcess:
    """Run argv as uid/gid 65534 with no supplementary groups (util-linux setpriv)."""
    if shutil.which("setpriv") is None:
        unavailable("setpriv (util-linux) is not installed")
    cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def in_mount_ns(script: str, *args: str, env: dict | None = None, timeout: float = 120):
    """`sh -ec script` in a private mount namespace of its own; $1... are args."""
    require_mount_ns()
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script, "sh", *args]
    return subprocess.run(
        cmd, env=env or tool_env(), capture_output=True, text=True, timeout=timeout, cwd=REPO
    )

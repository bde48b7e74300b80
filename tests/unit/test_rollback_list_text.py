"""`rollback --list` in text: one line per transaction, newest first, with what undid what."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "dockercfg", "--root", str(root), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


def test_the_history_is_listed_in_text(tmp_path):
    (tmp_path / "etc/docker").mkdir(parents=True)
    (tmp_path / "etc/docker/daemon.json").write_text("{}\n")
    assert run(tmp_path, "rollback", "--list").stdout == "no transactions in the history\n"
    assert run(tmp_path, "add-insecure", "a.test:5000", "--apply", "none").returncode == 0
    assert run(tmp_path, "rollback", "--apply", "none").returncode == 0
    listed = run(tmp_path, "rollback", "--list")
    assert listed.returncode == 0, listed.stderr
    newest, oldest = listed.stdout.splitlines()
    undo_id, add_id = newest.split()[0], oldest.split()[0]
    assert newest.split()[2:4] == ["rollback", "/etc/docker/daemon.json"]
    assert newest.endswith(f"(undoes {add_id})")
    assert oldest.split()[2:4] == ["add-insecure", "/etc/docker/daemon.json"]
    assert oldest.endswith(f"(undone by {undo_id})")
    assert "no change" not in listed.stdout

"""Directories a change creates for its new files do not outlive the change when it is undone:
a failure, a rollback, or recovery after kill -9 at any point removes them again (deepest
first, and only when nothing else is in them).

trust-ca creates certs.d/HOST:PORT/ (and certs.d/, and /etc/docker/ on a tree that has none);
it runs here on a --root tree with --offline, as an administrator would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from certkit import REPO, Pki, make_pki, pem

from dockercfg import journal, transaction
from dockercfg.engines.base import FileChange
from dockercfg.errors import ApplyFailed
from dockercfg.result import Result

REGISTRY = "registry.test:5443"
STAGES = ("temp-created", "temp-partial", "temp-written", "temp-synced", "renamed", "done")
# Every point of a trust-ca run: its lock, its journal's writes (the first one records the
# directories it is about to create, before the lock), each file's write.
JOURNALED = ["tx-journaled", "tx-written-1", "tx-written-2"] + [f"write-{s}" for s in STAGES]
POINTS = ["locked"] + [f"journal-{s}" for s in STAGES] + JOURNALED


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def run(root: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKERCFG_FAULT")}
    if fault:
        env["DOCKERCFG_FAULT"] = fault
    cmd = [sys.executable, "-m", "dockercfg", *args, "--target", "daemon-json", "--root", str(root)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL, cwd=REPO)  # fmt: skip


def trust_pair(pki: Pki) -> tuple[str, ...]:
    return ("trust-ca", REGISTRY, "--client-cert", str(pem(pki, "client")),
            "--client-key", str(pki.dir / "client.key"), "--offline")  # fmt: skip


def tree(root: Path) -> list[str]:
    """Everything under etc/ (the journal's own state directory is elsewhere)."""
    return sorted(str(p.relative_to(root)) for p in (root / "etc").rglob("*"))


@pytest.mark.parametrize("etc_docker", [True, False], ids=["certs.d-new", "etc-docker-new"])
@pytest.mark.parametrize("point", POINTS + ["tx-verified"])
def test_killed_anywhere_the_next_run_leaves_no_new_directory(pki, tmp_path, point, etc_docker):
    root = tmp_path
    (root / "etc/docker" if etc_docker else root / "etc").mkdir(parents=True)
    # dockercfg ran here before: its state dir exists (a refused first run must not create it,
    # so before the lock only a host's later runs can record the directories they make)
    (root / "var/lib/dockercfg").mkdir(parents=True, mode=0o700)
    before = tree(root)
    killed = run(root, *trust_pair(pki), fault=point)
    assert killed.returncode == -9, killed.stderr
    if point in JOURNALED:
        assert (root / "var/lib/dockercfg/pending.json").exists(), point
    recovered = run(root, "recover", "--json")
    assert recovered.returncode == 0, recovered.stderr
    certs_d = root / "etc/docker/certs.d" / REGISTRY
    if point == "tx-verified":  # finished before the kill: completed, and the files stay
        assert sorted(p.name for p in certs_d.iterdir()) == ["client.cert", "client.key"]
        return
    assert tree(root) == before, (point, tree(root))
    if point in JOURNALED:
        assert json.loads(recovered.stdout)["data"]["recovered"]["outcome"] == "reverted"
    assert not list((root / "var/lib/dockercfg").glob("dirs-*.json"))  # the record is settled


def test_rollback_of_a_change_that_made_directories_removes_them(pki, tmp_path):
    root = tmp_path
    (root / "etc/docker").mkdir(parents=True)
    before = tree(root)
    done = run(root, *trust_pair(pki), "--json")
    assert done.returncode == 0, done.stderr
    history = journal.Journal(root / "var/lib/dockercfg").history()
    assert history[0].made_dirs == [
        str(root / "etc/docker/certs.d"),
        str(root / "etc/docker/certs.d" / REGISTRY),
    ]
    undone = run(root, "rollback", "--json")
    assert undone.returncode == 0, undone.stderr
    # daemon.json's lock file is rollback's own, in the directory that was there before
    assert [p for p in tree(root) if "dockercfg.lock" not in p] == before


def test_rollback_keeps_a_directory_that_holds_something_else(pki, tmp_path):
    root = tmp_path
    (root / "etc/docker").mkdir(parents=True)
    assert run(root, *trust_pair(pki)).returncode == 0
    mine = root / "etc/docker/certs.d" / REGISTRY / "mine.crt"
    mine.write_bytes(pem(pki, "ca").read_bytes())  # the admin's own file, added since
    undone = run(root, "rollback")
    assert undone.returncode == 0, undone.stderr
    assert sorted(p.name for p in mine.parent.iterdir()) == ["mine.crt"]


class RefusingEngine:
    """Stands in for an engine whose verification fails after the files are written (the live
    refusals of a real dockerd are in tests/adversarial/test_daemon_faults.py)."""

    name = "refusing"

    def __init__(self) -> None:
        self.phases: list[str] = []

    def apply(self, phase: str, result: Result) -> str:
        self.phases.append(phase)
        return "restart"

    def verify(self, phase: str, result: Result) -> None:
        if phase == "forward":
            raise ApplyFailed("the engine did not take the new configuration")


def test_a_change_that_fails_verification_removes_the_directories_it_made(tmp_path):
    book = journal.Journal(tmp_path / "state")
    new = tmp_path / "etc/containerd/certs.d/registry.test:5000/hosts.toml"
    (tmp_path / "etc").mkdir()
    plan = transaction.Plan(
        "add-insecure",
        [FileChange(new, str(new), None, b'server = "https://registry.test:5000"\n')],
        [RefusingEngine()],
    )
    result = Result(command="add-insecure")
    with transaction.locked(book, []), pytest.raises(ApplyFailed, match="did not exist before"):
        transaction.commit(book, plan, result)
    assert list((tmp_path / "etc").iterdir()) == []
    assert book.pending() is None

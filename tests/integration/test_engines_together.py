"""containerd (Debian 12's 1.6) and podman in one transaction, real: both pull after one
commit; when the second engine's file cannot be written, the first engine's file is restored
and neither pulls."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from engines_lab import IMAGE, PLAIN, Lab, LabUnavailable
from support import unavailable

from dockercfg import journal, transaction
from dockercfg.engines.base import INSECURE, RegistryEdit
from dockercfg.engines.containerd import Containerd
from dockercfg.engines.podman import Podman
from dockercfg.errors import ApplyFailed, DockercfgError
from dockercfg.result import Result

REF = f"{PLAIN}/{IMAGE}"


@pytest.fixture
def lab():
    if shutil.which("podman") is None or shutil.which("chattr") is None:
        unavailable("podman or chattr is not installed")
    try:
        box = Lab()
        box.start()
        box.start_containerd("/usr/bin/containerd")
    except LabUnavailable as err:
        unavailable(f"engines lab: {err}")
    try:
        yield box
    finally:
        box.stop()


def _plan(lab, edits):
    plans = []
    for engine in (Containerd(), Podman()):
        found = engine.find(lab.root)
        changes = engine.plan(found, edits)
        for change in changes:  # the transaction does not create a new file's directories yet
            for directory in change.missing_dirs():
                directory.mkdir(mode=0o755)
        plans.append((changes, engine.applier(found, changes)))
    changes = [c for cs, _ in plans for c in cs]
    return transaction.Plan("engines-test", changes, [a for _, a in plans])


def _commit(lab, plan):
    book = journal.Journal(lab.t / "state")
    with transaction.locked(book, [c.path for c in plan.changes]):
        transaction.commit(book, plan, Result(command="engines-test"))


def test_one_transaction_makes_both_engines_pull(lab):
    assert lab.ctr_pull(REF).returncode != 0
    assert lab.podman_pull(REF).returncode != 0
    plan = _plan(lab, [RegistryEdit(INSECURE, "add", [PLAIN])])
    assert len(plan.changes) == 3  # hosts.toml, config.toml (config_path), the podman drop-in
    _commit(lab, plan)
    assert lab.ctr_pull(REF).returncode == 0
    assert lab.podman_pull(REF).returncode == 0


def test_a_failed_write_of_one_engine_restores_the_other(lab):
    plan = _plan(lab, [RegistryEdit(INSECURE, "add", [PLAIN])])
    config = lab.root / "etc/containerd/config.toml"
    config_before = config.read_bytes()
    dropins = lab.root / "etc/containers/registries.conf.d"
    subprocess.run(["chattr", "+i", str(dropins)], check=True)
    try:
        with pytest.raises(DockercfgError) as caught:
            _commit(lab, plan)
    finally:
        subprocess.run(["chattr", "-i", str(dropins)], check=True)
    assert isinstance(caught.value, ApplyFailed) or caught.value.exit_code == 3
    assert "\n" not in caught.value.message
    assert not (lab.root / "etc/containerd/certs.d" / PLAIN / "hosts.toml").exists()
    assert config.read_bytes() == config_before
    assert not (dropins / "50-dockercfg.conf").exists()
    assert lab.ctr_pull(REF).returncode != 0
    assert lab.podman_pull(REF).returncode != 0

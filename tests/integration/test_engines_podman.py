"""podman 4.3, real and rootful, with the lab's private /etc/containers and vfs storage: a pull
from a plain-HTTP registry fails before dockercfg's drop-in, works after it, fails after the
removal; the main registries.conf is never rewritten."""

from __future__ import annotations

import shutil

import pytest
from engines_lab import IMAGE, PLAIN, Lab, LabUnavailable, commit
from support import unavailable

from dockercfg.engines.base import INSECURE, RegistryEdit
from dockercfg.engines.podman import Podman


@pytest.fixture(scope="module")
def lab():
    if shutil.which("podman") is None:
        unavailable("podman is not installed")
    try:
        box = Lab()
        box.start()
    except LabUnavailable as err:
        unavailable(f"engines lab: {err}")
    try:
        yield box
    finally:
        box.stop()


def test_podman_pull_fails_before_works_after_fails_after_remove(lab):
    engine = Podman()
    found = engine.find(lab.root)
    assert found is not None and found.service == "none"
    main = found.files["main"].read_bytes()
    ref = f"{PLAIN}/{IMAGE}"
    assert "HTTP response to HTTPS client" in lab.podman_pull(ref).stderr

    changes, result = commit(found, engine, [RegistryEdit(INSECURE, "add", [PLAIN])], lab.t / "st")
    assert [c.shown for c in changes] == ["/etc/containers/registries.conf.d/50-dockercfg.conf"]
    assert result.applied is None or result.applied == "none"
    pull = lab.podman_pull(ref)
    assert pull.returncode == 0, pull.stderr
    assert engine.owned(found)[INSECURE] == [PLAIN]
    assert engine.plan(found, [RegistryEdit(INSECURE, "add", [PLAIN])]) == []

    commit(found, engine, [RegistryEdit(INSECURE, "remove", [PLAIN])], lab.t / "st")
    assert not found.files["dropin"].exists()
    assert lab.podman_pull(ref).returncode != 0
    assert found.files["main"].read_bytes() == main

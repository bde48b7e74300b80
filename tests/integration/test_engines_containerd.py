"""containerd, real: Debian 12's 1.6 and Debian 13's 1.7, standalone in the lab (engines_lab.py).
`ctr images pull --hosts-dir /etc/containerd/certs.d` fails before dockercfg's change, works
after it (plain HTTP, and TLS with a self-signed CA), and fails again after the removal;
`containerd config dump` shows the `config_path` dockercfg set."""

from __future__ import annotations

from pathlib import Path

import pytest
from engines_lab import IMAGE, PLAIN, TLS, Lab, LabUnavailable, commit
from hostsetup import TEST_CACHE
from support import unavailable

from dockercfg.engines.base import CAS, INSECURE, RegistryEdit
from dockercfg.engines.containerd import Containerd, binary_version

CONTAINERDS = {
    "containerd1.6": "/usr/bin/containerd",
    "containerd1.7": str(TEST_CACHE / "trixie/root/usr/bin/containerd"),
}


@pytest.fixture(scope="module")
def lab():
    try:
        box = Lab()
        box.start()
    except LabUnavailable as err:
        unavailable(f"engines lab: {err}")
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture(params=list(CONTAINERDS.values()), ids=list(CONTAINERDS))
def ctrd(lab, request):
    if not Path(request.param).exists():
        unavailable(f"{request.param} is missing: run `tests/fetch-debian13 containerd`")
    lab.start_containerd(request.param)
    try:
        yield lab
    finally:
        lab.stop_containerd()
        for path in sorted((lab.root / "etc/containerd").glob("*")):
            _remove(path)


def _found(engine, lab):
    """The lab's containerd; its binary is not under the lab's root, so its version is read."""
    found = engine.find(lab.root)
    assert found is not None
    found.version = binary_version(Path(lab.containerd))
    found.extra["binary"] = Path(lab.containerd)  # the applier's check runs `config dump`
    return found


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path) if path.is_dir() else path.unlink()


def test_insecure_plain_http_pull_fails_before_works_after_fails_after_remove(ctrd):
    engine = Containerd()
    found = _found(engine, ctrd)
    assert found.version
    ref = f"{PLAIN}/{IMAGE}"
    assert ctrd.ctr_pull(ref).returncode != 0

    changes, _ = commit(found, engine, [RegistryEdit(INSECURE, "add", [PLAIN])], ctrd.t / "st")
    shown = sorted(c.shown for c in changes)
    assert shown == [
        "/etc/containerd/certs.d/registry.test:5000/hosts.toml",
        "/etc/containerd/config.toml",
    ]
    config = (ctrd.root / "etc/containerd/config.toml").read_text()
    assert config.startswith("# the test's own containerd")  # the admin's bytes are kept
    assert 'config_path = "/etc/containerd/certs.d"' in ctrd.config_dump()
    pull = ctrd.ctr_pull(ref)
    assert pull.returncode == 0, pull.stderr
    assert engine.owned(found)[INSECURE] == [PLAIN]

    again = engine.plan(found, [RegistryEdit(INSECURE, "add", [PLAIN])])
    assert again == []  # idempotent: nothing to write

    commit(found, engine, [RegistryEdit(INSECURE, "remove", [PLAIN])], ctrd.t / "st")
    assert not (ctrd.root / "etc/containerd/certs.d" / PLAIN / "hosts.toml").exists()
    assert ctrd.ctr_pull(ref).returncode != 0
    assert 'config_path = "/etc/containerd/certs.d"' in ctrd.config_dump()


def test_trusted_ca_tls_pull_fails_before_works_after_fails_after_remove(ctrd):
    engine = Containerd()
    found = _found(engine, ctrd)
    ref = f"{TLS}/{IMAGE}"
    assert "certificate" in ctrd.ctr_pull(ref).stderr

    pem = ctrd.ca.read_text()
    commit(found, engine, [RegistryEdit(CAS, "add", [pem], for_registry=TLS)], ctrd.t / "st")
    hosts = (ctrd.root / "etc/containerd/certs.d" / TLS / "hosts.toml").read_text()
    assert f'ca = "/etc/containerd/certs.d/{TLS}/ca.crt"' in hosts and "skip_verify" not in hosts
    pull = ctrd.ctr_pull(ref)
    assert pull.returncode == 0, pull.stderr

    commit(found, engine, [RegistryEdit(CAS, "remove", [], for_registry=TLS)], ctrd.t / "st")
    assert not (ctrd.root / "etc/containerd/certs.d" / TLS).joinpath("ca.crt").exists()
    assert ctrd.ctr_pull(ref).returncode != 0


def test_insecure_tls_registry_is_pulled_without_verification(ctrd):
    engine = Containerd()
    found = _found(engine, ctrd)
    commit(found, engine, [RegistryEdit(INSECURE, "add", [TLS])], ctrd.t / "st")
    pull = ctrd.ctr_pull(f"{TLS}/{IMAGE}")
    assert pull.returncode == 0, pull.stderr


def test_config_containerd_refuses_is_rolled_back_with_exit_4(ctrd):
    from dockercfg.errors import EXIT_APPLY_FAILED, DockercfgError

    config = ctrd.root / "etc/containerd/config.toml"
    config.write_text('oom_score = "high"\n' + config.read_text())  # containerd wants an int
    before = config.read_bytes()
    engine = Containerd()
    found = _found(engine, ctrd)
    with pytest.raises(DockercfgError) as caught:
        commit(found, engine, [RegistryEdit(INSECURE, "add", [PLAIN])], ctrd.t / "st")
    assert caught.value.exit_code == EXIT_APPLY_FAILED
    assert "containerd refuses /etc/containerd/config.toml" in caught.value.message
    assert config.read_bytes() == before
    assert not (ctrd.root / "etc/containerd/certs.d" / PLAIN / "hosts.toml").exists()

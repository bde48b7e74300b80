"""Certificates in, files out: CA and client-pair checks, certs.d locations, and
trust-ca/untrust-ca on a --root prefix with --offline (the live-server checks are in
test_probe.py and the integration story; x509 parsing in test_x509.py).

Certificates are made with the `openssl` CLI, as an administrator would make them.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from certkit import REPO, Pki, make_pki, openssl, pem
from support import RESULT_KEYS

from dockercfg import certs
from dockercfg.errors import ConfigInvalid, EnvironmentProblem, UsageError

REGISTRY = "registry.test:5443"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


# load_ca ---------------------------------------------------------------------------------------


def test_a_ca_certificate_is_accepted_and_written_as_plain_pem(pki):
    data = b"Bag Attributes: text people paste\n" + pem(pki, "ca").read_bytes()
    bundle = certs.load_ca(data, "ca.pem")
    assert bundle.pem == pem(pki, "ca").read_bytes() and bundle.has_ca and not bundle.warnings
    two = certs.load_ca(pem(pki, "ca").read_bytes() + pem(pki, "other").read_bytes(), "b.pem")
    assert [c.subject for c in two.certs] == ["CN=dockercfg test CA", "CN=some other CA"]


def test_der_is_converted(pki):
    der = openssl("x509", "-in", str(pem(pki, "ca")), "-outform", "DER")
    bundle = certs.load_ca(der, "ca.der")
    assert bundle.pem == pem(pki, "ca").read_bytes()
    assert "DER" in bundle.warnings[0]


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: (p.dir / "ca.key").read_bytes(), "private key"),
        (lambda p: pem(p, "ca").read_bytes() + (p.dir / "ca.key").read_bytes(), "private key"),
        (lambda p: b"hello, I am not a certificate\n", "neither PEM nor a DER"),
        (lambda p: b"", "empty"),
        (lambda p: b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI user@host\n", "SSH key"),
        (lambda p: b"-----BEGIN CERTIFICATE-----\nMIIB\n", "broken PEM"),
        (lambda p: (p.dir / "server.csr").read_bytes(), "CERTIFICATE REQUEST"),
        (lambda p: pem(p, "old").read_bytes(), "expired on"),
        (lambda p: pem(p, "future").read_bytes(), "not valid before"),
        (lambda p: b"-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n",
         "certificate 1"),
    ],
)  # fmt: skip
def test_what_is_not_a_usable_ca_is_refused(pki, make, words):
    with pytest.raises(ConfigInvalid, match=words) as caught:
        certs.load_ca(make(pki), "given.pem")
    assert "\n" not in caught.value.message


def test_trusted_certificate_form_gets_a_hint(pki):
    trusted = openssl("x509", "-in", str(pem(pki, "ca")), "-trustout", "-addtrust", "serverAuth")
    with pytest.raises(ConfigInvalid, match="TRUSTED CERTIFICATE.*openssl x509"):
        certs.load_ca(trusted, "t.pem")


def test_an_expired_certificate_in_a_bundle_is_a_warning(pki):
    bundle = certs.load_ca(pem(pki, "old").read_bytes() + pem(pki, "ca").read_bytes(), "b.pem")
    assert len(bundle.certs) == 2 and "expired" in bundle.warnings[0]


def test_a_server_certificate_is_not_a_ca(pki):
    bundle = certs.load_ca(pem(pki, "server").read_bytes(), "s.pem")
    assert not bundle.has_ca


def test_validity_is_judged_at_the_given_time(pki):
    future = datetime.now(timezone.utc) + timedelta(days=20)
    assert certs.load_ca(pem(pki, "future").read_bytes(), "f.pem", now=future).has_ca
    with pytest.raises(ConfigInvalid, match="expired"):
        certs.load_ca(pem(pki, "ca").read_bytes(), "ca.pem", now=future + timedelta(days=30))


# load_client -----------------------------------------------------------------------------------


def test_client_pair(pki, tmp_path):
    pair = certs.load_client(str(pem(pki, "client")), str(pki.dir / "client.key"))
    assert pair.cert.subject == "CN=client of dockercfg tests"
    assert pair.key_pem == (pki.dir / "client.key").read_bytes()
    rsa = tmp_path / "rsa.key"
    rsa.write_bytes(openssl("pkey", "-in", str(pki.dir / "client.key"), "-traditional"))
    assert certs.load_client(str(pem(pki, "client")), str(rsa)).key_pem.startswith(
        b"-----BEGIN EC PRIVATE KEY-----"
    )


def test_client_pair_refusals(pki, tmp_path):
    cert, key = str(pem(pki, "client")), str(pki.dir / "client.key")
    with pytest.raises(ConfigInvalid, match="does not belong"):
        certs.load_client(cert, str(pki.dir / "stray.key"))
    encrypted = tmp_path / "enc.key"
    encrypted.write_bytes(openssl("pkey", "-in", key, "-aes256", "-passout", "pass:x"))
    with pytest.raises(ConfigInvalid, match="encrypted"):
        certs.load_client(cert, str(encrypted))
    with pytest.raises(ConfigInvalid, match="private key: give it with --client-key"):
        certs.load_client(key, key)
    with pytest.raises(ConfigInvalid, match="no PEM private key"):
        certs.load_client(cert, cert)
    with pytest.raises(UsageError, match="no such file"):
        certs.load_client(cert, str(tmp_path / "missing.key"))


# certs_dir -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target, env, expected",
    [
        ("daemon-json", {}, "/etc/docker/certs.d"),
        ("docker-opts", {}, "/etc/docker/certs.d"),
        ("sysconfig", {}, "/etc/docker/certs.d"),
        ("snap", {}, "/var/snap/docker/current/etc/docker/certs.d"),
        ("desktop", {"HOME": "/home/u"}, "/home/u/.docker/certs.d"),
        ("rootless", {"HOME": "/home/u"}, "/home/u/.config/docker/certs.d"),
        ("rootless", {"HOME": "/home/u", "XDG_CONFIG_HOME": "/x"}, "/x/docker/certs.d"),
        ("rootless", {"HOME": "/h", "XDG_CONFIG_HOME": "rel"}, "/h/.config/docker/certs.d"),
    ],
)  # fmt: skip
def test_certs_dir_per_target(target, env, expected, monkeypatch):
    for name in ("XDG_CONFIG_HOME", "SUDO_UID", "SUDO_USER", "PKEXEC_UID", "DOAS_USER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert certs.certs_dir(target, Path("/")) == (Path(expected), expected)
    inside, shown = certs.certs_dir(target, Path("/mnt/img"))
    assert shown == expected and inside == Path("/mnt/img" + expected)


# certs.d files through the transaction ---------------------------------------------------------


def commit(tmp_path: Path, directory: Path, files: dict) -> tuple[list[str], str | None]:
    """trust-ca's write step, on a --root host (journal in tmp_path/var/lib/dockercfg)."""
    from types import SimpleNamespace

    from dockercfg import trust

    host = SimpleNamespace(target="daemon-json", root=tmp_path)
    return trust._commit(host, directory, f"/etc/docker/certs.d/{REGISTRY}", "trust-ca", files)


def test_write_is_all_or_nothing(tmp_path, monkeypatch):
    directory = tmp_path / "certs.d" / REGISTRY
    real = certs.safefile.atomic_write

    def failing(path, data, *args, **kwargs):
        if path.name == certs.CLIENT_CERT:
            raise EnvironmentProblem(f"cannot write {path}: no space left on device")
        real(path, data, *args, **kwargs)

    monkeypatch.setattr(certs.safefile, "atomic_write", failing)
    files = {"client.key": (b"KEY\n", 0o600), "client.cert": (b"CERT\n", 0o644)}
    with pytest.raises(EnvironmentProblem, match="no space"):
        commit(tmp_path, directory, files)
    assert not (tmp_path / "certs.d").exists()  # the key is gone again, and the directories
    assert not (tmp_path / "var/lib/dockercfg/pending.json").exists()

    directory.mkdir(parents=True)
    (directory / "client.key").write_bytes(b"OLD KEY\n")
    with pytest.raises(EnvironmentProblem):
        commit(tmp_path, directory, files)
    assert (directory / "client.key").read_bytes() == b"OLD KEY\n"


def test_key_is_0600_from_the_start(tmp_path, monkeypatch):
    directory = tmp_path / REGISTRY
    directory.mkdir()
    (directory / "client.key").write_bytes(b"OLD\n")
    os.chmod(directory / "client.key", 0o644)
    modes = []
    real = certs.safefile.atomic_write

    def watching(path, data, *args, **kwargs):
        if path.name == "client.key":
            modes.append(stat.S_IMODE(path.stat().st_mode))
        real(path, data, *args, **kwargs)

    monkeypatch.setattr(certs.safefile, "atomic_write", watching)
    written, backup = commit(tmp_path, directory, {"client.key": (b"NEW\n", 0o600)})
    assert written == ["client.key"] and modes == [0o600] and backup
    assert stat.S_IMODE((directory / "client.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(backup).stat().st_mode) == 0o600


# trust-ca / untrust-ca on a --root, offline ----------------------------------------------------


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    cmd = [sys.executable, "-m", "dockercfg", *args, "--root", str(root)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL, cwd=REPO)  # fmt: skip


def run_json(root: Path, *args: str, code: int = 0) -> dict:
    proc = run(root, *args, "--json")
    assert proc.returncode == code, proc.stderr
    result = json.loads(proc.stdout)
    assert result.keys() == RESULT_KEYS and result["command"] == args[0]
    return result


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc/docker").mkdir(parents=True)
    return tmp_path


def test_trust_offline_then_untrust(pki, root):
    directory = root / "etc/docker/certs.d" / REGISTRY
    result = run_json(root, "trust-ca", REGISTRY, "--ca", str(pem(pki, "ca")), "--offline")
    assert result["changed"] is True and result["verified"] is None and result["applied"] is None
    assert result["file"] == f"/etc/docker/certs.d/{REGISTRY}/ca.crt"
    assert any("--offline" in w for w in result["warnings"])
    ca_crt = directory / "ca.crt"
    assert ca_crt.read_bytes() == pem(pki, "ca").read_bytes()
    assert stat.S_IMODE(ca_crt.stat().st_mode) == 0o644
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755
    inode = ca_crt.stat().st_ino

    again = run_json(root, "trust-ca", REGISTRY, "--ca", str(pem(pki, "ca")), "--offline")
    assert again["changed"] is False and ca_crt.stat().st_ino == inode

    other = run_json(root, "trust-ca", REGISTRY, "--ca", str(pem(pki, "other")), "--offline")
    assert (
        other["changed"] is True
        and Path(other["backup"]).read_bytes() == pem(pki, "ca").read_bytes()
    )

    text = run(root, "untrust-ca", REGISTRY)
    assert text.returncode == 0 and "removed ca.crt" in text.stdout, text.stderr
    assert not ca_crt.exists()
    assert run_json(root, "untrust-ca", REGISTRY)["changed"] is False


def test_trust_text_says_no_restart(pki, root):
    proc = run(root, "trust-ca", REGISTRY, "--ca", str(pem(pki, "ca")), "--offline")
    assert proc.returncode == 0, proc.stderr
    assert "no reload or restart needed" in proc.stdout
    assert "warning: not checked against" in proc.stderr


def test_client_pair_offline_and_leftovers(pki, root):
    directory = root / "etc/docker/certs.d" / REGISTRY
    result = run_json(root, "trust-ca", REGISTRY, "--client-cert", str(pem(pki, "client")),
                      "--client-key", str(pki.dir / "client.key"), "--offline")  # fmt: skip
    assert result["data"]["written"] == ["client.key", "client.cert"], result
    assert stat.S_IMODE((directory / "client.key").stat().st_mode) == 0o600
    (directory / "mine.crt").write_bytes(pem(pki, "other").read_bytes())
    removed = run_json(root, "untrust-ca", REGISTRY)
    assert removed["data"]["removed"] == ["client.cert", "client.key"]
    assert removed["data"]["remaining"] == ["mine.crt"] and "mine.crt" in removed["warnings"][0]


@pytest.mark.parametrize("point", ["tx-journaled", "tx-written-1", "write-done"])
def test_trust_ca_killed_between_key_and_cert_is_settled_by_the_next_run(pki, root, point):
    """A client.key without its client.cert makes dockerd refuse the registry altogether: the
    pair is one transaction, and a kill between the two writes is settled (both gone)."""
    directory = root / "etc/docker/certs.d" / REGISTRY
    args = ("trust-ca", REGISTRY, "--client-cert", str(pem(pki, "client")),
            "--client-key", str(pki.dir / "client.key"), "--offline")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    killed = subprocess.run([sys.executable, "-m", "dockercfg", *args, "--root", str(root)],
                            capture_output=True, text=True, timeout=60, cwd=REPO,
                            env={**env, "DOCKERCFG_FAULT": point})  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    refused = run(root, *args)  # another change will not go on over an unfinished one
    assert refused.returncode == 3 and "dockercfg recover" in refused.stderr, refused.stderr
    assert run(root, "--target", "daemon-json", "recover").returncode == 0
    names = sorted(p.name for p in directory.iterdir()) if directory.exists() else []
    assert "client.key" not in names and "client.cert" not in names, names
    done = run_json(root, *args)
    assert done["data"]["written"] == ["client.key", "client.cert"]


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["--offline"], 2, "--ca FILE or --from-server"),
        (["--ca", "{ca}", "--from-server"], 2, "not both"),
        (["--from-server", "--offline"], 2, "not with --offline"),
        (["--client-cert", "{client}"], 2, "go together"),
        (["--ca", "/nonexistent.pem", "--offline"], 2, "no such file"),
        (["--ca", "{server}", "--offline"], 1, "not a CA certificate"),
        (["--ca", "{key}", "--offline"], 1, "private key"),
        (["--ca", "{old}", "--offline"], 1, "expired"),
    ],
)
def test_refusals_write_nothing(pki, root, args, code, words):
    values = {"ca": pem(pki, "ca"), "client": pem(pki, "client"), "server": pem(pki, "server"),
              "key": pki.dir / "ca.key", "old": pem(pki, "old")}  # fmt: skip
    argv = [a.format(**values) for a in args]
    proc = run(root, "trust-ca", REGISTRY, *argv)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.count("\n") == 1 and words in proc.stderr, proc.stderr
    assert run_json(root, "trust-ca", REGISTRY, *argv, code=code)["error"]
    assert sorted(p.name for p in (root / "etc/docker").iterdir()) == []


@pytest.mark.parametrize("bad", ["https://r.test", "r.test/path", "10.0.0.0/8", "-r.test", "r:0",
                                 "r.test:99999", ""])  # fmt: skip
def test_bad_registry_argument(root, bad):
    proc = run(root, "untrust-ca", bad)
    assert proc.returncode == 2 and proc.stderr.startswith("dockercfg: "), proc.stderr


def test_target_picks_the_directory(pki, root):
    home = root / "home/u"
    env_home = {"HOME": "/home/u"}
    proc = subprocess.run(
        [sys.executable, "-m", "dockercfg", "--target", "snap", "--root", str(root), "--json",
         "trust-ca", REGISTRY, "--ca", str(pem(pki, "ca")), "--offline"],
        capture_output=True, text=True, timeout=60, env={**os.environ, **env_home}, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["file"].startswith(certs.SNAP_CERTS_D)
    assert (root / certs.SNAP_CERTS_D.lstrip("/") / REGISTRY / "ca.crt").is_file()
    assert not home.exists()

"""Certificates for the unit tests, made with the `openssl` CLI as an administrator makes them
(tls_registry.Pki), plus a few that openssl will not make, built with `cryptography`; and the real
docker-registry serving them on 127.0.0.1 (RealRegistry).

`openssl` or docker-registry missing is a skip through support.unavailable (a failure under
CI=true).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from support import unavailable

REPO = Path(__file__).resolve().parents[2]  # `-m dockercfg` from here runs this checkout
sys.path.insert(0, str(REPO / "tests/integration"))
from tls_registry import Pki, registry_config  # noqa: E402

__all__ = ["REPO", "Pki", "RealRegistry", "built", "make_pki", "openssl", "pem"]


def openssl(*args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def make_pki(directory: Path) -> Pki:
    """The CAs, server, client and stray key the unit tests use."""
    if shutil.which("openssl") is None:
        unavailable("needs the openssl CLI")
    pki = Pki(directory)
    pki.ca()
    pki.ca("other", cn="some other CA")
    pki.ca("old", cn="an expired CA", days=(-800, -400))
    pki.ca("future", cn="a future CA", days=(10, 40))
    pki.server("server", names=("DNS:registry.test", "DNS:*.apps.test", "IP:127.0.0.1", "IP:::1"))
    pki.server("self", issuer=None)
    pki.client()
    pki.key("stray")
    return pki


def pem(pki: Pki, name: str) -> Path:
    return pki.dir / f"{name}.pem"


def built(subject: list[tuple[str, str]], *, san: list[str] = (), serial: int = 1) -> bytes:
    """DER of a self-signed certificate with exactly these subject attributes (OID, value), in
    this order, and these DNS names: values openssl's -subj cannot express (control bytes)."""
    from cryptography import x509 as cx
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    # _validate=False: certificates on the network break the length rules too (a 500-character
    # common name); newer cryptography refuses to build one otherwise.
    name = cx.Name(
        [
            cx.NameAttribute(cx.ObjectIdentifier(oid), value, _validate=False)
            for oid, value in subject
        ]
    )
    now = datetime.now(timezone.utc)
    builder = (
        cx.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
    )
    if san:
        builder = builder.add_extension(
            cx.SubjectAlternativeName([cx.DNSName(n) for n in san]), critical=False
        )
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.DER)


class RealRegistry:
    """The machine's docker-registry on 127.0.0.1, serving TLS with `cert`/`key` (plain HTTP
    without them); `.port` as tls_registry.FakeServer has, so tests use either alike."""

    def __init__(self, directory: Path, cert: Path | None = None, key: Path | None = None):
        if shutil.which("docker-registry") is None:
            unavailable("needs docker-registry (Debian: apt-get install docker-registry)")
        with socket.socket() as probe:  # a free port; docker-registry wants one in its config
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        name = f"{self.port}"
        addr = f"127.0.0.1:{self.port}"
        if cert is None:
            config = directory / f"registry-{name}.yml"
            data = directory / f"registry-{name}"
            config.write_text(PLAIN_CONFIG.format(data=data, addr=addr))
        else:
            config = registry_config(directory, name, addr, cert, key)
        self.log = directory / f"registry-{name}.log"
        self.cmd = ["docker-registry", "serve", str(config)]

    def __enter__(self) -> RealRegistry:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    why = self.log.read_text()
                    raise RuntimeError(f"docker-registry did not start: {why}") from None
                time.sleep(0.05)

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(10)


PLAIN_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {data}
http:
  addr: "{addr}"
"""

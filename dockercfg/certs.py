"""The secure alternative to insecure-registries: trust the registry's CA in certs.d/HOST:PORT/.

dockerd reads `certs.d/<registry>/` on every connection to that registry (`*.crt` are CAs,
`client.cert`/`client.key` a client pair), so nothing is reloaded or restarted. Docker Desktop
copies the directory into its VM when it starts: there, Desktop needs a restart.

Only certificates this module can read and OpenSSL accepts are written, re-encoded as plain PEM,
and only after a TLS handshake shows that they verify the live server (unless --offline).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from dockercfg import filelock, ownership, safefile
from dockercfg.engines.base import FileChange
from dockercfg.errors import ConfigInvalid, EnvironmentProblem, UsageError
from dockercfg.invoker import invoker
from dockercfg.x509 import BadCertificate, Certificate, parse_der, pem_blocks

CA_FILE = "ca.crt"
CLIENT_CERT = "client.cert"
CLIENT_KEY = "client.key"
PUBLIC_MODE = 0o644
KEY_MODE = 0o600
DIR_MODE = 0o755
MAX_INPUT = 1 << 20  # a CA bundle is kilobytes
KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")  # what Go's X509KeyPair reads
ROOTFUL_CERTS_D = "/etc/docker/certs.d"
SNAP_CERTS_D = "/var/snap/docker/current/etc/docker/certs.d"


def certs_dir(target: str, root: Path) -> tuple[Path, str]:
    """(path inside --root, path as the host sees it) of the certs.d the target's dockerd reads.

    Rootless dockerd uses $XDG_CONFIG_HOME/docker/certs.d (else ~/.config/...), snap its own
    tree, Desktop ~/.docker/certs.d; every other target the rootful /etc/docker/certs.d. The
    home and XDG_CONFIG_HOME are the invoking user's, also under sudo (dockercfg.invoker).
    """
    if target == "rootless":
        shown = os.path.join(invoker(root).config_home, "docker", "certs.d")
    elif target == "snap":
        shown = SNAP_CERTS_D
    elif target == "desktop":
        shown = os.path.join(invoker(root).home, ".docker", "certs.d")
    else:
        shown = ROOTFUL_CERTS_D
    inside = Path(shown) if root == Path("/") else root / shown.lstrip("/")
    return inside, shown


def read_input(path: str, option: str) -> bytes:
    """A file named on the command line; missing is a usage error, unreadable an environment one."""
    data = safefile.read_bytes(Path(path))
    if data is None:
        raise UsageError(f"{option} {path}: no such file")
    if len(data) > MAX_INPUT:
        raise ConfigInvalid(
            f"{option} {path}: {len(data)} bytes is far too large for a certificate"
        )
    return data


def _blocks(data: bytes, shown: str) -> list:
    try:
        return pem_blocks(data)
    except BadCertificate as err:
        raise ConfigInvalid(f"{shown}: {err.args[0]}") from None


def _not_pem(data: bytes, shown: str) -> ConfigInvalid:
    if data.lstrip().startswith(b"ssh-") or b"OPENSSH" in data:
        what = "an SSH key"
    elif b"-----BEGIN" in data:
        what = "a broken PEM block (no matching END line)"
    elif not data.strip():
        what = "empty"
    else:
        what = "neither PEM nor a DER certificate"
    return ConfigInvalid(f"{shown} is not a certificate: {what}")


@dataclass
class CaBundle:
    pem: bytes  # what is written: only the certificates, as PEM
    certs: list[Certificate]
    warnings: list[str] = field(default_factory=list)

    @property
    def has_ca(self) -> bool:
        return any(c.is_ca for c in self.certs)


def load_ca(data: bytes, shown: str, now: datetime | None = None) -> CaBundle:
    """Check that `data` is a CA certificate (bundle) dockerd can use; ConfigInvalid otherwise."""
    blocks = _blocks(data, shown)
    keys = [b for b in blocks if b.label.endswith("PRIVATE KEY")]
    if keys:
        raise ConfigInvalid(
            f"{shown} holds a private key ({keys[0].label}), not only a CA certificate: give the"
            " certificate alone; a private key must never be copied to Docker hosts"
        )
    warnings = []
    if not blocks:
        try:
            certs = [parse_der(data)]
        except BadCertificate:
            raise _not_pem(data, shown) from None
        warnings.append(f"{shown} is DER; it is written as PEM, the only form dockerd reads")
    else:
        found = [b for b in blocks if b.label == "CERTIFICATE"]
        if not found:
            labels = ", ".join(sorted({b.label for b in blocks}))
            hint = (
                "; dockerd reads only CERTIFICATE blocks (`openssl x509 -in FILE` converts it)"
                if "TRUSTED CERTIFICATE" in labels
                else ""
            )
            raise ConfigInvalid(f"{shown} holds {labels}, not a CERTIFICATE{hint}")
        for other in sorted({b.label for b in blocks if b.label != "CERTIFICATE"}):
            warnings.append(f"{shown}: the {other} block is left out (dockerd ignores it)")
        certs = []
        for number, block in enumerate(found, 1):
            try:
                certs.append(parse_der(block.der))
            except BadCertificate as err:
                raise ConfigInvalid(f"{shown}: certificate {number}: {err.args[0]}") from None
    pem = b"".join(c.to_pem() for c in certs)
    try:  # the verifying handshake uses OpenSSL: it must accept what is written
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem.decode("ascii"))
    except ssl.SSLError as err:
        raise ConfigInvalid(f"{shown}: OpenSSL cannot load the certificate ({err})") from None
    _check_dates(certs, shown, now or datetime.now(timezone.utc), warnings)
    return CaBundle(pem, certs, warnings)


def _check_dates(certs: list[Certificate], shown: str, now: datetime, warnings: list) -> None:
    def why(cert: Certificate) -> str:
        if cert.not_after < now:
            return f"the certificate {cert.subject} expired on {cert.not_after:%Y-%m-%d}"
        return f"the certificate {cert.subject} is not valid before {cert.not_before:%Y-%m-%d}"

    bad = [c for c in certs if not c.valid_at(now)]
    if len(bad) == len(certs):
        raise ConfigInvalid(f"{shown}: {why(bad[0])}; dockerd would reject every chain through it")
    warnings += [f"{shown}: {why(c)} (the others are valid)" for c in bad]


@dataclass
class ClientPair:
    cert_pem: bytes
    key_pem: bytes
    cert: Certificate
    paths: tuple[Path, Path]  # the given files, for OpenSSL's load_cert_chain


def load_client(cert_path: str, key_path: str, now: datetime | None = None) -> ClientPair:
    """A client certificate and its unencrypted key, as dockerd's Go client can load them."""
    cert_blocks = _blocks(read_input(cert_path, "--client-cert"), cert_path)
    if any(b.label.endswith("PRIVATE KEY") for b in cert_blocks):
        raise ConfigInvalid(
            f"--client-cert {cert_path} holds a private key: give it with --client-key"
        )
    try:
        certs = [parse_der(b.der) for b in cert_blocks if b.label == "CERTIFICATE"]
    except BadCertificate as err:
        raise ConfigInvalid(f"--client-cert {cert_path}: {err.args[0]}") from None
    if not certs:
        raise ConfigInvalid(f"--client-cert {cert_path} holds no PEM certificate")
    keys = [b for b in _blocks(read_input(key_path, "--client-key"), key_path)]
    keys = [b for b in keys if b.label.endswith("PRIVATE KEY")]
    if not keys:
        raise ConfigInvalid(f"--client-key {key_path} holds no PEM private key")
    key = keys[0]
    if key.label == "ENCRYPTED PRIVATE KEY" or key.headers:
        raise ConfigInvalid(
            f"--client-key {key_path} is encrypted: dockerd cannot use a passphrase"
        )
    if key.label not in KEY_LABELS:
        raise ConfigInvalid(f"--client-key {key_path}: dockerd cannot read a {key.label} key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.load_cert_chain(cert_path, key_path, password=b"")
    except (ssl.SSLError, OSError) as err:
        reason = getattr(err, "reason", "") or str(err)
        what = "does not belong to" if "MISMATCH" in reason else "cannot be used with"
        raise ConfigInvalid(f"--client-key {key_path} {what} --client-cert {cert_path}") from None
    _check_dates(certs[:1], cert_path, now or datetime.now(timezone.utc), [])
    body = base64.encodebytes(key.der).replace(b"\n", b"")
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    label = key.label.encode()
    key_pem = b"-----BEGIN " + label + b"-----\n" + lines + b"\n-----END " + label + b"-----\n"
    pem = b"".join(c.to_pem() for c in certs)
    return ClientPair(pem, key_pem, certs[0], (Path(cert_path), Path(key_path)))


# Writing --------------------------------------------------------------------------------------


def _make_dirs(directory: Path) -> list[Path]:
    """Create `directory` and missing parents (0755); the ones created, deepest last."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    made = []
    for path in reversed(missing):
        try:
            # exactly 0755 whatever the umask (dockerd and people read it); in a user's tree,
            # theirs (ownership.inherited_owner)
            if not ownership.make_dir(path, DIR_MODE):
                continue
        except OSError as err:
            for done in reversed(made):
                _rmdir_quietly(done)
            raise _os_problem(f"create {path}", err) from None
        made.append(path)
    return made


def _os_problem(what: str, err: OSError) -> EnvironmentProblem:
    cause = os.strerror(err.errno) if err.errno else str(err)
    cause = cause[:1].lower() + cause[1:]
    if err.errno in (errno.EACCES, errno.EPERM) and os.geteuid() != 0:
        cause += "; this needs root: try again with sudo"
    return EnvironmentProblem(f"cannot {what}: {cause}")


def _rmdir_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _prepare_private(path: Path) -> None:
    """Make sure the key file is 0600 *before* its contents land (atomic_write keeps the mode)."""
    try:
        if path.exists():
            os.chmod(path, KEY_MODE)
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(path, flags, KEY_MODE)
            try:
                owner = ownership.inherited_owner(path.parent)
                if owner is not None:  # a user's key stays theirs after sudo
                    os.fchown(fd, *owner)
            finally:
                os.close(fd)
    except OSError as err:
        raise _os_problem(f"write {path}", err) from None


def planned_writes(
    directory: Path, shown_dir: str, files: dict[str, tuple[bytes, int]]
) -> list[FileChange]:
    """The changes that install each name -> (bytes, mode), the key first (a new certificate must
    never be read with the old key). An existing file whose mode is wrong is fixed here, before
    its bytes change: a key is 0600 before its new contents land (atomic writes keep the mode)."""
    changes = []
    for name in sorted(files, key=lambda n: n != CLIENT_KEY):
        data, mode = files[name]
        path = directory / name
        before = safefile.read_bytes(path)
        if before is not None and _mode(path) != mode:
            try:
                os.chmod(path, mode)
            except OSError as err:
                raise _os_problem(f"write {path}", err) from None
        if before != data:
            changes.append(FileChange(path, f"{shown_dir}/{name}", before, data, mode))
    return changes


def make_dirs(directory: Path) -> list[Path]:
    """Create the registry's directory (0755) before its lock is taken; the ones created."""
    return _make_dirs(directory)


def remove_made_dirs(made: list[Path]) -> None:
    """After a failure: the directories a refused change created go again (best effort)."""
    for path in reversed(made):
        with contextlib.suppress(OSError):
            lock = filelock.lock_path(path)
            if lock.exists():
                lock.unlink()
            os.rmdir(path)


def _differs(path: Path, data: bytes, mode: int) -> bool:
    return safefile.read_bytes(path) != data or _mode(path) != mode


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return None


def planned_removals(directory: Path, shown_dir: str, names: list[str]) -> list[FileChange]:
    """The changes that delete the named files that exist (each is backed up first)."""
    changes = []
    for name in names:
        before = safefile.read_bytes(directory / name)
        if before is not None:
            changes.append(FileChange(directory / name, f"{shown_dir}/{name}", before, None))
    return changes


def leftovers(directory: Path) -> list[str]:
    """Files dockerd still reads for this registry (its own naming rules)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(n for n in names if n.endswith((".crt", ".cert", ".key")))

"""Just enough X.509 to show and judge a certificate: PEM blocks, and the fields people check
(subject, issuer, names, validity, CA flag, SHA-256 fingerprint), read by `cryptography`.

Certificates arrive from the network and are read as root, so the DER is parsed by
`cryptography` (python3-cryptography), never by code of ours. It costs about 70 ms to import,
so it is imported on the first parse only: just probe and trust-ca pay for it.

Hand-written, and why:
- pem_blocks: cryptography 38 (Debian 12) loads one PEM object of a known kind; it cannot list
  every block with its label and say whether RFC 1421 headers (an encrypted key) are present,
  which is what trust-ca needs to refuse a key or an encrypted key with the right message.
- matches_host: Go's VerifyHostname rules (what dockerd applies); cryptography 38 has no
  hostname check.
- judge: which of several problems dockerd would name first is dockercfg's own rule.
Verification itself is never done here: that is OpenSSL's job (`ssl` handshakes in
netprobe.py); this module describes certificates and explains why OpenSSL rejected a chain.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from dockercfg.errors import EnvironmentProblem

# Go's pem.Decode (what dockerd uses) ignores text around the blocks, and so does this.
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,64})-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_OID_NAMES = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC",
}  # fmt: skip
# OpenSSL verify codes -> what dockerd's Go client reports for the same chain.
_VERIFY_STATUS = {
    2: "unknown-ca", 9: "not-yet-valid", 10: "expired", 18: "self-signed", 19: "unknown-ca",
    20: "unknown-ca", 21: "unknown-ca", 62: "hostname-mismatch", 64: "hostname-mismatch",
}  # fmt: skip
# When several things are wrong, the one that trusting a CA cannot fix comes first.
_PRIORITY = ("expired", "not-yet-valid", "hostname-mismatch", "self-signed", "unknown-ca")
_ADDRESS = (ipaddress.IPv4Address, ipaddress.IPv6Address)  # not the networks of name constraints
NO_CRYPTOGRAPHY = (
    "reading certificates needs the Python package cryptography"
    " (Debian/Ubuntu: apt-get install python3-cryptography; elsewhere: pip install cryptography)"
)


class BadCertificate(ValueError):
    """The bytes are not a DER X.509 certificate this reader understands; args[0] says why."""


@dataclass(frozen=True)
class PemBlock:
    label: str  # "CERTIFICATE", "PRIVATE KEY", ...
    der: bytes
    headers: bool  # RFC 1421 headers (Proc-Type: 4,ENCRYPTED) before the base64


@dataclass
class Certificate:
    der: bytes
    version: int
    serial: str
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    dns_names: list[str] = field(default_factory=list)
    ip_addresses: list[str] = field(default_factory=list)
    ca: bool | None = None  # basicConstraints cA; None when the extension is absent
    self_issued: bool = False  # subject == issuer (as OpenSSL compares them)
    common_name: str = ""  # the subject's last CN, which Go still names in one error
    has_san: bool = False  # a subjectAltName extension is present (even an empty one)

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256(self.der).hexdigest().upper()
        return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))

    @property
    def is_ca(self) -> bool:
        """OpenSSL's X509_check_ca, simplified: CA:TRUE, or a v1 self-signed root."""
        return bool(self.ca) or (self.ca is None and self.version == 1 and self.self_issued)

    @property
    def names(self) -> list[str]:
        return [f"DNS:{n}" for n in self.dns_names] + [f"IP:{a}" for a in self.ip_addresses]

    def valid_at(self, when: datetime) -> bool:
        return self.not_before <= when <= self.not_after

    def to_pem(self) -> bytes:
        body = base64.encodebytes(self.der).replace(b"\n", b"")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        body = b"\n".join(lines)
        return b"-----BEGIN CERTIFICATE-----\n" + body + b"\n-----END CERTIFICATE-----\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "names": self.names,
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "ca": self.is_ca,
            "self_signed": self.self_issued,
            "serial": self.serial,
            "sha256": self.sha256,
        }


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def pem_blocks(data: bytes) -> list[PemBlock]:
    """Every PEM block in `data`; BadCertificate when a block's base64 is broken."""
    blocks = []
    for match in _PEM_BLOCK.finditer(data):
        label, body = match.group(1).decode("ascii"), match.group(2).replace(b"\r", b"")
        headers = b":" in body.split(b"\n", 1)[0]  # "Proc-Type: 4,ENCRYPTED" and friends
        if headers:
            body = body.split(b"\n\n", 1)[-1]
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise BadCertificate(f"the {label} block is not valid base64") from None
        blocks.append(PemBlock(label, der, headers))
    return blocks


def printable(text: str, limit: int = 200) -> str:
    """Text from a certificate or a server, safe for one line of a terminal: no control
    characters (a crafted CN must not add lines to an error or move the cursor), bounded."""
    shown = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


# Parsing ----------------------------------------------------------------------------------------


def _cryptography() -> Any:
    try:
        from cryptography import x509 as cx
    except ImportError:
        raise EnvironmentProblem(NO_CRYPTOGRAPHY) from None
    return cx


def parse_der(der: bytes) -> Certificate:
    """Read a DER certificate; BadCertificate (with the reason) for anything else."""
    cx = _cryptography()
    # cryptography decodes lazily: a broken extension or name raises on first access, so every
    # field is read inside the try. Its warnings (a negative serial, say) would be extra lines
    # on stderr; the certificate is described as it is instead.
    malformed = (ValueError, TypeError, cx.DuplicateExtension, cx.UnsupportedGeneralNameType,
                 cx.InvalidVersion)  # fmt: skip
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _describe(cx, bytes(der), cx.load_der_x509_certificate(bytes(der)))
    except malformed as err:
        reason = printable(str(err).split("\n", 1)[0], 120)
        raise BadCertificate(f"not a valid DER certificate ({reason})") from None


def _describe(cx: Any, der: bytes, parsed: Any) -> Certificate:
    dns_names: list[str] = []
    ip_addresses: list[str] = []
    ca = None
    has_san = False
    for ext in parsed.extensions:
        if isinstance(ext.value, cx.SubjectAlternativeName):
            has_san = True
            dns_names = [printable(n) for n in ext.value.get_values_for_type(cx.DNSName)]
            addresses = ext.value.get_values_for_type(cx.IPAddress)
            ip_addresses = [str(a) for a in addresses if isinstance(a, _ADDRESS)]
        elif isinstance(ext.value, cx.BasicConstraints):
            ca = bool(ext.value.ca)
    subject, issuer = parsed.subject, parsed.issuer
    cns = [
        a.value for a in subject if a.oid.dotted_string == "2.5.4.3" and isinstance(a.value, str)
    ]
    return Certificate(
        der=der,
        version=parsed.version.value + 1,
        serial=f"{parsed.serial_number:X}",
        subject=_name(subject),
        issuer=_name(issuer),
        not_before=_utc(parsed, "not_valid_before"),
        not_after=_utc(parsed, "not_valid_after"),
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        ca=ca,
        self_issued=subject == issuer,
        common_name=printable(cns[-1], 100) if cns else "",
        has_san=has_san,
    )


def _name(name: Any) -> str:
    """RFC 4514-like, in certificate order (not RFC 4514's reversed one, nor its escaping: people
    compare it with what they typed in -subj): 'CN=registry.test, O=Example'."""
    parts = []
    for rdn in name.rdns:
        for attribute in rdn:
            oid = attribute.oid.dotted_string
            value = attribute.value
            text = value if isinstance(value, str) else value.decode("latin-1")
            parts.append(f"{_OID_NAMES.get(oid, oid)}={printable(text, 100)}")
    return ", ".join(parts)


def _utc(parsed: Any, which: str) -> datetime:
    aware = getattr(parsed, f"{which}_utc", None)  # cryptography 42+; 38 has naive UTC only
    return aware if aware is not None else getattr(parsed, which).replace(tzinfo=timezone.utc)


def matches_host(cert: Certificate, host: str) -> bool:
    """Go's VerifyHostname: subjectAltName only (the CN is ignored since Go 1.15)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return any(ipaddress.ip_address(a) == address for a in cert.ip_addresses)
    return any(_name_matches(name, host) for name in cert.dns_names)


def _name_matches(name: str, host: str) -> bool:
    wanted = host.lower().rstrip(".").split(".")
    pattern = name.lower().rstrip(".").split(".")
    if len(pattern) != len(wanted):
        return False
    if pattern[0] == "*" and len(pattern) > 2 and pattern[1:] == wanted[1:]:
        return True
    return pattern == wanted


def hostname_error(cert: Certificate, host: str) -> str:
    """The words of Go's x509.HostnameError (what `docker push` prints) for a leaf that does
    not match `host`: only the IP SANs for an IP address, only the DNS SANs for a name."""
    if not cert.has_san and cert.common_name and _name_matches(cert.common_name, host):
        return "x509: certificate relies on legacy Common Name field, use SANs instead"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        valid = ", ".join(cert.dns_names)
    else:
        if not cert.ip_addresses:
            why = "because it doesn't contain any IP SANs"
            return f"x509: cannot validate certificate for {host} {why}"
        valid = ", ".join(cert.ip_addresses)
    if not valid:
        return f"x509: certificate is not valid for any names, but wanted to match {host}"
    return f"x509: certificate is valid for {valid}, not {host}"


def judge(host: str, chain: list[Certificate], code: int | None, message: str) -> tuple[str, str]:
    """(status, one-line detail) for a chain OpenSSL did not verify (its verify code and
    message): the certificates themselves say more than OpenSSL's first error."""
    now = datetime.now(timezone.utc)
    found = set()
    if code in _VERIFY_STATUS:
        found.add(_VERIFY_STATUS[code])
    leaf = chain[0] if chain else None
    if leaf is not None:
        if any(c.not_after < now for c in chain):
            found.add("expired")
        if any(c.not_before > now for c in chain):
            found.add("not-yet-valid")
        if not matches_host(leaf, host):
            found.add("hostname-mismatch")
        if len(chain) == 1 and leaf.self_issued and found & {"self-signed", "unknown-ca"}:
            found.discard("unknown-ca")
            found.add("self-signed")
    status = next((s for s in _PRIORITY if s in found), "untrusted")
    if leaf is None:
        return status, message
    if status == "expired":
        gone = next((c for c in chain if c.not_after < now), leaf)
        return status, f"the certificate {gone.subject} expired on {gone.not_after:%Y-%m-%d}"
    if status == "not-yet-valid":
        early = next((c for c in chain if c.not_before > now), leaf)
        return status, f"the certificate {early.subject} is not valid before {early.not_before}"
    if status == "hostname-mismatch":
        names = ", ".join(leaf.names) or f"no subjectAltName at all (only {leaf.subject})"
        return status, f"the certificate is for {names}, not {host}"
    if status == "self-signed":
        return status, f"self-signed certificate {leaf.subject}, not trusted here"
    if status == "unknown-ca":
        top = chain[-1]
        root = top.subject if top.self_issued else top.issuer
        return status, f"signed by {root}, a CA not trusted here"
    return status, message

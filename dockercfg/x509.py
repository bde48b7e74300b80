"""Just enough X.509 to show and judge a certificate: PEM blocks, a DER reader, the fields people
check (subject, issuer, names, validity, CA flag, SHA-256 fingerprint).

Why not `cryptography`: Debian's python3 has no hard dependency on it and dockercfg must run from
the distribution's packages alone; `ssl` has no public certificate parser (`_test_decode_cert` is
private and cannot say whether a certificate is a CA). Verification itself is never done here:
that is OpenSSL's job (`ssl` handshakes in netprobe.py); this module describes
certificates and explains, from their contents, why a chain OpenSSL rejected was rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

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
_SAN = "2.5.29.17"
_BASIC_CONSTRAINTS = "2.5.29.19"
_STRING_CODECS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be",
                  0x1C: "utf-32-be"}  # fmt: skip


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
    self_issued: bool = False  # subject == issuer (byte for byte, as OpenSSL compares)

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


# DER --------------------------------------------------------------------------------------------


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at `pos`, which must end by `end`."""
    if pos + 2 > end:
        raise BadCertificate("truncated DER")
    tag, length = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise BadCertificate("multi-byte DER tag")
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or pos + count > end:
            raise BadCertificate("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise BadCertificate("truncated DER")
    return tag, pos, pos + length


def _items(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items, pos = [], start
    while pos < end:
        item = _tlv(data, pos, end)
        items.append(item)
        pos = item[2]
    return items


def _oid(raw: bytes) -> str:
    parts, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    if not parts:
        raise BadCertificate("empty OID")
    first = min(parts[0] // 40, 2)
    return ".".join(str(p) for p in [first, parts[0] - 40 * first, *parts[1:]])


def printable(text: str, limit: int = 200) -> str:
    """Text from a certificate or a server, safe for one line of a terminal: no control
    characters (a crafted CN must not add lines to an error or move the cursor), bounded."""
    shown = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _string(tag: int, raw: bytes) -> str:
    codec = _STRING_CODECS.get(tag, "latin-1")
    return printable(raw.decode(codec, "replace"), 100)


def _name(data: bytes, start: int, end: int) -> str:
    """RFC 4514-like, in certificate order: 'CN=registry.test, O=Example'."""
    parts = []
    for _tag, s, e in _items(data, start, end):  # SET OF
        for _tag2, s2, e2 in _items(data, s, e):  # SEQUENCE { type, value }
            (_t, os_, oe), (vt, vs, ve) = _items(data, s2, e2)[:2]
            oid = _oid(data[os_:oe])
            parts.append(f"{_OID_NAMES.get(oid, oid)}={_string(vt, data[vs:ve])}")
    return ", ".join(parts)


def _time(tag: int, raw: bytes) -> datetime:
    text = raw.decode("ascii", "replace")
    try:
        if tag == 0x17:  # UTCTime: RFC 5280 says 50-99 are 19xx
            year = int(text[:2])
            text = ("19" if year >= 50 else "20") + text
        stamp = text.rstrip("Z")
        fmt = "%Y%m%d%H%M%S" if len(stamp) == 14 else "%Y%m%d%H%M"
        return datetime.strptime(stamp, fmt).replace(tzinfo=timezone.utc)
    except ValueError:
        raise BadCertificate(f"bad time {text!r}") from None


def _extensions(data: bytes, start: int, end: int, cert: dict[str, Any]) -> None:
    (_tag, s, e) = _tlv(data, start, end)  # [3] EXPLICIT SEQUENCE OF Extension
    for _t, es, ee in _items(data, s, e):
        parts = _items(data, es, ee)
        oid = _oid(data[parts[0][1] : parts[0][2]])
        _vt, vs, ve = parts[-1]  # OCTET STRING, after the optional critical flag
        if oid == _SAN:
            (_st, ss, se) = _tlv(data, vs, ve)
            for tag, gs, ge in _items(data, ss, se):
                if tag == 0x82:  # dNSName
                    cert["dns_names"].append(printable(data[gs:ge].decode("ascii", "replace")))
                elif tag == 0x87 and ge - gs in (4, 16):  # iPAddress
                    cert["ip_addresses"].append(str(ipaddress.ip_address(data[gs:ge])))
        elif oid == _BASIC_CONSTRAINTS:
            (_st, ss, se) = _tlv(data, vs, ve)
            inner = _items(data, ss, se)
            cert["ca"] = bool(inner and inner[0][0] == 0x01 and data[inner[0][1]] != 0)


def parse_der(der: bytes) -> Certificate:
    """Read a DER certificate; BadCertificate (with the reason) for anything else."""
    try:
        return _parse(der)
    except (IndexError, ValueError) as err:
        if isinstance(err, BadCertificate):
            raise
        raise BadCertificate(f"malformed certificate ({err})") from None


def _parse(der: bytes) -> Certificate:
    tag, s, e = _tlv(der, 0, len(der))
    if tag != 0x30 or e != len(der):
        raise BadCertificate("not a DER certificate")
    outer = _items(der, s, e)
    if len(outer) != 3 or outer[0][0] != 0x30:
        raise BadCertificate("not a certificate (no TBSCertificate)")
    tbs = _items(der, outer[0][1], outer[0][2])
    version, i = 1, 0
    if tbs[0][0] == 0xA0:  # [0] EXPLICIT version, absent for v1
        _vt, vs, ve = _tlv(der, tbs[0][1], tbs[0][2])
        version, i = int.from_bytes(der[vs:ve], "big") + 1, 1
    serial, _alg, issuer, validity, subject = tbs[i : i + 5]
    if serial[0] != 0x02 or issuer[0] != 0x30 or validity[0] != 0x30 or subject[0] != 0x30:
        raise BadCertificate("not a certificate (unexpected TBSCertificate layout)")
    (nbt, nbs, nbe), (nat, nas, nae) = _items(der, validity[1], validity[2])[:2]
    fields: dict[str, Any] = {"dns_names": [], "ip_addresses": [], "ca": None}
    for tag, es, ee in tbs[i + 6 :]:
        if tag == 0xA3:
            _extensions(der, es, ee, fields)
    return Certificate(
        der=der,
        version=version,
        serial=f"{int.from_bytes(der[serial[1] : serial[2]], 'big', signed=True):X}",
        subject=_name(der, subject[1], subject[2]),
        issuer=_name(der, issuer[1], issuer[2]),
        not_before=_time(nbt, der[nbs:nbe]),
        not_after=_time(nat, der[nas:nae]),
        self_issued=der[subject[1] : subject[2]] == der[issuer[1] : issuer[2]],
        **fields,
    )


def matches_host(cert: Certificate, host: str) -> bool:
    """Go's VerifyHostname: subjectAltName only (the CN is ignored since Go 1.15)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return any(ipaddress.ip_address(a) == address for a in cert.ip_addresses)
    wanted = host.lower().rstrip(".").split(".")
    for name in cert.dns_names:
        pattern = name.lower().rstrip(".").split(".")
        if len(pattern) != len(wanted):
            continue
        if pattern[0] == "*" and len(pattern) > 2 and pattern[1:] == wanted[1:]:
            return True
        if pattern == wanted:
            return True
    return False


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

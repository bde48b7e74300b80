"""dockerd's rules for insecure-registry and registry-mirror values, written down from moby's code
(registry/config.go: ValidateIndexName, loadInsecureRegistries, validateHostPort, ValidateMirror;
Go's net.SplitHostPort, net.ParseIP, netip.ParsePrefix, net/url), independent of dockercfg's own
model: the hostile-input oracles judge dockercfg's answers by this table, never by dockercfg's
normaliser or validator.

judge() sorts a value into VALID (dockerd takes it; `key` is what dockerd stores, so two values
with one key are one entry), INVALID (dockerd refuses it) or UNDECIDED: an edge where dockerd
versions differ, or where dockercfg is deliberately stricter than dockerd; the table does not
decide those, and the oracles then check only the promises that hold either way.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

VALID, INVALID, UNDECIDED = "valid", "invalid", "undecided"
HEAD = (99, 0, 0)  # no --docker-version: the newest rules

# distribution/reference's DomainRegexp, which validateHostPort matches the whole value against.
_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_COMPONENT}(?:\.{_COMPONENT})*"
HOST_PORT = re.compile(rf"(?:{_DOMAIN}|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_PRINTABLE = re.compile(r"[\x21-\x7e]*")  # ASCII without space and control characters


@dataclass(frozen=True)
class Verdict:
    verdict: str
    key: str | None = None
    why: str = ""


def _valid(key: str) -> Verdict:
    return Verdict(VALID, key)


def _invalid(why: str) -> Verdict:
    return Verdict(INVALID, None, why)


def _undecided(why: str) -> Verdict:
    return Verdict(UNDECIDED, None, why)


def go_parse_ip(text: str) -> ipaddress._BaseAddress | None:
    """net.ParseIP: dotted IPv4 (no leading zeros since Go 1.17) or IPv6, no zone, no brackets."""
    if not text or "%" in text or not _PRINTABLE.fullmatch(text):
        return None
    if ":" not in text and any(len(o) > 1 and o[0] == "0" for o in text.split(".")):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def go_split_host_port(text: str) -> tuple[str, str] | None:
    """net.SplitHostPort, or None where it returns an error."""
    i = text.rfind(":")
    if i < 0:
        return None
    j = k = 0
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or end + 1 != i:
            return None
        host, j, k = text[1:end], 1, end + 1
    else:
        host = text[:i]
        if ":" in host:
            return None
    if "[" in text[j:] or "]" in text[k:]:
        return None
    return host, text[i + 1 :]


def insecure(value: str, typed: bool = False) -> Verdict:
    """One insecure-registries entry; `typed`: as given on dockercfg's command line."""
    if not value.isascii() or not _PRINTABLE.fullmatch(value):
        return _invalid("a space, control or non-ASCII character")
    if value.startswith("-") or value.endswith("-"):
        return _invalid("ValidateIndexName: a hyphen at either end")
    rest = value
    lower = value.lower()
    if lower.startswith("http://"):
        rest = value[7:]
    elif lower.startswith("https://"):
        rest = value[8:]
    elif "://" in value:
        return _invalid("a scheme other than http or https")
    if typed and rest.endswith("/"):
        return _undecided("a trailing / typed on the command line (dockercfg drops it)")
    if "/" in rest:
        return _prefix(rest)
    split = go_split_host_port(rest)
    host, port = split if split else (rest, "")
    if rest.startswith("[") and go_parse_ip(host.strip("[]")) is None:
        return _undecided("[...] that is no IPv6 address: DomainRegexp (23.0 on) takes some")
    if not HOST_PORT.fullmatch(rest) and go_parse_ip(host) is None:
        return _invalid("validateHostPort: invalid host")
    if port and not port.isdigit():
        return _undecided("a port strconv.Atoi takes but DomainRegexp does not (+5000)")
    if port and int(port) > 65535:
        return _invalid("validateHostPort: port above 65535")
    if rest.startswith("[") and ":" not in rest[rest.find("]") :]:
        return _undecided("[ipv6] without a port: valid from 23.0 (DomainRegexp), not 20.10")
    return _valid(rest)


def _prefix(text: str) -> Verdict:
    """A value with a / after the scheme: a CIDR (netip.ParsePrefix), else no valid host."""
    address, _slash, bits = text.rpartition("/")
    ip = go_parse_ip(address)
    if ip is None or not bits.isdigit():
        return _invalid("neither a CIDR nor a host (paths are not allowed)")
    if len(bits) > 1 and bits[0] == "0":
        return _undecided("a mask with a leading zero: net.ParseCIDR (20.10) takes it, netip not")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return _undecided("an IPv4-mapped IPv6 prefix")
    if int(bits) > ip.max_prefixlen:
        return _invalid("a mask longer than the address")
    return _valid(ipaddress.ip_network(text, strict=False).compressed)


_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?(?P<path>(?:/[A-Za-z0-9._~-]*)*)"
)


def mirror(value: str, version: tuple = HEAD) -> Verdict:
    """One registry-mirrors entry, by ValidateMirror of dockerd `version`."""
    if not value.isascii() or not _PRINTABLE.fullmatch(value):
        return _invalid("a space, control or non-ASCII character")
    if "://" not in value:
        return _invalid("no scheme")
    scheme = value.split("://", 1)[0]
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) and scheme.lower() not in ("http", "https"):
        return _invalid("a scheme other than http or https")
    found = _URL.fullmatch(value)
    if not found:
        after = value.split("://", 1)[1]
        if "#" in after or re.search(r"\?.", after):
            return _invalid("a query or a fragment")
        if "@" in after.split("/", 1)[0]:
            return _invalid("a user or password")
        return _undecided("a URL form this table does not model")
    host, port, path = found["host"], found["port"], found["path"]
    if host.startswith("[") and go_parse_ip(host[1:-1]) is None:
        return _undecided("[...] that is no IPv6 address")
    if not host.startswith("[") and not re.fullmatch(_DOMAIN, host):
        return _undecided("a host net/url takes that is no DNS name")
    if port is not None and (int(port) > 65535 or int(port) == 0):
        return _undecided("port 0 or above 65535: net/url takes it, dockercfg does not")
    if path not in ("", "/") and version < (24, 0, 8):
        return _invalid("a path (allowed from 24.0.8)")
    return _valid(value.removesuffix("/") + "/")


def judge(key: str, value: object, version: tuple = HEAD, typed: bool = False) -> Verdict:
    """A value of daemon.json's `key` (insecure-registries or registry-mirrors)."""
    if not isinstance(value, str):
        return _invalid("not a string")
    if key == "insecure-registries":
        return insecure(value, typed=typed)
    return mirror(value, version)


def version_of(text: str | None) -> tuple:
    return tuple(int(part) for part in text.split(".")) if text else HEAD

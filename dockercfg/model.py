"""moby's rules for insecure-registry and registry-mirror values (reference/dockerd.md §3).

Accepted values are later written into files that a root shell sources, so on top of moby's
rules every accepted value is limited to a small, shell-inert character set.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import NamedTuple, Union

from dockercfg.versions import NEWEST, Version

MIRROR_HUB_ONLY_NOTE = (
    "registry mirrors only apply to pulls from Docker Hub (docker.io); "
    "pushes and other registries never use them"
)

_Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
_Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# distribution/reference DomainRegexp, anchored as moby's validHostPortRegex. Labels are
# separated by a mandatory dot, so matching stays linear on any input.
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DOMAIN_AND_PORT = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_DIGITS = re.compile(r"[0-9]+")
# Only these characters ever reach ipaddress: Python accepts zones ("%eth0") that Go rejects.
_IP_TEXT = re.compile(r"[0-9a-fA-F:.]{2,45}")
# Go's netip.ParsePrefix: no sign or leading zero in the bit count.
_PREFIX = re.compile(r"([0-9a-fA-F:.]{2,45})/(0|[1-9][0-9]{0,2})")
_INSECURE_SAFE = re.compile(r"[A-Za-z0-9.:\[\]/-]+")
_MIRROR_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~:/[]%-")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*(?=:)")
_USERINFO = re.compile(r"[A-Za-z0-9._:~!$&'()*+,;=%@-]*")
_HOST_PUNCT = frozenset("!$&'()*+,;=:[]<>\"-_.~")
_HEX = frozenset("0123456789abcdefABCDEF")
_GO_ESCAPES = {ch: "\\" + name for ch, name in zip('\a\b\f\n\r\t\v"\\', 'abfnrtv"\\')}
# A megabyte of input must not turn into a megabyte of error message.
_MAX_SHOWN = 200


class InvalidValue(Exception):
    """A value dockerd (or dockercfg's shell-safety rule) rejects; `.message` is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Normalized:
    value: str
    warnings: tuple[str, ...] = ()


def _escape(ch: str) -> str:
    if ch in _GO_ESCAPES:
        return _GO_ESCAPES[ch]
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def _q(text: str) -> str:
    """Go's %q, so messages match moby's."""
    # Escape first, then clip: an escaped NUL is four characters wide.
    return '"' + _clip("".join(_escape(ch) for ch in text[: _MAX_SHOWN + 1])) + '"'


def _s(text: str) -> str:
    """Go's %s, except that non-printable characters are escaped to keep messages on one line."""
    return _clip("".join(ch if ch.isprintable() else _escape(ch) for ch in text[: _MAX_SHOWN + 1]))


def _parse_ip(text: str) -> _Address | None:
    """Go's net.ParseIP: bare IPv4 or IPv6 text, no zone, no brackets."""
    if not _IP_TEXT.fullmatch(text):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _parse_prefix(text: str) -> _Network | None:
    """Go's netip.ParsePrefix(...).Masked()."""
    match = _PREFIX.fullmatch(text)
    if not match or _parse_ip(match.group(1)) is None:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _split_host_port(text: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort; None where Go returns an error."""
    colon = text.rfind(":")
    if colon < 0:
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or end + 1 != colon:
            return None
        host, after_open, after_close = text[1:end], 1, end + 1
    else:
        host, after_open, after_close = text[:colon], 0, 0
        if ":" in host:
            return None
    if "[" in text[after_open:] or "]" in text[after_close:]:
        return None
    return host, text[colon + 1 :]


def is_cidr(value: str) -> bool:
    return _parse_prefix(value) is not None


def _host_port_error(text: str) -> str | None:
    """moby's validateHostPort; the error text, or None when valid."""
    split = _split_host_port(text)
    host, port = split if split else (text, "")
    if not _DOMAIN_AND_PORT.fullmatch(text) and _parse_ip(host) is None:
        return f"invalid host {_q(host)}"
    if not port:
        return None
    if port[0] in "+-" and _DIGITS.fullmatch(port[1:]):
        # Go's Atoi takes a sign, so moby accepts "[::1]:+5"; nobody means that, and "+" is
        # not in the safe set.
        return f"invalid port {_q(port)}"
    if not _DIGITS.fullmatch(port):
        return f"strconv.Atoi: parsing {_q(port)}: invalid syntax"
    significant = port.lstrip("0")
    # Checked by length first: int() of thousands of digits is slow and refused by Python 3.11.
    if len(significant) > 19 or int(significant or "0") > 2**63 - 1:
        return f"strconv.Atoi: parsing {_q(port)}: value out of range"
    if int(significant or "0") > 65535:
        return f"invalid port {_q(port)}"
    return None


def normalize_insecure(raw: str, typed: bool = False) -> Normalized:
    """An insecure-registries entry as dockerd stores it; `typed`: user input (see _as_typed)."""
    if raw.startswith("-") or raw.endswith("-"):
        raise InvalidValue(f"invalid index name ({_s(raw)}). Cannot begin or end with a hyphen")
    warnings = []
    value = raw
    scheme, sep, rest = raw.partition("://")
    if sep:
        if scheme.lower() not in ("http", "https"):
            raise InvalidValue(f"insecure registry {_s(raw)} should not contain '://'")
        stripped = scheme.lower() + "://"
        warnings.append(
            f"insecure registry {_s(raw)} should not contain '{stripped}' and '{stripped}' "
            "has been removed from the insecure registry config"
        )
        value = rest
    host, path_note = _as_typed(value)
    value, warnings = (host, [*warnings, path_note]) if path_note and typed else (value, warnings)
    net = _parse_prefix(value)
    if net is not None:
        # An IPv4-mapped prefix is an IPv4 prefix to dockerd: up to v28 net.ParseCIDR keeps a
        # 16-byte net.IPNet that /info prints as "10.1.0.0/16" (checked against a live 20.10),
        # and from v29 netip's isSecureIndex compares Unmap()ed addresses, which only the IPv4
        # form matches. Store that form, so the file means what the user meant and /info
        # compares equal after the same normalisation.
        mapped = getattr(net.network_address, "ipv4_mapped", None)
        value = f"{mapped}/{net.prefixlen - 96}" if mapped else str(net)
    else:
        error = _host_port_error(value)
        if error:
            _refuse_unicode(value)
            fix = f"; use {_s(host)}" if path_note else ""  # dockerd refuses it at start
            raise InvalidValue(f"insecure registry {_s(value)} is not valid: {error}{fix}")
    warnings += _notes(value, net)
    if value in ("docker.io", "index.docker.io"):
        warnings.append(
            f"insecure registry {value} has no effect: dockerd always treats Docker Hub as secure"
        )
    if not _INSECURE_SAFE.fullmatch(value):  # unreachable by construction; the file is root-sourced
        raise InvalidValue(
            f"insecure registry {_s(value)} contains characters that are not allowed"
        )
    return Normalized(value, tuple(warnings))


# Pasted from a browser or a registry's API root: "host:5000/" or "host:5000/v2/".
_API_PATH = re.compile(r"([^/]+)/(?:v2/?)?")


def _as_typed(value: str) -> tuple[str, str | None]:
    """dockerd takes host[:port] only; a file with a path fails at start, so only input drops it."""
    match = _API_PATH.fullmatch(value)
    if not match or _parse_prefix(value) is not None:
        return value, None
    host = match.group(1)
    return host, f"insecure registry {_s(value)}: dockerd takes host[:port] only; using {_s(host)}"


def _refuse_unicode(value: str) -> None:
    """An internationalised name: dockerd takes only its ASCII (punycode) form."""
    split = _split_host_port(value)
    try:
        fixed = (split[0] if split else value).encode("idna").decode("ascii")
    except UnicodeError:
        return
    fixed += f":{split[1]}" if split else ""
    if not value.isascii() and _host_port_error(fixed) is None:
        raise InvalidValue(f"insecure registry {_s(value)}: use the punycode form {fixed}")


def _notes(value: str, net: _Network | None) -> list[str]:  # taken, but not what was meant
    if net is None and value != value.lower():  # isSecureIndex is an exact string lookup
        return [f"dockerd matches insecure registry {value} letter for letter: images named "
                f"{value.lower()}/... are not covered; add {value.lower()} unless your image "
                "names use exactly this case"]  # fmt: skip
    split = _split_host_port(value)
    address = net.network_address if net else _parse_ip(split[0] if split else value.strip("[]"))
    address = getattr(address, "ipv4_mapped", None) or address
    if address is None or not address.is_loopback:  # a prefix is loopback if its start is
        return []
    since = " (::1 since dockerd 28.0; add it for older versions)" if address.version == 6 else ""
    return [f"insecure registry {value} is loopback: dockerd always treats it as insecure{since}"]


class _ParseError(Exception):
    """args: (the URL Go's url.Error shows, Go's error text)."""


class _URL(NamedTuple):
    scheme: str
    user: str | None
    host: str
    path: str
    query_or_fragment: bool


def _check_escapes(url: str, text: str, in_host: bool = False) -> None:
    """The errors of Go's url.unescape (host mode also checks the characters)."""
    i = 0
    while i < len(text):
        if text[i] == "%":
            bad = i + 2 >= len(text) or text[i + 1] not in _HEX or text[i + 2] not in _HEX
            if bad or (in_host and int(text[i + 1], 16) < 8 and text[i : i + 3] != "%25"):
                raise _ParseError(url, f"invalid URL escape {_q(text[i : i + 3])}")
            i += 3
            continue
        char = text[i]
        if in_host and char < "\x80" and not char.isalnum() and char not in _HOST_PUNCT:
            raise _ParseError(url, f"invalid character {_q(char)} in host name")
        i += 1


def _go_url_parse(raw: str) -> _URL:
    """Go's url.Parse, reduced to what ValidateMirror looks at."""
    url, hashmark, fragment = raw.partition("#")
    if any(ch < " " or ch == "\x7f" for ch in url):
        raise _ParseError(url, "net/url: invalid control character in URL")
    if url.startswith(":"):
        raise _ParseError(url, "missing protocol scheme")
    match = _SCHEME.match(url)
    scheme, rest = (match.group().lower(), url[match.end() + 1 :]) if match else ("", url)
    # Any "?" or "#" counts, even the empty ones Go ignores: neither belongs in a sourced file.
    query_or_fragment = bool(hashmark) or "?" in rest
    rest = rest.partition("?")[0]
    if not rest.startswith("/"):
        if scheme:  # opaque, e.g. "host:5000": no host
            return _URL(scheme, None, "", rest, query_or_fragment)
        if ":" in rest.partition("/")[0]:
            raise _ParseError(url, "first path segment in URL cannot contain colon")
    user, host, path = None, "", rest
    if rest.startswith("//") and (scheme or not rest.startswith("///")):
        authority, slash, path = rest[2:].partition("/")
        path = slash + path
        at = authority.rfind("@")
        host = authority[at + 1 :]
        if host.startswith("["):
            end = host.rfind("]")
            if end < 0:
                raise _ParseError(url, "missing ']' in host")
            colon_port = host[end + 1 :]
        else:
            colon_port = host[host.rfind(":") :] if ":" in host else ""
        if colon_port and not re.fullmatch(r":[0-9]*", colon_port):
            raise _ParseError(url, f"invalid port {_q(colon_port)} after host")
        _check_escapes(url, host, in_host=True)
        if at >= 0:
            user = authority[:at]
            if not _USERINFO.fullmatch(user):
                raise _ParseError(url, "net/url: invalid userinfo")
            _check_escapes(url, user)
    _check_escapes(url, path)
    _check_escapes(raw, fragment)
    return _URL(scheme, user, host, path, query_or_fragment)


def _mirror_host_error(host_port: str) -> str | None:
    if host_port.startswith("["):
        end = host_port.rfind("]")
        host, port = host_port[1:end], host_port[end + 2 :]
        valid = isinstance(_parse_ip(host), ipaddress.IPv6Address)
    else:
        host, sep, port = host_port.rpartition(":")
        if not sep:
            host, port = port, ""
        valid = bool(_HOSTNAME.fullmatch(host))
    if not valid:
        return f"invalid host {_q(host)}"
    # Go's parser has already checked that the port is digits.
    significant = port.lstrip("0")
    if len(significant) > 5 or int(significant or "0") > 65535:
        return f"invalid port {_q(port)}"
    return None


def normalize_mirror(raw: str, version: Version = NEWEST) -> str:
    """One registry-mirrors entry as dockerd stores it (ValidateMirror of `version`)."""
    modern = version >= (28, 3, 0)  # no-scheme fast path and the "must use" hint
    hint = ": must use either 'https://' or 'http://'" if modern else ""
    scheme_text, sep, _ = raw.partition("://")
    if modern and not (sep and scheme_text):
        raise InvalidValue(f"invalid mirror: no scheme specified for {_q(raw)}{hint}")
    try:
        url = _go_url_parse(raw)
    except _ParseError as err:
        detail = f": parse {_q(err.args[0])}: {err.args[1]}" if version >= (23, 0, 0) else ""
        raise InvalidValue(f"invalid mirror: {_q(raw)} is not a valid URI{detail}") from None
    shown = url.scheme + raw[len(url.scheme) :]  # Go's URL.String() lowercases the scheme
    if url.scheme not in ("http", "https"):
        raise InvalidValue(
            f"invalid mirror: unsupported scheme {_q(url.scheme)} in {_q(shown)}{hint}"
        )
    if version < (24, 0, 8):
        if url.path not in ("", "/") or url.query_or_fragment:
            raise InvalidValue(
                f"invalid mirror: path, query, or fragment at end of the URI {_q(shown)}"
            )
    elif url.query_or_fragment:
        raise InvalidValue(f"invalid mirror: query or fragment at end of the URI {_q(shown)}")
    if url.user is not None:
        masked = f"{url.scheme}://{url.user.partition(':')[0]}:xxxxx@{url.host}{url.path}"
        raise InvalidValue(f"invalid mirror: username/password not allowed in URI {_q(masked)}")
    # Stricter than moby from here on: the daemon needs a real host to pull from.
    if not url.host:
        raise InvalidValue(f"invalid mirror: no host in {_q(raw)}")
    error = _mirror_host_error(url.host)
    if error:
        raise InvalidValue(f"invalid mirror: {error} in {_q(raw)}")
    bad = next((ch for ch in raw if ch not in _MIRROR_SAFE), None)
    if bad is not None:
        raise InvalidValue(
            f"invalid mirror: {_q(raw)} contains {_q(bad)}; only letters, digits and "
            ". - _ ~ : / [ ] % are allowed"
        )
    return (raw[:-1] if raw.endswith("/") else raw) + "/"


def default_insecure_cidrs(version: Version) -> list[str]:
    """CIDRs dockerd always treats as insecure (::1/128 since v28.0.0)."""
    return ["127.0.0.0/8", "::1/128"] if version >= (28, 0, 0) else ["127.0.0.0/8"]


def insecure_covers(entries: list[str], registry: str, version: Version = NEWEST) -> bool:
    """moby's isSecureIndex, negated, without DNS: names that need resolving count as secure."""
    if registry in ("docker.io", "index.docker.io"):  # forced secure by loadInsecureRegistries
        return False
    names, networks = set(), []
    for entry in list(entries) + default_insecure_cidrs(version):
        try:
            value = normalize_insecure(entry).value
        except InvalidValue:
            continue
        net = _parse_prefix(value)
        if net is None:
            names.add(value)
        else:
            networks.append(net)
    if registry in names:
        return True
    split = _split_host_port(registry)
    address = _parse_ip(split[0] if split else registry)
    if address is None:
        return False
    address = getattr(address, "ipv4_mapped", None) or address  # Go's addr.Unmap()
    return any(address in net for net in networks)


def dedupe(values: list[str]) -> list[str]:
    """Drop repeats, keeping the first occurrence (as dockerd does after normalising)."""
    return list(dict.fromkeys(values))

"""Talking to a registry the way dockerd would: resolve, connect, TLS, GET /v2/.

Used by `probe` (to report) and `trust-ca` (to check a CA against the live server). Read-only.
Every step has its own timeout, so a dead host answers in seconds; only the addresses the given
name resolves to are contacted.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dockercfg.errors import EnvironmentProblem, UsageError
from dockercfg.x509 import BadCertificate, Certificate, judge, parse_der, printable

RESOLVE_TIMEOUT = 5.0
CONNECT_TIMEOUT = 3.0
TLS_TIMEOUT = 4.0
HTTP_TIMEOUT = 4.0
BANNER_WAIT = 0.5  # SSH, SMTP, FTP speak first; an HTTP server waits for the request
OVERALL_TIMEOUT = 40.0  # a whole probe: resolve, connect, two handshakes, two requests
MAX_ADDRESSES = 8
MAX_BODY = 64 * 1024
API_HEADER = "docker-distribution-api-version"
Address = tuple  # (family, sockaddr) from getaddrinfo


@dataclass(frozen=True)
class Endpoint:
    name: str  # as image names and certs.d spell it: "registry.test:5443", "[::1]:5000"
    host: str  # IPv6 without brackets
    port: int | None

    @property
    def tls_port(self) -> int:
        return self.port or 443

    @property
    def http_port(self) -> int:
        return self.port or 80


def parse_endpoint(text: str) -> Endpoint:
    """HOST[:PORT] as in an image name; a URL, a path or a CIDR is a usage error."""
    from dockercfg.model import InvalidValue, normalize_insecure

    raw = text.strip()
    if "://" in raw or "/" in raw or not raw:
        raise UsageError(f"give the registry as HOST[:PORT], as in an image name, not {raw!r}")
    try:
        value = normalize_insecure(raw).value
    except InvalidValue as err:
        raise UsageError(err.message.replace("insecure registry", "registry", 1)) from None
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:]
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, ""
        if ":" in host:  # a bare IPv6 address: image names bracket it
            value = f"[{host}]"
    number = int(port) if port else None
    if number == 0:
        raise UsageError(f"registry {raw}: port 0 is not a port")
    return Endpoint(value, host, number)


def resolve(host: str, timeout: float = RESOLVE_TIMEOUT) -> list[Address]:
    """Every address of `host`, in the resolver's order; bounded even when DNS is dead."""
    # getaddrinfo cannot be given a timeout: it runs under bounded()'s deadline instead.
    try:
        infos = bounded(
            f"cannot resolve {host}",
            lambda: socket.getaddrinfo(host, None, type=socket.SOCK_STREAM),
            timeout,
            silence="no answer",
        )
    except OSError as err:  # socket.gaierror included
        raise EnvironmentProblem(f"cannot resolve {host}: {err.strerror or err}") from None
    found: dict[str, Address] = {}
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            found.setdefault(sockaddr[0], (family, sockaddr))
    if not found:
        raise EnvironmentProblem(f"cannot resolve {host}: no IPv4 or IPv6 address")
    return list(found.values())[:MAX_ADDRESSES]


def bounded(
    what: str,
    work: Callable[[], Any],
    timeout: float = OVERALL_TIMEOUT,
    silence: str = "no complete answer",
) -> Any:
    """Run `work` with an overall deadline. Every socket call has its own timeout, but a server
    that trickles one byte at a time could still hold a run for hours; a daemon thread that
    overstays is left behind and dies with the process."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as err:  # handed to the caller's thread
            box["error"] = err

    thread = threading.Thread(target=run, name="dockercfg-net", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise EnvironmentProblem(f"{what}: {silence} within {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def shown_address(address: Address) -> str:
    return address[1][0]


def connect(address: Address, port: int, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
    family, sockaddr = address
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((sockaddr[0], port, *sockaddr[2:]))
    except BaseException:
        sock.close()
        raise
    return sock


def describe(err: BaseException, timeout: float | None = None) -> str:
    """One lower-case phrase for a network failure."""
    if isinstance(err, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g}s" if timeout else "timed out"
    if isinstance(err, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return "the server closed the connection during the TLS handshake"
    if isinstance(err, ssl.SSLError):
        reason = getattr(err, "reason", None)
        return reason.replace("_", " ").lower() if reason else str(err)[:120]
    if isinstance(err, OSError) and err.errno:
        text = os.strerror(err.errno)
        return text[:1].lower() + text[1:]
    return str(err)[:120] or type(err).__name__


def reachability(addresses: list[Address], port: int) -> list[dict[str, Any]]:
    """TCP connect to every address at once: a dead host costs one timeout, not one per address."""

    def attempt(address: Address) -> str | None:
        try:
            connect(address, port).close()
        except OSError as err:
            return describe(err, CONNECT_TIMEOUT)
        return None

    with ThreadPoolExecutor(max_workers=len(addresses)) as pool:
        errors = list(pool.map(attempt, addresses))
    return [
        {"address": shown_address(a), "port": port, "open": e is None, "error": e}
        for a, e in zip(addresses, errors)
    ]


def first_open(ep: Endpoint, addresses: list[Address], port: int) -> Address:
    """The first address (resolver order, as Go dials) that accepts TCP; EnvironmentProblem else."""
    results = reachability(addresses, port)
    for address, result in zip(addresses, results):
        if result["open"]:
            return address
    tried = "; ".join(f"{r['address']}: {r['error']}" for r in results)
    raise EnvironmentProblem(f"cannot connect to {ep.name} (port {port}): {tried}")


# TLS ---------------------------------------------------------------------------------------------


def client_context(
    *,
    verify: bool,
    cadata: str | None = None,
    cafiles: list[Path] | None = None,
    system: bool = False,
    client: tuple[Path, Path] | None = None,
) -> ssl.SSLContext:
    """A client context that judges a chain the way dockerd's Go client does."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # docker's registry client refuses older
    if client:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    # Go ignores the subject CN, takes any trusted certificate as an anchor (not only roots),
    # and is not as strict as OpenSSL's X509_STRICT (Python 3.13 turns that on by default).
    with contextlib.suppress(AttributeError, ValueError):
        ctx.hostname_checks_common_name = False
    ctx.verify_flags |= getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0x80000)
    ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0x20)
    if system:
        ctx.load_default_certs()
    for path in cafiles or []:
        ctx.load_verify_locations(cafile=str(path))
    if cadata:
        ctx.load_verify_locations(cadata=cadata)
    return ctx


def handshake(ep: Endpoint, address: Address, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    sock = connect(address, ep.tls_port)
    sock.settimeout(TLS_TIMEOUT)
    try:
        return ctx.wrap_socket(sock, server_hostname=ep.host)
    except BaseException:
        sock.close()
        raise


def presented_chain(tls: ssl.SSLSocket) -> list[Certificate]:
    """The certificates the server sent, leaf first.

    Python 3.13 has SSLSocket.get_unverified_chain(); 3.10-3.12 have the same call on the
    private _sslobj; older ones only give the leaf, which is still the whole chain of a
    self-signed server.
    """
    chain: list[bytes] = []
    getter = getattr(tls, "get_unverified_chain", None) or getattr(
        getattr(tls, "_sslobj", None), "get_unverified_chain", None
    )
    with contextlib.suppress(Exception):  # a private call: fall back to the leaf on any surprise
        for item in (getter() if getter else None) or []:
            der = item if isinstance(item, bytes) else ssl.PEM_cert_to_DER_cert(item.public_bytes())
            chain.append(der)
    if not chain:
        leaf = tls.getpeercert(binary_form=True)
        chain = [leaf] if leaf else []
    certs = []
    for der in chain:
        with contextlib.suppress(BadCertificate):
            certs.append(parse_der(der))
    return certs


@dataclass
class TlsReport:
    status: str  # ok | self-signed | unknown-ca | expired | not-yet-valid | hostname-mismatch
    #              | untrusted | error | no-tls
    detail: str
    version: str | None = None
    chain: list[Certificate] = field(default_factory=list)
    error: BaseException | None = None  # the handshake failure when status is no-tls

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "version": self.version,
            "chain": [c.to_json() for c in self.chain],
        }


def inspect_tls(
    ep: Endpoint, address: Address, trusting: ssl.SSLContext, client: tuple | None = None
) -> TlsReport:
    """Look at the chain without verifying, then verify it with `trusting`."""
    try:
        tls = handshake(ep, address, client_context(verify=False, client=client))
    except ssl.SSLError as err:
        if "ALERT" in (err.reason or ""):  # a TLS alert: the server does speak TLS
            return TlsReport("error", f"the server refused the TLS handshake: {describe(err)}")
        return TlsReport("no-tls", f"no TLS handshake: {describe(err, TLS_TIMEOUT)}", error=err)
    except OSError as err:
        return TlsReport("no-tls", f"no TLS handshake: {describe(err, TLS_TIMEOUT)}", error=err)
    with tls:
        version, chain = tls.version(), presented_chain(tls)
    try:
        handshake(ep, address, trusting).close()
    except ssl.SSLCertVerificationError as err:
        message = getattr(err, "verify_message", None) or describe(err)
        status, detail = judge(ep.host, chain, getattr(err, "verify_code", None), message)
        return TlsReport(status, detail, version, chain)
    except (OSError, ssl.SSLError) as err:
        return TlsReport("error", f"TLS with verification failed: {describe(err)}", version, chain)
    return TlsReport("ok", "the certificate chain verifies", version, chain)


# HTTP: the Www-Authenticate header (the requests themselves are in registryhttp.py) -----------


_AUTH_PARAM = re.compile(r'([A-Za-z_]+)=(?:"([^"]*)"|([^,\s]*))')


def parse_www_authenticate(value: str | None) -> dict[str, str] | None:
    """'Bearer realm="https://h/token",service="reg"' -> {"scheme": "Bearer", "realm": ..., ...}."""
    if not value or not value.strip():
        return None
    scheme, _, params = value.strip().partition(" ")
    found = {"scheme": printable(scheme, 40)}
    for key, quoted, bare in _AUTH_PARAM.findall(params):
        found[key.lower()] = printable(quoted if quoted else bare)
    return found

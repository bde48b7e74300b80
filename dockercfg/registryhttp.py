"""Plain HTTP to a registry port: is it HTTP at all, and is it a registry (GET /v2/)?

Split from netprobe.py, whose sockets, endpoints and timeouts it uses; probe and trust-ca call it.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Any, Callable

from dockercfg.netprobe import (
    API_HEADER,
    BANNER_WAIT,
    HTTP_TIMEOUT,
    MAX_BODY,
    Address,
    Endpoint,
    connect,
    describe,
    parse_www_authenticate,
)
from dockercfg.x509 import printable


class NotHttp(Exception):
    """The port speaks first (SSH, SMTP, ...) or hangs up: args[0] describes it."""


class _Connection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, opener: Callable[[], socket.socket]) -> None:
        super().__init__(host, port, timeout=HTTP_TIMEOUT)
        self._opener = opener

    def connect(self) -> None:
        self.sock = self._opener()


def _banner(first: bytes) -> str:
    if not first:
        return "closed the connection without a word"
    line = first.split(b"\n", 1)[0].decode("ascii", "replace").strip()
    shown = "".join(ch if ch.isprintable() else "?" for ch in line)[:60]
    kind = " (an SSH server)" if line.startswith("SSH-") else ""
    return f"speaks first, sending {shown!r}{kind}: not a registry"


def plain_socket(address: Address, port: int) -> socket.socket:
    """A TCP connection for plain HTTP, after checking that the server does not talk first."""
    sock = connect(address, port)
    try:
        sock.settimeout(BANNER_WAIT)
        try:
            first = sock.recv(256)
        except socket.timeout:
            sock.settimeout(HTTP_TIMEOUT)
            return sock
        raise NotHttp(_banner(first))
    except BaseException:
        sock.close()
        raise


def http_get(
    ep: Endpoint, port: int, opener: Callable[[], socket.socket], path: str
) -> tuple[int, dict[str, str], bytes]:
    from dockercfg import __version__

    conn = _Connection(ep.host, port, opener)
    try:
        conn.request("GET", path, headers={"User-Agent": f"dockercfg/{__version__}"})
        response = conn.getresponse()
        body = response.read(MAX_BODY)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def inspect_api(ep: Endpoint, port: int, opener: Callable[[], socket.socket]) -> dict[str, Any]:
    """GET /v2/ (and Harbor's systeminfo); raises NotHttp/OSError/HTTPException for non-HTTP."""
    status, headers, _body = http_get(ep, port, opener, "/v2/")
    auth = parse_www_authenticate(headers.get("www-authenticate"))
    api = printable(headers[API_HEADER], 60) if API_HEADER in headers else None
    registry = api == "registry/2.0" or (status == 401 and auth is not None)
    report = {"status": status, "api_version": api, "auth": auth, "registry": registry}
    report["product"] = _harbor(ep, port, opener) if registry else None
    return report


def _harbor(ep: Endpoint, port: int, opener: Callable[[], socket.socket]) -> str | None:
    import json

    try:
        status, _headers, body = http_get(ep, port, opener, "/api/v2.0/systeminfo")
        info = json.loads(body) if status == 200 else None
    except (OSError, ValueError, NotHttp, http.client.HTTPException, ssl.SSLError):
        return None
    if isinstance(info, dict) and ("harbor_version" in info or "auth_mode" in info):
        version = info.get("harbor_version")
        return f"Harbor {printable(version, 40)}" if isinstance(version, str) else "Harbor"
    return None


def not_tls_reason(ep: Endpoint, address: Address, tls_error: str) -> str:
    """Why a port that failed the TLS handshake is no use for trust-ca: plain HTTP or else."""
    try:
        api = inspect_api(ep, ep.http_port, lambda: plain_socket(address, ep.http_port))
    except NotHttp as err:
        return f"{ep.name} {err.args[0]}"
    except (OSError, http.client.HTTPException) as err:
        return (
            f"{ep.name} speaks neither TLS ({tls_error}) nor HTTP ({describe(err, HTTP_TIMEOUT)})"
        )
    if api["registry"]:
        return (
            f"{ep.name} is a plain-HTTP registry (no TLS): there is no CA to trust;"
            f" `dockercfg add-insecure {ep.name}` is the only way for plain HTTP"
        )
    return f"{ep.name} does not speak TLS ({tls_error}); it answers plain HTTP, not as a registry"

"""The HTTP side of the mirror check: GET /v2/, the manifest request Docker sends, the token dance.

Every socket step takes its timeout from one Clock, so no request outlives the mirror's deadline
by more than one step; mirrorcheck.py also bounds the whole thread.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from dockercfg import netprobe as net

# What dockerd's puller sends (distribution/pull_v2.go): lists and indexes first, then images.
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
MAX_TOKEN_BODY = 256 * 1024


@dataclass(frozen=True)
class Mirror:
    url: str  # as configured (dockerd's normalized form)
    scheme: str
    ep: net.Endpoint
    base: str  # a path prefix before /v2/ ("" for most mirrors)

    @property
    def port(self) -> int:
        return self.ep.tls_port if self.scheme == "https" else self.ep.http_port


@dataclass(frozen=True)
class Image:
    repository: str  # "library/alpine"
    reference: str  # a tag or a digest

    @property
    def shown(self) -> str:
        sep = "@" if self.reference.startswith("sha256:") else ":"
        return f"{self.repository}{sep}{self.reference}"


class OutOfTime(Exception):
    """The mirror's deadline has passed: the check stops where it is."""


class NoAnswer(Exception):
    """No complete HTTP answer: args[0] says why, in a few words."""


class Clock:
    def __init__(self, until: float) -> None:
        self.until = until

    def timeout(self, step: float) -> float:
        """A socket timeout for the next step: the step's own, cut to what is left."""
        left = self.until - time.monotonic()
        if left <= 0:
            raise OutOfTime()
        return min(step, left)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    ms: float

    def v2_summary(self) -> dict[str, Any]:
        api = self.headers.get(net.API_HEADER)
        return {
            "status": self.status,
            "api_version": net.printable(api, 60) if api is not None else None,
            "auth": net.parse_www_authenticate(self.headers.get("www-authenticate")),
        }

    def error_code(self) -> str | None:
        """The registry's error code (MANIFEST_UNKNOWN, UNAUTHORIZED, ...) from the JSON body."""
        try:
            errors = json.loads(self.body).get("errors") or []
            code = errors[0].get("code")
        except (ValueError, AttributeError, IndexError, TypeError):
            return None
        return net.printable(code, 60) if isinstance(code, str) else None


class _Connection(http.client.HTTPConnection):
    def __init__(self, client: Client) -> None:
        super().__init__(client.mirror.ep.host, client.mirror.port)
        self._client = client

    def connect(self) -> None:
        self.sock = self._client.open()


class Client:
    """Requests to one mirror, each on a fresh connection to the address that answered TCP."""

    def __init__(self, mirror: Mirror, address: net.Address, ctx: ssl.SSLContext | None, clock):
        self.mirror, self.address, self.ctx, self.clock = mirror, address, ctx, clock

    def open(self) -> socket.socket:
        sock = net.connect(self.address, self.mirror.port, self.clock.timeout(net.CONNECT_TIMEOUT))
        try:
            if self.ctx is not None:
                sock.settimeout(self.clock.timeout(net.TLS_TIMEOUT))
                sock = self.ctx.wrap_socket(sock, server_hostname=self.mirror.ep.host)
            sock.settimeout(self.clock.timeout(net.HTTP_TIMEOUT))
        except BaseException:
            sock.close()
            raise
        return sock

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        """GET base+path; the time includes connect and handshake, as a pull's first request."""
        from dockercfg import __version__

        sent = {"User-Agent": f"dockercfg/{__version__}", **(headers or {})}
        started = time.monotonic()
        conn = _Connection(self)
        try:
            conn.request("GET", self.mirror.base + path, headers=sent)
            response = conn.getresponse()
            body = response.read(net.MAX_BODY)
            found = {k.lower(): v for k, v in response.getheaders()}
            status = response.status
        except socket.timeout:
            self.clock.timeout(0)  # OutOfTime when the deadline is what cut the step short
            raise NoAnswer(f"no answer within {net.HTTP_TIMEOUT:g}s") from None
        except (OSError, http.client.HTTPException, ssl.SSLError) as err:
            raise NoAnswer(net.describe(err) or type(err).__name__) from None
        finally:
            conn.close()
        return Answer(status, found, body, round((time.monotonic() - started) * 1000, 1))

    def manifest(self, image: Image) -> dict[str, Any]:
        """What the mirror says to dockerd's manifest request, after the token dance if asked."""
        path = f"/v2/{image.repository}/manifests/{image.reference}"
        accept = {"Accept": ", ".join(MANIFEST_TYPES)}
        report: dict[str, Any] = {"image": image.shown, "status": None, "token": None}
        try:
            answer = self.get(path, accept)
            auth = net.parse_www_authenticate(answer.headers.get("www-authenticate"))
            if answer.status == 401 and auth and auth["scheme"].lower() == "bearer":
                token, report["token"] = self._token(auth, image.repository)
                if token:
                    answer = self.get(path, {**accept, "Authorization": f"Bearer {token}"})
        except NoAnswer as err:
            report["error"] = str(err)
            return report
        report["status"] = answer.status
        report["error"] = answer.error_code() if answer.status != 200 else None
        kind = answer.headers.get("content-type", "").split(";")[0].strip()
        report["media_type"] = net.printable(kind, 100) or None
        digest = answer.headers.get("docker-content-digest")
        report["digest"] = net.printable(digest, 80) if digest else None
        return report

    def _token(self, auth: dict[str, str], repository: str) -> tuple[str | None, str]:
        """An anonymous pull token from the realm, as dockerd gets one: (token, what happened)."""
        import urllib.error
        import urllib.request

        realm = auth.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None, f"the 401 names no usable token realm ({realm[:80]!r})"
        query = {"scope": f"repository:{repository}:pull"}
        if auth.get("service"):
            query["service"] = auth["service"]
        url = realm + ("&" if parts.query else "?") + urlencode(query)
        same = parts.hostname == self.mirror.ep.host and self.ctx is not None
        ctx = self.ctx if same else net.client_context(verify=True, system=True)
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
        )
        try:
            with opener.open(url, timeout=self.clock.timeout(net.HTTP_TIMEOUT)) as response:
                data = json.loads(response.read(MAX_TOKEN_BODY))
        except urllib.error.HTTPError as err:
            return None, f"the token realm {parts.hostname} answers {err.code}"
        except (OSError, ValueError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            shown = net.describe(reason) if isinstance(reason, BaseException) else str(reason)
            return None, f"no token from {parts.hostname}: {shown}"
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            return None, f"the token realm {parts.hostname} gave no token"
        return token, f"anonymous token from {parts.hostname}"

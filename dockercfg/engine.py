"""A tiny Docker Engine API client: GET /_ping, /info and /version over the daemon's unix socket.

Only what verification needs, with the standard library: the docker SDK would be a dependency
for three GET requests. Paths are unversioned ("/info", not "/v1.47/info"): dockerd serves them
at its own API version, so this works with every dockerd without negotiating.
"""

from __future__ import annotations

import http.client
import json
import os
import socket as _socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

from dockercfg.errors import EnvironmentProblem

DEFAULT_SOCKET = "/var/run/docker.sock"
MAX_BODY = 16 * 1024 * 1024  # /info is a few KiB; anything near this is not dockerd


class EngineUnavailable(EnvironmentProblem):
    """dockerd did not answer usefully: stopped, restarting, wrong socket, or not dockerd."""


def socket_path(env: Mapping[str, str] = os.environ, default: str = DEFAULT_SOCKET) -> str:
    """The daemon socket, from DOCKER_HOST=unix:///path like the docker CLI, else `default`."""
    host = env.get("DOCKER_HOST", "").strip()
    if not host:
        return default
    if host.startswith("unix://"):
        return host[len("unix://") :] or default
    raise EnvironmentProblem(
        f"only unix sockets are supported for verification: DOCKER_HOST={_one_line(host)}"
    )


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        # "localhost" only fills the Host header; dockerd ignores it on the unix socket.
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.settimeout(self.timeout)  # covers connect and every read, not just the first
        try:
            sock.connect(self.unix_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class Engine:
    """One daemon socket; every call is a fresh connection, so a restarted dockerd is fine."""

    def __init__(self, socket: str, timeout: float = 5.0) -> None:
        self.socket = socket
        self.timeout = timeout

    def ping(self) -> bool:
        """True when the daemon answers GET /_ping with 200; never raises."""
        try:
            status, _ = self._get("/_ping")
        except EngineUnavailable:
            return False
        return status == 200

    def info(self) -> dict[str, Any]:
        return self._get_json("/info")

    def version(self) -> dict[str, Any]:
        return self._get_json("/version")

    def distribution(self, reference: str) -> tuple[int, str]:
        """GET /distribution/REF/json: dockerd resolves the manifest with its own registry client
        and live configuration (read-only; nothing is pulled). (HTTP status, the daemon's message
        or "" on 200); EngineUnavailable when dockerd itself does not answer."""
        from urllib.parse import quote

        status, body = self._get(f"/distribution/{quote(reference, safe='/:@')}/json")
        try:
            value = json.loads(body)
        except ValueError:
            value = None
        message = value.get("message") if isinstance(value, dict) and status != 200 else None
        return status, _one_line(str(message), 400) if message else ""

    def _get_json(self, path: str) -> dict[str, Any]:
        status, body = self._get(path)
        where = f"dockerd at {self.socket} answered GET {path}"
        try:
            value = json.loads(body)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            value = None
        if status != 200:
            message = value.get("message") if isinstance(value, dict) else None
            detail = f": {_one_line(str(message))}" if message else ""
            raise EngineUnavailable(f"{where} with HTTP {status}{detail}")
        if not isinstance(value, dict):
            raise EngineUnavailable(f"{where} with something that is not a JSON object")
        return value

    def _get(self, path: str) -> tuple[int, bytes]:
        """(status, body); EngineUnavailable with one line for every way the request can fail."""
        conn = _UnixHTTPConnection(self.socket, self.timeout)
        try:
            conn.request("GET", path, headers={"Accept": "application/json"})
            response = conn.getresponse()
            if (response.length or 0) > MAX_BODY:  # parsed Content-Length; None if chunked
                raise EngineUnavailable(f"{self.socket} sent more than {MAX_BODY} bytes for {path}")
            # read() without a size: it is the call that notices a truncated body.
            body = response.read()
            status = response.status
        except _socket.timeout:  # before OSError: it is one (TimeoutError from Python 3.10)
            raise EngineUnavailable(
                f"dockerd at {self.socket} did not answer GET {path} within {self.timeout:g}s"
            ) from None
        except http.client.RemoteDisconnected:  # before HTTPException and OSError: it is both
            raise EngineUnavailable(
                f"{self.socket} closed the connection without answering GET {path}"
            ) from None
        except http.client.HTTPException:
            raise EngineUnavailable(
                f"{self.socket} sent a malformed HTTP response to GET {path} (is it dockerd?)"
            ) from None
        except FileNotFoundError:
            raise EngineUnavailable(
                f"cannot reach dockerd: {self.socket} does not exist (is dockerd running?)"
            ) from None
        except ConnectionRefusedError:
            raise EngineUnavailable(
                f"cannot reach dockerd at {self.socket}: connection refused (is dockerd running?)"
            ) from None
        except OSError as err:
            cause = os.strerror(err.errno) if err.errno else type(err).__name__
            raise EngineUnavailable(
                f"cannot reach dockerd at {self.socket}: {cause[:1].lower()}{cause[1:]}"
            ) from None
        finally:
            conn.close()
        return status, body


def _one_line(text: str, limit: int = 200) -> str:
    """Daemon-supplied text goes into a one-line error: no newlines, bounded length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass
class RegistryState:
    """The registry settings the running daemon actually uses, from /info."""

    insecure_cidrs: list[str] = field(default_factory=list)
    insecure_names: list[str] = field(default_factory=list)
    mirrors: list[str] = field(default_factory=list)


def registry_state(info: dict[str, Any]) -> RegistryState:
    """RegistryConfig of /info, normalised like the values dockercfg writes."""
    from dockercfg.model import InvalidValue, normalize_insecure

    config = info.get("RegistryConfig")
    config = config if isinstance(config, dict) else {}
    cidrs = []
    for cidr in _strings(config.get("InsecureRegistryCIDRs")):
        try:
            cidrs.append(normalize_insecure(cidr).value)
        except InvalidValue:  # not ours to judge: report it as the daemon shows it
            cidrs.append(cidr)
    index = config.get("IndexConfigs")
    # Every name in insecure-registries gets an IndexConfig with Secure false; docker.io and
    # names only present because of mirrors are Secure true.
    names = [
        name
        for name, entry in (index.items() if isinstance(index, dict) else [])
        if isinstance(entry, dict) and entry.get("Secure") is False
    ]
    mirrors = [m if m.endswith("/") else m + "/" for m in _strings(config.get("Mirrors"))]
    return RegistryState(_dedupe(cidrs), _dedupe(names), _dedupe(mirrors))


def _strings(value: object) -> list[str]:
    return [v.strip() for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    first_delay: float = 0.05,
    max_delay: float = 1.0,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Poll `predicate` with exponential backoff until it is true (True) or `timeout` passes.

    The predicate runs once more at the deadline, so a daemon that comes up during the last
    sleep still counts; the total is `timeout` plus the duration of that one last call.
    """
    deadline = clock() + timeout
    delay = first_delay
    while True:
        if predicate():
            return True
        remaining = deadline - clock()
        if remaining <= 0:
            return False
        sleep(min(delay, remaining))
        delay = min(delay * 2, max_delay)

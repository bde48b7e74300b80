"""Is a registry mirror any use? DNS, TCP, TLS, /v2/, a Docker Hub manifest and latency.

dockerd says nothing when a mirror is dead: it falls back to Docker Hub in silence, so dead and
slow mirrors stay configured for years. This check gives one verdict per mirror, with the reason:

- ok: a registry that serves the Hub image asked for, answering quickly;
- slow: it works, but its median /v2/ round trip is above the threshold (or it rate-limits);
- not-a-mirror: it answers, but is no registry, or does not serve Docker Hub content;
- dead: no address, no connection, a TLS handshake dockerd would refuse, or no HTTP answer.

Read-only, bounded in time: every mirror runs in its own daemon thread under one deadline, so a
server that trickles bytes cannot hold a run. The HTTP requests themselves are in mirrorhttp.py.
"""

from __future__ import annotations

import re
import ssl
import statistics
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dockercfg import mirrorhttp as web
from dockercfg import netprobe as net
from dockercfg.errors import DockercfgError, UsageError
from dockercfg.mirrorhttp import Image, Mirror

DEFAULT_IMAGE = "library/alpine:latest"  # on every Hub mirror: small and always present
DEADLINE = 15.0  # seconds per mirror; the mirrors run in parallel
SLOW_MS = 1500.0  # median /v2/ round trip (a fresh connection each) above which a mirror is slow
SAMPLES = 3
MAX_MIRRORS = 64
GRACE = 1.0  # beyond the deadline, for a thread that is finishing its verdict
VERDICTS = ("ok", "slow", "not-a-mirror", "dead")

HUB_ONLY = (
    "dockerd uses registry mirrors only for Docker Hub (docker.io) images: a mirror of another"
    " registry is never asked for that registry's images. Per-registry mirrors exist on"
    " containerd (/etc/containerd/certs.d/REGISTRY/hosts.toml), podman ([[registry.mirror]]"
    ' in registries.conf) and BuildKit (mirrors under [registry."REGISTRY"] in buildkitd.toml)'
)

_REPO = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


def parse_mirror(text: str) -> Mirror:
    """A registry-mirrors entry as dockerd accepts it; UsageError otherwise."""
    from dockercfg.model import InvalidValue, normalize_mirror

    try:
        url = normalize_mirror(text.strip())
    except InvalidValue as err:
        raise UsageError(err.message) from None
    parts = urlsplit(url)
    try:
        port = parts.port
        host = parts.hostname or ""
    except ValueError as err:
        raise UsageError(f"invalid mirror {url!r}: {err}") from None
    if not host:
        raise UsageError(f"invalid mirror {url!r}: no host")
    port = port or (443 if parts.scheme == "https" else 80)
    name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return Mirror(url, parts.scheme, net.Endpoint(name, host, port), parts.path.rstrip("/"))


def parse_image(text: str) -> Image:
    """NAME[:TAG|@DIGEST] on Docker Hub; a bare name is an official image (library/NAME)."""
    raw = text.strip()
    if raw.startswith("docker.io/"):
        raw = raw[len("docker.io/") :]
    name, at, digest = raw.partition("@")
    tag = "latest"
    if not at and ":" in name.rsplit("/", 1)[-1]:
        name, _, tag = name.rpartition(":")
    reference = digest if at else tag
    if "/" not in name:
        name = f"library/{name}"
    good = _DIGEST.match(reference) if at else _TAG.match(reference)
    if not _REPO.match(name) or not good or len(name) > 255:
        raise UsageError(
            f"--image {text!r}: give a Docker Hub image as NAME[:TAG] or NAME@sha256:…"
        )
    return Image(name, reference)


@dataclass
class MirrorVerdict:
    url: str
    verdict: str = "dead"  # one of VERDICTS
    reason: str = ""
    addresses: list[str] = field(default_factory=list)
    tls: dict[str, Any] | None = None  # {"status", "detail", "version"}; None for http://
    v2: dict[str, Any] | None = None  # {"status", "api_version", "auth"}
    hub: dict[str, Any] | None = None  # {"image", "status", "media_type", "digest", "token"}
    samples_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def latency_ms(self) -> float | None:
        return round(statistics.median(self.samples_ms), 1) if self.samples_ms else None

    @property
    def evidence(self) -> str:
        return f"{self.url}: {self.verdict}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["latency_ms"] = self.latency_ms
        return out


def check_mirror(
    url: str,
    image: str = DEFAULT_IMAGE,
    deadline: float = DEADLINE,
    *,
    slow_ms: float = SLOW_MS,
    certs_d: Path | None = None,
) -> MirrorVerdict:
    """One mirror's verdict, within `deadline` seconds."""
    return check_mirrors([url], image, deadline, slow_ms=slow_ms, certs_d=certs_d)[0]


def check_mirrors(
    urls: Sequence[str],
    image: str = DEFAULT_IMAGE,
    deadline: float = DEADLINE,
    *,
    slow_ms: float = SLOW_MS,
    certs_d: Path | None = None,
) -> list[MirrorVerdict]:
    """Every mirror's verdict, all at once: the whole run takes at most `deadline` (+1s).

    Every argument is checked before any traffic (UsageError). `certs_d`: the certs.d directory
    dockerd reads CAs from (HOST:PORT/*.crt), next to the system's CAs. Sorted: ok, slow,
    not-a-mirror, dead; faster first; then by URL.
    """
    if not 0 < deadline <= 300:
        raise UsageError(f"deadline {deadline:g}s: give 0 < seconds <= 300")
    if slow_ms <= 0:
        raise UsageError("the slow threshold must be a positive number of milliseconds")
    wanted = parse_image(image)
    mirrors = list({m.url: m for m in map(parse_mirror, urls)}.values())
    if len(mirrors) > MAX_MIRRORS:
        raise UsageError(f"{len(mirrors)} mirrors: at most {MAX_MIRRORS} at once")
    start = time.monotonic()
    runs = [_Run(m, wanted, start + deadline, slow_ms, certs_d) for m in mirrors]
    for run in runs:
        run.thread.start()
    for run in runs:
        run.thread.join(max(0.0, start + deadline + GRACE - time.monotonic()))
    return sorted((run.outcome(deadline) for run in runs), key=sort_key)


def dead(verdicts: Iterable[MirrorVerdict]) -> list[MirrorVerdict]:
    """The mirrors a pull can never use: what `remove-mirror --dead` and `fix` drop."""
    return [v for v in verdicts if v.verdict == "dead"]


def hub_only_hint(verdict: MirrorVerdict) -> str | None:
    """HUB_ONLY when the mirror is a registry that does not hold Docker Hub's images: most likely
    someone's own registry, added in the hope that dockerd pulls its images through it."""
    hub = verdict.hub or {}
    if verdict.verdict == "not-a-mirror" and hub.get("status") in (401, 403, 404):
        return HUB_ONLY
    return None


def sort_key(v: MirrorVerdict) -> tuple:
    """ok, slow, not-a-mirror, dead; faster first; then by URL."""
    latency = v.latency_ms if v.latency_ms is not None else float("inf")
    return (VERDICTS.index(v.verdict), latency, v.url)


class _Run:
    """One mirror's check in a daemon thread; the verdict it has so far is always readable."""

    def __init__(
        self, mirror: Mirror, image: Image, until: float, slow_ms: float, certs_d: Path | None
    ):
        self.mirror, self.image, self.until = mirror, image, until
        self.slow_ms, self.certs_d = slow_ms, certs_d
        self.verdict = MirrorVerdict(mirror.url)
        self.started = time.monotonic()
        self.done = False
        self.step = "resolving the name"
        self.thread = threading.Thread(target=self._main, name="dockercfg-mirror", daemon=True)

    def outcome(self, deadline: float) -> MirrorVerdict:
        v = self.verdict
        if not self.done:
            late = f"no complete answer within {deadline:g}s ({self.step})"
            v.verdict, v.reason = ("slow", late) if _is_registry(v.v2) else ("dead", late)
            v.elapsed_s = round(time.monotonic() - self.started, 3)
        return v

    def _main(self) -> None:
        try:
            self._check()
        except web.OutOfTime:
            return  # outcome() says which step ran out of time
        except DockercfgError as err:
            self._say("dead", err.message)
        except Exception as err:  # an unexpected failure is still one verdict, not a traceback
            self._say("dead", f"{self.step}: {type(err).__name__}: {err}")
        else:
            self.done = True
        self.verdict.elapsed_s = round(time.monotonic() - self.started, 3)

    def _say(self, verdict: str, reason: str) -> None:
        self.verdict.verdict, self.verdict.reason = verdict, reason
        self.done = True

    def _check(self) -> None:
        m, v, clock = self.mirror, self.verdict, web.Clock(self.until)
        addresses = net.resolve(m.ep.host, clock.timeout(net.RESOLVE_TIMEOUT))
        v.addresses = [net.shown_address(a) for a in addresses]
        self.step = "connecting"
        address = net.first_open(m.ep, addresses, m.port)
        client = web.Client(m, address, self._context() if m.scheme == "https" else None, clock)
        if m.scheme == "https":
            self.step = "the TLS handshake"
            report = net.inspect_tls(m.ep, address, client.ctx)
            v.tls = {"status": report.status, "detail": report.detail, "version": report.version}
            if report.status != "ok":
                return self._say("dead", f"TLS: {report.detail}: dockerd refuses this mirror")
        self.step = "GET /v2/"
        try:
            answer = client.get("/v2/")
        except web.NoAnswer as err:
            return self._say("dead", f"no HTTP answer to GET /v2/: {err}")
        v.samples_ms.append(answer.ms)
        v.v2 = answer.v2_summary()
        if answer.status >= 500:
            return self._say("dead", f"GET /v2/ answers {answer.status}")
        if not _is_registry(v.v2):
            return self._say(
                "not-a-mirror",
                f"not a registry: GET /v2/ answers {answer.status}"
                " without Docker-Distribution-API-Version: registry/2.0",
            )
        self.step = "measuring latency"
        for _ in range(SAMPLES - 1):
            try:
                v.samples_ms.append(client.get("/v2/").ms)
            except web.NoAnswer:
                break  # the first answer counts; a flaky second one shows in the manifest step
        self.step = f"GET the manifest of {self.image.shown}"
        v.hub = client.manifest(self.image)
        self._judge()

    def _judge(self) -> None:
        v, hub = self.verdict, self.verdict.hub or {}
        status, shown = hub.get("status"), self.image.shown
        if status == 200:
            median = v.latency_ms or 0.0
            if median > self.slow_ms:
                return self._say(
                    "slow",
                    f"median /v2/ round trip {median:g} ms over {len(v.samples_ms)} requests"
                    f" (slow above {self.slow_ms:g} ms)",
                )
            kind = hub.get("media_type") or "a manifest"
            return self._say("ok", f"serves {shown} ({kind}); median {median:g} ms")
        error = f" ({hub['error']})" if hub.get("error") else ""
        if status == 429:
            return self._say("slow", f"rate-limited: the manifest of {shown} answers 429{error}")
        if status is None:
            return self._say("dead", f"no answer to the manifest request of {shown}{error}")
        if status >= 500:
            return self._say("dead", f"the manifest of {shown} answers {status}{error}")
        if status in (401, 403):
            return self._say(
                "not-a-mirror",
                f"the manifest of {shown} needs credentials ({status}{error}): not an open Hub"
                " mirror",
            )
        return self._say(
            "not-a-mirror", f"does not serve Docker Hub content: {shown} answers {status}{error}"
        )

    def _context(self) -> ssl.SSLContext:
        """The trust dockerd uses for this host: the system's CAs and certs.d/HOST:PORT/*.crt."""
        directory = self.certs_d / self.mirror.ep.name if self.certs_d else None
        cafiles = sorted(directory.glob("*.crt")) if directory and directory.is_dir() else []
        try:
            return net.client_context(verify=True, system=True, cafiles=cafiles)
        except (ssl.SSLError, OSError):  # dockerd skips what it cannot parse in a .crt
            return net.client_context(verify=True, system=True)


def _is_registry(v2: dict[str, Any] | None) -> bool:
    if not v2:
        return False
    return v2.get("api_version") == "registry/2.0" or (v2["status"] == 401 and bool(v2["auth"]))

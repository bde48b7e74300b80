"""The mirror check where a change or a report depends on it.

- `add-mirror` checks each mirror it is about to add: a dead one is refused (MirrorDead, exit 5)
  unless `--force`; a slow one or one that does not serve Docker Hub content is added with a
  warning. A mirror already configured is not checked: no change, no traffic.
- `remove-mirror --dead` and `fix --drop-dead-mirrors` drop the configured mirrors whose verdict
  is dead (never the slow ones), each named with its evidence.
- `validate --online` reports dead mirrors as warnings.

The verdicts come from mirrorcheck; this module decides what each one means for a change. Every
mirror is checked at most once per run, before the change takes its locks; a mirror found new only
under the lock (another run changed the file meanwhile) is checked there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dockercfg import mirrorcheck as check
from dockercfg.detect import Host
from dockercfg.errors import MirrorDead, UsageError
from dockercfg.mirrorcheck import MirrorVerdict
from dockercfg.result import Result
from dockercfg.targets.daemon_json import MIRRORS_KEY

ADD_DEADLINE = 10.0  # seconds per mirror for a change: long enough for a slow mirror to answer


@dataclass(frozen=True)
class CheckSettings:
    """How mirrors are checked: the Hub image asked for, the per-mirror deadline, the slow mark."""

    image: str = check.DEFAULT_IMAGE
    deadline: float = ADD_DEADLINE
    slow_ms: float = check.SLOW_MS

    def validate(self) -> None:
        """Argument errors (exit 2) before the host is looked at or any traffic is sent."""
        check.parse_image(self.image)
        if not 0 < self.deadline <= 300:
            raise UsageError(f"--deadline {self.deadline:g}: give 0 < seconds <= 300")
        if self.slow_ms <= 0:
            raise UsageError("--slow-ms must be a positive number of milliseconds")


class Verdicts:
    """The verdicts of one run, each mirror checked once; all unknown ones at once."""

    def __init__(self, settings: CheckSettings, target: str, root: Path) -> None:
        from dockercfg.certs import certs_dir

        self.settings = settings
        self.certs_d = Path(certs_dir(target, root)[0])
        self.known: dict[str, MirrorVerdict] = {}

    def of(self, urls: list[str]) -> list[MirrorVerdict]:
        wanted = [check.parse_mirror(u).url for u in urls]
        unknown = [u for u in dict.fromkeys(wanted) if u not in self.known]
        if unknown:
            s = self.settings
            for verdict in check.check_mirrors(
                unknown, s.image, s.deadline, slow_ms=s.slow_ms, certs_d=self.certs_d
            ):
                self.known[verdict.url] = verdict
        return [self.known[u] for u in wanted]

    def report(self, result: Result) -> None:
        """Every verdict of this run in `data.mirror_check`."""
        result.data.update(self.data())

    def data(self) -> dict[str, Any]:
        """`mirror_check`: the verdicts, sorted as `dockercfg mirrors` sorts them."""
        ordered = sorted(self.known.values(), key=check.sort_key)
        return {"mirror_check": [v.to_json() for v in ordered]}


def checkable(values: list[str], result: Result) -> list[str]:
    """The values the check can take; an unparsable one is a warning (validate reports it)."""
    out = []
    for value in values:
        url = _url_or_none(value)
        if url is None:
            result.warnings.append(f"mirror {value!r} not checked: it is not a valid mirror URL")
        else:
            out.append(url)
    return out


class Gate:
    """What ops.mutate asks of a mirror check; the default checks nothing."""

    def values(self, host: Host, result: Result, values: list[str]) -> list[str]:
        """The values the command changes (given: the parsed arguments)."""
        return values

    def prepare(self, host: Host) -> None:
        """Before the locks are taken: the slow part (network) goes here."""

    def admit(self, added: list[str], result: Result, insecure: list[str]) -> None:
        """Under the lock, before anything is written: the mirrors dockerd's list gains."""


def configured_mirrors(host: Host) -> list[str]:
    """The mirrors in the target's file, as written (read without the lock)."""
    from dockercfg import safefile, targets

    doc = targets.load(host, safefile.read_bytes(host.config_path) or b"")
    return [v for v in doc.get_list(MIRRORS_KEY) or [] if isinstance(v, str)]


class DeadGate(Gate):
    """remove-mirror --dead: the values are the configured mirrors whose verdict is dead."""

    def __init__(self, settings: CheckSettings, root: Path) -> None:
        self.settings, self.root = settings, root

    def values(self, host: Host, result: Result, values: list[str]) -> list[str]:
        configured = configured_mirrors(host)
        if not configured:
            result.warnings.append("no registry mirrors configured: nothing to check")
            return []
        return dead_among(Verdicts(self.settings, host.target, self.root), configured, result)


class AddGate(Gate):
    """add-mirror's check: refuse dead mirrors (unless forced), warn about the doubtful ones."""

    def __init__(self, settings: CheckSettings | None, root: Path, force: bool) -> None:
        self.settings, self.root, self.force = settings, root, force
        self.verdicts: Verdicts | None = None  # None: not checked (--force, another registry)

    def values(self, host: Host, result: Result, values: list[str]) -> list[str]:
        if self.settings is not None and not self.force:
            self.verdicts = Verdicts(self.settings, host.target, self.root)
        self.wanted = values
        return values

    def prepare(self, host: Host) -> None:
        """Check the mirrors not configured yet, outside the locks: no traffic for a no-op."""
        if self.verdicts is None:
            return
        present = {_url_or_none(v) for v in configured_mirrors(host)}
        new = [v for v in self.wanted if v not in present]
        if new:
            self.verdicts.of(new)

    def admit(self, added: list[str], result: Result, insecure: list[str]) -> None:
        """Called with the mirrors a change adds (before it is written, dry runs included)."""
        if not added:
            return
        hint = _own_registry_hint(added, insecure)
        if self.verdicts is None:
            if hint and hint not in result.warnings:
                result.warnings.append(hint)
            result.data["mirror_check"] = "not checked: --force" if self.force else "not checked"
            return
        verdicts = self.verdicts.of(added)
        self.verdicts.report(result)
        dead = check.dead(verdicts)
        if dead:
            listed = "; ".join(v.evidence for v in dead)
            raise MirrorDead(
                f"refusing a dead mirror: {listed} (dockerd would fall back to Docker Hub in"
                " silence; --force adds it anyway)",
                data=self.verdicts.data(),
            )
        for verdict in verdicts:
            if verdict.verdict != "ok":
                result.warnings.append(f"added anyway: {verdict.evidence}")
        hints = {check.hub_only_hint(v) for v in verdicts} | {hint}
        result.warnings += sorted(h for h in hints - {None} if h not in result.warnings)


def _own_registry_hint(added: list[str], insecure: list[str]) -> str | None:
    """The Hub-only rule, offline: a mirror on a host the file also lists as an insecure registry
    is most likely that registry itself, added in the hope dockerd pulls its images through it."""
    hosts = {entry.rstrip("/").lower() for entry in insecure}
    for url in added:
        parts = urlsplit(url)
        if parts.netloc.lower() in hosts or (parts.hostname or "").lower() in hosts:
            return f"{url} is also an insecure registry here: {check.HUB_ONLY}"
    return None


def dead_among(verdicts: Verdicts, values: list[str], result: Result) -> list[str]:
    """The configured mirrors whose verdict is dead, each named with its evidence."""
    found = check.dead(verdicts.of(checkable(values, result)))
    verdicts.report(result)
    for verdict in found:
        result.warnings.append(f"dropping a dead mirror: {verdict.evidence}")
    if not found and values:
        result.warnings.append(f"no dead mirror among the {len(values)} configured")
    return [v.url for v in found]


def online_problems(verdicts: Verdicts, values: list[str], result: Result) -> list:
    """validate --online: one warning per dead mirror (a warning: validate still exits 0)."""
    from dockercfg.problems import WARNING, Problem

    urls = checkable(values, result)
    found = {v.url: v for v in check.dead(verdicts.of(urls))}
    verdicts.report(result)
    problems = []
    for index, value in enumerate(values):
        verdict = found.get(_url_or_none(value) or "")
        if verdict is not None:
            problems.append(
                Problem(
                    "dead-mirror",
                    f"registry-mirrors[{index}]",
                    verdict.evidence,
                    WARNING,
                    "dockercfg remove-mirror --dead removes the dead ones",
                )
            )
    return problems


def _url_or_none(value: str) -> str | None:
    try:
        return check.parse_mirror(value).url
    except UsageError:
        return None

"""dockerd as an engine of the transaction: how a change reaches the running daemon, and the
proof that it did (`/info`, bounded, with backoff).

`--apply auto` reloads (SIGHUP: no container stops) when every changed key is reloadable on the
installed dockerd and the service can reload; it restarts otherwise. A daemon the admin stopped
is not started (unless `--apply restart`): the files are written and validated as the next start
will read them, and `applied` is "none".
"""

from __future__ import annotations

from pathlib import Path

from dockercfg.detect import Host
from dockercfg.dockerd_checks import effective_settings, newest_version
from dockercfg.errors import ApplyFailed, DockercfgError, UsageError
from dockercfg.result import Result

RELOAD_TIMEOUT = 30.0  # seconds for the service manager's job
RESTART_TIMEOUT = 120.0
VERIFY_TIMEOUT = {"reload": 10.0, "restart": 60.0}
STOPPED_NOTE = (
    "dockerd is not running: the change takes effect when it starts"
    " (`--apply restart` starts it now)"
)


def expected_for(host: Host, doc):
    """What /info must show once `doc` is in force (with the flags dockerd then gets)."""
    from dockercfg.conflicts import flag_settings
    from dockercfg.verify import expected_from

    config, flags, _ = effective_settings(host, doc)
    return expected_from(config, flag_settings(flags))


def choose_mode(host: Host, apply: str, keys: list[str], service, expected, result: Result) -> str:
    """reload when every changed key reloads on SIGHUP and the service can do it; else restart."""
    from dockercfg import targets

    if targets.for_host(host).holds_flags:
        if apply == "reload":
            raise UsageError(
                f"{host.variable} flags are read only when dockerd starts: use --apply restart"
            )
        return "restart"
    if apply != "auto":
        return apply
    from dockercfg.schema import is_reloadable

    if not all(is_reloadable(k, host.dockerd_version or newest_version()) for k in keys):
        return "restart"
    if not service.can_reload():
        result.warnings.append(f"{service.name} cannot reload dockerd; restarting it")
        return "restart"
    stale = _stale_after_reload(host, expected)
    if stale:
        result.warnings.append(
            "a reload keeps the old value of a key missing from the file, so dockerd is"
            f" restarted ({'; '.join(stale)})"
        )
        return "restart"
    return "reload"


def _stale_after_reload(host: Host, expected) -> list[str]:
    from dockercfg.engine import Engine
    from dockercfg.verify import stale_after_reload

    if not expected.absent:
        return []
    try:
        return stale_after_reload(expected, Engine(host.socket).info())
    except DockercfgError:
        return []  # the daemon is not answering: the reload and verification will say so


def daemon_stopped(host: Host, service) -> bool:
    """No dockerd process and nothing answering on its socket: the admin stopped it."""
    from dockercfg.engine import Engine

    try:
        if service.main_pid() is not None:
            return False
    except DockercfgError:
        return False
    return not Engine(host.socket, timeout=2).ping()


def verify_live(host: Host, expected, timeout: float) -> None:
    """Wait (bounded, with backoff) until /info matches the file; raise ApplyFailed otherwise."""
    from dockercfg.engine import Engine, wait_until
    from dockercfg.verify import mismatches

    engine = Engine(host.socket)
    last: list[str] = ["the daemon did not answer on its socket"]

    def matches() -> bool:
        try:
            last[:] = mismatches(expected, engine.info())
        except DockercfgError as err:
            last[:] = [err.message]
            return False
        return not last

    if not wait_until(matches, timeout):
        raise ApplyFailed(f"dockerd did not take the new configuration: {'; '.join(last)}")


ROUND_TRIP_TIMEOUT = 10.0  # seconds, for all registries together (they are tried at once)


def report_reachability(host: Host, registries: list[str], result: Result) -> None:
    """After the config is live: can the daemon's own registry client reach each registry?
    Live but unreachable is not rolled back (the file is right; the registry may be down or on
    another port): it is said in one line with what the daemon saw and what to run."""
    from concurrent.futures import ThreadPoolExecutor

    from dockercfg.verify import round_trip

    with ThreadPoolExecutor(max_workers=min(8, len(registries))) as pool:
        found = list(pool.map(lambda r: round_trip(host.socket, r, ROUND_TRIP_TIMEOUT), registries))
    result.data["live"] = True
    result.data["reachable"] = {r: f.to_json() for r, f in zip(registries, found)}
    for registry, seen in zip(registries, found):
        if seen.reachable is not True:
            verdict = "not reached" if seen.reachable is False else "not checked"
            hint = f"; {seen.hint}" if seen.hint else ""
            result.warnings.append(
                f"{registry}: live in dockerd, {verdict} by it: {seen.said}{hint}"
            )


class DockerApplier:
    """Applies a daemon.json / DOCKER_OPTS change to dockerd and proves it through /info."""

    name = "dockerd"

    def __init__(
        self,
        host: Host,
        new_doc,
        old_doc,
        apply: str,
        keys: list[str],
        reach: list[str] | None = None,
    ) -> None:
        self.host = host
        self.reach = list(reach or [])  # registries the daemon must then reach: a round trip
        self.docs = {"forward": new_doc, "revert": old_doc}
        self.apply_mode = apply
        self.keys = keys
        self.done: dict[str, str] = {}  # phase -> "reload" | "restart" | "none"
        self.expected: dict[str, object] = {}

    def _service(self, result: Result):
        from dockercfg.services import for_host

        if self.apply_mode == "none":
            return None
        service = for_host(self.host)
        if service is None:
            result.warnings.append(
                f"--root {self.host.root} is set: no running dockerd is changed"
                if self.host.root != Path("/")
                else "no running dockerd was found; the change takes effect when dockerd starts"
            )
            return None
        if not service.can_restart and not service.can_reload():
            # Docker Desktop before 4.37: its VM is restarted from its own menu
            result.warnings.append(
                f"{service.name} cannot be restarted from here: {service.restart_by_hand}"
            )
            return None
        return service

    def apply(self, phase: str, result: Result) -> str:
        if phase == "revert":
            from dockercfg.services.command import wait_unfinished

            wait_unfinished(RESTART_TIMEOUT)  # an interrupted restart finishes before ours
            self.host.flags_override = None  # the restored files bring their flags back
            if self.done.get("forward", "none") == "none":
                self.done[phase] = "none"  # dockerd was never told: nothing to undo
                return "none"
        mode_asked = (
            self.apply_mode
            if phase == "forward"
            else ("restart" if self.apply_mode == "restart" else "auto")
        )
        service = self._service(result)
        if service is None:
            result.applied = self.done[phase] = "none"
            return "none"
        if mode_asked != "restart" and daemon_stopped(self.host, service):
            if phase == "revert":
                mode_asked = "restart"  # it ran before this change: bring it back
            else:
                result.warnings.append(STOPPED_NOTE)
                result.applied = self.done[phase] = "none"
                return "none"
        expected = self.expected[phase] = expected_for(self.host, self.docs[phase])
        keys = self.keys if phase == "forward" else []
        mode = choose_mode(self.host, mode_asked, keys, service, expected, result)
        if mode == "restart" and not service.can_restart:
            # A dockerd with no service manager: only a reload (SIGHUP) is ours to do.
            result.warnings.append(
                f"{service.name} cannot be restarted from here: {service.restart_by_hand}"
            )
            result.applied = self.done[phase] = "none"
            return "none"
        self.done[phase] = mode  # tried: a failed restart must still be undone
        try:
            if mode == "reload":
                service.reload(RELOAD_TIMEOUT)
            else:
                service.restart(RESTART_TIMEOUT)
        except DockercfgError as err:
            if phase == "revert":
                raise type(err)(f"{err.message}; {self._running()}") from None
            raise
        result.applied = self.done[phase] = mode
        return mode

    def verify(self, phase: str, result: Result) -> None:
        mode = self.done.get(phase, "none")
        if mode == "none":
            return
        verify_live(self.host, self.expected[phase], VERIFY_TIMEOUT[mode])
        result.verified = True
        if phase == "forward" and self.reach:
            report_reachability(self.host, self.reach, result)

    def _running(self) -> str:
        from dockercfg.engine import Engine

        if Engine(self.host.socket, timeout=2).ping():
            return "dockerd is running"
        return "dockerd is not running: check dockerd now"

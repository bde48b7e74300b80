"""Service managers driven by a command: sysvinit, upstart, snap, Docker Desktop, rootless systemd.

One class, `CommandService`; each manager is a factory choosing its argv, how it reloads and how the
daemon's pid is found:

- sysv():         `service docker restart`. Debian's /etc/init.d/docker has no `reload` action, so a
                  reload is SIGHUP to the pid in dockerd's pidfile (DOCKER_PIDFILE in
                  /etc/default/docker, else /var/run/docker.pid).
- upstart():      `initctl restart docker` (`initctl start` when it is stopped), reload `initctl
                  reload` (SIGHUP); without initctl, as sysv().
- snap():         `snap restart docker`; snap has no reload for it, so a reload is a restart.
- desktop():      `docker desktop restart` (Desktop >= 4.37), else exactly what to click.
- systemd_user(): rootless dockerd: `systemctl --user restart|reload docker.service`.

Every command runs bounded, in its own process group (a timeout kills the whole group, not just
`service`), with stdin closed; a failure is one ServiceError line ending with the last line of its
stderr. After a restart we wait (bounded poll with backoff) for a new dockerd pid, or for the daemon
to answer where the pid cannot be seen; ops.py then verifies /info.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

from dockercfg.services.base import ServiceError
from dockercfg.services.pids import (
    PidLookup,
    SysvSettings,
    inside,
    pidfile_lookup,
    process_alive,
    read_pid,
    sysv_settings,
)
from dockercfg.services.systemd import wait_for

LIVE = Path("/")
PROBE_TIMEOUT = 10.0  # seconds for a status/version probe
DESKTOP_CLICK = (
    "Docker Desktop → Settings → Docker Engine → Apply & restart"
    " (or Restart in the Docker Desktop tray menu)"
)


class CommandService:
    """A dockerd whose manager is driven by commands (see the module docstring)."""

    def __init__(
        self,
        name: str,
        restart_argv: list[str] | None,
        reload_argv: list[str] | None,
        pid_lookup: PidLookup | None,
        root: Path = LIVE,
        *,
        reload_by_signal: bool = False,
        start_argv: list[str] | None = None,
        ready: Callable[[], bool] | None = None,
        watch_start: Callable[[], Callable[[], str | None]] | None = None,
        no_restart: str = "",
        restart_by_hand: str = "restart it",
    ) -> None:
        """Arguments beyond the obvious ones:

        restart_argv: None when no command can restart it (then `no_restart` is the error, and
            `restart_by_hand` says what to do instead).
        reload_argv: None: reload by SIGHUP to `pid_lookup()` if `reload_by_signal`, else a
            reload is a restart (`can_reload()` is False, so ops.py says "restart").
        start_argv: run instead of restart_argv when no dockerd runs (upstart refuses to restart
            a stopped job).
        ready: "the daemon answers"; waited for after a restart when no pid can be seen.
        watch_start: called before a restart; returns a check giving a reason once the dockerd
            the manager started has died (to fail fast instead of waiting out the timeout).
        """
        self.name = name
        self.restart_argv = restart_argv
        self.reload_argv = reload_argv
        self.start_argv = start_argv
        self.root = root
        self.reload_by_signal = reload_by_signal
        self.can_restart = restart_argv is not None
        self.restart_by_hand = restart_by_hand
        self._pid_lookup = pid_lookup
        self._ready = ready
        self._watch_start = watch_start
        self._no_restart = no_restart

    def main_pid(self) -> int | None:
        return self._pid_lookup() if self._pid_lookup else None

    def can_reload(self) -> bool:
        return self.reload_argv is not None or (self.reload_by_signal and bool(self._pid_lookup))

    def reload(self, timeout: float) -> None:
        if self.reload_argv is not None:
            run_command(self.reload_argv, timeout)
        elif self.reload_by_signal:
            pid = self.main_pid()
            if pid is None:
                raise ServiceError(f"{self.name}: no running dockerd to send SIGHUP to")
            try:
                os.kill(pid, signal.SIGHUP)
            except OSError as err:
                raise ServiceError(
                    f"cannot send SIGHUP to dockerd (pid {pid}): {err.strerror}"
                ) from None
        else:
            self.restart(timeout)

    def restart(self, timeout: float) -> None:
        if self.restart_argv is None:
            raise ServiceError(self._no_restart or f"{self.name} cannot be restarted by a command")
        deadline = time.monotonic() + timeout
        old = self.main_pid()
        died = self._watch_start() if self._watch_start else (lambda: None)
        argv = self.start_argv if old is None and self.start_argv else self.restart_argv
        run_command(argv, timeout)
        remaining = max(1.0, deadline - time.monotonic())
        if self._pid_lookup is not None:

            def restarted() -> bool:
                pid = self.main_pid()
                if pid is not None and pid != old:
                    return True
                reason = died()
                if reason:
                    raise ServiceError(f"`{_shown(argv)}` ran, but {reason}")
                return False

            wait_for(restarted, remaining, f"a new dockerd after `{_shown(argv)}`")
        elif self._ready is not None:
            wait_for(self._ready, remaining, f"dockerd to answer after `{_shown(argv)}`")


# Running commands ------------------------------------------------------------------------------


def run_command(argv: list[str], timeout: float) -> str:
    """Run argv bounded by `timeout`; its stdout, or one ServiceError line (last stderr line)."""
    code, out, err = _run(argv, timeout)
    if code != 0:
        lines = [line.strip() for line in (err or out).splitlines() if line.strip()]
        detail = _clip(lines[-1]) if lines else "no output"
        raise ServiceError(f"`{_shown(argv)}` failed (exit {code}): {detail}")
    return out


# A manager command we were interrupted in the middle of (a signal): it goes on by itself, and
# whoever applies next waits for it first (`wait_unfinished`), so two restarts never overlap.
UNFINISHED: list[subprocess.Popen] = []


def _run(argv: list[str], timeout: float) -> tuple[int, str, str]:
    """Run argv in its own session with its output going to files, not pipes: if dockercfg dies
    (kill -9, Ctrl-C), an init script half-way through `restart` must not die with it at its
    next message, between stopping dockerd and starting it again."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: a timeout kills all of it
            )
        except FileNotFoundError:
            raise ServiceError(f"`{_shown(argv)}`: {argv[0]} not found") from None
        except OSError as error:
            raise ServiceError(f"cannot run `{_shown(argv)}`: {error.strerror}") from None
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise ServiceError(f"`{_shown(argv)}` timed out after {timeout:g}s") from None
        except BaseException:
            UNFINISHED.append(proc)  # interrupted: it finishes on its own
            raise
        return proc.returncode, _text(out), _text(err)


def _text(file) -> str:
    file.seek(0)
    return file.read().decode("utf-8", "replace")


def wait_unfinished(timeout: float) -> None:
    """Let a manager command an interrupted run left going finish (bounded), then go on."""
    deadline = time.monotonic() + timeout
    while UNFINISHED:
        proc = UNFINISHED.pop()
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    # Unkillable (D state): nothing more we can do; the caller reports the timeout.
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(2)


def _probe(argv: list[str]) -> tuple[int, str]:
    """A status command: (exit code, stdout); -1 when it cannot run or times out."""
    try:
        code, out, _err = _run(argv, PROBE_TIMEOUT)
    except ServiceError:
        return -1, ""
    return code, out


def _shown(argv: list[str]) -> str:
    return " ".join(argv)


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Pids --------------------------------------------------------------------------------------------


def _systemctl_main_pid(prefix: list[str], unit: str) -> PidLookup:
    def lookup() -> int | None:
        code, out = _probe([*prefix, "show", "-p", "MainPID", "--value", unit])
        value = out.strip()
        return int(value) if code == 0 and value.isdigit() and int(value) > 0 else None

    return lookup


# sysvinit ----------------------------------------------------------------------------------------


def _died_at_start(ssd_pidfile: Path, logfile: str) -> Callable[[], Callable[[], str | None]]:
    """Before a restart, note start-stop-daemon's pid; after it, a new pid there that is gone means
    the new dockerd died starting (say so now, not after the timeout). Any live process counts:
    between writing the pidfile and exec, the pid is still start-stop-daemon."""

    def snapshot() -> Callable[[], str | None]:
        old = read_pid(ssd_pidfile)

        def check() -> str | None:
            pid = read_pid(ssd_pidfile)
            if pid is None or pid == old or process_alive(pid):
                return None
            return f"dockerd (pid {pid}) exited right after it started; see {logfile}"

        return check

    return snapshot


def _root(host: object) -> Path:
    """Factories take a detect.Host (its `root`) or just a root Path; None is the live system."""
    if host is None:
        return LIVE
    return host if isinstance(host, Path) else Path(getattr(host, "root", LIVE))


def sysv(host: object = None, settings: SysvSettings | None = None) -> CommandService:
    root = _root(host)
    s = settings or sysv_settings(root)
    return CommandService(
        f"sysvinit (`service docker restart`; /etc/init.d/docker has no reload action,"
        f" so reload = SIGHUP to the pid in {s.pidfile})",
        ["service", "docker", "restart"],
        None,
        pidfile_lookup(inside(root, s.pidfile)),
        root,
        reload_by_signal=True,
        watch_start=_died_at_start(inside(root, s.ssd_pidfile), s.logfile),
    )


# upstart, snap, Desktop, rootless ----------------------------------------------------------------


def upstart(host: object = None, settings: SysvSettings | None = None) -> CommandService:
    """initctl when present; else the Debian/Ubuntu way, as sysv()."""
    root = _root(host)
    if shutil.which("initctl") is None:
        service = sysv(root, settings)
        service.name = "upstart without initctl: " + service.name
        return service

    def lookup() -> int | None:  # "docker start/running, process 1234"
        code, out = _probe(["initctl", "status", "docker"])
        found = re.search(r"start/running, process (\d+)", out) if code == 0 else None
        return int(found.group(1)) if found else None

    return CommandService(
        "upstart (`initctl restart docker`; reload = `initctl reload docker`, a SIGHUP)",
        ["initctl", "restart", "docker"],
        ["initctl", "reload", "docker"],
        lookup,
        root,
        start_argv=["initctl", "start", "docker"],
    )


def snap(host: object = None) -> CommandService:
    root = _root(host)
    return CommandService(
        "snap (`snap restart docker`; the snap has no reload, so reload = restart)",
        ["snap", "restart", "docker"],
        None,
        _systemctl_main_pid(["systemctl"], "snap.docker.dockerd.service"),
        root,
    )


def _docker_answers() -> bool:
    """The docker CLI reaches a daemon (through its current context, as the user's does)."""
    return _probe(["docker", "version", "--format", "{{.Server.Version}}"])[0] == 0


def desktop(host: object = None) -> CommandService:
    """`docker desktop restart` where the CLI plugin exists (Desktop >= 4.37)."""
    root = _root(host)
    if _probe(["docker", "desktop", "version"])[0] == 0:
        return CommandService(
            "Docker Desktop (`docker desktop restart`; no reload: restart)",
            ["docker", "desktop", "restart"],
            None,
            None,
            root,
            ready=_docker_answers,
        )
    return CommandService(
        "Docker Desktop (no `docker desktop` command before Desktop 4.37: restart it by hand)",
        None,
        None,
        None,
        root,
        no_restart=(
            "Docker Desktop cannot be restarted from the command line here (`docker desktop"
            f" restart` needs Desktop 4.37 or later): click {DESKTOP_CLICK}"
        ),
        restart_by_hand=DESKTOP_CLICK,
    )


def systemd_user(host: object = None, user: str | None = None) -> CommandService:
    """Rootless dockerd: the user's docker.service (ExecReload sends SIGHUP).

    `user` reaches that user's manager from root (`--machine=USER@.host`); run as root under sudo
    (pkexec, doas) it defaults to the invoking user, whose rootless dockerd detection chose.
    """
    from dockercfg.invoker import invoker

    root = _root(host)
    if user is None and os.geteuid() == 0:
        found = invoker(root)
        user = found.name if found.via else None
    prefix = ["systemctl", "--user"] + ([f"--machine={user}@.host"] if user else [])
    who = f"{user}'s" if user else "this user's"
    return CommandService(
        f"systemd --user ({who} docker.service, rootless)",
        [*prefix, "restart", "docker.service"],
        [*prefix, "reload", "docker.service"],
        _systemctl_main_pid(prefix, "docker.service"),
        root,
    )

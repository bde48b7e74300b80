"""Decide which file the running (or next) dockerd reads and what manages it, with the evidence.

The running system wins over the distribution name: a live dockerd's command line, then the
service definitions, then markers of Docker Desktop, snap and rootless installs. When two answers
are equally plausible, detection stops and asks for --target rather than guess.
"""

from __future__ import annotations

import os
from pathlib import Path

from dockercfg import hostfacts as facts
from dockercfg import invoker
from dockercfg.errors import EnvironmentProblem, UsageError
from dockercfg.hostmodel import (
    FlagSource,
    Host,
    Options,
    VersionProbe,
    flag_value,
)
from dockercfg.versions import format_version, parse_version

# Host, Options and FlagSource are defined in hostmodel.py; commands import them from here.
__all__ = ["FlagSource", "Host", "Options", "detect", "flag_value"]

TARGETS = ("auto", "daemon-json", "docker-opts", "sysconfig", "desktop", "rootless", "snap")
DAEMON_JSON = "/etc/docker/daemon.json"
DEFAULT_OPTS = "/etc/default/docker"
SYSCONFIG = "/etc/sysconfig/docker"
SNAP_JSON = "/var/snap/docker/current/config/daemon.json"


def detect(opts: Options, *, want_service: bool = True) -> Host:
    """Decide target, file and service; `want_service=False` skips D-Bus (validate, show)."""
    if opts.target not in TARGETS:
        raise UsageError(f"unknown --target {opts.target!r}; choose one of: {', '.join(TARGETS)}")
    root = opts.root
    d = _Detection(root, want_service)
    host = d.decide(opts.target)
    if opts.config:
        host.shown_path = opts.config
        host.config_path = facts.inside(root, opts.config)
        host.evidence.append(f"config file given with --config: {opts.config}")
    if opts.docker_version:
        version = parse_version(opts.docker_version)
        if version is None:
            raise UsageError(f"--docker-version {opts.docker_version!r} is not a version number")
        host.version_override = version
        host.evidence.append(
            f"dockerd version {format_version(version)} given with --docker-version"
        )
    else:
        host._probe = VersionProbe(root)
    return host


class _Detection:
    """One detection run: gathers facts lazily and builds the Host for a target."""

    def __init__(self, root: Path, want_service: bool) -> None:
        self.root = root
        self.want_service = want_service
        self.evidence: list[str] = []
        self.init, why = facts.init_system(root)
        self.evidence.append(f"init: {self.init} ({why})")
        self.unit = facts.read_unit(root) if self.init == "systemd" else None
        self.live_unit = None

    # -- the decision ---------------------------------------------------------------------------

    def decide(self, target: str) -> Host:
        if target == "auto":
            target = self._auto_target()
        builder = {
            "daemon-json": self._daemon_json,
            "docker-opts": lambda: self._shell(DEFAULT_OPTS, "DOCKER_OPTS"),
            "sysconfig": lambda: self._shell(SYSCONFIG, "OPTIONS"),
            "desktop": self._desktop,
            "rootless": self._rootless,
            "snap": self._snap,
        }[target]
        return builder()

    def _auto_target(self) -> str:
        running = self._running()
        if running is not None:
            if "/snap/" in running.exe or any("/var/snap/docker" in a for a in running.argv):
                self.evidence.append(f"dockerd pid {running.pid} runs from the docker snap")
                return "snap"
            if running.rootless or running.uid > 0:
                self.evidence.append(f"dockerd pid {running.pid} is rootless (RootlessKit)")
                return "rootless"
        kind = facts.os_kind(self.root)
        home, why = invoker.invoking_home(self.root)
        candidates: list[tuple[str, str]] = []
        if kind in ("darwin", "windows"):
            candidates.append(("desktop", f"{kind}: Docker Desktop"))
        elif kind == "wsl" and facts.wsl_desktop(self.root):
            candidates.append(
                ("desktop", "WSL with the Docker Desktop backend (/mnt/wsl/docker-desktop)")
            )
        elif facts.desktop_markers(home) and running is None:
            candidates.append(("desktop", "; ".join(facts.desktop_markers(home)) + f" ({why})"))
        if running is None and facts.snap_installed(self.root):
            candidates.append(("snap", "the docker snap is installed (/var/snap/docker)"))
        system = self._system_target()
        if system:
            candidates.append(system)
        if running is not None and not candidates:
            candidates.append(
                ("daemon-json", f"dockerd pid {running.pid} runs; no service manager")
            )
        if len(candidates) == 1:
            self.evidence.append(f"chose {candidates[0][0]}: {candidates[0][1]}")
            return candidates[0][0]
        found = "; ".join(f"{t} ({why})" for t, why in candidates) or "no Docker installation"
        raise EnvironmentProblem(
            f"cannot tell which Docker configuration this host uses: {found}; "
            "choose one with --target"
        )

    def _system_target(self) -> tuple[str, str] | None:
        if self.unit is not None:
            if any(f.lstrip("-") == SYSCONFIG for f in self.unit.environment_files) and any(
                "$OPTIONS" in " ".join(argv) or "$INSECURE_REGISTRY" in " ".join(argv)
                for argv in self.unit.exec_start
            ):
                return (
                    "sysconfig",
                    f"{self.unit.path} passes $OPTIONS from {SYSCONFIG} (RHEL docker)",
                )
            return "daemon-json", f"systemd unit {self.unit.path}"
        if self.init in ("upstart", "sysvinit"):
            if facts.exists(facts.inside(self.root, SYSCONFIG)) and not facts.exists(
                facts.inside(self.root, DEFAULT_OPTS)
            ):
                return "sysconfig", f"{self.init} with {SYSCONFIG} (RHEL/CentOS 6)"
            return "docker-opts", f"{self.init} reads DOCKER_OPTS from {DEFAULT_OPTS}"
        if self.init == "systemd" and self._running() is not None:
            return "daemon-json", "systemd host with a running dockerd"
        if facts.is_dir(facts.inside(self.root, "/etc/docker")):
            return "daemon-json", "/etc/docker exists and no service says otherwise"
        return None

    # -- building a Host per target ---------------------------------------------------------------

    def _host(self, target: str, shown: str, **kw) -> Host:
        running = self._running()
        host = Host(
            target=target,
            config_path=facts.inside(self.root, shown),
            shown_path=shown,
            root=self.root,
            init=self.init,
            dockerd_pid=running.pid if running else None,
            dockerd_argv=running.argv if running else [],
            evidence=self.evidence,
            **kw,
        )
        if running:
            self.evidence.append(f"dockerd pid {running.pid}: {' '.join(running.argv)}")
            host.flag_sources.append(FlagSource(_running_where(running.pid), running.argv))
        return host

    def _daemon_json(self) -> Host:
        host = self._host("daemon-json", DAEMON_JSON)
        self._system_service(host)  # first: systemd's MainPID names the daemon that matters
        shown = flag_value(host.dockerd_argv, "--config-file")
        for argv in self.unit.exec_start if self.unit else []:
            shown = shown or flag_value(argv, "--config-file")
        host.shown_path = shown or DAEMON_JSON
        host.config_path = facts.inside(self.root, host.shown_path)
        self.evidence.append(f"dockerd reads {host.shown_path}")
        static = self._static_flag_sources(host)
        if not host.flag_sources:
            host.flag_sources += static
        else:
            # Flags the running daemon has are already in its argv; keep the editable file so
            # `--migrate` knows where they come from (host.launch has the next start's flags).
            host.flag_sources += [
                FlagSource(s.where, [], s.file, s.variable) for s in static if s.file is not None
            ]
        return host

    def _shell(self, shown: str, variable: str) -> Host:
        host = self._host(
            "docker-opts" if shown == DEFAULT_OPTS else "sysconfig", shown, variable=variable
        )
        host.daemon_json = facts.inside(self.root, DAEMON_JSON)
        self.evidence.append(f"dockerd flags come from {variable} in {shown}")
        self._system_service(host)
        static = self._static_flag_sources(host)
        if not host.flag_sources:
            host.flag_sources += [s for s in static if s.file is None]
        return host

    def _desktop(self) -> Host:
        kind = facts.os_kind(self.root)
        if kind == "wsl":
            home, why = facts.wsl_windows_home(self.root)
            if home is None:
                raise EnvironmentProblem(
                    f"cannot tell which Windows user runs Docker Desktop: {why}; use --config"
                )
        else:
            user = invoker.invoker(self.root)
            home, why = facts.inside(self.root, user.home), user.why
        self.evidence.append(why)
        path = home / ".docker/daemon.json"
        shown = str(path) if self.root == facts.LIVE else "/" + str(path.relative_to(self.root))
        host = self._host("desktop", shown)
        host.config_path = path
        if kind == "darwin":
            host.default_socket = str(home / ".docker/run/docker.sock")
        elif kind == "linux":
            host.default_socket = str(home / ".docker/desktop/docker.sock")
        host.service_kind = "desktop" if self.root == facts.LIVE else "none"
        return host

    def _rootless(self) -> Host:
        user = invoker.invoker(self.root)
        path = facts.inside(self.root, user.config_home) / "docker/daemon.json"
        shown = str(path) if self.root == facts.LIVE else "/" + str(path.relative_to(self.root))
        self.evidence.append(f"rootless dockerd reads {shown} ({user.why})")
        # The daemon is that user's own rootless dockerd, never root's (which is all root's
        # auto-detection looks at): its flags and its socket are the ones that count.
        theirs = [p for p in self.procs if p.uid == user.uid and (p.rootless or p.uid > 0)]
        self._running_cache = theirs[0] if len(theirs) == 1 else None
        host = self._host("rootless", shown)
        host.config_path = path
        host.default_socket = f"{user.runtime_dir}/docker.sock"
        host.service_kind = "systemd-user" if self.root == facts.LIVE else "none"
        host.unit = "docker.service"
        return host

    def _snap(self) -> Host:
        host = self._host("snap", SNAP_JSON)
        # The snap's wrapper passes these as flags, so they must never be in its daemon.json.
        host.flag_sources.append(
            FlagSource(
                "the docker snap's dockerd wrapper",
                ["--group", "docker", "--exec-root", "x", "--data-root", "x", "--pidfile", "x"],
            )
        )
        host.service_kind = "snap" if self.root == facts.LIVE else "none"
        return host

    # -- helpers ----------------------------------------------------------------------------------

    @property
    def procs(self) -> list[facts.Process]:
        """The dockerd processes in /proc, scanned on first use (a pidfile may name it first)."""
        if not hasattr(self, "_procs"):
            self._procs = facts.dockerd_processes(self.root)
        return self._procs

    def _running(self):
        if not hasattr(self, "_running_cache"):
            self._running_cache = self._find_running()
        return self._running_cache

    def _find_running(self):
        if self.init in ("sysvinit", "upstart") and self.root == facts.LIVE:
            pid = self._pidfile_pid()
            if pid:
                return facts.Process(pid, facts.process_argv(pid), 0, "", False)
        rootful = [p for p in self.procs if not p.rootless and p.uid <= 0]
        mine = [p for p in self.procs if p.uid == os.geteuid()]
        pool = rootful if os.geteuid() == 0 else (mine or rootful)
        return pool[0] if len(pool) == 1 else None

    def _pidfile_pid(self) -> int | None:
        """sysvinit/upstart: the daemon the init script started, named by its pidfile."""
        from dockercfg.services.pids import pidfile_lookup, sysv_settings

        settings = sysv_settings(self.root)
        pid = pidfile_lookup(facts.inside(self.root, settings.pidfile))()
        if pid:
            self.evidence.append(f"dockerd pid {pid} from the pidfile {settings.pidfile}")
        return pid

    def _system_service(self, host: Host) -> None:
        if self.root == facts.LIVE and self.init in ("sysvinit", "upstart"):
            host.service_kind = "upstart" if self.init == "upstart" else "sysv"
            return
        if self.root != facts.LIVE or self.init != "systemd":
            if host.dockerd_pid and self.root == facts.LIVE and host.service_kind == "none":
                host.service_kind = "signal"
            return
        host.service_kind, host.unit = "systemd", "docker.service"
        if self.want_service:
            from dockercfg.services.systemd import connect

            service = connect()
            host.service = service  # one connection for detection and for applying
            info = service.info()
            self.evidence.append(
                f"{service.name}: {info.active_state}, MainPID {info.main_pid or '-'}"
            )
            if info.fragment_path:
                # The unit systemd loaded (it may be another file than the usual ones) wins.
                paths = [info.fragment_path, *info.drop_in_paths]
                self.unit = facts.read_unit(self.root, paths=paths) or facts.UnitFile(
                    Path(info.fragment_path), info.exec_start, info.environment_files, paths
                )
            else:
                host.service_kind = "signal" if host.dockerd_pid else "none"
            if info.main_pid and info.main_pid != host.dockerd_pid:
                host.dockerd_pid, host.dockerd_argv = (
                    info.main_pid,
                    facts.process_argv(info.main_pid),
                )
                running = FlagSource(_running_where(info.main_pid), host.dockerd_argv)
                host.flag_sources[:1] = [running]

    def _static_flag_sources(self, host: Host) -> list[FlagSource]:
        """Flags the next start will pass, read as the init system that starts dockerd reads
        them (dockercfg.launch): the unit with its drop-ins and EnvironmentFiles under systemd,
        /etc/default/docker sourced by sh under sysvinit and upstart."""
        from dockercfg import launch

        command = self.unit.exec_start[-1][:1] if self.unit and self.unit.exec_start else []
        by_script = command[:1] == ["/etc/init.d/docker"]  # systemd runs the init script
        if self.unit is not None and not by_script:
            paths = self.unit.paths or [str(self.unit.path)]
            host.launch = launch.systemd_launch(self.root, paths, host.unit or "docker.service")
        elif self.init in ("sysvinit", "upstart") or by_script:
            shown, variable = (DEFAULT_OPTS, "DOCKER_OPTS")
            if host.target == "sysconfig":
                shown, variable = SYSCONFIG, "OPTIONS"
            upstart = self.init == "upstart" and not by_script
            script = "/etc/init/docker.conf" if upstart else "/etc/init.d/docker"
            program = [launch.Arg(launch.script_dockerd(self.root, script), script)]
            if not upstart:  # `dockerd -p "$DOCKER_PIDFILE" $DOCKER_OPTS`
                from dockercfg.services.pids import sysv_settings

                pidfile = sysv_settings(self.root).pidfile
                program += [launch.Arg("-p", script), launch.Arg(pidfile, script)]
            host.launch = launch.sh_launch(self.root, shown, variable, program)
            where = f"{variable} in {shown}"  # the file itself is the source of the flags
            real = facts.inside(self.root, shown)
            self.evidence.append(f"next start: {' '.join(host.launch.argv)} ({host.launch.where})")
            return [FlagSource(where, host.launch.argv, real, variable, host.launch.origins)]
        else:
            return []
        self.evidence.append(
            f"next start: {' '.join(host.launch.argv) or '(no ExecStart)'} ({host.launch.where})"
        )
        sources = [FlagSource(host.launch.where, host.launch.argv, origins=host.launch.origins)]
        for env_file in host.launch.env_files:
            found = [v for v in ("DOCKER_OPTS", "OPTIONS") if v in env_file.variables]
            variable = found[0] if found else None
            if variable:
                where = f"{variable} in {env_file.shown}"
                sources.append(FlagSource(where, [], env_file.path, variable))
        return sources


def _running_where(pid: int) -> str:
    return f"the command line of the running dockerd, pid {pid}"

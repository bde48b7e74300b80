"""CommandService and its factories: the argv each manager runs, timeouts, failures, waiting.

Real commands and real processes throughout (sh, sleep, signals, pidfiles). The only stand-ins are
`initctl` and the `docker desktop` plugin, which cannot run here: the FAKE_BIN directory holds
recorded-behaviour fakes of them, put first on PATH, and each logs the argv it was given.
`service docker restart` itself is never run here (it would restart this host's dockerd); the real
init-script path is tests/integration/test_sysv_story.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from support import require_root

from dockercfg.services import ServiceError, pids
from dockercfg.services import command as cmd
from dockercfg.services.command import CommandService

# Fakes ------------------------------------------------------------------------------------------

FAKE_INITCTL = """\
#!/bin/sh
# FAKE initctl (upstart 1.12 job control, recorded behaviour) for the unit tests only.
echo "initctl $*" >> {log}
state={state}
case "$1" in
  --version) echo "initctl (upstart 1.12.1)" ;;
  status) if [ -s $state ]; then echo "docker start/running, process $(cat $state)";
          else echo "docker stop/waiting"; fi ;;
  restart) [ -s $state ] || {{ echo "initctl: Unknown instance: " >&2; exit 1; }}
           echo $(( $(cat $state) + 1 )) > $state
           echo "docker start/running, process $(cat $state)" ;;
  start) echo 500 > $state; echo "docker start/running, process 500" ;;
  reload) [ -s $state ] || {{ echo "initctl: Unknown instance: " >&2; exit 1; }} ;;
  *) echo "initctl: unknown command: $1" >&2; exit 1 ;;
esac
"""

FAKE_DOCKER_DESKTOP = """\
#!/bin/sh
# FAKE docker CLI with Docker Desktop >= 4.37's `docker desktop` plugin (recorded behaviour).
echo "docker $*" >> {log}
case "$1 $2" in
  "desktop version") echo "Docker Desktop version: 4.37.1 (178610)" ;;
  "desktop restart") sleep {restart_seconds} ;;
  "version --format") echo "27.4.0" ;;
  *) echo "docker: unknown command: $*" >&2; exit 1 ;;
esac
"""

FAKE_DOCKER_OLD = """\
#!/bin/sh
# FAKE docker CLI of a Docker Desktop older than 4.37: no `desktop` plugin (recorded behaviour).
echo "docker $*" >> {log}
echo "docker: 'desktop' is not a docker command." >&2
echo "See 'docker --help'" >&2
exit 1
"""


class FakeBin:
    """A directory of FAKE commands first on PATH, and the log of the argv they were run with."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.dir = tmp_path / "FAKE-bin"
        self.dir.mkdir()
        self.log = tmp_path / "FAKE-calls.log"
        self.log.touch()
        self.state = tmp_path / "FAKE-initctl-docker.pid"
        monkeypatch.setenv("PATH", f"{self.dir}{os.pathsep}/usr/sbin:/usr/bin:/sbin:/bin")

    def add(self, name: str, template: str, **values: object) -> None:
        path = self.dir / name
        path.write_text(template.format(log=self.log, state=self.state, **values))
        path.chmod(0o755)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeBin:
    return FakeBin(tmp_path, monkeypatch)


@pytest.fixture
def no_initctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def one_line(err: pytest.ExceptionInfo) -> str:
    message = err.value.message
    assert "\n" not in message and message == str(err.value)
    assert err.value.exit_code == 3
    return message


# A real process named dockerd (a copy of /bin/sleep: its comm is "dockerd") ---------------------


@pytest.fixture
def sleeping_dockerd(tmp_path: Path):
    binary = tmp_path / "bin/dockerd"
    binary.parent.mkdir()
    shutil.copy(shutil.which("sleep") or "/bin/sleep", binary)
    procs: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        # SIGHUP's default action (exit), also when the run inherited it ignored (nohup).
        default_hup = signal.signal(signal.SIGHUP, signal.SIG_DFL)
        try:
            procs.append(subprocess.Popen([str(binary), "60"]))
        finally:
            signal.signal(signal.SIGHUP, default_hup)
        return procs[-1]

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


def wait_exit(proc: subprocess.Popen) -> int:
    return proc.wait(5)


# The argv of each factory ----------------------------------------------------------------------


def test_sysv_restarts_with_service_and_reloads_by_sighup(tmp_path):
    service = cmd.sysv(tmp_path)  # no etc/default/docker under this root

    assert service.restart_argv == ["service", "docker", "restart"]
    assert service.reload_argv is None and service.reload_by_signal and service.can_reload()
    assert "no reload action" in service.name and "/var/run/docker.pid" in service.name
    assert service.can_restart


def test_snap_restarts_with_snap_and_never_reloads(tmp_path):
    service = cmd.snap(tmp_path)

    assert service.restart_argv == ["snap", "restart", "docker"]
    assert not service.can_reload() and "reload = restart" in service.name


def test_systemd_user_uses_the_user_manager(tmp_path, monkeypatch):
    for name in ("SUDO_USER", "SUDO_UID", "PKEXEC_UID", "DOAS_USER"):
        monkeypatch.delenv(name, raising=False)
    service = cmd.systemd_user(tmp_path)
    assert service.restart_argv == ["systemctl", "--user", "restart", "docker.service"]
    assert service.reload_argv == ["systemctl", "--user", "reload", "docker.service"]
    assert service.can_reload() and "rootless" in service.name

    as_alice = cmd.systemd_user(tmp_path, user="alice")
    assert as_alice.restart_argv == [
        "systemctl", "--user", "--machine=alice@.host", "restart", "docker.service",
    ]  # fmt: skip
    assert "alice" in as_alice.name


def test_systemd_user_under_sudo_reaches_the_invoking_users_manager(tmp_path, monkeypatch):
    require_root("SUDO_USER only counts for root")
    (tmp_path / "etc").mkdir(exist_ok=True)
    (tmp_path / "etc/passwd").write_text("bob:x:1000:1000::/home/bob:/bin/sh\n")
    monkeypatch.setenv("SUDO_USER", "bob")
    monkeypatch.setenv("SUDO_UID", "1000")
    assert "--machine=bob@.host" in cmd.systemd_user(tmp_path).restart_argv
    monkeypatch.delenv("SUDO_USER")
    monkeypatch.delenv("SUDO_UID")
    monkeypatch.setenv("DOAS_USER", "bob")  # doas says only the name
    assert "--machine=bob@.host" in cmd.systemd_user(tmp_path).restart_argv


def test_factories_take_a_detected_host_or_its_root(tmp_path):
    defaults(tmp_path, "DOCKER_PIDFILE=/srv/p.pid\n")
    host = SimpleNamespace(root=tmp_path, service_kind="sysv")  # what detect.Host carries
    assert "/srv/p.pid" in cmd.sysv(host).name and "/srv/p.pid" in cmd.sysv(tmp_path).name
    assert cmd.snap(host).restart_argv == ["snap", "restart", "docker"]


def test_upstart_without_initctl_falls_back_to_service(tmp_path, no_initctl):
    service = cmd.upstart(tmp_path)

    assert service.restart_argv == ["service", "docker", "restart"]
    assert service.reload_by_signal and "without initctl" in service.name


def test_upstart_with_initctl_restarts_reloads_and_waits_for_the_new_pid(tmp_path, fake_bin):
    fake_bin.add("initctl", FAKE_INITCTL)
    fake_bin.state.write_text("100\n")
    service = cmd.upstart(tmp_path)
    assert service.restart_argv == ["initctl", "restart", "docker"]
    assert service.main_pid() == 100

    service.restart(10)
    service.reload(10)

    assert service.main_pid() == 101
    actions = [c for c in fake_bin.calls() if c != "initctl status docker"]
    assert actions == ["initctl restart docker", "initctl reload docker"]


def test_upstart_starts_a_stopped_job_instead_of_restarting_it(tmp_path, fake_bin):
    fake_bin.add("initctl", FAKE_INITCTL)  # no state: "docker stop/waiting"
    service = cmd.upstart(tmp_path)

    service.restart(10)

    assert "initctl start docker" in fake_bin.calls()
    assert "initctl restart docker" not in fake_bin.calls()
    assert service.main_pid() == 500


def test_upstart_failure_is_one_line_with_the_last_stderr_line(tmp_path, fake_bin):
    fake_bin.add("initctl", FAKE_INITCTL)
    service = cmd.upstart(tmp_path)

    with pytest.raises(ServiceError) as err:
        service.reload(10)  # stopped job

    assert one_line(err) == "`initctl reload docker` failed (exit 1): initctl: Unknown instance:"


def test_desktop_restarts_with_the_desktop_cli_and_waits_for_the_daemon(tmp_path, fake_bin):
    fake_bin.add("docker", FAKE_DOCKER_DESKTOP, restart_seconds=0)
    service = cmd.desktop(tmp_path)
    assert service.restart_argv == ["docker", "desktop", "restart"] and service.can_restart
    assert not service.can_reload()

    service.restart(10)

    assert fake_bin.calls() == [
        "docker desktop version",
        "docker desktop restart",
        "docker version --format {{.Server.Version}}",
    ]


def test_desktop_restart_is_bounded(tmp_path, fake_bin):
    fake_bin.add("docker", FAKE_DOCKER_DESKTOP, restart_seconds=30)
    service = cmd.desktop(tmp_path)
    started = time.monotonic()

    with pytest.raises(ServiceError) as err:
        service.restart(0.5)

    assert time.monotonic() - started < 5
    assert one_line(err) == "`docker desktop restart` timed out after 0.5s"


def test_old_desktop_says_exactly_what_to_click(tmp_path, fake_bin):
    fake_bin.add("docker", FAKE_DOCKER_OLD)
    service = cmd.desktop(tmp_path)
    assert not service.can_restart and not service.can_reload()

    with pytest.raises(ServiceError) as err:
        service.restart(10)

    message = one_line(err)
    assert "Docker Desktop → Settings → Docker Engine → Apply & restart" in message
    assert "Restart in the Docker Desktop tray menu" in message and "4.37" in message
    assert fake_bin.calls() == ["docker desktop version"]  # nothing was run to restart it


def test_desktop_without_any_docker_cli_says_what_to_click(tmp_path, no_initctl):
    with pytest.raises(ServiceError) as err:
        cmd.desktop(tmp_path).restart(10)
    assert "Apply & restart" in one_line(err)


# Running commands: failures, timeouts ----------------------------------------------------------


def test_failure_reports_the_exit_code_and_only_the_last_stderr_line():
    service = CommandService("t", ["sh", "-c", "echo first >&2; echo 'the reason' >&2; exit 7"],
                             None, None)  # fmt: skip
    with pytest.raises(ServiceError) as err:
        service.restart(10)
    assert one_line(err).endswith("failed (exit 7): the reason")


def test_failure_without_stderr_uses_stdout_and_then_says_no_output():
    with pytest.raises(ServiceError) as err:
        cmd.run_command(["sh", "-c", "echo on stdout; exit 1"], 10)
    assert one_line(err).endswith("failed (exit 1): on stdout")
    with pytest.raises(ServiceError) as err:
        cmd.run_command(["false"], 10)
    assert one_line(err) == "`false` failed (exit 1): no output"


def test_a_long_error_line_is_clipped():
    with pytest.raises(ServiceError) as err:
        cmd.run_command(["sh", "-c", "printf '%0500d\\n' 0 >&2; exit 1"], 10)
    assert len(one_line(err)) < 400


def test_missing_command():
    with pytest.raises(ServiceError) as err:
        cmd.run_command(["no-such-command-dockercfg"], 10)
    assert one_line(err) == "`no-such-command-dockercfg`: no-such-command-dockercfg not found"


def test_timeout_kills_the_whole_process_group(tmp_path):
    child = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {child}; wait"
    started = time.monotonic()

    with pytest.raises(ServiceError) as err:
        cmd.run_command(["sh", "-c", script], 0.5)

    assert time.monotonic() - started < 5
    assert one_line(err) == f"`sh -c {script}` timed out after 0.5s"
    pid = int(child.read_text())
    deadline = time.monotonic() + 5
    while pids.process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pids.process_alive(pid), "the grandchild outlived the timeout"


def test_commands_get_no_stdin():
    assert cmd.run_command(["sh", "-c", "cat; echo done"], 10) == "done\n"


# Waiting after a restart -----------------------------------------------------------------------


def test_restart_waits_for_a_new_pid(tmp_path):
    pidfile = tmp_path / "pid"
    pidfile.write_text("111\n")
    # Returns at once, like start-stop-daemon --background; the "daemon" appears 0.3s later.
    later = f"(sleep 0.3; echo 222 > {pidfile}) >/dev/null 2>&1 &"
    service = CommandService("t", ["sh", "-c", later], None, lambda: pids.read_pid(pidfile))

    service.restart(10)

    assert service.main_pid() == 222


def test_restart_times_out_when_no_new_pid_appears(tmp_path):
    pidfile = tmp_path / "pid"
    pidfile.write_text("111\n")
    service = CommandService("t", ["true"], None, lambda: pids.read_pid(pidfile))
    started = time.monotonic()

    with pytest.raises(ServiceError) as err:
        service.restart(1)

    assert 0.9 < time.monotonic() - started < 5
    assert "waiting for a new dockerd after `true`" in one_line(err)


def test_restart_fails_fast_when_the_started_dockerd_died(tmp_path):
    ssd, log = tmp_path / "ssd.pid", "/var/log/docker.log"
    dead = subprocess.Popen(["true"])
    dead.wait()
    service = CommandService(
        "t",
        ["sh", "-c", f"echo {dead.pid} > {ssd}"],  # as start-stop-daemon --make-pidfile would
        None,
        pids.pidfile_lookup(tmp_path / "docker.pid"),  # dockerd never writes it
        watch_start=cmd._died_at_start(ssd, log),
    )
    started = time.monotonic()

    with pytest.raises(ServiceError) as err:
        service.restart(30)

    assert time.monotonic() - started < 5
    assert one_line(err).endswith(f"exited right after it started; see {log}")


def test_restart_without_pid_waits_until_the_daemon_answers():
    answers = iter([False, False, True])
    service = CommandService("t", ["true"], None, None, ready=lambda: next(answers))
    service.restart(10)
    assert next(answers, "drained") == "drained"


# Pidfiles, SIGHUP ------------------------------------------------------------------------------


def test_sysv_reload_sends_sighup_to_the_pid_in_the_pidfile(tmp_path, sleeping_dockerd):
    dockerd = sleeping_dockerd()
    (tmp_path / "run").mkdir()
    (tmp_path / "run/docker.pid").write_text(f"{dockerd.pid}\n")
    (tmp_path / "etc/default").mkdir(parents=True)
    (tmp_path / "etc/default/docker").write_text("DOCKER_PIDFILE=/run/docker.pid\n")
    service = cmd.sysv(tmp_path)
    deadline = time.monotonic() + 5
    while service.main_pid() is None and time.monotonic() < deadline:  # until exec is done
        time.sleep(0.02)
    assert service.main_pid() == dockerd.pid

    service.reload(10)

    assert wait_exit(dockerd) == -signal.SIGHUP  # sleep's default action for SIGHUP


def test_sysv_reload_without_a_running_dockerd_fails(tmp_path):
    (tmp_path / "var/run").mkdir(parents=True)
    (tmp_path / "var/run/docker.pid").write_text(f"{os.getpid()}\n")  # stale: not a dockerd
    service = cmd.sysv(tmp_path)

    assert service.main_pid() is None
    with pytest.raises(ServiceError) as err:
        service.reload(10)
    assert "no running dockerd" in one_line(err)


def test_a_zombie_dockerd_is_not_alive(sleeping_dockerd):
    dockerd = sleeping_dockerd()
    deadline = time.monotonic() + 5
    while not pids.dockerd_alive(dockerd.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pids.dockerd_alive(dockerd.pid)
    os.kill(dockerd.pid, signal.SIGKILL)
    while pids.stat_fields(dockerd.pid)[1] != "Z" and time.monotonic() < deadline:
        time.sleep(0.02)  # not reaped yet: a zombie

    assert not pids.dockerd_alive(dockerd.pid) and not pids.process_alive(dockerd.pid)


@pytest.mark.parametrize(
    "text",
    ["", "garbage\n", "-5\n", "0\n"],
)
def test_unusable_pidfiles_give_no_pid(tmp_path, text):
    (tmp_path / "pid").write_text(text)
    assert pids.pidfile_lookup(tmp_path / "pid")() is None
    assert pids.pidfile_lookup(tmp_path / "missing")() is None


# /etc/default/docker: where the init script's dockerd keeps its pid ------------------------------


def defaults(tmp_path: Path, text: str) -> Path:
    (tmp_path / "etc/default").mkdir(parents=True, exist_ok=True)
    (tmp_path / "etc/default/docker").write_text(text)
    return tmp_path


def test_sysv_settings_defaults_without_the_file(tmp_path):
    s = pids.sysv_settings(tmp_path)
    assert (s.pidfile, s.ssd_pidfile, s.logfile) == (
        "/var/run/docker.pid", "/var/run/docker-ssd.pid", "/var/log/docker.log",
    )  # fmt: skip
    assert "no readable /etc/default/docker" in s.evidence[0]


def test_sysv_settings_reads_the_variables_the_init_script_reads(tmp_path):
    root = defaults(tmp_path, (
        "# DOCKER_PIDFILE=/commented/out.pid\n"
        "DOCKER_PIDFILE=/srv/d/docker.pid\n"
        "export DOCKER_SSD_PIDFILE='/srv/d/ssd.pid'\n"
        'DOCKER_LOGFILE="/srv/d/docker.log"\n'
        'DOCKER_OPTS="--iptables=false"\n'
    ))  # fmt: skip
    s = pids.sysv_settings(root)
    assert (s.pidfile, s.ssd_pidfile, s.logfile) == (
        "/srv/d/docker.pid", "/srv/d/ssd.pid", "/srv/d/docker.log",
    )  # fmt: skip
    assert "DOCKER_PIDFILE=/srv/d/docker.pid in /etc/default/docker" in s.evidence


def test_a_pidfile_flag_in_docker_opts_wins_over_docker_pidfile(tmp_path):
    root = defaults(tmp_path, 'DOCKER_PIDFILE=/a.pid\nDOCKER_OPTS="-p /b.pid --pidfile=/c.pid"\n')
    assert pids.sysv_settings(root).pidfile == "/c.pid"
    assert "/c.pid" in cmd.sysv(root).name


def test_the_init_scripts_base_variable_is_understood_and_other_expansions_are_not(tmp_path):
    root = defaults(tmp_path, "DOCKER_PIDFILE=/var/run/$BASE-x.pid\nDOCKER_LOGFILE=$(evil)\n")
    s = pids.sysv_settings(root)
    assert s.pidfile == "/var/run/docker-x.pid"
    assert s.logfile == "/var/log/docker.log"
    assert any("DOCKER_LOGFILE" in e and "not a plain path" in e for e in s.evidence)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["-p", "/a"], "/a"),
        (["-p=/a"], "/a"),
        (["-p/a"], "/a"),
        (["--pidfile", "/a"], "/a"),
        (["--pidfile=/a", "-p", "/b"], "/b"),
        (["--iptables=false", "-H", "unix:///x"], None),
        (["--pidfile"], None),
    ],
)
def test_pidfile_flag(words, expected):
    assert pids.pidfile_flag(words) == expected

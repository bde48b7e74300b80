"""Daemon faults against a real dockerd under a real systemd (tests/integration/sandbox.py):
a reload dockerd rejects, a socket that never answers, a dockerd that dies on restart or never
comes back, a restart job that hangs, and a crash between the write and the apply.

In every case: exit 4, the previous daemon.json back byte for byte, dockerd running with it
whenever it can run at all, and a message that says which of those is true.

Some runs lower dockercfg's own waits (VERIFY_TIMEOUT and RESTART_TIMEOUT of
dockercfg.engines.docker, the Engine API timeout) through a small wrapper, so that a fault
that costs the real tool 10-120 s of waiting costs the suite a few seconds; the code paths are
the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
from pathlib import Path

import pytest
from adv_support import REPO, no_traceback, shown
from hostsetup import run
from sandbox import REGISTRY

pytestmark = pytest.mark.integration

BEFORE = '{\n  "insecure-registries": [],\n  "registry-mirrors": []\n}\n'
MIRROR_WITH_PATH = "https://mirror.example.com/some/path"

TUNED = """
import json, os, sys
from dockercfg import engine
from dockercfg.engines import docker as applying
tuning = json.loads(os.environ["DOCKERCFG_TEST_TUNING"])
if "verify" in tuning:
    applying.VERIFY_TIMEOUT.update({mode: tuning["verify"] for mode in applying.VERIFY_TIMEOUT})
if "restart" in tuning:
    applying.RESTART_TIMEOUT = tuning["restart"]
if "engine" in tuning:
    engine.Engine.__init__.__defaults__ = (tuning["engine"],)
from dockercfg.cli import main
main()
"""


def tool(sb, *args: str, env: dict | None = None, tuning: dict | None = None):
    """dockercfg ARGS against the sandbox; with `tuning`, through the TUNED wrapper."""
    if tuning is None:
        return sb.run_tool(*args, env=env)
    extra = {"DOCKERCFG_TEST_TUNING": json.dumps(tuning), "PYTHONPATH": str(REPO)}
    return run([sys.executable, "-c", TUNED, *args], env={**sb.env, **extra, **(env or {})},
               timeout=300, check=False, cwd=REPO)  # fmt: skip


def live_insecure(sb) -> list[str]:
    config = sb.registry_config()
    names = [k for k, v in config["IndexConfigs"].items() if v.get("Secure") is False]
    cidrs = [c for c in config.get("InsecureRegistryCIDRs") or [] if c not in ("127.0.0.0/8",)]
    return sorted(names + cidrs)


def last_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert lines, shown(proc)
    no_traceback(proc.stderr)
    return lines[-1]


def set_exec_start_pre(sb, command: str) -> None:
    """Add an ExecStartPre to docker.service; the next sb.reset() puts the default unit back."""
    text = sb.unit_path.read_text()
    text = text.replace("[Service]\n", f"[Service]\nExecStartPre=/bin/sh -c '{command}'\n", 1)
    sb.unit_path.write_text(text)
    sb.unit_text = text  # differs from the template: reset() rewrites and restarts
    sb.systemctl("daemon-reload")


# 1. Crash between write and apply ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["kill -9 right after the write", "--apply none"])
def test_a_written_but_unapplied_change_is_shown_and_applied(sb, how: str):
    sb.daemon_json.write_text(BEFORE)
    pid = sb.dockerd_pid()
    if how == "--apply none":
        proc = tool(sb, "add-insecure", REGISTRY, "--apply", "none")
        assert proc.returncode == 0, shown(proc)
    else:
        proc = tool(sb, "add-insecure", REGISTRY, env={"DOCKERCFG_FAULT": "write-done"})
        assert proc.returncode == -9, shown(proc)
    assert json.loads(sb.daemon_json.read_text())["insecure-registries"] == [REGISTRY]
    assert REGISTRY not in live_insecure(sb) and sb.dockerd_pid() == pid

    proc = tool(sb, "--json", "show")
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and REGISTRY in " ".join(result["data"]["pending"]), shown(proc)
    assert any("dockercfg apply" in w for w in result["warnings"]), result
    proc = tool(sb, "show")
    assert "live daemon differs from the file: run `dockercfg apply`" in proc.stdout, shown(proc)

    if how != "--apply none":
        # Killed mid-transaction: the journal says so, and the next change settles it by what is
        # live — dockerd never took the new file, so the file goes back to what dockerd runs.
        unfinished = json.loads(tool(sb, "--json", "show").stdout)["data"]["unfinished"]
        assert unfinished["command"] == "add-insecure", unfinished
        proc = tool(sb, "--json", "apply")
        result = json.loads(proc.stdout)
        assert proc.returncode == 0, shown(proc)
        assert result["data"]["recovered"]["outcome"] == "reverted", result
        assert sb.daemon_json.read_text() == BEFORE and sb.dockerd_pid() == pid
        assert REGISTRY not in live_insecure(sb)
        shown_now = json.loads(tool(sb, "--json", "show").stdout)["data"]
        assert shown_now["pending"] == [] and "unfinished" not in shown_now
        return
    proc = tool(sb, "--json", "apply")
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result["verified"] is True, shown(proc)
    assert result["applied"] == "reload" and sb.dockerd_pid() == pid
    assert REGISTRY in live_insecure(sb)
    assert json.loads(tool(sb, "--json", "show").stdout)["data"]["pending"] == []


# 2. A reload dockerd rejects ---------------------------------------------------------------------


# What a running dockerd refuses on SIGHUP while dockercfg, told it runs an older dockerd (the
# package was changed, the daemon not restarted), lets it through: per running version, the
# change, the version dockercfg is told, and what dockerd logs.
RELOAD_REJECTS = {
    "20": (
        ("add-mirror", "--force", MIRROR_WITH_PATH),
        "28.3.0",
        "invalid mirror",
        MIRROR_WITH_PATH,
    ),
    "26": (("add-insecure", REGISTRY), "20.10.24", "graph", REGISTRY),
}


def test_a_reload_dockerd_rejects_is_rolled_back(sb):
    version = sb.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    change, told, logged, named = RELOAD_REJECTS[version.split(".")[0]]
    before = BEFORE if change[0] == "add-mirror" else BEFORE.replace("{", '{\n  "graph": "/x",', 1)
    sb.daemon_json.write_text(before)
    pid, log_size = sb.dockerd_pid(), len(sb.dockerd_log())

    proc = tool(sb, "--docker-version", told, *change, tuning={"verify": 3})

    assert proc.returncode == 4, shown(proc)
    assert logged in sb.dockerd_log()[log_size:]  # dockerd did refuse it
    assert sb.daemon_json.read_text() == before
    assert sb.dockerd_pid() == pid and sb.mirrors_live() == []
    message = last_line(proc)
    assert named in message and "restored" in message, message
    assert "dockerd is running with it again" in message, message


# 3. A socket that never answers ------------------------------------------------------------------


class SilentDaemon:
    """A unix socket that accepts every connection and never says a word."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(64)
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                self.accepted.append(conn)

    def close(self) -> None:
        for conn in [self.server, *self.accepted]:
            with contextlib.suppress(OSError):
                conn.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


@pytest.fixture(scope="module")
def silent_socket_run(sandbox):
    """add-insecure while DOCKER_HOST points at a socket that never answers (once per module)."""
    sandbox.reset()
    sandbox.daemon_json.write_text(BEFORE)
    silent = SilentDaemon(sandbox.t / "silent.sock")
    try:
        proc = tool(sandbox, "add-insecure", REGISTRY, "--apply", "reload",
                    env={"DOCKER_HOST": f"unix://{silent.path}"},
                    tuning={"verify": 2, "engine": 1})  # fmt: skip
    finally:
        silent.close()
    return proc, sandbox.daemon_json.read_text(), sandbox.ping(), live_insecure(sandbox), silent


def test_a_socket_that_never_answers_ends_in_exit_4_with_the_file_restored(silent_socket_run):
    proc, content, running, live, silent = silent_socket_run
    assert proc.returncode == 4, shown(proc)
    assert content == BEFORE
    assert running and REGISTRY not in live  # the real dockerd got the old file back too
    message = last_line(proc)
    assert f"{silent.path} did not answer" in message, message


def test_a_socket_that_never_answers_is_reported_as_restored_but_unverified(silent_socket_run):
    message = last_line(silent_socket_run[0])
    assert "restored" in message and "rollback also failed" not in message, message


# 4. dockerd that dies on restart -----------------------------------------------------------------


def test_dockerd_that_dies_on_restart_is_rolled_back_and_running(sb):
    sb.daemon_json.write_text(BEFORE)
    set_exec_start_pre(sb, "! grep -q dies.test /etc/docker/daemon.json")
    pid = sb.dockerd_pid()

    proc = tool(sb, "add-insecure", "dies.test:5000", "--apply", "restart")

    assert proc.returncode == 4, shown(proc)
    assert sb.daemon_json.read_text() == BEFORE
    assert sb.ping() and sb.dockerd_pid() != pid
    assert "dies.test:5000" not in live_insecure(sb)
    message = last_line(proc)
    assert "restored" in message and "dockerd is running with it again" in message, message


@pytest.fixture(scope="module")
def never_back_run(sandbox):
    """dockerd cannot start at all after the first stop: the rollback cannot bring it back."""
    sandbox.reset()
    sandbox.daemon_json.write_text(BEFORE)
    deny = sandbox.t / "deny-start"
    set_exec_start_pre(sandbox, f"! test -e {deny}")
    deny.touch()
    try:
        proc = tool(sandbox, "add-insecure", "gone.test:5000", "--apply", "restart")
        state = sandbox.systemctl("is-active", "docker.service", check=False).stdout.strip()
        return proc, sandbox.daemon_json.read_text(), state
    finally:
        deny.unlink()
        if sandbox.write_unit():  # the default unit again
            sandbox.systemctl("daemon-reload")
        sandbox.systemctl("reset-failed", "docker.service", check=False)
        sandbox.restart_docker()


def test_dockerd_that_never_comes_back_leaves_the_old_file_and_says_so(never_back_run):
    proc, content, state = never_back_run
    assert proc.returncode == 4, shown(proc)
    assert content == BEFORE  # the file is restored even though dockerd cannot start
    assert state != "active"
    message = last_line(proc)
    assert "failed" in message and "check dockerd" in message, message


def test_dockerd_that_never_comes_back_message_states_file_and_daemon(never_back_run):
    message = last_line(never_back_run[0])
    assert "restored" in message and "not running" in message, message


# 5. A restart job that never finishes ------------------------------------------------------------


def test_a_restart_job_that_hangs_times_out_and_is_rolled_back(sb):
    sb.daemon_json.write_text(BEFORE)
    set_exec_start_pre(sb, "if grep -q slow.test /etc/docker/daemon.json; then sleep 120; fi")

    proc = tool(sb, "add-insecure", "slow.test:5000", "--apply", "restart",
                tuning={"restart": 8})  # fmt: skip

    assert proc.returncode == 4, shown(proc)
    message = last_line(proc)
    assert "timed out" in message and "restored" in message, message
    assert "dockerd is running with it again" in message, message
    assert sb.daemon_json.read_text() == BEFORE
    assert sb.ping() and "slow.test:5000" not in live_insecure(sb)


# 6. What dockercfg writes, dockerd takes ---------------------------------------------------------

TRICKY_INSECURE = [
    "registry.test:5000", "10.20.0.0/16", "[::1]:5000", "::ffff:10.0.0.0/104", "fd00::/8",
    "http://plain.test", "HTTPS://Upper.Test:443", "localhost:5000", "a.b-c.d:65535",
    "xn--bcher-kva.test", "192.168.7.3/24",
]  # fmt: skip
TRICKY_MIRRORS = ["https://mirror.example.com", "http://10.0.0.1:5000/", "https://[fd00::1]:443",
                  "HTTP://M.TEST", "http://m.test:00080"]  # fmt: skip


def test_the_running_dockerd_takes_every_tricky_value_as_written(sb):
    """Normalisation must match what dockerd itself stores, or verification would fail (exit 4)
    on a perfectly good change: the live /info is the judge."""
    sb.daemon_json.write_text("\ufeff" + BEFORE.replace("\n", "\r\n"))  # dockerd 20.10 refuses
    result = tool(sb, "--json", "add-insecure", *TRICKY_INSECURE)
    assert result.returncode == 0, shown(result)
    assert json.loads(result.stdout)["verified"] is True
    result = tool(sb, "--json", "add-mirror", "--force", *TRICKY_MIRRORS)
    assert result.returncode == 0, shown(result)
    assert json.loads(result.stdout)["verified"] is True
    assert not sb.daemon_json.read_bytes().startswith(b"\xef\xbb\xbf")

    sb.restart_docker()  # and a fresh start reads the same file without complaint
    assert sb.ping()
    proc = tool(sb, "--json", "show")
    assert json.loads(proc.stdout)["data"]["pending"] == [], shown(proc)

"""SIGINT and SIGTERM in the middle of a restart, on a live dockerd under real systemd and under
Debian's real /etc/init.d/docker (tests/integration/sandbox.py, sysv_sandbox.py).

The signal arrives at the worst moment: the old dockerd is gone and the new one not yet up. The
host must end consistent: the previous files back byte for byte, dockerd running with them (its
/info matches), exit 128 + the signal with one line saying so, and with --json exactly one
object. Under sysvinit the init script must survive dockercfg: its output goes to a file, not to
a pipe dockercfg holds, so it is not killed at its next message between stop and start.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from adv_support import REPO, no_traceback
from sandbox import REGISTRY
from sysv_sandbox import SysvSandbox

pytestmark = pytest.mark.integration

BEFORE = '{\n  "insecure-registries": []\n}\n'
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}


def pid_or_none(box) -> int | None:
    try:
        return box.dockerd_pid() or None
    except (OSError, ValueError, RuntimeError):
        return None


def interrupt_mid_restart(box, argv_prefix: list[str], sig: int, preexec=None) -> tuple:
    """Start `add-insecure --apply restart --json`, wait until the old dockerd is gone, signal."""
    old = box.dockerd_pid()
    cmd = [*argv_prefix, sys.executable, "-m", "dockercfg", "--json", "add-insecure", REGISTRY,
           "--apply", "restart"]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        env=box.env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        preexec_fn=preexec,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and pid_or_none(box) == old and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "dockercfg finished before the restart began"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def check_consistent(box, code: int, out: str, err: str, sig: int, file, before: str) -> None:
    assert code == 128 + sig, (code, out, err)
    no_traceback(err)
    result = json.loads(out)  # exactly one object, and the error is its one line
    message = result["error"]
    assert f"interrupted by {signal.Signals(sig).name}" in message, out
    assert "restored" in message and "dockerd is running with it again" in message, out
    assert file.read_text() == before  # byte for byte
    box.wait_for_docker()
    config = box.registry_config()
    assert config["IndexConfigs"].get(REGISTRY, {}).get("Secure") is not False
    state = box.env["DOCKERCFG_STATE_DIR"]
    assert not (Path(state) / "pending.json").exists()  # settled, not left for recovery


@pytest.mark.parametrize("name", list(SIGNALS))
def test_signal_during_a_systemd_restart_rolls_back_and_dockerd_runs(sb, name: str) -> None:
    sb.daemon_json.write_text(BEFORE)
    sb.restart_docker()
    # A slower start widens the window between the old dockerd's exit and the new one.
    text = sb.unit_path.read_text()
    sb.unit_path.write_text(text.replace("[Service]\n", "[Service]\nExecStartPre=/bin/sleep 2\n"))
    sb.unit_text = "changed"  # the next reset() puts the default unit back
    sb.systemctl("daemon-reload")
    code, out, err = interrupt_mid_restart(sb, [], SIGNALS[name])
    check_consistent(sb, code, out, err, SIGNALS[name], sb.daemon_json, BEFORE)


@pytest.mark.parametrize("name", list(SIGNALS))
def test_signal_during_an_init_script_restart_rolls_back_and_dockerd_runs(
    sysv_box: SysvSandbox, name: str
) -> None:
    sysv_box.reset()  # DOCKER_OPTS in /etc/default/docker is the target: flags, read at start
    defaults = Path("/etc/default/docker")
    before = defaults.read_text()
    prefix = ["nsenter", f"--net={sysv_box.netns}"]
    mover = sysv_box.cgroup.mover("aux")  # as run_tool: what it restarts stays in the sandbox
    code, out, err = interrupt_mid_restart(sysv_box, prefix, SIGNALS[name], mover)
    check_consistent(sysv_box, code, out, err, SIGNALS[name], defaults, before)
    # The init script's own run finished: one dockerd, from the pidfile, alive.
    assert pid_or_none(sysv_box) is not None

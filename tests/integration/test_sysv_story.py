"""The sysvinit story, for real: Debian's /etc/init.d/docker run by `service docker start|restart`.

dockerd gets its flags from DOCKER_OPTS in /etc/default/docker, and flags never reload: dockercfg
must find that out by itself (no /run/systemd/system, an init script, DOCKER_OPTS), edit that
variable, keep every other byte of the file, and restart dockerd the way the host does. See
sysv_sandbox.py for what is real (everything but the neutralised `ulimit` lines) and how it is
kept away from the host.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hostsetup import DOCKERD, DOCKERDS, SandboxUnavailable, dockerd_problem
from sandbox import REGISTRY
from support import RESULT_KEYS as SUPPORT_RESULT_KEYS
from support import started_sandbox
from sysv_sandbox import INIT_SCRIPT, SysvSandbox, sysv_preflight

pytestmark = pytest.mark.integration

RESULT_KEYS = SUPPORT_RESULT_KEYS - {"data"}
HTTP_ERROR = "server gave HTTP response to HTTPS client"
FLAG = ["--insecure-registry", REGISTRY]
RELOAD_SIGNAL = "Got signal to reload configuration"


@pytest.fixture(scope="module", params=list(DOCKERDS.values()), ids=list(DOCKERDS))
def sysv_box(request):
    def make() -> SysvSandbox:
        sysv_preflight()
        binary = request.param[0]
        problem = dockerd_problem(binary)
        if problem:
            raise SandboxUnavailable(problem)
        return SysvSandbox(binary)

    yield from started_sandbox(make, SandboxUnavailable, "sysv sandbox")


@pytest.fixture
def sv(sysv_box: SysvSandbox) -> SysvSandbox:
    """The sandbox, reset: the baseline /etc/default/docker, no daemon.json, dockerd running."""
    sysv_box.reset()
    return sysv_box


def shown(proc) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def tool_json(sv: SysvSandbox, *args: str, code: int = 0) -> dict:
    """`dockercfg ARGS --json` with auto detection: exit code, exactly one result object."""
    proc = sv.run_tool(*args, "--json")
    assert proc.returncode == code, shown(proc)
    result = json.loads(proc.stdout)
    assert isinstance(result, dict) and result.keys() >= RESULT_KEYS, shown(proc)
    assert result["command"] == args[0] and (result["error"] is None) == (code == 0), shown(proc)
    return result


def through_docker_opts(result: dict, applied: str | None = "restart") -> None:
    assert result["target"] == "docker-opts", result
    assert result["file"] == "/etc/default/docker", result
    if applied:
        assert result["applied"] == applied and result["verified"] is True, result


def live_insecure(sv: SysvSandbox) -> bool:
    index = sv.registry_config()["IndexConfigs"].get(REGISTRY)
    return index is not None and index["Secure"] is False


def without_one(words: list[str], part: list[str]) -> list[str] | None:
    """`words` with one occurrence of the consecutive `part` taken out, or None if absent."""
    for i in range(len(words) - len(part) + 1):
        if words[i : i + len(part)] == part:
            return words[:i] + words[i + len(part) :]
    return None


def inserted_text(before: bytes, after: bytes) -> bytes:
    """What was inserted into `before` to give `after`, proving nothing else changed."""
    start = 0
    while start < len(before) and before[start] == after[start]:
        start += 1
    end = len(after) - (len(before) - start)
    assert after[:start] == before[:start] and after[end:] == before[start:], (before, after)
    return after[start:end]


# The sandbox itself --------------------------------------------------------------------------


def test_the_sandbox_is_a_sysvinit_host_whose_dockerd_the_init_script_started(sv):
    assert not Path("/run/systemd/system").exists()
    assert sorted(os.listdir("/sys/fs/cgroup")) == sv.cgroup_root  # no cgroupfs_mount() there
    script = INIT_SCRIPT.read_text()
    assert "start-stop-daemon --start --background" in script and "\treload)" not in script
    pid = sv.dockerd_pid()
    assert sv.ssd_pid() == pid  # start-stop-daemon --make-pidfile names the same process
    assert sv.argv(pid) == sv.expected_argv()  # dockerd -p "$DOCKER_PIDFILE" $DOCKER_OPTS
    assert sv.opts_words() == " ".join(sv.opts_flags).split()


# 1. The story ----------------------------------------------------------------------------------


def test_add_insecure_fixes_push_through_docker_opts_and_a_restart(sv):
    before_text, before_words = sv.defaults.read_bytes(), sv.opts_words()
    code, out = sv.push()
    assert code != 0 and HTTP_ERROR in out, out

    result = tool_json(sv, "add-insecure", REGISTRY)

    through_docker_opts(result)
    assert result["changed"] is True
    assert not sv.daemon_json.exists()  # the flag is in DOCKER_OPTS, not in daemon.json
    # The shell's view: the same words, in the same order, plus the one flag.
    assert without_one(sv.opts_words(), FLAG) == before_words, sv.opts_words()
    # The file's bytes: only that flag was inserted; every other flag, comment and line is kept.
    after_text = sv.defaults.read_bytes()
    added = inserted_text(before_text, after_text)
    assert added.strip() == b"--insecure-registry " + REGISTRY.encode(), added
    assert live_insecure(sv), sv.registry_config()

    sv.assert_registry_usable()


# 2. It was the init script's restart ---------------------------------------------------------


def test_the_restart_is_the_init_scripts_service_docker_restart(sv):
    old_pid, old_ssd = sv.dockerd_pid(), sv.ssd_pid()

    through_docker_opts(tool_json(sv, "add-insecure", REGISTRY))

    new_pid = sv.dockerd_pid()
    assert new_pid != old_pid and sv.gone(old_pid)
    # start-stop-daemon (only the init script runs it) wrote the new pid, and the new dockerd got
    # the init script's command line: -p "$DOCKER_PIDFILE" and the edited $DOCKER_OPTS.
    assert sv.ssd_pid() == new_pid != old_ssd
    argv = sv.argv(new_pid)
    assert argv == sv.expected_argv() and argv[:3] == [DOCKERD, "-p", str(sv.pidfile)], argv
    assert without_one(argv, FLAG) is not None, argv


# 3. Idempotence and the way back --------------------------------------------------------------


def test_second_identical_command_changes_nothing_and_restarts_nothing(sv):
    tool_json(sv, "add-insecure", REGISTRY)
    text, pid = sv.defaults.read_bytes(), sv.dockerd_pid()

    result = tool_json(sv, "add-insecure", REGISTRY)

    assert result["changed"] is False and result["applied"] in ("none", None), result
    assert sv.defaults.read_bytes() == text and sv.dockerd_pid() == pid


def test_remove_insecure_gives_back_the_original_file_byte_for_byte(sv):
    original = sv.defaults.read_bytes()
    tool_json(sv, "add-insecure", REGISTRY)

    result = tool_json(sv, "remove-insecure", REGISTRY)

    through_docker_opts(result)
    assert sv.defaults.read_bytes() == original
    assert not live_insecure(sv), sv.registry_config()
    code, out = sv.push()
    assert code != 0 and HTTP_ERROR in out, out


# 4. daemon.json on the same host: a reload is SIGHUP to the pid in DOCKER_PIDFILE ------------


def test_detect_names_the_init_scripts_dockerd_and_service(sv):
    result = tool_json(sv, "detect")

    through_docker_opts(result, applied=None)
    assert result["data"]["service"] == "sysv", result
    # Other dockerds may run on this machine: the pid must come from the init script's pidfile.
    assert result["data"]["dockerd_pid"] == sv.dockerd_pid(), result


def test_daemon_json_target_reloads_by_sighup_to_the_pidfiles_dockerd(sv):
    pid, signals = sv.dockerd_pid(), sv.dockerd_log().count(RELOAD_SIGNAL)

    result = tool_json(sv, "add-insecure", REGISTRY, "--target", "daemon-json")

    assert result["target"] == "daemon-json" and result["file"] == "/etc/docker/daemon.json"
    assert result["applied"] == "reload" and result["verified"] is True, result
    assert sv.dockerd_pid() == pid and sv.dockerd_log().count(RELOAD_SIGNAL) == signals + 1
    assert live_insecure(sv)


# 5. The service, alone: a dockerd that dies at start is reported at once ----------------------

RESTART_SNIPPET = """\
import time
from dockercfg.services import ServiceError, command
started = time.monotonic()
try:
    command.sysv().restart(120)
    print("restarted")
except ServiceError as err:
    print(err.message)
print(round(time.monotonic() - started, 1))
"""


def test_a_dockerd_that_dies_at_start_is_reported_at_once_with_its_log(sv):
    text = sv.defaults.read_text()
    sv.defaults.write_text(text.replace("--iptables=false", "--iptables=false --no-such-flag"))

    proc = sv.run_python("-c", RESTART_SNIPPET)

    message, seconds = proc.stdout.splitlines()[-2:]
    assert "`service docker restart` ran, but dockerd (pid" in message, shown(proc)
    assert f"exited right after it started; see {sv.logfile}" in message, shown(proc)
    assert float(seconds) < 20, shown(proc)
    assert "unknown flag: --no-such-flag" in sv.dockerd_log()
    assert not sv.ping()


def test_the_init_script_sources_the_debian_idiom_and_the_next_start_is_read_as_it(sv):
    """Under sysvinit /etc/default/docker is sourced by sh: `X="$X ..."` accumulates (under
    systemd the same line is refused: tests/integration/test_debian_unit.py). What detection
    reads as the next start is, word for word, what the init script runs."""
    sv.defaults.write_text(
        sv.defaults_text() + 'DOCKER_OPTS="$DOCKER_OPTS --registry-mirror https://mirror.test"\n'
    )
    sv.restart_docker()
    assert "https://mirror.test/" in sv.mirrors_live()
    next_start = tool_json(sv, "detect")["data"]["next_start"]
    assert next_start["reader"] == "/bin/sh"
    assert next_start["argv"] == sv.argv(sv.dockerd_pid()) == sv.expected_argv()
    assert next_start["origins"][-1] == next_start["origins"][-2]  # the idiom's line
    assert tool_json(sv, "validate")["problems"] == []

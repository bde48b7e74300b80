"""Debian's docker.service semantics: `$DOCKER_OPTS` from /etc/default/docker on the command line.

A registry flag there plus the same key in daemon.json stops dockerd; dockercfg must see the flag
on the live daemon, refuse before writing, and `--migrate` must move it into daemon.json so that
later changes are reloads.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sandbox import REGISTRY

pytestmark = pytest.mark.integration

DEFAULT = Path("/etc/default/docker")
OPTS = f'DOCKER_OPTS="--insecure-registry {REGISTRY} --max-concurrent-downloads 4"\n'


@pytest.fixture
def debian(sb):
    sb.reset()
    DEFAULT.write_text(OPTS)
    sb.set_unit(debian=True)
    yield sb
    sb.reset()


def tool(sb, *args: str) -> tuple[int, dict]:
    proc = sb.run_tool(*args, "--json")
    return proc.returncode, json.loads(proc.stdout)


def test_flag_from_docker_opts_conflicts_and_migrate_moves_it(debian):
    sb = debian
    assert REGISTRY in sb.insecure_live()
    code, out = tool(sb, "add-insecure", "other.test:5000")
    assert code == 1, out
    assert out["problems"][0]["code"] == "flag-conflict"
    assert "--insecure-registry" in out["problems"][0]["message"]
    assert DEFAULT.read_text() == OPTS and not sb.daemon_json.exists()

    pid = sb.dockerd_pid()
    code, out = tool(sb, "add-insecure", "other.test:5000", "--migrate")
    assert code == 0, out
    assert out["applied"] == "restart" and out["verified"] is True
    assert sb.dockerd_pid() != pid
    assert json.loads(sb.daemon_json.read_text())["insecure-registries"] == [
        REGISTRY,
        "other.test:5000",
    ]
    assert DEFAULT.read_text() == 'DOCKER_OPTS="--max-concurrent-downloads 4"\n'
    assert sb.push()[0] == 0

    pid = sb.dockerd_pid()
    code, out = tool(sb, "add-insecure", "third.test:5000")
    assert code == 0 and out["applied"] == "reload", out
    assert sb.dockerd_pid() == pid


# The reader of /etc/default/docker is systemd's: what dockerd really gets -----------------------

IDIOM = 'DOCKER_OPTS="$DOCKER_OPTS --registry-mirror https://m.example.com"\n'
WRONG = f'DOCKER_OPTS="--insecure-registries={REGISTRY}"\n'


def start_fails(sb) -> str:
    """Restart dockerd as systemd does and expect it to fail: what dockerd said."""
    before = len(sb.dockerd_log())
    assert sb.systemctl("restart", "docker.service", check=False, timeout=90).returncode != 0
    sb.systemctl("reset-failed", "docker.service", check=False)
    return sb.dockerd_log()[before:]


def test_next_start_is_the_command_line_systemd_gives_dockerd(debian):
    """detect's reading of the unit and /etc/default/docker, word for word against the running
    dockerd's /proc/PID/cmdline; `validate /etc/default/docker` reads it as variables."""
    sb = debian
    code, out = tool(sb, "detect")
    assert code == 0, out
    cmdline = Path(f"/proc/{sb.dockerd_pid()}/cmdline").read_bytes().split(b"\0")[:-1]
    next_start = out["data"]["next_start"]
    assert next_start["reader"] == "systemd"
    assert next_start["argv"] == [w.decode() for w in cmdline]
    assert next_start["origins"][-4:] == ["/etc/default/docker:1"] * 4
    code, out = tool(sb, "validate", str(DEFAULT))
    assert code == 0 and out["problems"] == [], out


def test_debian_idiom_is_the_literal_word_dockerd_refuses(debian):
    """`DOCKER_OPTS="$DOCKER_OPTS ..."`: systemd does not expand it; validate says so, running
    or not, naming the line, and the real dockerd refuses to start with exactly that."""
    sb = debian
    DEFAULT.write_text(IDIOM)
    code, out = tool(sb, "validate")  # dockerd still runs with the previous file
    assert code == 1, out
    (problem,) = [p for p in out["problems"] if p["severity"] == "error"]
    assert (problem["code"], problem["path"]) == ("dockerd-argument", "/etc/default/docker:1")
    assert "accepts no argument(s)" in problem["message"]
    said = start_fails(sb)
    assert "accepts no argument(s)" in said, said
    code, out = tool(sb, "validate")  # stopped: the same verdict
    assert code == 1 and out["problems"][0]["code"] == "dockerd-argument", out
    code, out = tool(sb, "add-mirror", "https://mirror.test", "--force")  # no such mirror here
    assert code == 1 and "accepts no argument(s)" in out["error"], out
    assert not sb.daemon_json.exists()


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_a_wrong_flag_in_docker_opts_is_found_and_fixed_there(debian, running):
    """The target is daemon.json; the wrong flag is in /etc/default/docker: validate finds it,
    `fix` rewrites it there (one transaction) and the next start takes the registry."""
    sb = debian
    DEFAULT.write_text(WRONG)
    if not running:
        assert "unknown flag: --insecure-registries" in start_fails(sb)
    code, out = tool(sb, "validate")
    assert code == 1, out
    (problem,) = out["problems"]
    assert (problem["code"], problem["path"]) == ("unknown-flag", "/etc/default/docker:1")
    assert problem["hint"] == f"use --insecure-registry {REGISTRY}"
    code, out = tool(sb, "fix")
    assert code == 0 and out["changed"] is True, out
    assert [f["path"] for f in out["data"]["files"]] == ["/etc/default/docker"]
    assert DEFAULT.read_text() == f'DOCKER_OPTS="--insecure-registry {REGISTRY}"\n'
    assert not sb.daemon_json.exists()
    if running:
        assert out["applied"] == "restart" and out["verified"] is True, out
    elif out["applied"] == "restart":  # systemd was still retrying the failed start (Restart=)
        assert out["verified"] is True, out
    else:  # the start limit left it failed: stopped, and dockercfg leaves it stopped
        assert out["applied"] == "none" and not sb.ping(), out
        sb.restart_docker()
    assert REGISTRY in sb.insecure_live()
    assert tool(sb, "validate")[0] == 0


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_a_conflict_names_the_line_of_etc_default_docker(debian, running):
    sb = debian
    if not running:
        sb.stop_docker()
    code, out = tool(sb, "add-insecure", "other.test:5000")
    assert code == 1, out
    message = out["problems"][0]["message"]
    assert "(/etc/default/docker:1)" in message, message
    assert "ExecStart" not in message and "running dockerd" not in message, message
    assert not sb.daemon_json.exists()


def test_fix_drops_the_self_reference_and_dockerd_starts_with_the_mirror(debian):
    sb = debian
    DEFAULT.write_text('DOCKER_OPTS="$DOCKER_OPTS --registry-mirror https://mirror.test"\n')
    code, out = tool(sb, "fix")
    assert code == 0 and out["changed"] is True, out
    assert DEFAULT.read_text() == 'DOCKER_OPTS="--registry-mirror https://mirror.test"\n'
    assert out["applied"] == "restart" and out["verified"] is True, out
    assert sb.mirrors_live() == ["https://mirror.test/"]

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

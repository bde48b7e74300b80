"""`dockercfg fix` on a live daemon: the ignored singular key becomes the plural one, reloaded."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

MIRROR = "https://mirror.example.com/"


def test_fix_turns_an_ignored_registry_mirror_key_into_a_live_mirror(sb):
    sb.daemon_json.write_text('{\n  "registry-mirror": ["https://mirror.example.com"]\n}\n')
    sb.restart_docker()  # dockerd starts fine with the singular key: it ignores it
    assert MIRROR not in sb.mirrors_live()
    pid = sb.dockerd_pid()

    proc = sb.run_tool("fix", "--json")
    out = json.loads(proc.stdout)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out["changed"] is True and out["applied"] == "reload" and out["verified"] is True
    assert json.loads(sb.daemon_json.read_text()) == {"registry-mirrors": [MIRROR]}
    assert MIRROR in sb.mirrors_live() and sb.dockerd_pid() == pid

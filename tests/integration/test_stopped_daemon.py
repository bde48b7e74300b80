"""A dockerd the admin stopped is not a failure, and is not started behind their back: the file
is written and validated as the next start will read it, `applied` is "none", one warning says
so, exit 0 — and the next start really uses it. `--apply restart` starts it on request."""

from __future__ import annotations

import json

import pytest
from sandbox import REGISTRY

pytestmark = pytest.mark.integration


def test_a_stopped_dockerd_gets_the_file_and_stays_stopped(sb):
    sb.stop_docker()
    assert not sb.ping()
    proc = sb.run_tool("--json", "add-insecure", REGISTRY)
    result = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["changed"] is True and result["applied"] == "none", result
    assert any("dockerd is not running" in w for w in result["warnings"]), result["warnings"]
    assert json.loads(sb.daemon_json.read_text())["insecure-registries"] == [REGISTRY]
    assert not sb.ping()  # still stopped: the admin's decision
    sb.restart_docker()
    assert REGISTRY in sb.insecure_live()  # the next start took it
    sb.assert_registry_usable()


def test_apply_restart_starts_a_stopped_dockerd_on_request(sb):
    sb.stop_docker()
    proc = sb.run_tool("--json", "add-insecure", REGISTRY, "--apply", "restart")
    result = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["applied"] == "restart" and result["verified"] is True, result
    assert sb.ping() and REGISTRY in sb.insecure_live()

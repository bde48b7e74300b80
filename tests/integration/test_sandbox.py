"""The sandbox itself, without dockercfg: proves the stories the tool tests rely on are real."""

from __future__ import annotations

import json

import pytest
from hostsetup import run, wait_until
from sandbox import REGISTRY

pytestmark = pytest.mark.integration

HTTP_ERROR = "server gave HTTP response to HTTPS client"


def test_push_fails_until_registry_is_insecure_and_a_reload_fixes_it(sb):
    code, out = sb.push()
    assert code != 0 and HTTP_ERROR in out, out
    container = sb.run_container()
    started, pid = sb.started_at(container), sb.dockerd_pid()

    sb.daemon_json.write_text(json.dumps({"insecure-registries": [REGISTRY]}) + "\n")
    sb.systemctl("reload", "docker.service")
    wait_until(lambda: REGISTRY in sb.insecure_live(), 10, f"{REGISTRY} in /info")

    code, out = sb.push()
    assert code == 0, out
    status, body = sb.http_get("/v2/_catalog")
    assert status == 200 and "x" in json.loads(body)["repositories"]
    assert sb.dockerd_pid() == pid
    assert sb.running(container) and sb.started_at(container) == started


def test_system_mode_systemctl_reaches_the_sandbox_manager(sb):
    """dockercfg's fallback runs plain `systemctl`: with /run/systemd/private absent it uses the
    system bus, i.e. DBUS_SYSTEM_BUS_ADDRESS, i.e. this manager."""
    out = run(["systemctl", "show", "-p", "MainPID", "--value", "docker.service"], env=sb.env)
    assert int(out.stdout) == sb.dockerd_pid()

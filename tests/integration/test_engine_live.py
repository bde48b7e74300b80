"""The Engine API client against the real dockerd 20.10 and 26.1 of the sandbox: what
tests/unit/test_engine.py checks against a stand-in socket, here with the daemon's own answers
(the stand-in remains for what a real dockerd cannot be made to say: HTTP errors, bad JSON, a
socket that comes back after a restart)."""

from __future__ import annotations

import json

import pytest

from dockercfg.engine import Engine, registry_state

pytestmark = pytest.mark.integration


def test_ping_info_and_version_are_the_daemons_own(sb):
    engine = Engine(str(sb.t / "docker.sock"), timeout=10)
    assert engine.ping() is True
    cli = json.loads(sb.docker("version", "--format", "{{json .Server}}").stdout)
    version = engine.version()
    assert version["Version"] == cli["Version"] and version["ApiVersion"] == cli["ApiVersion"]
    assert engine.info()["ID"] == sb.docker("info", "--format", "{{.ID}}").stdout.strip()


def test_registry_state_reads_what_the_daemon_applied(sb):
    sb.daemon_json.write_text(json.dumps({
        "insecure-registries": ["registry.test:5000", "10.1.2.3/16"],
        "registry-mirrors": ["https://m.example.com"],
    }))  # fmt: skip
    sb.restart_docker()
    state = registry_state(Engine(str(sb.t / "docker.sock"), timeout=10).info())
    live = sb.registry_config()
    assert "10.1.0.0/16" in state.insecure_cidrs and "127.0.0.0/8" in state.insecure_cidrs
    assert sorted(state.insecure_cidrs) == sorted(live["InsecureRegistryCIDRs"])
    assert state.insecure_names == ["registry.test:5000"] == sb.insecure_live()
    assert state.mirrors == ["https://m.example.com/"] == sb.mirrors_live()

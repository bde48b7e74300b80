"""kill -9 in the middle of `migrate` on a live sysvinit host (Debian's real /etc/init.d/docker):
right after the kill the registry can be in daemon.json *and* in DOCKER_OPTS — the flag/file
conflict that stops dockerd from starting. The next dockercfg run settles it (old or new, never
a mix), after which `service docker restart` works and /info matches the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from adv_support import shown
from sandbox import REGISTRY

pytestmark = pytest.mark.integration

DEFAULTS = Path("/etc/default/docker")


def insecure_live(box) -> bool:
    return box.registry_config()["IndexConfigs"].get(REGISTRY, {}).get("Secure") is False


@pytest.mark.parametrize("point", ["tx-written-1", "tx-applied"])
def test_kill_during_migrate_then_the_next_run_settles_and_dockerd_restarts(sysv_box, point):
    box = sysv_box
    box.reset()
    assert box.run_tool("add-insecure", REGISTRY).returncode == 0  # a DOCKER_OPTS flag, live
    assert insecure_live(box)
    opts_before = DEFAULTS.read_bytes()
    json_before = box.daemon_json.read_bytes() if box.daemon_json.exists() else None

    killed = box.run_tool("--target", "daemon-json", "migrate", env={"DOCKERCFG_FAULT": point})
    assert killed.returncode == -9, shown(killed)
    if point == "tx-written-1":  # the dangerous mix: in the file and still a flag
        assert REGISTRY in json.loads(box.daemon_json.read_text())["insecure-registries"]
        assert f"--insecure-registry {REGISTRY}" in " ".join(box.opts_words())

    settled = box.run_tool("--json", "--target", "daemon-json", "recover")
    assert settled.returncode == 0, shown(settled)
    assert json.loads(settled.stdout)["data"]["recovered"]["outcome"] == "reverted"
    assert DEFAULTS.read_bytes() == opts_before
    assert (box.daemon_json.read_bytes() if box.daemon_json.exists() else None) in (
        json_before,
        b"{}\n",
    )
    box.restart_docker()  # dockerd starts with the settled files
    assert insecure_live(box)
    # And the change itself can then be made, in one piece.
    done = box.run_tool("--target", "daemon-json", "migrate")
    assert done.returncode == 0, shown(done)
    assert f"--insecure-registry {REGISTRY}" not in " ".join(box.opts_words())
    box.restart_docker()
    assert insecure_live(box)

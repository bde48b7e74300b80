"""`add-insecure` through the CLI on the real dockerds: `live` (the /info listing) and
`reachable` (the daemon's own registry client got an answer) are reported apart; live but
unreachable is said in one line and not rolled back."""

from __future__ import annotations

import json

import pytest
from sandbox import REGISTRY

pytestmark = pytest.mark.integration

CLOSED = "registry.test:5001"  # nothing listens there


def add(sb, value: str) -> dict:
    proc = sb.run_tool("--json", "add-insecure", value)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_a_reachable_registry_is_live_and_reached(sb):
    result = add(sb, REGISTRY)
    assert result["verified"] is True and result["data"]["live"] is True
    seen = result["data"]["reachable"][REGISTRY]
    assert (seen["reachable"], seen["kind"]) == (True, "reached"), seen
    assert not any("not reached" in w for w in result["warnings"])
    sb.assert_registry_usable()


def test_live_but_unreachable_is_kept_and_said_in_one_line(sb):
    result = add(sb, CLOSED)
    assert result["verified"] is True and result["data"]["live"] is True
    assert CLOSED in sb.insecure_live()  # not rolled back
    seen = result["data"]["reachable"][CLOSED]
    assert (seen["reachable"], seen["kind"]) == (False, "network"), seen
    lines = [w for w in result["warnings"] if w.startswith(f"{CLOSED}: live in dockerd")]
    assert len(lines) == 1 and f"dockercfg probe {CLOSED}" in lines[0], result["warnings"]
    text = sb.run_tool("remove-insecure", CLOSED)
    assert text.returncode == 0


def test_a_cidr_has_no_host_to_try(sb):
    result = add(sb, "10.99.0.0/16")
    seen = result["data"]["reachable"]["10.99.0.0/16"]
    assert (seen["reachable"], seen["kind"]) == (None, "cidr"), seen

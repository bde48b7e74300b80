"""dockercfg against a real systemd-managed dockerd, a real registry and a real /etc/docker.

The CLI contract (README): exit 0 ok, 1 config invalid, 2 usage, 3 environment, 4 apply failed and
rolled back; `--json` prints exactly one object with the keys in RESULT_KEYS.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sandbox import REGISTRY
from support import RESULT_KEYS as SUPPORT_RESULT_KEYS

pytestmark = pytest.mark.integration

RESULT_KEYS = SUPPORT_RESULT_KEYS - {"data"}
HTTP_ERROR = "server gave HTTP response to HTTPS client"
RELOAD_SIGNAL = "Got signal to reload configuration"
MIRROR = "https://mirror.example.com"
BEFORE = '{\n    "insecure-registries": [],\n    "debug": false\n}\n'


def shown(proc) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def tool_json(sb, *args: str, code: int = 0, env: dict | None = None) -> dict:
    """Run `dockercfg ARGS --json`, check the exit code and that stdout is exactly one result."""
    proc = sb.run_tool(*args, "--json", env=env)
    assert proc.returncode == code, shown(proc)
    result = json.loads(proc.stdout)  # exactly one object: anything more fails to parse
    assert isinstance(result, dict) and result.keys() >= RESULT_KEYS, shown(proc)
    assert result["command"] == args[0]
    assert (result["error"] is None) == (code == 0), shown(proc)
    return result


def applied_ok(result: dict, mode: str = "reload") -> None:
    assert result["applied"] == mode and result["verified"] is True, result
    assert result["target"] == "daemon-json" and result["file"] == "/etc/docker/daemon.json"


def file_state(path: Path) -> tuple | None:
    """Content, inode and mtime: equal states mean the file was not written at all."""
    if not path.exists():
        return None
    stat = path.stat()
    return path.read_bytes(), stat.st_ino, stat.st_mtime_ns


def live_insecure(sb) -> bool:
    index = sb.registry_config()["IndexConfigs"].get(REGISTRY)
    return index is not None and index["Secure"] is False


def reloads(sb) -> int:
    return sb.dockerd_log().count(RELOAD_SIGNAL)


def add_insecure(sb) -> dict:
    result = tool_json(sb, "add-insecure", REGISTRY)
    applied_ok(result)
    return result


# 1. The story: push fails over HTTP, add-insecure, push works -------------------------------


def test_add_insecure_lets_docker_push_to_an_http_registry(sb):
    code, out = sb.push()
    assert code != 0 and HTTP_ERROR in out, out

    result = add_insecure(sb)
    assert result["changed"] is True
    assert json.loads(sb.daemon_json.read_text()) == {"insecure-registries": [REGISTRY]}
    assert live_insecure(sb), sb.registry_config()

    sb.assert_registry_usable()


# 2. A reload, not a restart ------------------------------------------------------------------


def test_reload_keeps_dockerd_and_running_containers(sb):
    container = sb.run_container()
    started, pid, signals = sb.started_at(container), sb.dockerd_pid(), reloads(sb)

    add_insecure(sb)

    assert sb.dockerd_pid() == pid
    assert reloads(sb) == signals + 1
    assert sb.running(container) and sb.started_at(container) == started


# 3. Idempotence ------------------------------------------------------------------------------


def test_second_identical_command_changes_and_applies_nothing(sb):
    add_insecure(sb)
    before, pid, signals = file_state(sb.daemon_json), sb.dockerd_pid(), reloads(sb)

    result = tool_json(sb, "add-insecure", REGISTRY)

    assert result["changed"] is False and result["applied"] in ("none", None), result
    assert file_state(sb.daemon_json) == before
    assert sb.dockerd_pid() == pid and reloads(sb) == signals


# 4. Keys dockercfg does not own --------------------------------------------------------------


def test_foreign_keys_keep_their_value_order_and_text(sb):
    members = ['"log-opts": {"max-size": "10m"}', '"debug": false', '"max-concurrent-downloads": 3']
    sb.daemon_json.write_text("{\n    " + ",\n    ".join(members) + "\n}\n")

    add_insecure(sb)

    text = sb.daemon_json.read_text()
    config = json.loads(text)
    assert [k for k in config if k != "insecure-registries"] == [
        "log-opts", "debug", "max-concurrent-downloads",
    ]  # fmt: skip
    assert config["log-opts"] == {"max-size": "10m"} and config["debug"] is False
    assert config["max-concurrent-downloads"] == 3
    assert config["insecure-registries"] == [REGISTRY]
    for member in members:
        assert member in text, text


# 5. A flag on the running dockerd ------------------------------------------------------------


def test_conflict_with_a_dockerd_flag_is_refused_before_writing(sb):
    sb.daemon_json.write_text('{\n  "debug": false\n}\n')
    sb.set_unit(extra_flags=["--insecure-registry other.test:5000"])
    before, pid = file_state(sb.daemon_json), sb.dockerd_pid()

    proc = sb.run_tool("add-insecure", REGISTRY)

    assert proc.returncode == 1, shown(proc)
    message = proc.stdout + proc.stderr
    assert "--insecure-registry" in message and "daemon.json" in message, shown(proc)
    assert file_state(sb.daemon_json) == before
    assert sb.dockerd_pid() == pid

    result = tool_json(sb, "add-insecure", REGISTRY, code=1)
    assert result["applied"] is None and result["problems"], result
    assert file_state(sb.daemon_json) == before


# 6. A reload that does not take ------------------------------------------------------------


def test_reload_that_dockerd_ignores_is_rolled_back(sb):
    sb.daemon_json.write_text(BEFORE)
    sb.set_unit(exec_reload="/bin/true")
    before = sb.daemon_json.read_bytes()

    proc = sb.run_tool("add-insecure", REGISTRY)

    assert proc.returncode == 4, shown(proc)
    assert REGISTRY in proc.stderr and "restored" in proc.stderr, shown(proc)
    assert sb.daemon_json.read_bytes() == before
    assert sb.ping() and not live_insecure(sb)


# 7. --apply restart | none -------------------------------------------------------------------


def test_apply_restart_restarts_dockerd_and_verifies(sb):
    pid = sb.dockerd_pid()

    result = tool_json(sb, "add-insecure", REGISTRY, "--apply", "restart")

    applied_ok(result, "restart")
    assert sb.dockerd_pid() != pid
    assert live_insecure(sb)


def test_apply_none_writes_but_does_not_apply(sb):
    pid, signals = sb.dockerd_pid(), reloads(sb)

    result = tool_json(sb, "add-insecure", REGISTRY, "--apply", "none")

    assert result["changed"] is True, result
    assert result["applied"] == "none" and result["verified"] is None, result
    assert json.loads(sb.daemon_json.read_text()) == {"insecure-registries": [REGISTRY]}
    assert sb.dockerd_pid() == pid and reloads(sb) == signals
    assert not live_insecure(sb)


# 8. remove-insecure --------------------------------------------------------------------------


def test_remove_insecure_takes_it_off_the_live_daemon(sb):
    add_insecure(sb)
    assert sb.push()[0] == 0

    result = tool_json(sb, "remove-insecure", REGISTRY)

    applied_ok(result)
    assert result["changed"] is True
    assert json.loads(sb.daemon_json.read_text()) == {"insecure-registries": []}
    assert not live_insecure(sb), sb.registry_config()
    code, out = sb.push()
    assert code != 0 and HTTP_ERROR in out, out


# 9. Mirrors ----------------------------------------------------------------------------------


def test_add_and_remove_mirror(sb):
    result = tool_json(sb, "add-mirror", "--force", MIRROR)

    applied_ok(result)
    assert json.loads(sb.daemon_json.read_text()) == {"registry-mirrors": [MIRROR + "/"]}
    assert sb.mirrors_live() == [MIRROR + "/"]

    result = tool_json(sb, "remove-mirror", MIRROR)

    applied_ok(result)
    assert json.loads(sb.daemon_json.read_text()) == {"registry-mirrors": []}
    assert sb.mirrors_live() == []


# 10. rollback --------------------------------------------------------------------------------


def test_rollback_restores_the_newest_backup_and_applies_it(sb):
    sb.daemon_json.write_text(BEFORE)
    result = add_insecure(sb)
    assert result["backup"] and os.path.isfile(result["backup"]), result
    assert Path(result["backup"]).read_text() == BEFORE

    result = tool_json(sb, "rollback")

    applied_ok(result)
    assert sb.daemon_json.read_text() == BEFORE
    assert not live_insecure(sb), sb.registry_config()
    code, out = sb.push()
    assert code != 0 and HTTP_ERROR in out, out


def test_rollback_to_a_file_without_the_key_still_takes_the_registry_off(sb):
    """dockerd keeps its old insecure list on reload when the key is missing from the file, so
    restoring a backup without the key must not end with the registry still live (and must not
    report verified=true while it is)."""
    sb.daemon_json.write_text('{\n  "debug": false\n}\n')
    add_insecure(sb)

    result = tool_json(sb, "rollback")

    assert result["applied"] in ("reload", "restart") and result["verified"] is True, result
    assert sb.daemon_json.read_text() == '{\n  "debug": false\n}\n'
    assert not live_insecure(sb), sb.registry_config()


# 11. show, validate --------------------------------------------------------------------------


def test_show_lists_live_registries_and_validate_accepts_the_file(sb):
    add_insecure(sb)
    tool_json(sb, "add-mirror", "--force", MIRROR)

    result = tool_json(sb, "show")

    live = json.dumps(result["data"]["live"])
    assert REGISTRY in live and MIRROR + "/" in live, result

    proc = sb.run_tool("validate")
    assert proc.returncode == 0, shown(proc)
    result = tool_json(sb, "validate")
    assert not [p for p in result["problems"] if p.get("severity") == "error"], result


# 12. The systemctl fallback -----------------------------------------------------------------


def test_without_pydbus_systemctl_reloads_the_same_manager(sb, tmp_path):
    """Plain (system-mode) `systemctl` finds the sandbox's manager through DBUS_SYSTEM_BUS_ADDRESS,
    because /run/systemd/private does not exist in the sandbox."""
    (tmp_path / "pydbus.py").write_text("raise ImportError('hidden by the integration test')\n")
    no_pydbus = {"PYTHONPATH": str(tmp_path)}
    pid, signals = sb.dockerd_pid(), reloads(sb)

    result = tool_json(sb, "detect", env=no_pydbus)
    assert "via systemctl" in json.dumps(result["data"]), result
    result = tool_json(sb, "add-insecure", REGISTRY, env=no_pydbus)

    applied_ok(result)
    assert sb.dockerd_pid() == pid and reloads(sb) == signals + 1
    assert live_insecure(sb)

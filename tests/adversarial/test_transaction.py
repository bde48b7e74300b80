"""The one transaction over several files: `migrate` changes daemon.json and /etc/default/docker.

kill -9 at every point of it (DOCKERCFG_FAULT): right after the kill the two files may disagree,
which is exactly what stops dockerd from starting, so the journal must say so and the next run
must settle it — every file old, or every file new, never a mix, and the journal gone. Also:
`rollback` undoes both files of a transaction, and a second `rollback` steps further back
instead of re-doing what the first undid. These run under --root (no daemon: `applied: none`);
the live daemon versions are in test_signals.py and tests/integration.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from adv_support import cli, no_traceback, one_json, shown
from support import unavailable

JSON_OLD = b'{\n    "debug": true\n}\n'
OPTS_OLD = (
    b"# Docker Upstart and SysVinit configuration file\n"
    b'DOCKER_OPTS="--insecure-registry a.test:5000 --registry-mirror https://m.test"\n'
)
INIT_SCRIPT = Path("/etc/init.d/docker")  # Debian's docker.io: a sysvinit host reads DOCKER_OPTS
ARGS = ("--target", "daemon-json")
STAGES = ("temp-created", "temp-partial", "temp-written", "temp-synced", "renamed", "done")
POINTS = (
    ["locked", "tx-journaled", "tx-written-1", "tx-written-2", "tx-verified"]
    + [f"journal-{stage}" for stage in STAGES]
    + [f"backup-{stage}" for stage in STAGES]
    + [f"write-{stage}" for stage in STAGES]
)


def host(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "root"
    conf = root / "etc" / "docker" / "daemon.json"
    opts = root / "etc" / "default" / "docker"
    conf.parent.mkdir(parents=True)
    opts.parent.mkdir(parents=True)
    conf.write_bytes(JSON_OLD)
    opts.write_bytes(OPTS_OLD)
    if not INIT_SCRIPT.is_file():
        unavailable("Debian's /etc/init.d/docker (package docker.io) is not installed")
    (root / "etc" / "init.d").mkdir(parents=True)
    shutil.copy(INIT_SCRIPT, root / "etc" / "init.d" / "docker")
    return root, conf, opts


def sh_value(opts: Path) -> str:
    """What /bin/sh itself makes of DOCKER_OPTS (the init script sources the file)."""
    out = subprocess.run(
        ["sh", "-c", '. "$1"; printf %s "$DOCKER_OPTS"', "sh", str(opts)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def state(conf: Path, opts: Path) -> str:
    """'old' or 'new' for the pair, from what dockerd would get; 'mixed' otherwise."""
    config = json.loads(conf.read_bytes())
    flags = sh_value(opts)
    in_json = "a.test:5000" in config.get("insecure-registries", [])
    in_flags = "--insecure-registry a.test:5000" in flags
    if in_flags and not in_json and conf.read_bytes() == JSON_OLD:
        return "old"
    if in_json and not in_flags and config.get("registry-mirrors") == ["https://m.test/"]:
        return "new"
    return "mixed"


def test_migrate_moves_both_files_in_one_transaction(tmp_path: Path) -> None:
    root, conf, opts = host(tmp_path)
    proc = cli(root, *ARGS, "migrate", "--json")
    result = one_json(proc)
    assert proc.returncode == 0 and result["changed"], shown(proc)
    assert state(conf, opts) == "new", (conf.read_text(), opts.read_text())
    assert "--debug" not in sh_value(opts) and sh_value(opts).strip() == ""
    assert [f["path"] for f in result["data"]["files"]] == [
        "/etc/docker/daemon.json",
        "DOCKER_OPTS in /etc/default/docker",
    ]
    assert not (root / "var/lib/dockercfg/pending.json").exists()
    again = cli(root, *ARGS, "migrate", "--json")
    assert again.returncode == 0 and one_json(again)["changed"] is False, shown(again)


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_every_point_of_a_two_file_change_settles_old_or_new(
    tmp_path: Path, point: str
) -> None:
    root, conf, opts = host(tmp_path)
    killed = cli(root, *ARGS, "migrate", env={"DOCKERCFG_FAULT": point})
    assert killed.returncode == -9, shown(killed)
    pending = root / "var/lib/dockercfg/pending.json"
    right_after = state(conf, opts)
    if right_after == "mixed":  # the journal must know, or nobody can repair it
        assert pending.exists(), point
    # A read-only command reports the unfinished change and changes nothing.
    before = (conf.read_bytes(), opts.read_bytes())
    shown_proc = cli(root, *ARGS, "show", "--json")
    no_traceback(shown_proc.stderr)
    if pending.exists():
        assert "unfinished" in one_json(shown_proc)["data"], shown(shown_proc)
    assert (conf.read_bytes(), opts.read_bytes()) == before
    # The next change settles it first, then does its own work.
    proc = cli(root, *ARGS, "recover", "--json")
    assert proc.returncode == 0, shown(proc)
    assert not pending.exists()
    # Verified live before the kill: completed. Anything earlier: every file back to old.
    expected = "new" if point == "tx-verified" else "old"
    assert state(conf, opts) == expected, (point, conf.read_text(), opts.read_text())
    if expected == "old":
        assert (conf.read_bytes(), opts.read_bytes()) == (JSON_OLD, OPTS_OLD), point
    # And the tool still works: migrate again ends in "new", and sweeps what the kill left.
    final = cli(root, *ARGS, "migrate")
    assert final.returncode == 0 and state(conf, opts) == "new", shown(final)
    leftovers = [p.name for p in root.rglob("*") if ".dockercfg-tmp-" in p.name]
    assert leftovers == [], (point, leftovers)


def test_a_mutating_command_recovers_before_its_own_change(tmp_path: Path) -> None:
    root, conf, opts = host(tmp_path)
    cli(root, *ARGS, "migrate", env={"DOCKERCFG_FAULT": "tx-written-1"})
    assert state(conf, opts) == "mixed"
    # Settled first (reverted: the flags are back), and then judged on the settled files: the
    # flag is in DOCKER_OPTS again, so a daemon.json value alone conflicts.
    refused = cli(root, *ARGS, "add-insecure", "b.test:5000", "--json")
    assert refused.returncode == 1, shown(refused)
    assert "--insecure-registry a.test:5000" in sh_value(opts)
    assert conf.read_bytes() == JSON_OLD
    proc = cli(root, *ARGS, "add-insecure", "b.test:5000", "--migrate", "--json")
    assert proc.returncode == 0, shown(proc)
    assert json.loads(conf.read_bytes())["insecure-registries"] == ["a.test:5000", "b.test:5000"]
    assert "--insecure-registry" not in sh_value(opts)


def test_recovery_is_reported_in_the_envelope(tmp_path: Path) -> None:
    root, conf, opts = host(tmp_path)
    cli(root, *ARGS, "migrate", env={"DOCKERCFG_FAULT": "write-done"})
    proc = cli(root, *ARGS, "recover", "--json")
    result = one_json(proc)
    assert proc.returncode == 0 and result["changed"] is True, shown(proc)
    assert result["data"]["recovered"]["outcome"] == "reverted"
    assert result["data"]["recovered"]["restored"] == ["/etc/docker/daemon.json"]
    nothing = one_json(cli(root, *ARGS, "recover", "--json"))
    assert nothing["changed"] is False and "recovered" not in nothing["data"]


def test_rollback_undoes_both_files_then_steps_further_back(tmp_path: Path) -> None:
    root, conf, opts = host(tmp_path)
    # With registry flags in DOCKER_OPTS, a daemon.json change conflicts: migrate first.
    refused = cli(root, *ARGS, "add-insecure", "z.test:5000")
    assert refused.returncode == 1 and "insecure" in refused.stderr, shown(refused)
    assert cli(root, *ARGS, "migrate").returncode == 0  # transaction: both files
    assert cli(root, *ARGS, "add-insecure", "c.test:5000").returncode == 0
    after_add = conf.read_bytes()
    listing = one_json(cli(root, *ARGS, "rollback", "--list", "--json"))["data"]["transactions"]
    assert [t["command"] for t in listing][:2] == ["add-insecure", "migrate"]
    one = cli(root, *ARGS, "rollback", "--json")
    assert one.returncode == 0, shown(one)
    assert state(conf, opts) == "new" and conf.read_bytes() != after_add
    two = cli(root, *ARGS, "rollback", "--json")
    assert two.returncode == 0, shown(two)
    assert state(conf, opts) == "old", (conf.read_text(), opts.read_text())
    assert opts.read_bytes() == OPTS_OLD and conf.read_bytes() == JSON_OLD


def test_rollback_to_an_id_undoes_every_later_change_at_once(tmp_path: Path) -> None:
    root, conf, opts = host(tmp_path)
    assert cli(root, *ARGS, "migrate").returncode == 0
    listing = one_json(cli(root, *ARGS, "rollback", "--list", "--json"))["data"]["transactions"]
    migrate_id = listing[0]["id"]
    for value in ("c.test:5000", "d.test:5000", "e.test:5000"):
        assert cli(root, *ARGS, "add-insecure", value).returncode == 0
    proc = cli(root, *ARGS, "rollback", "--to", migrate_id, "--json")
    result = one_json(proc)
    assert proc.returncode == 0, shown(proc)
    assert len(result["data"]["undoes"]) == 3
    assert json.loads(conf.read_bytes())["insecure-registries"] == ["a.test:5000"]
    unknown = cli(root, *ARGS, "rollback", "--to", "nope")
    assert unknown.returncode == 2 and "no transaction" in unknown.stderr


def test_rollback_refuses_a_file_edited_since(tmp_path: Path) -> None:
    root, conf, _opts = host(tmp_path)
    assert cli(root, *ARGS, "migrate").returncode == 0
    conf.write_bytes(b'{"debug": false}\n')
    proc = cli(root, *ARGS, "rollback")
    assert proc.returncode == 3 and "was changed since" in proc.stderr, shown(proc)
    assert conf.read_bytes() == b'{"debug": false}\n'

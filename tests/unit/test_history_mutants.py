"""`rollback` and `recover` in one process on a --root tree (no dockerd there: --apply none):
which change each undoes, what the files hold after, and the one line for each refusal."""

from __future__ import annotations

import json

import pytest

from dockercfg import journal
from dockercfg.errors import EnvironmentProblem, UsageError
from dockercfg.history import list_history, rollback
from dockercfg.hostmodel import Options
from dockercfg.ops import mutate
from dockercfg.recovery import recover_command
from dockercfg.targets.daemon_json import INSECURE_KEY

SHOWN = "/etc/docker/daemon.json"


@pytest.fixture
def root(tmp_path):
    (tmp_path / "etc/docker").mkdir(parents=True)
    return tmp_path


def conf(root):
    return root / "etc/docker/daemon.json"


def add(root, value):
    result = mutate(Options(root=root), "add-insecure", (INSECURE_KEY, True, [value]), apply="none")
    return result.data["transaction"]


def listed(root):
    return json.loads(conf(root).read_text()).get(INSECURE_KEY) if conf(root).exists() else None


def test_rollback_steps_back_one_change_at_a_time(root):
    conf(root).write_text('{"debug": true}\n')
    first, second = add(root, "a.test:5000"), add(root, "b.test:5000")
    assert [t["id"] for t in list_history(Options(root=root)).data["transactions"]] == [
        second,
        first,
    ]
    assert rollback(Options(root=root), apply="none").data["undoes"] == [second]
    assert listed(root) == ["a.test:5000"]
    assert rollback(Options(root=root), apply="none").data["undoes"] == [first]
    assert conf(root).read_text() == '{"debug": true}\n'
    with pytest.raises(UsageError) as info:
        rollback(Options(root=root), apply="none")
    assert info.value.message == "every recorded change is already undone: nothing to roll back"
    history = {t["id"]: t for t in list_history(Options(root=root)).data["transactions"]}
    undo_ids = [i for i, t in history.items() if t["undoes"]]
    assert len(history) == 4 and len(undo_ids) == 2
    assert history[second]["undone_by"] in undo_ids and history[first]["undone_by"] in undo_ids


def test_rollback_to_an_id_undoes_every_later_change_at_once(root):
    conf(root).write_text("{}\n")
    first = add(root, "a.test:5000")
    second, third = add(root, "b.test:5000"), add(root, "c.test:5000")
    result = rollback(Options(root=root), to=first, apply="none")
    assert result.data["undoes"] == [third, second]
    assert listed(root) == ["a.test:5000"]
    assert rollback(Options(root=root), to=first, apply="none").data.get("undoes") is None
    with pytest.raises(UsageError) as info:
        rollback(Options(root=root), to="20990101T000000.000000Z-abcdef", apply="none")
    assert info.value.message == (
        "no transaction '20990101T000000.000000Z-abcdef' in the history"
        " (see `dockercfg rollback --list`)"
    )


def test_rolling_back_the_change_that_created_the_file_removes_it(root):
    created = add(root, "a.test:5000")
    assert listed(root) == ["a.test:5000"]
    assert rollback(Options(root=root), apply="none").data["undoes"] == [created]
    assert not conf(root).exists()


def test_a_file_edited_since_is_not_rolled_back(root):
    conf(root).write_text("{}\n")
    tx = add(root, "a.test:5000")
    conf(root).write_text('{"insecure-registries": ["by-hand.test"]}\n')
    with pytest.raises(EnvironmentProblem) as info:
        rollback(Options(root=root), apply="none")
    assert info.value.message == (
        f"{SHOWN} was changed since transaction {tx}: not rolling it back"
        " (restore a backup with `rollback --to FILE`)"
    )
    assert listed(root) == ["by-hand.test"]


def test_without_history_the_newest_backup_is_restored(root):
    with pytest.raises(UsageError) as info:
        rollback(Options(root=root), apply="none")
    assert info.value.message == f"no backup of {SHOWN} to roll back to"
    backups = root / "etc/docker/.dockercfg-backups"
    backups.mkdir(mode=0o700)
    (backups / "daemon.json.20260101T000000.000000Z").write_text('{"debug": false}\n')
    (backups / "daemon.json.20260102T000000.000000Z").write_text('{"debug": true}\n')
    conf(root).write_text("{}\n")
    result = rollback(Options(root=root), apply="none")
    assert conf(root).read_text() == '{"debug": true}\n'
    assert result.data["restored_from"] == str(backups / "daemon.json.20260102T000000.000000Z")


def test_rollback_to_a_backup_file(root):
    conf(root).write_text("{}\n")
    backup = root / "saved.json"
    backup.write_text('{"debug": true}\n')
    rollback(Options(root=root), to=str(backup), apply="none")
    assert conf(root).read_text() == '{"debug": true}\n'
    again = rollback(Options(root=root), to=str(backup), apply="none")
    assert again.changed is False and "restored_from" not in again.data
    missing = root / "missing.json"
    with pytest.raises(UsageError) as info:
        rollback(Options(root=root), to=str(missing), apply="none")
    assert info.value.message == f"{missing}: no such backup file"


def test_recover_settles_an_unfinished_change(root):
    conf(root).write_text('{"insecure-registries": ["new.test"]}\n')
    book = journal.Journal(root / "var/lib/dockercfg")
    book.ensure()
    entry = journal.Entry(conf(root), SHOWN, b"{}\n", conf(root).read_bytes(), 0o644, (0, 0))
    book.write(journal.Manifest("T1", "add-insecure", [entry], phase="writing", started=0.0))
    result = recover_command(Options(root=root))
    assert result.changed is True
    assert result.data["recovered"] == {"id": "T1", "outcome": "reverted", "restored": [SHOWN]}
    assert conf(root).read_text() == "{}\n"
    assert not book.pending_path.exists()
    assert recover_command(Options(root=root)).changed is False  # nothing left to settle


def pending_change(root, phase, engines):
    conf(root).write_text('{"insecure-registries": ["new.test"]}\n')
    book = journal.Journal(root / "var/lib/dockercfg")
    book.ensure()
    entry = journal.Entry(conf(root), SHOWN, b"{}\n", conf(root).read_bytes(), 0o644, (0, 0))
    manifest = journal.Manifest("T2", "add-insecure", [entry], phase=phase, started=0.0, pid=42,
                                engines=engines)  # fmt: skip
    book.write(manifest)
    return book


def test_a_read_only_command_reports_the_unfinished_change(root):
    from dockercfg.detect import detect
    from dockercfg.recovery import journal_for, report_pending
    from dockercfg.result import Result

    pending_change(root, "applying", ["dockerd"])
    host = detect(Options(root=root), want_service=False)
    assert journal_for(host).dir == root / "var/lib/dockercfg"
    assert journal_for(host) is journal_for(host)  # one object per directory: it holds the locks
    result = Result(command="show")
    report_pending(host, result)
    assert result.warnings == [
        "an earlier change did not finish: transaction T2 (add-insecure, pid 42, 1970-01-01"
        f" 00:00:00 UTC, {SHOWN}); the next change, or `dockercfg recover`, settles it"
    ]
    assert result.data["unfinished"]["id"] == "T2"
    assert conf(root).read_text() == '{"insecure-registries": ["new.test"]}\n'  # untouched


def test_recovery_after_dockerd_was_told_applies_the_old_file_again(root):
    pending_change(root, "applying", ["dockerd"])
    result = recover_command(Options(root=root))
    assert conf(root).read_text() == "{}\n"
    assert result.warnings == [
        "reverted an unfinished change: transaction T2 (add-insecure, pid 42, 1970-01-01"
        f" 00:00:00 UTC, {SHOWN}); dockerd was not running"
    ]


def test_the_results_name_the_command_target_and_file(root):
    conf(root).write_text("{}\n")
    add(root, "a.test:5000")
    listed_result = list_history(Options(root=root))
    undone = rollback(Options(root=root), apply="none")
    backup = root / "saved.json"
    backup.write_text('{"debug": true}\n')
    restored = rollback(Options(root=root), to=str(backup), apply="none")
    for result in (listed_result, undone, restored):
        assert (result.command, result.target, result.file) == ("rollback", "daemon-json", SHOWN)
    recovered = recover_command(Options(root=root))
    assert (recovered.command, recovered.target, recovered.file) == (
        "recover",
        "daemon-json",
        SHOWN,
    )
    assert undone.applied == "none" and restored.applied == "none"


DEBIAN_UNIT = """[Service]
Type=notify
EnvironmentFile=-/etc/default/docker
ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS
ExecReload=/bin/kill -s HUP $MAINPID
"""


def test_rolling_back_a_migration_puts_the_flags_back(tmp_path):
    (tmp_path / "lib/systemd/system").mkdir(parents=True)
    (tmp_path / "lib/systemd/system/docker.service").write_text(DEBIAN_UNIT)
    (tmp_path / "run/systemd/system").mkdir(parents=True)
    (tmp_path / "etc/docker").mkdir(parents=True)
    opts = 'DOCKER_OPTS="--dns 1.1.1.1 --insecure-registry old.test:5000"\n'
    (tmp_path / "etc/default").mkdir(parents=True)
    (tmp_path / "etc/default/docker").write_text(opts)
    conf(tmp_path).write_text('{"debug": true}\n')
    moved = mutate(Options(root=tmp_path), "add-insecure", (INSECURE_KEY, True, ["new.test:5000"]),
                   apply="none", migrate=True)  # fmt: skip
    assert (tmp_path / "etc/default/docker").read_text() == 'DOCKER_OPTS="--dns 1.1.1.1"\n'
    result = rollback(Options(root=tmp_path), apply="none")
    assert result.data["undoes"] == [moved.data["transaction"]]
    assert (tmp_path / "etc/default/docker").read_text() == opts
    assert conf(tmp_path).read_text() == '{"debug": true}\n'
    assert [f["path"] for f in result.data["files"]] == [
        SHOWN,
        "DOCKER_OPTS in /etc/default/docker",
    ]


def test_rolling_back_a_docker_opts_change(tmp_path):
    (tmp_path / "etc/init.d").mkdir(parents=True)
    (tmp_path / "etc/init.d/docker").write_text("#!/bin/sh\n")
    (tmp_path / "etc/default").mkdir(parents=True)
    text = 'DOCKER_OPTS="--dns 8.8.8.8"\n'
    (tmp_path / "etc/default/docker").write_text(text)
    added = mutate(Options(root=tmp_path), "add-insecure", (INSECURE_KEY, True, ["r.test:5000"]),
                   apply="none")  # fmt: skip
    assert added.target == "docker-opts"
    assert (tmp_path / "etc/default/docker").read_text() == (
        'DOCKER_OPTS="--dns 8.8.8.8 --insecure-registry r.test:5000"\n'
    )
    result = rollback(Options(root=tmp_path), apply="none")
    assert (result.target, result.file) == ("docker-opts", "/etc/default/docker")
    assert (tmp_path / "etc/default/docker").read_text() == text

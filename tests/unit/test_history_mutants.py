"""`rollback` and `recover` in one process on a --root tree (no dockerd runs there): which
change each undoes, what dockerd's and the other engines' files hold after (with their mode and
owner), what the history records, the warnings for each --apply, and the one line for each
refusal. Where reload or restart is the question, the stand-in dockerd and service of
test_recovery_reapply.py answer (`live`)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from dockercfg import journal
from dockercfg.errors import ConfigInvalid, EnvironmentProblem, UsageError
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
    assert result.warnings == []
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
    assert result.warnings == []
    assert result.data["before"] == {"insecure-registries": ["r.test:5000"], "registry-mirrors": []}
    assert result.data["after"] == {"insecure-registries": [], "registry-mirrors": []}
    assert history_of(tmp_path)[result.data["transaction"]]["command"] == "rollback"


ROOT_WARNING = "--root {} is set: no running dockerd is changed"
HOSTS_TOML = "/etc/containerd/certs.d/r.test:5000/hosts.toml"
HOSTS_TEXT = (
    "# Written by dockercfg for r.test:5000: hosts are tried in order, then `server`.\n"
    'server = "https://r.test:5000"\n'
    "\n"
    '[host."https://r.test:5000"]\n'
    'capabilities = ["pull", "resolve", "push"]\n'
    "skip_verify = true\n"
    "\n"
    '[host."http://r.test:5000"]\n'
    'capabilities = ["pull", "resolve", "push"]\n'
)


@pytest.fixture
def with_containerd(root):
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/containerd").write_text("")
    (root / "etc/containerd").mkdir(parents=True)
    (root / "etc/containerd/config.toml").write_text(
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n'
        '  config_path = "/etc/containerd/certs.d"\n'
    )
    return root


def hosts_toml(root):
    return root / "etc/containerd/certs.d/r.test:5000/hosts.toml"


def containerd_change(root, add, engines=("containerd",)):
    command = "add-insecure" if add else "remove-insecure"
    result = mutate(Options(root=root), command, (INSECURE_KEY, add, ["r.test:5000"]),
                    apply="none", engines=list(engines))  # fmt: skip
    return result.data["transaction"]


def history_of(root):
    return {t["id"]: t for t in list_history(Options(root=root)).data["transactions"]}


def test_undoing_a_containerd_only_change_removes_its_file_and_directories(with_containerd):
    root = with_containerd
    added = containerd_change(root, add=True)
    assert hosts_toml(root).read_text() == HOSTS_TEXT
    result = rollback(Options(root=root))
    assert result.warnings == []
    assert result.changed is True
    assert result.data["undoes"] == [added]
    assert not (root / "etc/containerd/certs.d").exists()
    assert (root / "etc/containerd/config.toml").exists()
    assert result.data["files"] == [{"path": HOSTS_TOML, "before": HOSTS_TEXT, "after": None}]
    assert result.diff == (
        f"--- {HOSTS_TOML}\n+++ {HOSTS_TOML}\n@@ -1,9 +0,0 @@\n"
        + "".join("-" + line + "\n" for line in HOSTS_TEXT.splitlines())
    )
    undo = result.data["transaction"]
    history = history_of(root)
    assert history[undo]["command"] == "rollback"
    assert history[undo]["undoes"] == [added]
    assert history[undo]["files"] == [HOSTS_TOML]
    assert history[added]["undone_by"] == undo
    with pytest.raises(UsageError):
        rollback(Options(root=root), apply="none")


def test_undoing_a_containerd_file_removal_restores_its_bytes_mode_and_owner(with_containerd):
    root = with_containerd
    containerd_change(root, add=True)
    os.chmod(hosts_toml(root), 0o600)
    os.chown(hosts_toml(root), 1234, 5678)
    removed = containerd_change(root, add=False)
    assert not hosts_toml(root).exists()
    result = rollback(Options(root=root), apply="none")
    assert result.data["undoes"] == [removed]
    assert result.warnings == []
    assert result.data["files"] == [{"path": HOSTS_TOML, "before": None, "after": HOSTS_TEXT}]
    assert hosts_toml(root).read_text() == HOSTS_TEXT
    st = hosts_toml(root).stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 1234, 5678)
    assert history_of(root)[result.data["transaction"]]["command"] == "rollback"


def test_undoing_several_containerd_changes_at_once_keeps_the_oldest_mode(with_containerd):
    root = with_containerd
    first = containerd_change(root, add=True)
    os.chmod(hosts_toml(root), 0o640)
    removed = containerd_change(root, add=False)
    again = containerd_change(root, add=True)
    os.chmod(hosts_toml(root), 0o600)
    last = containerd_change(root, add=False)
    result = rollback(Options(root=root), to=first, apply="none")
    assert result.data["undoes"] == [last, again, removed]
    assert hosts_toml(root).read_text() == HOSTS_TEXT
    assert stat.S_IMODE(hosts_toml(root).stat().st_mode) == 0o640


def test_a_file_restored_from_mode_0_gets_mode_0644(with_containerd):
    root = with_containerd
    containerd_change(root, add=True)
    os.chmod(hosts_toml(root), 0)
    containerd_change(root, add=False)
    rollback(Options(root=root), apply="none")
    assert stat.S_IMODE(hosts_toml(root).stat().st_mode) == 0o644


def test_undoing_a_change_of_dockerd_and_containerd_removes_the_directories_it_made(
    with_containerd,
):
    root = with_containerd
    conf(root).write_text("{}\n")
    added = containerd_change(root, add=True, engines=("docker", "containerd"))
    result = rollback(Options(root=root), apply="none")
    assert result.data["undoes"] == [added]
    assert conf(root).read_text() == "{}\n"
    assert not (root / "etc/containerd/certs.d").exists()
    assert result.warnings == []
    assert history_of(root)[result.data["transaction"]]["command"] == "rollback"


def test_undoing_a_removal_from_dockerd_and_containerd_brings_both_files_back(with_containerd):
    root = with_containerd
    conf(root).write_text("{}\n")
    containerd_change(root, add=True, engines=("docker", "containerd"))
    removed = containerd_change(root, add=False, engines=("docker", "containerd"))
    assert conf(root).read_text() == '{\n  "insecure-registries": []\n}\n'
    result = rollback(Options(root=root), apply="none")
    assert result.data["undoes"] == [removed]
    assert conf(root).read_text() == '{\n  "insecure-registries": [\n    "r.test:5000"\n  ]\n}\n'
    assert hosts_toml(root).read_text() == HOSTS_TEXT
    assert result.data["before"] == {"insecure-registries": [], "registry-mirrors": []}
    assert result.data["after"] == {"insecure-registries": ["r.test:5000"], "registry-mirrors": []}
    assert [f["path"] for f in result.data["files"]] == [SHOWN, HOSTS_TOML]


def test_under_root_only_apply_none_leaves_the_warning_out(root):
    conf(root).write_text("{}\n")
    add(root, "a.test:5000")
    add(root, "b.test:5000")
    assert rollback(Options(root=root), apply="none").warnings == []
    assert rollback(Options(root=root)).warnings == [ROOT_WARNING.format(root)]
    assert conf(root).read_text() == "{}\n"


def test_rollback_to_a_backup_file_passes_the_apply_mode_on(root):
    conf(root).write_text("{}\n")
    backup = root / "saved.json"
    backup.write_text('{"debug": true}\n')
    assert rollback(Options(root=root), to=str(backup), apply="none").warnings == []
    conf(root).write_text("{}\n")
    result = rollback(Options(root=root), to=str(backup))
    assert result.warnings == [ROOT_WARNING.format(root)]
    assert conf(root).read_text() == '{"debug": true}\n'
    (newest,) = [t for t in list_history(Options(root=root)).data["transactions"]][:1]
    assert (newest["command"], newest["undoes"], newest["files"]) == ("rollback", [], [SHOWN])


def test_the_newest_backup_fallback_passes_the_apply_mode_on(root):
    backups = root / "etc/docker/.dockercfg-backups"
    backups.mkdir(mode=0o700)
    (backups / "daemon.json.20260102T000000.000000Z").write_text('{"debug": true}\n')
    conf(root).write_text("{}\n")
    assert rollback(Options(root=root), apply="none").warnings == []
    assert conf(root).read_text() == '{"debug": true}\n'
    (newest,) = list_history(Options(root=root)).data["transactions"]
    assert newest["command"] == "rollback"
    for name in os.listdir(root / "var/lib/dockercfg/history"):
        os.unlink(root / "var/lib/dockercfg/history" / name)
    conf(root).write_text('{"debug": false}\n')  # the newest backup now holds "{}"
    assert rollback(Options(root=root)).warnings == [ROOT_WARNING.format(root)]
    assert conf(root).read_text() == "{}\n"


def test_the_undo_of_a_daemon_json_change_is_recorded_as_a_rollback(root):
    conf(root).write_text("{}\n")
    added = add(root, "a.test:5000")
    result = rollback(Options(root=root), apply="none")
    undo = history_of(root)[result.data["transaction"]]
    assert (undo["command"], undo["undoes"], undo["files"]) == ("rollback", [added], [SHOWN])


def test_the_lists_before_and_after_an_undo_are_reported(root):
    conf(root).write_text('{"insecure-registries": ["a.test:5000"]}\n')
    add(root, "b.test:5000")
    result = rollback(Options(root=root), apply="none")
    assert result.data["before"] == {
        "insecure-registries": ["a.test:5000", "b.test:5000"],
        "registry-mirrors": [],
    }
    assert result.data["after"] == {"insecure-registries": ["a.test:5000"], "registry-mirrors": []}


def test_the_lists_before_and_after_restoring_a_backup_are_reported(root):
    conf(root).write_text('{"insecure-registries": ["a.test:5000"]}\n')
    backup = root / "saved.json"
    backup.write_text('{"insecure-registries": ["b.test:5000"]}\n')
    result = rollback(Options(root=root), to=str(backup), apply="none")
    assert result.data["before"] == {"insecure-registries": ["a.test:5000"], "registry-mirrors": []}
    assert result.data["after"] == {"insecure-registries": ["b.test:5000"], "registry-mirrors": []}
    assert result.data["files"] == [
        {
            "path": SHOWN,
            "before": '{"insecure-registries": ["a.test:5000"]}\n',
            "after": '{"insecure-registries": ["b.test:5000"]}\n',
        }
    ]
    assert result.diff == (
        f"--- {SHOWN}\n+++ {SHOWN}\n@@ -1 +1 @@\n"
        '-{"insecure-registries": ["a.test:5000"]}\n'
        '+{"insecure-registries": ["b.test:5000"]}\n'
    )


def test_a_backup_restored_where_daemon_json_is_missing_creates_it(root):
    backup = root / "saved.json"
    backup.write_text('{"insecure-registries": ["b.test:5000"]}\n')
    result = rollback(Options(root=root), to=str(backup), apply="none")
    assert conf(root).read_text() == '{"insecure-registries": ["b.test:5000"]}\n'
    assert result.data["before"] == {"insecure-registries": [], "registry-mirrors": []}
    assert result.data["files"] == [
        {"path": SHOWN, "before": None, "after": '{"insecure-registries": ["b.test:5000"]}\n'}
    ]


def unfinished(root, before, after):
    conf(root).write_text(after)
    book = journal.Journal(root / "var/lib/dockercfg")
    book.ensure()
    entry = journal.Entry(conf(root), SHOWN, before.encode(), after.encode(), 0o644, (0, 0))
    book.write(journal.Manifest("T9", "add-insecure", [entry], phase="writing", started=0.0,
                                pid=42))  # fmt: skip


REVERTED_T9 = (
    "reverted an unfinished change: transaction T9 (add-insecure, pid 42, 1970-01-01"
    f" 00:00:00 UTC, {SHOWN})"
)


def test_an_unfinished_change_is_reverted_before_the_undo(root):
    conf(root).write_text("{}\n")
    added = add(root, "a.test:5000")
    unfinished(root, conf(root).read_text(), '{"insecure-registries": ["a.test:5000", "p.test"]}\n')
    result = rollback(Options(root=root), apply="none")
    assert result.warnings == [REVERTED_T9]
    assert result.data["recovered"] == {"id": "T9", "outcome": "reverted", "restored": [SHOWN]}
    assert result.data["undoes"] == [added]
    assert conf(root).read_text() == "{}\n"


def test_an_unfinished_change_is_reverted_before_a_backup_is_restored(root):
    unfinished(root, "{}\n", '{"insecure-registries": ["p.test"]}\n')
    backup = root / "saved.json"
    backup.write_text('{"debug": true}\n')
    result = rollback(Options(root=root), to=str(backup), apply="none")
    assert result.warnings == [REVERTED_T9]
    assert result.data["recovered"] == {"id": "T9", "outcome": "reverted", "restored": [SHOWN]}
    assert result.data["files"] == [{"path": SHOWN, "before": "{}\n", "after": '{"debug": true}\n'}]
    assert conf(root).read_text() == '{"debug": true}\n'


CENTOS7_UNIT = """[Service]
EnvironmentFile=-/etc/sysconfig/docker
ExecStart=/usr/bin/dockerd-current \\
          --add-runtime docker-runc=/usr/libexec/docker/docker-runc-current \\
          $OPTIONS
"""


def rhel(root, options, daemon_json):
    (root / "usr/lib/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd/system/docker.service").write_text(CENTOS7_UNIT)
    (root / "run/systemd/system").mkdir(parents=True)
    (root / "etc/sysconfig").mkdir(parents=True)
    (root / "etc/sysconfig/docker").write_text(options)
    conf(root).write_text(daemon_json)
    opts = Options(root=root, target="daemon-json")
    moved = mutate(opts, "add-insecure", (INSECURE_KEY, True, ["new.test:5000"]), apply="none",
                   migrate=True)  # fmt: skip
    assert (root / "etc/sysconfig/docker").read_text() == "OPTIONS='--selinux-enabled'\n"
    return opts, moved.data["transaction"]


def test_rolling_back_a_migration_from_options_puts_the_options_back(root):
    options = "OPTIONS='--selinux-enabled --insecure-registry old.test:5000'\n"
    opts, moved = rhel(root, options, '{"debug": true}\n')
    result = rollback(opts, apply="none")
    assert result.warnings == []
    assert result.data["undoes"] == [moved]
    assert (root / "etc/sysconfig/docker").read_text() == options
    assert conf(root).read_text() == '{"debug": true}\n'
    assert result.data["files"] == [
        {
            "path": SHOWN,
            "before": '{"debug": true, "insecure-registries": ["old.test:5000",'
            ' "new.test:5000"]}\n',
            "after": '{"debug": true}\n',
        },
        {
            "path": "OPTIONS in /etc/sysconfig/docker",
            "before": "OPTIONS='--selinux-enabled'\n",
            "after": options,
        },
    ]
    assert result.data["before"] == {
        "insecure-registries": ["old.test:5000", "new.test:5000"],
        "registry-mirrors": [],
    }
    assert result.data["after"] == {"insecure-registries": [], "registry-mirrors": []}
    assert history_of(root)[result.data["transaction"]]["command"] == "rollback"


def test_a_migration_is_not_rolled_back_into_a_flag_that_daemon_json_also_sets(root):
    options = "OPTIONS='--selinux-enabled --insecure-registry old.test:5000'\n"
    opts, moved = rhel(root, options, '{"insecure-registries": ["x.test:5000"]}\n')
    migrated = conf(root).read_text()
    with pytest.raises(ConfigInvalid) as info:
        rollback(opts, apply="none")
    assert info.value.message == (
        "insecure-registries: insecure-registries is set both in /etc/docker/daemon.json and by"
        " the dockerd flag --insecure-registry old.test:5000 (the dockerd command line); dockerd"
        " refuses to start or reload with a setting given in both places; remove the flag, or"
        " keep the setting only as a flag; nothing was written"
    )
    assert (root / "etc/sysconfig/docker").read_text() == "OPTIONS='--selinux-enabled'\n"
    assert conf(root).read_text() == migrated
    assert history_of(root)[moved]["undone_by"] is None


def test_a_recorded_change_that_deleted_daemon_json_is_undone_by_writing_it_back(root):
    book = journal.Journal(root / "var/lib/dockercfg")
    book.ensure()
    entry = journal.Entry(conf(root), SHOWN, b'{"debug": true}\n', None, 0o600, (0, 0))
    book.save_history(journal.Manifest("20260101T000000.000000Z-aaaaaa", "remove-insecure",
                                       [entry], phase="verified", started=0.0))  # fmt: skip
    result = rollback(Options(root=root), apply="none")
    assert result.data["undoes"] == ["20260101T000000.000000Z-aaaaaa"]
    assert result.data["before"] == {"insecure-registries": [], "registry-mirrors": []}
    assert result.data["files"] == [{"path": SHOWN, "before": None, "after": '{"debug": true}\n'}]
    assert conf(root).read_text() == '{"debug": true}\n'


def test_undoing_a_change_of_an_empty_daemon_json_leaves_an_empty_object(root):
    conf(root).write_text("")
    added = add(root, "a.test:5000")
    result = rollback(Options(root=root), apply="none")
    assert result.data["undoes"] == [added]
    assert conf(root).read_text() == "{}\n"
    assert result.data["after"] == {"insecure-registries": [], "registry-mirrors": []}


K3S_REGISTRIES = "configs:\n  x.test:\n    auth:\n      password: it's\n"


def test_undoing_a_change_of_dockerd_and_k3s_puts_the_k3s_file_back_byte_for_byte(root):
    conf(root).write_text("{}\n")
    (root / "etc/rancher/k3s").mkdir(parents=True)
    registries = root / "etc/rancher/k3s/registries.yaml"
    registries.write_text(K3S_REGISTRIES)
    added = mutate(Options(root=root), "add-insecure", (INSECURE_KEY, True, ["r.test:5000"]),
                   apply="none", engines=["docker", "k3s"])  # fmt: skip
    assert registries.read_text() != K3S_REGISTRIES
    result = rollback(Options(root=root), apply="none")
    assert result.data["undoes"] == [added.data["transaction"]]
    assert registries.read_text() == K3S_REGISTRIES
    assert conf(root).read_text() == "{}\n"
    assert [f["path"] for f in result.data["files"]] == [SHOWN, "/etc/rancher/k3s/registries.yaml"]


def test_a_recorded_docker_opts_file_the_shell_cannot_read_is_not_restored(tmp_path):
    (tmp_path / "lib/systemd/system").mkdir(parents=True)
    (tmp_path / "lib/systemd/system/docker.service").write_text(DEBIAN_UNIT)
    (tmp_path / "run/systemd/system").mkdir(parents=True)
    (tmp_path / "etc/default").mkdir(parents=True)
    opts = tmp_path / "etc/default/docker"
    opts.write_text('DOCKER_OPTS="--dns 1.1.1.1"\n')
    (tmp_path / "etc/docker").mkdir(parents=True)
    conf(tmp_path).write_text('{"debug": true}\n')
    book = journal.Journal(tmp_path / "var/lib/dockercfg")
    book.ensure()
    entries = [
        journal.Entry(conf(tmp_path), SHOWN, b"{}\n", b'{"debug": true}\n', 0o644, (0, 0)),
        journal.Entry(opts, "DOCKER_OPTS in /etc/default/docker", b"DOCKER_OPTS='--dns\n",
                      opts.read_bytes(), 0o644, (0, 0)),
    ]  # fmt: skip
    book.save_history(journal.Manifest("20260101T000000.000000Z-bbbbbb", "add-insecure",
                                       entries, phase="verified", started=0.0))  # fmt: skip
    with pytest.raises(EnvironmentProblem) as info:
        rollback(Options(root=tmp_path), apply="none")
    assert info.value.message == (
        f"{opts}:1: unterminated single quote; refusing to edit a file the shell cannot read"
    )
    assert opts.read_text() == 'DOCKER_OPTS="--dns 1.1.1.1"\n'
    assert conf(tmp_path).read_text() == '{"debug": true}\n'


@pytest.fixture
def live(root, tmp_path_factory, monkeypatch):
    """The stand-in dockerd and service of test_recovery_reapply.py, given to every host the
    rollback detects, running with what the tree's daemon.json says now."""
    from test_recovery_reapply import serve_stand_in

    from dockercfg import docker_tx, history

    socket = tmp_path_factory.mktemp("sock") / "docker.sock"
    stand_in = serve_stand_in(monkeypatch, socket, conf(root), [], [history, docker_tx])
    yield stand_in
    stand_in.close()


@pytest.mark.parametrize(
    ("apply", "calls"),
    [("auto", ["reload"]), ("reload", ["reload"]), ("restart", ["restart"])],
)
def test_undoing_a_daemon_json_change_reloads_unless_told_to_restart(root, live, apply, calls):
    conf(root).write_text('{"insecure-registries": ["a.test:5000"]}\n')
    live.insecure = ["a.test:5000", "b.test:5000"]
    add(root, "b.test:5000")
    result = rollback(Options(root=root), apply=apply)
    assert listed(root) == ["a.test:5000"]
    assert live.calls == calls and live.insecure == ["a.test:5000"]
    assert (result.applied, result.verified, result.warnings) == (calls[0], True, [])


def test_undoing_dockerd_and_containerd_together_reloads_dockerd(with_containerd, live):
    root = with_containerd
    conf(root).write_text('{"insecure-registries": []}\n')
    containerd_change(root, add=True, engines=("docker", "containerd"))
    live.insecure = ["r.test:5000"]
    result = rollback(Options(root=root))
    assert not hosts_toml(root).exists()
    assert live.calls == ["reload"] and live.insecure == []
    assert (result.applied, result.verified) == ("reload", True)


@pytest.mark.parametrize("apply", ["auto", "reload"])
def test_undoing_a_migration_restarts_dockerd_to_give_it_its_flags_again(root, live, apply):
    (root / "lib/systemd/system").mkdir(parents=True)
    (root / "lib/systemd/system/docker.service").write_text(DEBIAN_UNIT)
    (root / "run/systemd/system").mkdir(parents=True)
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/default/docker").write_text('DOCKER_OPTS="--insecure-registry old.test:5000"\n')
    conf(root).write_text("{}\n")
    mutate(Options(root=root), "add-insecure", (INSECURE_KEY, True, ["new.test:5000"]),
           apply="none", migrate=True)  # fmt: skip
    live.insecure = ["old.test:5000", "new.test:5000"]
    result = rollback(Options(root=root), apply=apply)
    assert conf(root).read_text() == "{}\n"
    assert live.calls == ["restart"] and live.insecure == ["old.test:5000"]
    assert (result.applied, result.verified) == ("restart", True)


@pytest.mark.parametrize("apply", ["auto", "reload"])
def test_undoing_a_migration_that_never_went_live_still_restarts(root, live, apply):
    # dockerd still runs with the old flags (the migration was written with --apply none), so
    # nothing is stale; the restored flags are read only at start, so it is restarted.
    (root / "lib/systemd/system").mkdir(parents=True)
    (root / "lib/systemd/system/docker.service").write_text(DEBIAN_UNIT)
    (root / "run/systemd/system").mkdir(parents=True)
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/default/docker").write_text('DOCKER_OPTS="--insecure-registry old.test:5000"\n')
    conf(root).write_text("{}\n")
    mutate(Options(root=root), "add-insecure", (INSECURE_KEY, True, ["new.test:5000"]),
           apply="none", migrate=True)  # fmt: skip
    live.insecure = ["old.test:5000"]
    result = rollback(Options(root=root), apply=apply)
    assert (result.warnings, live.calls, live.insecure) == ([], ["restart"], ["old.test:5000"])
    assert (result.applied, result.verified) == ("restart", True)


def test_restoring_a_backup_file_reloads_dockerd(root, live, tmp_path_factory):
    conf(root).write_text('{"insecure-registries": ["b.test:5000"]}\n')
    live.insecure = ["b.test:5000"]
    backup = tmp_path_factory.mktemp("saved") / "daemon.json"
    backup.write_text('{"insecure-registries": ["a.test:5000"]}\n')
    result = rollback(Options(root=root), to=str(backup))
    assert listed(root) == ["a.test:5000"]
    assert (live.calls, live.insecure) == (["reload"], ["a.test:5000"])
    assert (result.applied, result.verified, result.warnings) == ("reload", True, [])


def test_listing_the_history_does_not_ask_for_the_service(root, live):
    add(root, "a.test:5000")
    live.asked.clear()
    assert len(list_history(Options(root=root)).data["transactions"]) == 1
    assert live.asked == [False]  # no D-Bus connection to only read the journal

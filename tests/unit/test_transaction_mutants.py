"""The journaled transaction in one process, on files in a temp dir: what each outcome leaves on
disk, in the journal and in the one line the user reads.

The engines here are scripted appliers (`Scripted`): they stand in for dockerd only to make
apply/verify fail on cue; the same paths against a real dockerd are in
tests/adversarial/test_daemon_faults.py. Expected texts are written out literally.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
from pathlib import Path

import pytest
from support import require_root

from dockercfg import journal, transaction
from dockercfg.engines.base import FileChange
from dockercfg.errors import ApplyFailed, EnvironmentProblem, Interrupted
from dockercfg.history import to_undo
from dockercfg.recovery import recover
from dockercfg.result import Result


class Scripted:
    """An applier whose apply/verify raise what the test says, per phase, and record calls."""

    def __init__(self, name="dockerd", fail=None, book=None):
        self.name = name
        self.fail = fail or {}  # ("apply"|"verify", "forward"|"revert") -> exception
        self.calls = []
        self.book = book
        self.phases_seen = []

    def apply(self, phase, result):
        self.calls.append(("apply", phase))
        if self.book is not None:
            self.phases_seen.append(self.book.pending().phase)
        if ("apply", phase) in self.fail:
            raise self.fail[("apply", phase)]
        result.applied = "reload"
        return "reload"

    def verify(self, phase, result):
        self.calls.append(("verify", phase))
        if ("verify", phase) in self.fail:
            raise self.fail[("verify", phase)]
        result.verified = True


@pytest.fixture
def book(tmp_path):
    return journal.Journal(tmp_path / "state")


def change(path: Path, after: bytes | None, mode: int = 0o644) -> FileChange:
    before = path.read_bytes() if path.exists() else None
    return FileChange(path, str(path), before, after, mode)


def run(book, changes, appliers=(), command="add-insecure"):
    result = Result(command=command)
    plan = transaction.Plan(command, list(changes), list(appliers))
    with transaction.locked(book, [c.path for c in changes]):
        manifest = transaction.commit(book, plan, result)
    return manifest, result


def test_no_effective_change_writes_nothing_and_creates_no_state(book, tmp_path):
    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}\n")
    manifest, result = run(book, [change(target, b"{}\n")])
    assert manifest is None
    assert not book.dir.exists()
    assert result.data == {}


def test_a_new_file_is_written_journaled_and_recorded(book, tmp_path):
    target = tmp_path / "new.json"
    applier = Scripted(book=book)
    manifest, result = run(book, [change(target, b'{"a": 1}\n', 0o640)], [applier])
    assert target.read_bytes() == b'{"a": 1}\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert result.data["transaction"] == manifest.id
    assert result.backup is None and result.data["backups"] == []
    assert not book.pending_path.exists()
    [saved] = book.history()
    assert (saved.id, saved.phase, saved.command) == (manifest.id, "verified", "add-insecure")
    assert saved.entries[0].before is None and saved.entries[0].after == b'{"a": 1}\n'
    assert applier.calls == [("apply", "forward"), ("verify", "forward")]
    assert applier.phases_seen == ["applying"]  # the engines are told only once all is written
    assert stat.S_IMODE(book.dir.stat().st_mode) == 0o700


def test_an_existing_file_is_backed_up_first(book, tmp_path):
    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}\n")
    _, result = run(book, [change(target, b'{"x": 1}\n')])
    backup = Path(result.backup)
    assert backup.read_bytes() == b"{}\n"
    assert backup.parent == tmp_path / ".dockercfg-backups"
    assert result.data["backups"] == [str(backup)]


def test_failed_verify_restores_and_says_dockerd_runs_with_the_old_files(book, tmp_path):
    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}\n")
    applier = Scripted(fail={("verify", "forward"): ApplyFailed("not live")})
    with pytest.raises(ApplyFailed) as info:
        run(book, [change(target, b'{"x": 1}\n')], [applier])
    assert target.read_bytes() == b"{}\n"
    assert info.value.message == (
        f"not live; restored {target} (backup {next(iter(_backups(target)))});"
        " dockerd is running with it again"
    )
    assert applier.calls == [
        ("apply", "forward"),
        ("verify", "forward"),
        ("apply", "revert"),
        ("verify", "revert"),
    ]
    assert not book.pending_path.exists() and book.history() == []


def _backups(target: Path) -> list[Path]:
    return sorted((target.parent / ".dockercfg-backups").iterdir())


def test_an_unverified_reapply_is_not_reported_as_running(book, tmp_path):
    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}\n")
    applier = Scripted(
        fail={
            ("verify", "forward"): ApplyFailed("not live"),
            ("verify", "revert"): ApplyFailed("still not live"),
        }
    )
    with pytest.raises(ApplyFailed) as info:
        run(book, [change(target, b'{"x": 1}\n')], [applier])
    message = info.value.message
    assert message.endswith("; re-applied it to dockerd, but could not verify it: still not live")
    assert "running with it again" not in message


def test_a_failed_reapply_says_so(book, tmp_path):
    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}\n")
    applier = Scripted(
        fail={
            ("apply", "forward"): ApplyFailed("reload refused"),
            ("apply", "revert"): EnvironmentProblem("no bus"),
        }
    )
    with pytest.raises(ApplyFailed) as info:
        run(book, [change(target, b'{"x": 1}\n')], [applier])
    assert info.value.message.startswith("reload refused; restored ")
    assert info.value.message.endswith("; re-applying it to dockerd failed: no bus")
    assert applier.calls == [("apply", "forward"), ("apply", "revert")]


def test_reapply_clauses_per_engine():
    result = Result(command="x")
    ok = Scripted("containerd")
    bad = Scripted("podman", fail={("verify", "revert"): ApplyFailed("old")})
    assert transaction.reapply([ok, bad], result) == (
        "containerd is running with it again; re-applied it to podman, but could not verify it: old"
    )
    assert transaction.reapply([], result) == "nothing needed re-applying"


def test_rollback_deletes_a_file_that_did_not_exist_before(book, tmp_path):
    target = tmp_path / "hosts.toml"
    applier = Scripted(fail={("verify", "forward"): ApplyFailed("not live")})
    with pytest.raises(ApplyFailed) as info:
        run(book, [change(target, b"x = 1\n")], [applier])
    assert not target.exists()
    assert info.value.message == (
        f"not live; removed {target} (it did not exist before); dockerd is running with it again"
    )


def test_rollback_clears_applied_and_verified(book, tmp_path):
    target = tmp_path / "daemon.json"
    applier = Scripted(fail={("verify", "forward"): ApplyFailed("not live")})
    result = Result(command="add-insecure")
    plan = transaction.Plan("add-insecure", [change(target, b"{}\n")], [applier])
    plan_applier_forward = Scripted()  # sets applied/verified on the way
    plan.appliers.insert(0, plan_applier_forward)
    with transaction.locked(book, [target]), pytest.raises(ApplyFailed):
        transaction.commit(book, plan, result)
    # The re-apply sets them again from the revert; nothing from the forward pass is left over.
    assert plan_applier_forward.calls[-2:] == [("apply", "revert"), ("verify", "revert")]
    assert (result.applied, result.verified) == ("reload", True)


def test_two_files_roll_back_together(book, tmp_path):
    first, second = tmp_path / "daemon.json", tmp_path / "docker"
    first.write_bytes(b"{}\n")
    second.write_bytes(b'DOCKER_OPTS="--debug"\n')
    applier = Scripted(fail={("apply", "forward"): ApplyFailed("boom")})
    with pytest.raises(ApplyFailed):
        run(book, [change(first, b'{"a": 1}\n'), change(second, b"DOCKER_OPTS=\n")], [applier])
    assert first.read_bytes() == b"{}\n"
    assert second.read_bytes() == b'DOCKER_OPTS="--debug"\n'


def full_disk_for(monkeypatch, victim: Path) -> None:
    """The write of `victim` fails as on a full disk (ENOSPC); every other write is real."""
    from dockercfg import safefile

    real = safefile.atomic_write

    def atomic_write(path, data, *args, **kwargs):
        if Path(path) == victim:
            raise EnvironmentProblem(f"cannot write {path}: no space left on device")
        return real(path, data, *args, **kwargs)

    monkeypatch.setattr(safefile, "atomic_write", atomic_write)


def test_a_write_failure_restores_what_was_written(book, tmp_path, monkeypatch):
    first, second = tmp_path / "daemon.json", tmp_path / "docker"
    first.write_bytes(b"{}\n")
    full_disk_for(monkeypatch, second)
    with pytest.raises(EnvironmentProblem) as info:
        run(book, [change(first, b'{"a": 1}\n'), change(second, b"DOCKER_OPTS=\n")])
    assert first.read_bytes() == b"{}\n" and not second.exists()
    assert re.fullmatch(
        rf"cannot write {re.escape(str(second))}: no space left on device;"
        rf" restored {re.escape(str(first))} \(backup .+\)",
        info.value.message,
    )
    assert not book.pending_path.exists() and book.history() == []


def test_a_first_write_failure_is_reported_as_it_is(book, tmp_path, monkeypatch):
    target = tmp_path / "daemon.json"
    full_disk_for(monkeypatch, target)
    with pytest.raises(EnvironmentProblem) as info:
        run(book, [change(target, b"{}\n")])
    assert info.value.message == f"cannot write {target}: no space left on device"
    assert not book.pending_path.exists() and not target.exists()


def test_an_interrupt_while_applying_rolls_back_with_the_signal(book, tmp_path):
    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}\n")
    applier = Scripted(fail={("apply", "forward"): Interrupted(signal.SIGTERM)})
    with pytest.raises(Interrupted) as info:
        run(book, [change(target, b'{"a": 1}\n')], [applier])
    assert info.value.signum == signal.SIGTERM and info.value.exit_code == 143
    assert info.value.message.startswith(f"interrupted by SIGTERM; restored {target} (backup ")
    assert info.value.message.endswith("; dockerd is running with it again")
    assert target.read_bytes() == b"{}\n"


def test_a_signal_while_verifying_rolls_back(book, tmp_path):
    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}\n")

    class Killer(Scripted):
        def verify(self, phase, result):
            super().verify(phase, result)
            if phase == "forward":
                os.kill(os.getpid(), signal.SIGINT)

    before = [signal.getsignal(s) for s in transaction.SIGNALS]
    with pytest.raises(Interrupted) as info:
        run(book, [change(target, b'{"a": 1}\n')], [Killer()])
    assert info.value.exit_code == 130
    assert target.read_bytes() == b"{}\n"
    assert [signal.getsignal(s) for s in transaction.SIGNALS] == before  # handlers put back


def test_a_signal_after_verification_keeps_the_change(book, tmp_path, monkeypatch):
    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}\n")
    finish = journal.Journal.finish

    def finish_then_signal(self, manifest):
        os.kill(os.getpid(), signal.SIGHUP)  # deferred: arrives inside the final section
        finish(self, manifest)

    monkeypatch.setattr(journal.Journal, "finish", finish_then_signal)
    with pytest.raises(Interrupted) as info:
        run(book, [change(target, b'{"a": 1}\n')], [Scripted()])
    [saved] = book.history()
    assert info.value.exit_code == 129
    assert info.value.message == (
        "interrupted by SIGHUP after the change was live and verified: it is kept"
        f" (transaction {saved.id})"
    )
    assert target.read_bytes() == b'{"a": 1}\n'


@pytest.mark.parametrize(
    ("shown", "before", "restored", "mode"),
    [
        # dockerd < 23 refuses an empty daemon.json; the file keeps its own mode.
        ("daemon.json", b"", b"{}\n", 0o600),
        ("daemon.json", b" \n", b"{}\n", 0o600),
        # An empty file stays empty: made again with the journal's mode.
        ("docker", b"", b"", 0o640),
        ("docker", b" \n", b" \n", 0o600),
        ("docker", b"A=1\n", b"A=1\n", 0o600),
    ],
)
def test_restore_entry_of_empty_and_blank_files(tmp_path, shown, before, restored, mode):
    path = tmp_path / shown
    path.write_bytes(b"changed\n")
    os.chmod(path, 0o600)
    transaction.restore_entry(journal.Entry(path, str(path), before, b"changed\n", 0o640, None))
    assert path.read_bytes() == restored
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_restore_entry_removes_a_file_that_was_absent(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"new")
    transaction.restore_entry(journal.Entry(path, "x", None, b"new"))
    assert not path.exists()


def test_preview_and_diff(tmp_path):
    target = tmp_path / "f"
    plan = transaction.Plan(
        "set",
        [
            FileChange(target, "/etc/f", b"a\nb\n", b"a\nc"),
            FileChange(target, "/etc/g", b"x", b"x"),
        ],
    )
    result = Result(command="set")
    transaction.preview(plan, result)
    assert result.changed is True
    assert result.diff == "--- /etc/f\n+++ /etc/f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
    assert result.data["files"] == [{"path": "/etc/f", "before": "a\nb\n", "after": "a\nc"}]
    empty = Result(command="set")
    transaction.preview(transaction.Plan("set", []), empty)
    assert (empty.changed, empty.diff, empty.data) == (False, None, {})
    assert transaction.unified_diff("/n", None, b"x\n") == "--- /n\n+++ /n\n@@ -0,0 +1 @@\n+x\n"


def test_a_pending_journal_blocks_or_is_recovered(book, tmp_path):
    target = tmp_path / "f"
    book.ensure()
    pending = journal.Manifest("T1", "add-mirror", [journal.Entry(target, "/etc/f", None, b"x")])
    book.write(pending)
    with pytest.raises(EnvironmentProblem) as info, transaction.locked(book, [target]):
        pass
    assert info.value.message == (
        "an earlier change did not finish (transaction T1, add-mirror):"
        " run `dockercfg recover` first"
    )
    seen = []
    with transaction.locked(book, [target], recover=seen.append):
        assert book.held
    assert [m.id for m in seen] == ["T1"]
    assert not book.held and book.stack is None


def test_the_host_lock_needs_the_transaction(book):
    with pytest.raises(RuntimeError):
        transaction.hold_host_lock(book)


# --- the journal ------------------------------------------------------------------------------


def test_entry_and_manifest_round_trip(tmp_path):
    entry = journal.Entry(tmp_path / "a", "/etc/a", None, b"\x00new", 0o600, (0, 0))
    again = journal.Entry.from_json(json.loads(json.dumps(entry.to_json())))
    assert again == entry
    assert entry.to_json()["before_sha256"] is None
    assert entry.to_json()["after_sha256"] == (
        "b61041bd83ba1fe2c275a467d09da726e1b89d8f69640d8e5dc2d1d8ebb0f956"  # sha256sum of it
    )
    manifest = journal.Manifest("ID", "set", [entry], phase="applying", started=0.0, pid=7,
                                engines=["dockerd"], undoes=["OLD"], undone_by="NEW")  # fmt: skip
    back = journal.Manifest.from_json(json.loads(json.dumps(manifest.to_json())))
    assert back == manifest
    assert manifest.summary() == {
        "id": "ID",
        "command": "set",
        "time": "1970-01-01T00:00:00Z",
        "files": ["/etc/a"],
        "undoes": ["OLD"],
        "undone_by": "NEW",
    }
    assert journal.Manifest.from_json({"id": 1, "command": "c", "files": []}) == journal.Manifest(
        "1", "c", [], phase="writing", started=0.0, pid=0
    )


def test_state_now(tmp_path):
    path = tmp_path / "f"
    entry = journal.Entry(path, "f", None, b"new")
    assert entry.state_now() == "old"
    path.write_bytes(b"new")
    assert entry.state_now() == "new"
    path.write_bytes(b"else")
    assert entry.state_now() == "other"


def test_ids_sort_by_time_and_are_unique():
    ids = [journal.new_id() for _ in range(50)]
    assert len(set(ids)) == 50
    assert all(re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}", i) for i in ids)
    assert sorted(ids, key=lambda i: i.split("-")[0]) == ids


def test_history_keeps_the_newest_fifty_and_skips_damaged_records(book, tmp_path):
    book.ensure()
    for n in range(53):
        book.write(journal.Manifest(f"2026{n:04d}", "add", []))
        book.finish(journal.Manifest(f"2026{n:04d}", "add", []))
    (book.dir / "history" / "20269999.json").write_text("{not json")
    ids = [m.id for m in book.history()]
    assert ids == [f"2026{n:04d}" for n in range(52, 2, -1)]
    assert not book.pending_path.exists()
    assert stat.S_IMODE((book.dir / "history" / "20260052.json").stat().st_mode) == 0o600


def test_a_damaged_pending_journal_is_an_environment_problem(book):
    book.ensure()
    book.pending_path.write_text('{"id": "x"}')
    with pytest.raises(EnvironmentProblem) as info:
        book.pending()
    assert info.value.message.startswith(f"cannot read the journal {book.pending_path}: ")
    book.discard()
    book.discard()  # already gone: nothing to do
    assert book.pending() is None


def test_no_history_dir_is_an_empty_history(tmp_path):
    assert journal.Journal(tmp_path / "none").history() == []


def test_state_dir_rules(tmp_path, monkeypatch):
    from dockercfg.invoker import Invoker

    user = Invoker("u", 1000, 1000, "/home/u", "/home/u/.config", "/home/u/.local/state",
                   "/run/user/1000", "sudo", "SUDO_USER")  # fmt: skip
    monkeypatch.setenv("DOCKERCFG_STATE_DIR", str(tmp_path / "override"))
    assert journal.state_dir(Path("/")) == tmp_path / "override"
    assert journal.state_dir(tmp_path) == tmp_path / "var/lib/dockercfg"  # --root ignores it
    monkeypatch.delenv("DOCKERCFG_STATE_DIR")
    assert journal.state_dir(Path("/")) == Path("/var/lib/dockercfg")
    assert journal.state_dir(Path("/"), user) == Path("/home/u/.local/state/dockercfg")
    assert journal.state_dir(tmp_path, user) == tmp_path / "home/u/.local/state/dockercfg"


def test_ensure_names_the_directory_it_cannot_create(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(EnvironmentProblem) as info:
        journal.Journal(blocked / "state").ensure()
    assert info.value.message.startswith(f"cannot create {blocked / 'state'}: not a directory")


# --- recovery and rollback's choice -----------------------------------------------------------


def test_recovery_completes_a_verified_change(book, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"new")
    book.ensure()
    manifest = journal.Manifest("T", "add", [journal.Entry(path, "/etc/f", b"old", b"new")],
                                phase="verified", started=0.0, pid=9)  # fmt: skip
    book.write(manifest)
    result = Result(command="recover")
    assert recover(None, None, book, manifest, result) is False
    assert result.warnings == [
        "completed an unfinished change: transaction T (add, pid 9, 1970-01-01 00:00:00 UTC,"
        " /etc/f)"
    ]
    assert result.data["recovered"] == {"id": "T", "outcome": "completed"}
    assert [m.id for m in book.history()] == ["T"] and not book.pending_path.exists()
    assert path.read_bytes() == b"new"


@pytest.mark.parametrize("phase", ["writing", "applying", "verified", "rolling-back"])
def test_recovery_reverts_anything_else(book, tmp_path, phase):
    new, other, absent = tmp_path / "new", tmp_path / "other", tmp_path / "absent"
    new.write_bytes(b"new")
    other.write_bytes(b"edited by hand")
    absent.write_bytes(b"new")
    entries = [
        journal.Entry(new, "/etc/new", b"old", b"new"),
        journal.Entry(other, "/etc/other", b"old", b"new"),
        journal.Entry(absent, "/etc/absent", None, b"new"),
    ]
    book.ensure()
    manifest = journal.Manifest("T", "set", entries, phase=phase, started=0.0, pid=9)
    book.write(manifest)
    result = Result(command="recover")
    assert recover(None, None, book, manifest, result) is True
    assert new.read_bytes() == b"old" and other.read_bytes() == b"edited by hand"
    assert not absent.exists()
    assert result.warnings == [
        "reverted an unfinished change: transaction T (set, pid 9, 1970-01-01 00:00:00 UTC,"
        " /etc/new, /etc/other, /etc/absent); left alone, as it was changed since: /etc/other"
    ]
    assert result.data["recovered"] == {
        "id": "T",
        "outcome": "reverted",
        "restored": ["/etc/new", "/etc/absent"],
    }
    assert not book.pending_path.exists() and book.history() == []


def test_rollback_undoes_the_newest_change_not_yet_undone():
    def m(i, undoes=(), by=None):
        return journal.Manifest(i, "c", [], undoes=list(undoes), undone_by=by)

    history = [m("5", undoes=["4"]), m("4", by="5"), m("3"), m("2"), m("1")]
    assert [x.id for x in to_undo(history, None)] == ["3"]
    assert [x.id for x in to_undo(history, "1")] == ["3", "2"]
    assert [x.id for x in to_undo(history, "3")] == []
    assert to_undo([], None) == []
    with pytest.raises(Exception) as info:
        to_undo(history, "9")
    assert str(info.value) == (
        "no transaction '9' in the history (see `dockercfg rollback --list`)"
    )


# --- more edges: fault points, texts, metadata, the journal's own files -----------------------


def test_fault_points_in_order(book, tmp_path, monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(transaction, "fault", seen.append)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    run(book, [change(first, b"1\n"), change(second, b"2\n")], [Scripted(), Scripted("podman")])
    assert seen == ["tx-journaled", "tx-written-1", "tx-written-2", "tx-applied", "tx-applied",
                    "tx-verified"]  # fmt: skip
    seen.clear()
    failing = Scripted(fail={("verify", "forward"): ApplyFailed("no")})
    with pytest.raises(ApplyFailed):
        run(book, [change(first, b"3\n")], [failing])
    assert seen == ["tx-journaled", "tx-written-1", "tx-applied", "tx-restored"]


def test_texts_that_are_not_utf8_are_shown_with_replacement_characters(tmp_path):
    plan = transaction.Plan(
        "set",
        [
            FileChange(tmp_path / "a", "/etc/a", b"\xff\n", b"ok\n"),
            FileChange(tmp_path / "b", "/etc/b", None, b"\xfe\n"),
        ],
    )
    result = Result(command="set")
    transaction.preview(plan, result)
    assert result.diff == (
        "--- /etc/a\n+++ /etc/a\n@@ -1 +1 @@\n-\ufffd\n+ok\n"
        "--- /etc/b\n+++ /etc/b\n@@ -0,0 +1 @@\n+\ufffd\n"
    )
    assert result.data["files"] == [
        {"path": "/etc/a", "before": "\ufffd\n", "after": "ok\n"},
        {"path": "/etc/b", "before": None, "after": "\ufffd\n"},
    ]
    assert transaction.unified_diff("/x", b"a\n", None) == "--- /x\n+++ /x\n@@ -1 +0,0 @@\n-a\n"


def test_the_host_lock_message(tmp_path):
    state = tmp_path / "state"
    with pytest.raises(RuntimeError) as info:
        transaction.hold_host_lock(journal.Journal(state))
    assert str(info.value) == "a transaction must run inside transaction.locked()"
    assert not state.exists()  # refused before anything is made


def test_new_files_and_directories_get_their_mode_and_owner(book, tmp_path):
    require_root("chown to another user")
    target = tmp_path / "certs.d/reg.test:5000/ca.crt"
    plan = transaction.Plan("trust-ca", [FileChange(target, str(target), None, b"pem\n", 0o600,
                                                    (1000, 1000))])  # fmt: skip
    with transaction.locked(book, []):  # its directory does not exist yet: no lock beside it
        transaction.commit(book, plan, Result(command="trust-ca"))
    st = target.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 1000, 1000)
    for d in (tmp_path / "certs.d", tmp_path / "certs.d/reg.test:5000"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o755


def test_restoring_a_file_deleted_since_brings_back_its_mode_and_owner(tmp_path):
    require_root("chown to another user")
    for name, before, expected in [("docker", b"A=1\n", b"A=1\n"), ("daemon.json", b"", b"{}\n")]:
        path = tmp_path / name
        entry = journal.Entry(path, str(path), before, b"new\n", 0o640, (1000, 1000))
        transaction.restore_entry(entry)
        st = path.stat()
        assert path.read_bytes() == expected
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 1000, 1000)
    empty = tmp_path / "empty"
    empty.write_bytes(b"x")
    transaction.restore_entry(journal.Entry(empty, "empty", b"", b"x", None, None))
    assert empty.read_bytes() == b"" and stat.S_IMODE(empty.stat().st_mode) == 0o644


def test_what_restoring_says(tmp_path):
    a = journal.Entry(tmp_path / "a", "/etc/a", b"x", b"y")
    b = journal.Entry(tmp_path / "b", "/etc/b", b"x", b"y")
    new1 = journal.Entry(tmp_path / "n1", "/etc/n1", None, b"y")
    new2 = journal.Entry(tmp_path / "n2", "/etc/n2", None, b"y")
    backups = {"/etc/a": Path("/bk/a.1")}
    assert transaction.files_shown([a, b], backups) == "/etc/a (backup /bk/a.1), /etc/b"
    assert transaction.put_back([a, new1, b, new2], backups) == (
        "restored /etc/a (backup /bk/a.1), /etc/b; removed /etc/n1, /etc/n2 (it did not exist"
        " before)"
    )
    assert transaction.put_back([], backups) == ""


def test_a_reapply_that_fails_like_the_change_says_so_once(book, tmp_path):
    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}\n")
    same = ApplyFailed("dockerd did not reload")
    applier = Scripted(fail={("apply", "forward"): same, ("apply", "revert"): EnvironmentProblem(
        "dockerd did not reload")})  # fmt: skip
    result = Result(command="add-insecure")
    plan = transaction.Plan("add-insecure", [change(target, b'{"a": 1}\n')], [applier])
    with transaction.locked(book, [target]), pytest.raises(ApplyFailed) as info:
        transaction.commit(book, plan, result)
    assert info.value.message.startswith("dockerd did not reload; restored ")
    assert info.value.message.endswith("; re-applying it to dockerd failed the same way")
    assert (result.applied, result.verified) == (None, None)  # nothing was re-applied


def test_apply_problems_reach_the_error(book, tmp_path):
    target = tmp_path / "daemon.json"
    marker = object()

    class Complains(Scripted):
        def verify(self, phase, result):
            if phase == "forward":
                result.problems.append(marker)
                raise ApplyFailed("not live")

    with pytest.raises(ApplyFailed) as info:
        run(book, [change(target, b"{}\n")], [Complains()])
    assert info.value.problems == [marker]


def test_the_journal_says_rolling_back_while_files_go_back(book, tmp_path, monkeypatch):
    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}\n")
    phases = []
    real = transaction.restore_all

    def spy(entries, *rest):
        phases.append(book.pending().phase)
        real(entries, *rest)

    monkeypatch.setattr(transaction, "restore_all", spy)
    with pytest.raises(ApplyFailed):
        run(
            book,
            [change(target, b"[]\n")],
            [Scripted(fail={("apply", "forward"): ApplyFailed("x")})],
        )
    assert phases == ["rolling-back"]


def test_a_restore_that_fails_keeps_the_journal_and_says_how_to_finish(book, tmp_path, monkeypatch):
    from dockercfg import safefile

    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}\n")
    real = safefile.atomic_write

    def refuse_old_bytes(path, data, *args, **kwargs):
        if Path(path) == target and data == b"{}\n":
            raise EnvironmentProblem(f"cannot write {path}: read-only file system")
        return real(path, data, *args, **kwargs)

    monkeypatch.setattr(safefile, "atomic_write", refuse_old_bytes)
    with pytest.raises(ApplyFailed) as info:
        run(
            book,
            [change(target, b"[]\n")],
            [Scripted(fail={("apply", "forward"): ApplyFailed("x")})],
        )
    assert re.fullmatch(
        rf"x; could not restore {re.escape(str(target))} \(backup .+\): cannot write"
        rf" {re.escape(str(target))}: read-only file system; the journal"
        rf" {re.escape(str(book.pending_path))} keeps the old bytes: `dockercfg recover` finishes"
        r" the job",
        info.value.message,
    )
    assert book.pending().phase == "rolling-back"


def test_entry_of_an_existing_file_takes_its_mode_and_owner(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    os.chown(path, 1000, 2000)
    os.chmod(path, 0o4640)  # after chown, which clears setuid
    entry = journal.Entry.of(FileChange(path, "/etc/f", b"x", b"y", 0o600, (5, 5)))
    assert (entry.mode, entry.owner) == (0o4640, (1000, 2000))
    absent = journal.Entry.of(FileChange(tmp_path / "g", "/etc/g", None, b"y", 0o600, (5, 5)))
    assert (absent.mode, absent.owner) == (0o600, (5, 5))


def test_the_journal_format_on_disk(book, tmp_path):
    entry = journal.Entry(tmp_path / "f", "/etc/f", b"old", None, 0o644, (1000, 2000))
    assert entry.to_json() == {
        "path": str(tmp_path / "f"),
        "shown": "/etc/f",
        "before": "b2xk",  # base64 of "old"
        # sha256sum of "old"
        "before_sha256": "cba06b5736faf67e54b07b561eae94395e774c517a7d910a54369e1263ccfbd4",
        "after": None,
        "after_sha256": None,
        "mode": 0o644,
        "owner": [1000, 2000],
    }
    assert journal.Entry.from_json(entry.to_json()).owner == (1000, 2000)
    book.ensure()
    manifest = journal.Manifest("ID", "set", [entry], started=1.5, pid=3)
    book.write(manifest)
    text = book.pending_path.read_text()
    head = '{\n "format": 1,\n "id": "ID",\n "command": "set",\n "phase": "writing",\n'
    assert text.startswith(head + ' "started": 1.5,')
    assert text.endswith("\n}\n")
    assert stat.S_IMODE(book.pending_path.stat().st_mode) == 0o600
    assert journal.Manifest.from_json(json.loads(text)).started == 1.5
    book.save_history(manifest)
    saved = book.dir / "history" / "ID.json"
    assert saved.read_text() == text and stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert book.lock_anchor() == book.dir / "transaction"
    assert journal.Journal(tmp_path).held is False


def test_an_id_is_the_utc_time_to_the_microsecond_and_a_random_tail(monkeypatch):
    # 2026-01-01T00:00:00.123456789Z
    monkeypatch.setattr(journal.time, "time_ns", lambda: 1767225600123456789)
    monkeypatch.setattr(journal.os, "urandom", lambda n: b"\xab\xcd\xef"[:n])
    assert journal.new_id() == "20260101T000000.123456Z-abcdef"


def test_the_state_dir_and_its_missing_parents(tmp_path):
    book = journal.Journal(tmp_path / "var/lib/dockercfg")
    book.ensure()
    dirs = ("var", "var/lib", "var/lib/dockercfg", "var/lib/dockercfg/history")
    modes = {p: stat.S_IMODE((tmp_path / p).stat().st_mode) for p in dirs}
    assert modes == {"var": 0o755, "var/lib": 0o755, "var/lib/dockercfg": 0o700,
                     "var/lib/dockercfg/history": 0o700}  # fmt: skip
    os.chmod(book.dir, 0o755)
    book.ensure()  # an existing one is used as it is
    link = journal.Journal(tmp_path / "link")
    (tmp_path / "link").symlink_to(book.dir)
    with pytest.raises(EnvironmentProblem) as info:
        link.ensure()
    assert info.value.message == f"cannot use {tmp_path / 'link'}: it is not a directory"


def test_recovery_names_every_file_changed_since_and_drops_the_directories_it_made(book, tmp_path):
    made = tmp_path / "certs.d"
    made.mkdir()
    new_file = made / "ca.crt"
    new_file.write_bytes(b"new")
    edited1, edited2 = tmp_path / "e1", tmp_path / "e2"
    edited1.write_bytes(b"by hand")
    edited2.write_bytes(b"by hand")
    entries = [
        journal.Entry(new_file, "/etc/certs.d/ca.crt", None, b"new"),
        journal.Entry(edited1, "/etc/e1", b"old", b"new"),
        journal.Entry(edited2, "/etc/e2", b"old", b"new"),
    ]
    book.ensure()
    manifest = journal.Manifest("T", "trust-ca", entries, phase="applying", started=0.0, pid=1,
                                made_dirs=[str(made)])  # fmt: skip
    book.write(manifest)
    result = Result(command="recover")
    recover(None, None, book, manifest, result)
    assert not made.exists()
    assert result.warnings[0].endswith("; left alone, as it was changed since: /etc/e1, /etc/e2")


def test_made_dirs_survive_the_journal(tmp_path):
    manifest = journal.Manifest("ID", "trust-ca", [], made_dirs=["/etc/docker/certs.d/r:1"])
    assert manifest.to_json()["made_dirs"] == ["/etc/docker/certs.d/r:1"]
    back = journal.Manifest.from_json(json.loads(json.dumps(manifest.to_json())))
    assert back.made_dirs == ["/etc/docker/certs.d/r:1"]
    assert journal.Manifest.from_json({"id": "x", "command": "c", "files": []}).made_dirs == []


def test_a_per_user_journal_is_the_user_s_up_from_their_home(tmp_path):
    require_root("chown to another user")
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, 1000, 1000)
    (home / ".local").mkdir()  # left root's by an older run under sudo
    book = journal.Journal(home / ".local/state/dockercfg", home)
    book.ensure()
    for rel, mode in [(".local", None), (".local/state", 0o755), (".local/state/dockercfg", 0o700),
                      (".local/state/dockercfg/history", 0o700)]:  # fmt: skip
        st = (home / rel).stat()
        assert (st.st_uid, st.st_gid) == (1000, 1000), rel
        if mode is not None:
            assert stat.S_IMODE(st.st_mode) == mode, rel
    book.write(journal.Manifest("ID", "add", []))
    os.chown(book.pending_path, 0, 0)  # as an older run under sudo left it
    book.ensure()
    assert book.pending_path.stat().st_uid == 1000

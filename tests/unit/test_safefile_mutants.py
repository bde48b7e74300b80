"""Atomic writes, backups, symlink trust and the lock, at the edges a small change would cross.

Runs as root in CI on a real file system under pytest's tmp dir (ext4 here: chattr and
security.* extended attributes work). Expected messages are written out literally.
"""

from __future__ import annotations

import os
import stat
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support import require_root

from dockercfg import filelock, safefile
from dockercfg.errors import EnvironmentProblem

USER = (1000, 1000)


@pytest.fixture
def root_only():
    require_root("chown to another user")


def points(monkeypatch) -> list[str]:
    """Record the fault points passed, instead of dying at one (dockercfg.fserrors.fault)."""
    seen: list[str] = []
    monkeypatch.setattr(safefile, "fault", seen.append)
    return seen


WRITE_POINTS = ["write-temp-created", "write-temp-written", "write-temp-synced", "write-renamed",
                "write-done"]  # fmt: skip


def test_fault_points_of_a_write_and_a_backup(tmp_path, monkeypatch):
    seen = points(monkeypatch)
    monkeypatch.delenv("DOCKERCFG_FAULT", raising=False)
    target = tmp_path / "daemon.json"
    safefile.atomic_write(target, b"{}\n")
    assert seen == WRITE_POINTS
    seen.clear()
    safefile.atomic_write(tmp_path / "pending.json", b"{}\n", kind="journal")
    assert seen == [p.replace("write", "journal") for p in WRITE_POINTS]
    seen.clear()
    safefile.backup(target)
    assert seen == [p.replace("write", "backup") for p in WRITE_POINTS]


def test_with_faults_armed_the_write_goes_in_two_halves(tmp_path, monkeypatch):
    seen = points(monkeypatch)
    monkeypatch.setenv("DOCKERCFG_FAULT", "no-such-point")
    target = tmp_path / "daemon.json"
    data = bytes(range(256)) * 3 + b"x"  # odd length: the halves are 384 and 385 bytes
    writes: list[int] = []
    real_write = os.write

    def write(fd, view):
        writes.append(len(view))
        return real_write(fd, view)

    monkeypatch.setattr(os, "write", write)
    safefile.atomic_write(target, data)
    monkeypatch.setattr(os, "write", real_write)
    assert target.read_bytes() == data
    assert writes == [384, 385]
    assert seen == ["write-temp-created", "write-temp-partial", *WRITE_POINTS[1:]]


def test_a_new_file_gets_the_mode_and_owner_asked_for(tmp_path, root_only):
    target = tmp_path / "new"
    safefile.atomic_write(target, b"x", mode=0o600, owner=USER)
    st = target.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, *USER)
    default = tmp_path / "default"
    safefile.atomic_write(default, b"x")
    st = default.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o644, 0, 0)


def test_a_new_file_in_a_user_s_directory_is_the_user_s(tmp_path, root_only):
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, *USER)
    safefile.atomic_write(home / "config.json", b"{}\n")
    st = (home / "config.json").stat()
    assert (st.st_uid, st.st_gid) == USER
    # The lock beside it too, so the user's own later run can take it.
    with filelock.lock(home / "config.json"):
        pass
    st = (home / ".config.json.dockercfg.lock").stat()
    assert (st.st_uid, st.st_gid) == USER


def test_an_existing_file_keeps_its_mode_owner_and_selinux_label(tmp_path, root_only):
    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}\n")
    os.chmod(target, 0o640)
    os.chown(target, *USER)
    label = b"system_u:object_r:container_config_t:s0"
    os.setxattr(target, "security.selinux", label)
    safefile.atomic_write(target, b'{"a": 1}\n', mode=0o600, owner=(0, 0))
    st = target.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, *USER)
    assert os.getxattr(target, "security.selinux") == label


def test_the_temp_file_is_private_until_its_mode_is_set(tmp_path, monkeypatch):
    seen = []
    real = safefile._copy_metadata

    def spy(fd, *args, **kwargs):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real(fd, *args, **kwargs)

    monkeypatch.setattr(safefile, "_copy_metadata", spy)
    safefile.atomic_write(tmp_path / "f", b"x", mode=0o644)
    assert seen == [0o600]


def test_a_taken_temp_name_is_skipped_and_then_gives_up(tmp_path, monkeypatch):
    target = tmp_path / "daemon.json"
    # A directory (not a stale file, which cleanup removes) where the temp file would go.
    (tmp_path / ".daemon.json.dockercfg-tmp-00000000").mkdir()
    draws = iter([b"\0\0\0\0", b"\1\1\1\1"])
    monkeypatch.setattr(os, "urandom", lambda n: next(draws))
    safefile.atomic_write(target, b"{}\n")
    assert target.read_bytes() == b"{}\n"
    assert (tmp_path / ".daemon.json.dockercfg-tmp-00000000").is_dir()
    monkeypatch.setattr(os, "urandom", lambda n: b"\0" * n)
    with pytest.raises(EnvironmentProblem) as info:
        safefile.atomic_write(target, b"[]\n")
    assert info.value.message == f"cannot write {target}: no free temporary file name"
    assert target.read_bytes() == b"{}\n"


def test_reads_past_one_chunk(tmp_path):
    big = bytes(range(256)) * 1000  # 256000 bytes: four reads of 64 KiB
    (tmp_path / "big").write_bytes(big)
    assert safefile.read_bytes(tmp_path / "big") == big


def test_os_errors_name_the_action_and_the_path(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    below = plain / "x"  # a file used as a directory: ENOTDIR
    with pytest.raises(EnvironmentProblem) as info:
        safefile.read_bytes(below)
    assert info.value.message == f"cannot read {below}: not a directory"
    with pytest.raises(EnvironmentProblem) as info:
        safefile.final_target(below)
    assert info.value.message == f"cannot access {below}: not a directory"
    with pytest.raises(EnvironmentProblem) as info:
        safefile.restore(tmp_path / "t", below)
    assert info.value.message == f"cannot read {below}: not a directory"
    (tmp_path / ".dockercfg-backups").write_bytes(b"")  # a file where the backups go
    with pytest.raises(EnvironmentProblem) as info:
        safefile.list_backups(tmp_path / "daemon.json")
    assert info.value.message == (
        f"cannot list the backups in {tmp_path / '.dockercfg-backups'}: not a directory"
    )
    (tmp_path / "daemon.json").write_bytes(b"{}")
    with pytest.raises(EnvironmentProblem) as info:
        safefile.backup(tmp_path / "daemon.json")
    assert info.value.message.startswith(f"cannot back up {tmp_path / 'daemon.json'}: ")
    assert str(tmp_path / ".dockercfg-backups") in info.value.message


def test_reading_an_unreadable_regular_file(tmp_path):
    # /proc/self/mem is a regular file whose read at offset 0 fails (EIO): the read's own error.
    with pytest.raises(EnvironmentProblem) as info:
        safefile.read_bytes(Path("/proc/self/mem"))
    assert info.value.message == "cannot read /proc/self/mem: input/output error"


def test_messages_through_a_symlink_show_both_paths(tmp_path):
    real = tmp_path / "real.json"
    real.write_bytes(b"{}")
    link = tmp_path / "daemon.json"
    link.symlink_to(real)
    with pytest.raises(EnvironmentProblem) as info:
        safefile.atomic_write(link, b"")
    assert info.value.message == f"refusing to write an empty file to {link} (-> {real})"
    folder = tmp_path / "folder"
    folder.mkdir()
    link2 = tmp_path / "points-at-a-dir"
    link2.symlink_to(folder)
    with pytest.raises(EnvironmentProblem) as info:
        safefile.remove(link2)
    assert info.value.message == f"cannot remove {link2} (-> {folder}): is a directory"
    safefile.remove(link)  # the target goes, the link stays
    assert link.is_symlink() and not real.exists()


def test_fsync_dir(tmp_path):
    safefile.fsync_dir(tmp_path)  # no error on a real directory
    with pytest.raises(EnvironmentProblem) as info:
        safefile.fsync_dir(tmp_path / "absent")
    assert info.value.message == (
        f"wrote {tmp_path / 'absent'} but could not flush its directory {tmp_path / 'absent'}:"
        " no such file or directory"
    )


def _trust_message(link, target, what, where, reason):
    return (
        f"refusing to follow the symlink {link} -> {target}: the {what} {where} is not safe"
        f" ({reason}), and whoever can change it controls dockerd; make root its only writer,"
        " or replace the symlink with the file"
    )


@pytest.mark.parametrize(
    ("uid", "gid", "mode", "reason"),
    [
        (1000, 0, 0o644, "it is owned by uid 1000, not root"),
        (1, 0, 0o644, "it is owned by uid 1, not root"),
        (0, 0, 0o646, "anyone may write it"),
        (0, 1000, 0o664, "group 1000 may write it"),
        (0, 1, 0o664, "group 1 may write it"),
        (0, 1000, 0o644, None),  # another group may read, not write
        (0, 1000, 0o645, None),
        (0, 0, 0o664, None),  # root's group may write
    ],
)
def test_a_symlink_is_followed_only_to_a_file_root_alone_may_change(
    tmp_path, root_only, uid, gid, mode, reason
):
    target = tmp_path / "real.json"
    target.write_bytes(b"{}")
    os.chown(target, uid, gid)
    os.chmod(target, mode)
    link = tmp_path / "daemon.json"
    link.symlink_to(target)
    if reason is None:
        safefile.atomic_write(link, b"[]")
        assert target.read_bytes() == b"[]"
        return
    with pytest.raises(EnvironmentProblem) as info:
        safefile.atomic_write(link, b"[]")
    assert info.value.message == _trust_message(link, target, "file", target, reason)
    assert target.read_bytes() == b"{}"


def test_a_dangling_symlink_still_needs_a_safe_directory(tmp_path, root_only):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    link = tmp_path / "daemon.json"
    link.symlink_to(shared / "missing.json")
    with pytest.raises(EnvironmentProblem) as info:
        safefile.atomic_write(link, b"{}")
    assert info.value.message == _trust_message(
        link, shared / "missing.json", "directory", shared, "anyone may write it"
    )
    assert not (shared / "missing.json").exists()


def test_an_immutable_file_names_the_file_and_the_cause(tmp_path, root_only):
    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}")
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode != 0:
        pytest.fail("chattr +i must work on the test file system")
    try:
        with pytest.raises(EnvironmentProblem) as info:
            safefile.atomic_write(target, b"[]")
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)
    assert info.value.message.startswith(f"cannot write {target}: operation not permitted")
    assert "chattr" in info.value.message or "immutable" in info.value.message
    assert target.read_bytes() == b"{}"
    assert [p.name for p in tmp_path.iterdir()] == ["daemon.json"]  # no temp file left


def test_crash_leftovers_are_swept_and_nothing_else(tmp_path):
    target = tmp_path / "daemon.json"
    backups = tmp_path / ".dockercfg-backups"
    backups.mkdir()
    keep = [
        backups / "daemon.json.20260101T000000.000000Z",
        backups / ".other.json.20260101T000000.000000Z.dockercfg-tmp-abcd",
        backups / ".daemon.json.not-a-temp",
        tmp_path / ".other.json.dockercfg-tmp-abcd",
    ]
    gone = [
        backups / ".daemon.json.20260101T000000.000000Z.dockercfg-tmp-abcd",
        tmp_path / ".daemon.json.dockercfg-tmp-abcd",
    ]
    for p in keep + gone:
        p.write_bytes(b"x")
    safefile.cleanup_after_crash(target)
    assert [p.exists() for p in keep] == [True] * len(keep)
    assert [p.exists() for p in gone] == [False] * len(gone)
    assert safefile.cleanup_stale_temp(target) == []
    (tmp_path / ".daemon.json.dockercfg-tmp-ef").write_bytes(b"x")
    assert safefile.cleanup_stale_temp(target) == [tmp_path / ".daemon.json.dockercfg-tmp-ef"]


def test_sweeping_never_fails_the_command(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    safefile.cleanup_after_crash(plain / "daemon.json")  # ENOTDIR everywhere: no error


def test_a_backup_sweeps_only_its_own_half_written_copies(tmp_path):
    target = tmp_path / "daemon.json"
    target.write_bytes(b"{}")
    backups = tmp_path / ".dockercfg-backups"
    backups.mkdir(mode=0o700)
    other = backups / ".other.json.1.dockercfg-tmp-ab"
    mine = backups / ".daemon.json.1.dockercfg-tmp-ab"
    stranger = backups / ".daemon.json.1"
    for p in (other, mine, stranger):
        p.write_bytes(b"x")
    safefile.backup(target)
    assert other.exists() and stranger.exists() and not mine.exists()


def test_backups_in_one_instant_still_sort_in_order(tmp_path, monkeypatch):
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc)

    monkeypatch.setattr(safefile, "datetime", Frozen)
    target = tmp_path / "daemon.json"
    names = []
    for n in range(3):
        target.write_bytes(b"%d" % n)
        names.append(safefile.backup(target).name)
    assert names == [
        "daemon.json.20260102T030405.600000Z",
        "daemon.json.20260102T030405.600001Z",
        "daemon.json.20260102T030405.600002Z",
    ]
    assert [p.read_bytes() for p in safefile.list_backups(target)] == [b"2", b"1", b"0"]


@pytest.mark.parametrize(("keep", "left"), [(1, 1), (0, 1), (2, 2)])
def test_backups_are_pruned_to_keep(tmp_path, keep, left):
    target = tmp_path / "daemon.json"
    for n in range(3):
        target.write_bytes(b"%d" % n)
        safefile.backup(target, keep=keep)
    kept = safefile.list_backups(target)
    assert [p.read_bytes() for p in kept] == [b"2", b"1"][:left]


def test_a_lock_is_taken_soon_after_its_holder_lets_go(tmp_path):
    conf = tmp_path / "daemon.json"
    released = []
    holding = threading.Event()

    def hold(seconds):
        with filelock.lock(conf):
            holding.set()
            time.sleep(seconds)
            released.append(time.monotonic())

    for seconds in (0.02, 0.7):  # the first poll, and the polls after the backoff cap
        holding.clear()
        released.clear()
        thread = threading.Thread(target=hold, args=(seconds,))
        thread.start()
        holding.wait(5)
        with filelock.lock(conf, timeout=10):
            lag = time.monotonic() - released[0]
        thread.join()
        assert lag < 0.4, (seconds, lag)


def test_a_holder_line_that_is_no_pid(tmp_path):
    conf = tmp_path / "daemon.json"
    lock_file = tmp_path / ".daemon.json.dockercfg.lock"
    for text, holder in [
        (b"\xff12", "another process"),
        (b"7" * 40, "pid " + "7" * 32),  # only the first 32 bytes are read
    ]:
        with filelock.lock(conf):
            lock_file.write_bytes(text)
            with pytest.raises(EnvironmentProblem) as info, filelock.lock(conf, timeout=0.01):
                pass
        assert info.value.message.endswith(f"(held by {holder})")


def test_a_long_bad_deadline_is_shown_cut_at_40_characters(monkeypatch):
    raw = "x" * 50
    monkeypatch.setenv("DOCKERCFG_LOCK_TIMEOUT", raw)
    with pytest.raises(Exception) as info:
        filelock.lock_timeout()
    assert str(info.value) == f"DOCKERCFG_LOCK_TIMEOUT={'x' * 40!r} is not a number of seconds"


def test_a_safe_file_in_a_directory_anyone_may_write_is_not_followed(tmp_path, root_only):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    target = shared / "real.json"
    target.write_bytes(b"{}")
    link = tmp_path / "daemon.json"
    link.symlink_to(target)
    with pytest.raises(EnvironmentProblem) as info:
        safefile.atomic_write(link, b"[]")
    assert info.value.message == _trust_message(
        link, target, "directory", shared, "anyone may write it"
    )


def test_a_restore_writes_through_the_write_fault_points(tmp_path, monkeypatch):
    seen = points(monkeypatch)
    monkeypatch.delenv("DOCKERCFG_FAULT", raising=False)
    saved = tmp_path / "saved"
    saved.write_bytes(b"{}\n")
    safefile.restore(tmp_path / "daemon.json", saved)
    assert seen == WRITE_POINTS
    assert (tmp_path / "daemon.json").read_bytes() == b"{}\n"


def test_a_hundred_temp_names_are_tried(tmp_path, monkeypatch):
    (tmp_path / ".daemon.json.dockercfg-tmp-00000000").mkdir()
    calls = []
    monkeypatch.setattr(os, "urandom", lambda n: calls.append(n) or b"\0" * n)
    with pytest.raises(EnvironmentProblem):
        safefile.atomic_write(tmp_path / "daemon.json", b"{}\n")
    assert calls == [4] * 100


def test_flushing_a_directory_that_is_a_file_fails(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    with pytest.raises(EnvironmentProblem) as info:
        safefile.fsync_dir(plain)
    assert info.value.message == (
        f"wrote {plain} but could not flush its directory {plain}: not a directory"
    )


def test_a_backup_dir_an_older_sudo_run_left_root_s_is_given_back(tmp_path, root_only):
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, *USER)
    (home / ".dockercfg-backups").mkdir(mode=0o755)  # root's, from an older run
    (home / "config.json").write_bytes(b"{}")
    safefile.backup(home / "config.json")
    st = (home / ".dockercfg-backups").stat()
    assert (st.st_uid, st.st_gid) == USER


def chattr(flag: str, path: Path) -> None:
    if subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode != 0:
        pytest.fail(f"chattr {flag} must work on the test file system")


def test_a_backup_that_cannot_be_made_names_where(tmp_path, root_only):
    folder = tmp_path / "etc"
    folder.mkdir()
    target = folder / "daemon.json"
    target.write_bytes(b"{}")
    chattr("+i", folder)  # no .dockercfg-backups can be made in it
    try:
        with pytest.raises(EnvironmentProblem) as info:
            safefile.backup(target)
    finally:
        chattr("-i", folder)
    backups = folder / ".dockercfg-backups"
    assert info.value.message.startswith(
        f"cannot back up {target} into {backups}: operation not permitted"
    )
    backups.mkdir(mode=0o700)
    chattr("+i", backups)  # made, but nothing can be written into it
    try:
        with pytest.raises(EnvironmentProblem) as info:
            safefile.backup(target)
    finally:
        chattr("-i", backups)
    assert info.value.message.startswith(f"cannot back up {target} to {backups / 'daemon.json.'}")


def test_a_hard_linked_lock_file_is_not_given_away(tmp_path, root_only):
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, *USER)
    secret = tmp_path / "secret"
    secret.write_bytes(b"root's")
    os.link(secret, home / ".config.json.dockercfg.lock")  # planted by the user
    with filelock.lock(home / "config.json"):
        pass
    st = secret.stat()
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_the_lock_polls_with_a_doubling_delay_up_to_a_quarter_second(tmp_path, monkeypatch):
    class Clock:
        now = 100.0
        slept: list[float] = []

        def monotonic(self):
            return self.now

        def sleep(self, seconds):
            self.slept.append(seconds)
            self.now += seconds

    clock = Clock()
    conf = tmp_path / "daemon.json"
    with filelock.lock(conf):
        monkeypatch.setattr(filelock, "time", clock)
        with pytest.raises(EnvironmentProblem), filelock.lock(conf, timeout=1.0):
            pass
    assert clock.slept == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.25, 0.185])

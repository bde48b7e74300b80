"""safefile: the lock, atomic writes, backups and restore, including real OS failures.

Disk-full and read-only cases use real file systems (a tiny tmpfs, a read-only bind mount) in a
private mount namespace of a child process, so no mount is ever visible outside it. Everything
happens under tmp_path; the host's /etc, /run and $HOME are never touched.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support import require_mount_ns
from support import require_root as support_require_root

from dockercfg import filelock, safefile
from dockercfg.errors import EnvironmentProblem

REPO = Path(__file__).resolve().parents[2]
CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO)}
ORIGINAL = b'{\n  "debug": true,\n  "insecure-registries": ["old.test:5000"]\n}\n'
NEW = b'{\n  "insecure-registries": ["new.test:5000"]\n}\n'
OTHER_UID, OTHER_GID = 4321, 4322
BACKUP_NAME = re.compile(r"daemon\.json\.[0-9]{8}T[0-9]{6}\.[0-9]{6}Z")


def require_root() -> None:
    support_require_root("needs root (chown to another uid, mount namespaces, dropping privileges)")


# Runs in the child: every call's outcome as JSON, so an OSError that escapes shows up by name.
CHILD_PRELUDE = """
import json, os, sys
from pathlib import Path
from dockercfg import filelock, safefile
from dockercfg.errors import EnvironmentProblem
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except EnvironmentProblem as err:
        out[name] = err.message
    except BaseException as err:
        out[name] = f"ESCAPED {type(err).__name__}: {err}"
"""


def run_in_mount_ns(mounts: str, mountpoint: Path, body: str) -> dict:
    """Run `body` after the shell `mounts` ($1 = mountpoint) in a private mount namespace."""
    require_mount_ns()
    script = f'{mounts}\nexec "$2" -c "$3" "$1"'
    code = CHILD_PRELUDE + body + "\nprint(json.dumps(out))\n"
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script, "sh"]
        + [str(mountpoint), sys.executable, code],
        env=CHILD_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def one_line(message: str, *needles: str) -> None:
    assert "\n" not in message and message.strip() == message, message
    for needle in needles:
        assert needle in message, message


def temp_files(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if safefile.TMP_MARK in n)


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    """tmp_path/etc/docker/daemon.json with ORIGINAL, mode 0644."""
    path = tmp_path / "etc" / "docker" / "daemon.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(ORIGINAL)
    path.chmod(0o644)
    return path


# atomic_write: success -------------------------------------------------------------------------


def test_atomic_write_replaces_content_and_leaves_no_temp(conf: Path):
    inode = conf.stat().st_ino
    safefile.atomic_write(conf, NEW)
    assert conf.read_bytes() == NEW
    assert conf.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert temp_files(conf.parent) == []


def test_atomic_write_keeps_mode(conf: Path):
    conf.chmod(0o600)
    safefile.atomic_write(conf, NEW)
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600


def test_atomic_write_keeps_owner_and_special_bits_as_root(conf: Path):
    require_root()
    os.chown(conf, OTHER_UID, OTHER_GID)
    conf.chmod(0o4750)  # chown clears setuid, so the mode must be set after the owner
    safefile.atomic_write(conf, NEW)
    st = conf.stat()
    assert (st.st_uid, st.st_gid) == (OTHER_UID, OTHER_GID)
    assert stat.S_IMODE(st.st_mode) == 0o4750
    assert conf.read_bytes() == NEW


def test_new_file_gets_0644_and_the_current_user_whatever_the_umask(tmp_path: Path):
    path = tmp_path / "daemon.json"
    old = os.umask(0o077)
    try:
        safefile.atomic_write(path, NEW)
    finally:
        os.umask(old)
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())


def test_symlink_is_kept_and_its_final_target_written(tmp_path: Path):
    real = tmp_path / "srv" / "daemon.json"
    real.parent.mkdir()
    real.write_bytes(ORIGINAL)
    real.chmod(0o640)
    middle = tmp_path / "srv" / "current.json"
    middle.symlink_to("daemon.json")
    link = tmp_path / "etc" / "daemon.json"
    link.parent.mkdir()
    link.symlink_to("../srv/current.json")  # relative, through a second link
    safefile.atomic_write(link, NEW)
    assert link.is_symlink() and os.readlink(link) == "../srv/current.json"
    assert middle.is_symlink() and os.readlink(middle) == "daemon.json"
    assert real.read_bytes() == NEW
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert temp_files(real.parent) == [] and temp_files(link.parent) == []


def test_dangling_symlink_creates_its_target(tmp_path: Path):
    link = tmp_path / "daemon.json"
    link.symlink_to("real.json")
    safefile.atomic_write(link, NEW)
    assert link.is_symlink()
    assert (tmp_path / "real.json").read_bytes() == NEW


def test_symlink_loop_is_a_clear_error(tmp_path: Path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(EnvironmentProblem) as caught:
        safefile.atomic_write(tmp_path / "a", NEW)
    one_line(caught.value.message, str(tmp_path / "a"), "too many levels of symbolic links")


def test_stale_temp_files_of_this_file_only_are_removed(conf: Path):
    d = conf.parent
    for name in (".daemon.json.dockercfg-tmp-dead", ".daemon.json.dockercfg-tmp-beef"):
        (d / name).write_bytes(b"half")
    keep = [".other.json.dockercfg-tmp-1234", "daemon.json.dpkg-old", ".daemon.json.swp"]
    for name in keep:
        (d / name).write_bytes(b"not ours")
    safefile.atomic_write(conf, NEW)
    assert sorted(os.listdir(d)) == sorted(keep + ["daemon.json"])
    assert safefile.cleanup_stale_temp(conf) == []


def test_relative_path_stays_relative(conf: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(conf.parent)
    safefile.atomic_write(Path("daemon.json"), NEW)
    assert conf.read_bytes() == NEW


# atomic_write: failures leave the original byte-identical ------------------------------------


def test_refuses_empty_data(conf: Path):
    with pytest.raises(EnvironmentProblem) as caught:
        safefile.atomic_write(conf, b"")
    one_line(caught.value.message, "refusing to write an empty file", str(conf))
    assert conf.read_bytes() == ORIGINAL


def test_directory_where_the_file_should_be(tmp_path: Path):
    path = tmp_path / "daemon.json"
    path.mkdir()
    (path / "inside").write_bytes(b"x")
    with pytest.raises(EnvironmentProblem) as caught:
        safefile.atomic_write(path, NEW)
    one_line(caught.value.message, f"cannot write {path}: it is a directory")
    assert os.listdir(path) == ["inside"] and (path / "inside").read_bytes() == b"x"
    assert temp_files(tmp_path) == []
    with pytest.raises(EnvironmentProblem, match="it is a directory"):
        safefile.read_bytes(path)
    with pytest.raises(EnvironmentProblem, match="it is a directory"):
        safefile.backup(path)
    with pytest.raises(EnvironmentProblem, match="cannot remove"):
        safefile.remove(path)


def test_missing_parent_directory(tmp_path: Path):
    path = tmp_path / "no" / "such" / "daemon.json"
    with pytest.raises(EnvironmentProblem) as caught:
        safefile.atomic_write(path, NEW)
    one_line(caught.value.message, f"cannot write {path}: directory {path.parent} does not exist")
    with pytest.raises(EnvironmentProblem) as caught, filelock.lock(path):
        pass
    one_line(caught.value.message, f"cannot lock {path}: directory {path.parent} does not exist")
    assert safefile.read_bytes(path) is None
    assert safefile.backup(path) is None
    assert safefile.list_backups(path) == []
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_io_error_midway_removes_the_temp_file(conf: Path, monkeypatch, failing: str):
    def fail(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(safefile.os, failing, fail)
    with pytest.raises(EnvironmentProblem) as caught:
        safefile.atomic_write(conf, NEW)
    monkeypatch.undo()
    one_line(caught.value.message, f"cannot write {conf}: input/output error")
    assert conf.read_bytes() == ORIGINAL
    assert temp_files(conf.parent) == []


def test_interrupt_midway_removes_the_temp_file_and_propagates(conf: Path, monkeypatch):
    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(safefile.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        safefile.atomic_write(conf, NEW)
    monkeypatch.undo()
    assert conf.read_bytes() == ORIGINAL
    assert temp_files(conf.parent) == []


def test_disk_full_on_a_tiny_tmpfs(tmp_path: Path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    out = run_in_mount_ns(
        'mount -t tmpfs -o size=16k,mode=0755 tmpfs "$1"',
        mnt,
        f"""
d = Path(sys.argv[1])
conf = d / "daemon.json"
conf.write_bytes({ORIGINAL!r})
conf.chmod(0o640)
attempt("write", lambda: safefile.atomic_write(conf, b"x" * 65536))
out["after_write"] = conf.read_bytes() == {ORIGINAL!r}
out["mode"] = oct(conf.stat().st_mode & 0o7777)
fd = os.open(d / "filler", os.O_WRONLY | os.O_CREAT)  # fill the rest: no backup can fit
try:
    while True:
        os.write(fd, b"f" * 1024)
except OSError:
    os.close(fd)
attempt("backup", lambda: safefile.backup(conf))
with filelock.lock(conf):  # the pid note is optional: locking still works on a full disk
    attempt("write_locked", lambda: safefile.atomic_write(conf, {NEW!r}))
out["after_all"] = conf.read_bytes() == {ORIGINAL!r}
out["files"] = sorted(os.listdir(d))
out["backups"] = sorted(os.listdir(d / ".dockercfg-backups"))
""",
    )
    one_line(out["write"], f"cannot write {mnt}/daemon.json: no space left on device")
    one_line(out["backup"], f"{mnt}/daemon.json", "no space left on device")
    one_line(out["write_locked"], "no space left on device")
    assert out["after_write"] and out["after_all"] and out["mode"] == "0o640"
    lock = ".daemon.json.dockercfg.lock"
    assert out["files"] == [lock, ".dockercfg-backups", "daemon.json", "filler"]  # no temp files
    assert out["backups"] == []


def test_read_only_file_system(conf: Path):
    d = conf.parent
    before = sorted(os.listdir(d))
    backup = safefile.backup(conf)  # made while writable, to test restore on a read-only fs
    assert backup is not None
    out = run_in_mount_ns(
        'mount --bind "$1" "$1"\nmount -o remount,bind,ro "$1"',
        d,
        f"""
conf = Path(sys.argv[1]) / "daemon.json"
attempt("write", lambda: safefile.atomic_write(conf, {NEW!r}))
attempt("restore", lambda: safefile.restore(conf, Path({str(backup)!r})))
attempt("backup", lambda: safefile.backup(conf))
attempt("remove", lambda: safefile.remove(conf))
def locked():
    with filelock.lock(conf):
        pass
attempt("lock", locked)
out["read"] = safefile.read_bytes(conf).decode()
""",
    )
    for key, action in (("write", "write"), ("restore", "write"), ("remove", "remove")):
        one_line(out[key], f"cannot {action} {conf}: read-only file system")
    one_line(out["backup"], f"cannot back up {conf}", "read-only file system")
    one_line(out["lock"], f"cannot lock {conf}: read-only file system")
    assert out["read"] == ORIGINAL.decode()
    assert conf.read_bytes() == ORIGINAL
    assert sorted(os.listdir(d)) == sorted(before + [".dockercfg-backups"])
    assert safefile.list_backups(conf) == [backup]


# Run as an unprivileged user, from inside the directory: pytest's base temp dir is 0700 root.
EACCES_BODY = """
conf = Path("daemon.json")
attempt("write", lambda: safefile.atomic_write(conf, b'{"x": 1}\\n'))
attempt("backup", lambda: safefile.backup(conf))
attempt("read", lambda: safefile.read_bytes(Path("secret.json")))
def locked():
    with filelock.lock(conf):
        pass
attempt("lock", locked)
"""


def test_permission_denied(conf: Path):
    d = conf.parent
    secret = d / "secret.json"
    secret.write_bytes(b"{}")
    secret.chmod(0o600)
    if os.geteuid() == 0:  # root ignores modes: drop to nobody in a child
        proc = subprocess.run(
            [sys.executable, "-c", CHILD_PRELUDE + EACCES_BODY + "print(json.dumps(out))"],
            cwd=d,
            user=65534,
            group=65534,
            extra_groups=[],
            env=CHILD_ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.splitlines()[-1])
    else:
        d.chmod(0o555)
        secret.chmod(0o000)
        try:
            namespace: dict = {}
            exec(CHILD_PRELUDE, namespace)
            cwd = os.getcwd()
            os.chdir(d)
            try:
                exec(EACCES_BODY, namespace)
            finally:
                os.chdir(cwd)
            out = namespace["out"]
        finally:
            d.chmod(0o755)
            secret.chmod(0o600)
    one_line(out["write"], "cannot write daemon.json: permission denied")
    one_line(out["backup"], "cannot back up daemon.json into .dockercfg-backups: permission")
    one_line(out["read"], "cannot read secret.json: permission denied")
    one_line(out["lock"], "cannot lock daemon.json: permission denied")
    assert conf.read_bytes() == ORIGINAL
    assert sorted(os.listdir(d)) == ["daemon.json", "secret.json"]


# read_bytes and remove -------------------------------------------------------------------------


def test_read_bytes(conf: Path, tmp_path: Path):
    assert safefile.read_bytes(conf) == ORIGINAL
    assert safefile.read_bytes(tmp_path / "absent.json") is None
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(EnvironmentProblem) as caught:  # refused at once, never blocks
        safefile.read_bytes(fifo)
    one_line(caught.value.message, f"cannot read {fifo}: it is not a regular file")


def test_remove_keeps_a_symlink_and_tolerates_absence(tmp_path: Path):
    real = tmp_path / "real.json"
    real.write_bytes(NEW)
    link = tmp_path / "daemon.json"
    link.symlink_to("real.json")
    safefile.remove(link)
    assert link.is_symlink() and not real.exists()
    safefile.remove(link)  # already gone: fine
    safefile.remove(tmp_path / "never.json")


# Backups ---------------------------------------------------------------------------------------


def test_backup_copies_content_into_a_private_directory(conf: Path):
    conf.chmod(0o640)
    old = os.umask(0)
    try:
        made = safefile.backup(conf)
    finally:
        os.umask(old)
    assert made is not None and made.parent == conf.parent / ".dockercfg-backups"
    assert BACKUP_NAME.fullmatch(made.name)
    assert made.read_bytes() == ORIGINAL
    assert stat.S_IMODE(made.stat().st_mode) == 0o640
    assert stat.S_IMODE(made.parent.stat().st_mode) == 0o700
    assert safefile.list_backups(conf) == [made]
    assert temp_files(made.parent) == []


def test_backup_keeps_the_owner_as_root(conf: Path):
    require_root()
    os.chown(conf, OTHER_UID, OTHER_GID)
    made = safefile.backup(conf)
    assert made is not None
    assert (made.stat().st_uid, made.stat().st_gid) == (OTHER_UID, OTHER_GID)


def test_backup_of_an_absent_file_is_none(tmp_path: Path):
    assert safefile.backup(tmp_path / "daemon.json") is None
    assert not (tmp_path / ".dockercfg-backups").exists()


def test_backup_of_an_empty_file_is_exact(conf: Path):
    conf.write_bytes(b"")
    made = safefile.backup(conf)
    assert made is not None and made.read_bytes() == b""


def test_backups_are_pruned_to_the_newest_ten_per_name(conf: Path):
    other = conf.parent / "other.json"
    other.write_bytes(b"{}")
    other_backup = safefile.backup(other)
    made = []
    for i in range(12):
        conf.write_bytes(b'{"n": %d}\n' % i)
        made.append(safefile.backup(conf))
    listed = safefile.list_backups(conf)
    assert listed == list(reversed(made))[:10]  # newest first
    assert [p.read_bytes() for p in listed[:2]] == [b'{"n": 11}\n', b'{"n": 10}\n']
    assert not made[0].exists() and not made[1].exists()
    assert safefile.list_backups(other) == [other_backup]
    safefile.backup(conf, keep=3)
    assert len(safefile.list_backups(conf)) == 3


def test_backup_sorts_newest_even_when_the_clock_goes_back(conf: Path, monkeypatch):
    first = safefile.backup(conf)

    class Past(safefile.datetime):
        @classmethod
        def now(cls, tz=None):
            return safefile.datetime(2001, 1, 1, tzinfo=tz)

    monkeypatch.setattr(safefile, "datetime", Past)
    conf.write_bytes(NEW)
    second = safefile.backup(conf)
    assert safefile.list_backups(conf) == [second, first]
    assert second is not None and second.read_bytes() == NEW


def test_list_backups_ignores_foreign_names(conf: Path):
    made = safefile.backup(conf)
    d = conf.parent / ".dockercfg-backups"
    for name in ("daemon.json.bak", "daemon.json.20240101T000000Z", "daemon.jsonx.20240101"):
        (d / name).write_bytes(b"{}")
    (d / ".daemon.json.20240101T000000.000000Z.dockercfg-tmp-dead").write_bytes(b"half")
    assert safefile.list_backups(conf) == [made]
    safefile.backup(conf)
    assert temp_files(d) == []  # a crashed backup's temp file is cleaned up too


def test_backup_directory_that_is_a_symlink_is_refused(conf: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (conf.parent / ".dockercfg-backups").symlink_to(elsewhere)
    with pytest.raises(EnvironmentProblem) as caught:
        safefile.backup(conf)
    one_line(caught.value.message, "is not a directory")
    assert os.listdir(elsewhere) == []


def test_restore(conf: Path):
    conf.chmod(0o600)
    made = safefile.backup(conf)
    assert made is not None
    safefile.atomic_write(conf, NEW)
    safefile.restore(conf, made)
    assert conf.read_bytes() == ORIGINAL
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    conf.unlink()
    safefile.restore(conf, made)  # file gone: it comes back with the backup's mode
    assert conf.read_bytes() == ORIGINAL
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert temp_files(conf.parent) == []


def test_restore_from_a_missing_backup(conf: Path, tmp_path: Path):
    with pytest.raises(EnvironmentProblem) as caught:
        safefile.restore(conf, tmp_path / "gone")
    one_line(caught.value.message, f"cannot restore {conf}: backup {tmp_path / 'gone'}")
    assert conf.read_bytes() == ORIGINAL


# Locking ---------------------------------------------------------------------------------------

HOLDER = """
import sys
from pathlib import Path
from dockercfg import filelock, safefile
with filelock.lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


@pytest.fixture
def holder(conf: Path):
    """Another process holding the lock on conf until told to let go."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(conf)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=CHILD_ENV,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        if proc.poll() is None:
            proc.communicate("\n", timeout=10)


def test_lock_file_sits_beside_the_target_with_the_holders_pid(conf: Path):
    lock_file = conf.parent / ".daemon.json.dockercfg.lock"
    assert filelock.lock_path(conf) == lock_file
    inode = conf.stat().st_ino
    with filelock.lock(conf):
        assert lock_file.read_text() == f"{os.getpid()}\n"
        assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600
        safefile.atomic_write(conf, NEW)  # the target is replaced; the lock file is not
    assert conf.stat().st_ino != inode
    assert lock_file.read_text() == ""  # released: no stale pid to blame


def test_lock_times_out_naming_the_other_process(conf: Path, holder):
    started = time.monotonic()
    with pytest.raises(EnvironmentProblem) as caught, filelock.lock(conf, timeout=0.3):
        pytest.fail("got a lock another process holds")
    elapsed = time.monotonic() - started
    one_line(
        caught.value.message,
        f"timed out after 0.3s waiting for the lock on {conf} (held by pid {holder.pid})",
    )
    assert 0.3 <= elapsed < 2.0
    assert holder.communicate("\n", timeout=10)[0] == "released\n"
    with filelock.lock(conf, timeout=0.3):  # free again
        pass


def test_lock_waits_for_the_holder_to_let_go(conf: Path, holder):
    def let_go() -> None:
        holder.stdin.write("\n")
        holder.stdin.flush()

    release = threading.Timer(0.3, let_go)
    release.start()
    started = time.monotonic()
    try:
        with filelock.lock(conf, timeout=10):
            assert (conf.parent / ".daemon.json.dockercfg.lock").read_text() == f"{os.getpid()}\n"
    finally:
        release.join()
    assert 0.25 <= time.monotonic() - started < 5


def test_lock_is_released_when_the_body_raises(conf: Path):
    with pytest.raises(RuntimeError), filelock.lock(conf):
        raise RuntimeError("boom")
    with filelock.lock(conf, timeout=0.1):
        pass


def test_lock_is_not_reentrant_even_in_one_process(conf: Path):
    """flock belongs to the open file: a nested lock() is a bug, reported within the timeout."""
    outer = filelock.lock(conf)
    with outer, pytest.raises(EnvironmentProblem) as caught, filelock.lock(conf, timeout=0.05):
        pass
    one_line(caught.value.message, f"(held by pid {os.getpid()})")


def test_lock_refuses_a_symlinked_lock_file(conf: Path, tmp_path: Path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    filelock.lock_path(conf).symlink_to(victim)
    with pytest.raises(EnvironmentProblem) as caught, filelock.lock(conf):
        pass
    one_line(caught.value.message, f"cannot lock {conf}: {filelock.lock_path(conf)} is a symlink")
    assert victim.read_bytes() == b"precious"

"""Privilege: a non-root user gets "needs root; try sudo" (exit 3) and changes nothing; what
dockercfg keeps of a private file (backups, temp files, the lock) is as private as the file.

The unprivileged user is nobody (65534, no groups), via util-linux setpriv. The files live in a
world-traversable dir under /tmp; the system-target case binds it over /etc/docker in a private
mount namespace (and hides /run), so the real /etc/docker is never read or written.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from adv_support import (
    NOBODY,
    as_nobody,
    cli,
    cli_argv,
    in_mount_ns,
    make_root,
    no_traceback,
    one_json,
    require_root,
    shown,
    tool_env,
    unavailable,
    world_dir,
)

from dockercfg import filelock, safefile

SECRET = b'{\n  "proxies": {"http-proxy": "http://user:s3cret@proxy.test:3128"}\n}\n'
ORIGINAL = b'{\n  "insecure-registries": ["keep.test:5000"]\n}\n'


def nobody_cli(root: Path | None, *args: str) -> subprocess.CompletedProcess:
    return as_nobody(cli_argv(root, *args), env=tool_env(HOME="/nonexistent"), cwd="/")


def needs_root(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 3, shown(proc)
    no_traceback(proc.stderr)
    line = proc.stderr.strip()
    assert "\n" not in line and "needs root" in line and "sudo" in line, shown(proc)


def test_non_root_gets_needs_root_and_nothing_changes():
    require_root()
    with world_dir() as root:
        conf = make_root(root, ORIGINAL)
        before = sorted(os.listdir(conf.parent))
        for args in (
            ("add-insecure", "x.test:5000", "--apply", "none"),
            ("remove-insecure", "keep.test:5000"),
            ("add-mirror", "--force", "https://mirror.example.com"),
            ("apply",),
            ("rollback",),
        ):
            proc = nobody_cli(root, *args)
            if args[0] == "rollback" and proc.returncode == 2:
                continue  # "no backup to roll back to" is found before the lock is needed
            needs_root(proc)
            result = one_json(nobody_cli(root, "--json", *args))
            assert "needs root" in result["error"], result
        assert conf.read_bytes() == ORIGINAL
        assert sorted(os.listdir(conf.parent)) == before  # not even a lock file

        # Reading needs no root.
        proc = nobody_cli(root, "show")
        assert proc.returncode == 0 and "keep.test:5000" in proc.stdout, shown(proc)
        proc = nobody_cli(root, "validate")
        assert proc.returncode == 0, shown(proc)


def test_non_root_on_the_system_target_without_root_prefix():
    """No --root: the tool goes for /etc/docker/daemon.json itself (a private bind mount here)."""
    require_root()
    with world_dir() as fake:
        conf = make_root(fake, ORIGINAL)
        script = (
            'mount --bind "$1/etc/docker" /etc/docker\n'
            "mount -t tmpfs -o mode=0755 tmpfs /run\n"  # no systemd, no docker.sock in reach
            f'exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups "$2" -m dockercfg'
            " --target daemon-json add-insecure x.test:5000 --apply none"
        )
        proc = in_mount_ns(script, str(fake), sys.executable, env=tool_env(HOME="/nonexistent"))
        if "No such file or directory" in proc.stderr and "/etc/docker" in proc.stderr:
            unavailable("this host has no /etc/docker to mount over")
        needs_root(proc)
        assert "/etc/docker/daemon.json" in proc.stderr
        assert conf.read_bytes() == ORIGINAL


def test_non_root_can_preview_with_dry_run():
    require_root()
    with world_dir() as root:
        conf = make_root(root, ORIGINAL)
        proc = nobody_cli(root, "add-insecure", "x.test:5000", "--dry-run")
        assert proc.returncode == 0 and "x.test:5000" in proc.stdout, shown(proc)
        assert conf.read_bytes() == ORIGINAL


def test_private_file_stays_private_backups_temp_and_lock(tmp_path: Path):
    """A 0600 daemon.json (proxy credentials) keeps 0600; its backups are 0600 in a 0700 dir, even
    when the tool runs with umask 000; nobody cannot read any copy."""
    require_root()
    with world_dir() as root:
        conf = make_root(root, SECRET, 0o600)
        proc = cli(root, "--json", "add-insecure", "x.test:5000", "--apply", "none",
                   preexec_fn=lambda: os.umask(0))  # fmt: skip
        assert proc.returncode == 0, shown(proc)
        backup = Path(one_json(proc)["backup"])
        assert backup.read_bytes() == SECRET
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        assert stat.S_IMODE(backup.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(filelock.lock_path(conf).stat().st_mode) == 0o600

        # A temp file left by kill -9 in the middle of the write holds the new secret: 0600 too.
        proc = cli(root, "add-insecure", "y.test:5000", "--apply", "none",
                   env={"DOCKERCFG_FAULT": "write-temp-written"},
                   preexec_fn=lambda: os.umask(0))  # fmt: skip
        assert proc.returncode == -9, shown(proc)
        (leftover,) = [p for p in conf.parent.iterdir() if safefile.TMP_MARK in p.name]
        assert stat.S_IMODE(leftover.stat().st_mode) == 0o600

        for path in (conf, backup, leftover, filelock.lock_path(conf)):
            probe = as_nobody([sys.executable, "-c", f"open({str(path)!r}, 'rb').read()"])
            assert probe.returncode != 0 and "PermissionError" in probe.stderr, (path, probe)
        probe = as_nobody(["ls", str(backup.parent)])
        assert probe.returncode != 0, probe


def test_backup_of_a_group_readable_file_keeps_its_owner_and_mode():
    require_root()
    with world_dir() as root:
        conf = make_root(root, ORIGINAL, 0o640)
        os.chown(conf, 0, NOBODY)  # e.g. a docker group that may read but not write it
        proc = cli(root, "--json", "add-insecure", "x.test", "--apply", "none")
        assert proc.returncode == 0, shown(proc)
        backup = Path(one_json(proc)["backup"])
        for path in (conf, backup):
            st = path.stat()
            assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, NOBODY, 0o640), path


@pytest.mark.parametrize("weak", ["file owned by nobody", "directory owned by nobody",
                                  "world-writable directory"])  # fmt: skip
def test_a_symlink_into_another_users_hands_is_not_followed(tmp_path: Path, weak: str):
    """/etc/docker/daemon.json -> a file another user can change: writing it would hand that
    user the daemon's configuration; dockercfg refuses and says why."""
    require_root()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    real = elsewhere / "daemon.json"
    real.write_bytes(ORIGINAL)
    if weak == "file owned by nobody":
        os.chown(real, NOBODY, NOBODY)
    elif weak == "directory owned by nobody":
        os.chown(elsewhere, NOBODY, NOBODY)
    else:
        elsewhere.chmod(0o1777)
    conf = make_root(tmp_path / "root", None)
    conf.symlink_to(real)

    proc = cli(tmp_path / "root", "add-insecure", "x.test", "--apply", "none")

    assert proc.returncode == 3, shown(proc)
    no_traceback(proc.stderr)
    assert f"refusing to follow the symlink {conf} -> {real}" in proc.stderr, shown(proc)
    assert "controls dockerd" in proc.stderr
    assert real.read_bytes() == ORIGINAL and conf.is_symlink()

    # Root's own file outside /etc/docker is fine.
    os.chown(real, 0, 0)
    os.chown(elsewhere, 0, 0)
    elsewhere.chmod(0o755)
    proc = cli(tmp_path / "root", "add-insecure", "x.test", "--apply", "none")
    assert proc.returncode == 0, shown(proc)
    assert b"x.test" in real.read_bytes() and conf.is_symlink()

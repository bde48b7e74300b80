"""Real file-system faults under the CLI: a full disk, a read-only mount, a directory where the
file should be, a missing directory, an immutable file. Each ends in exit 3 with one clear line,
the original byte-identical and no temp file left behind.

Mounts are made by a child in its own `unshare --mount` namespace, on a dir under tmp_path.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from adv_support import (
    cli,
    cli_argv,
    in_mount_ns,
    make_root,
    no_traceback,
    one_json,
    require_root,
    shown,
    temp_files,
    tree,
    unavailable,
)

from dockercfg import filelock, safefile

ORIGINAL = b'{\n  "debug": true,\n  "insecure-registries": ["keep.test:5000"]\n}\n'
BACKUP_NAME = re.compile(r"daemon\.json\.[0-9]{8}T")
MANY = [f"host{i:03d}.registry.example.com:5000" for i in range(150)]  # > 4 KiB of JSON


def one_clear_line(proc: subprocess.CompletedProcess, *needles: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 3 and len(lines) == 1, shown(proc)
    no_traceback(proc.stderr)
    for needle in needles:
        assert needle in lines[0], shown(proc)


# Runs inside the namespace after the mount: each CLI call's outcome, as JSON on the last line.
NS_RUNNER = """
import json, subprocess, sys
calls = json.loads(sys.argv[1])
print(json.dumps([
    dict(zip(("code", "out", "err"), (p.returncode, p.stdout, p.stderr)))
    for p in (subprocess.run(c, capture_output=True, text=True, timeout=60) for c in calls)
]))
"""


def run_mounted(mount: str, root: Path, calls: list[list[str]], prepare: str = "") -> list:
    """`mount` ($1 = root), then `prepare`, then each CLI call, in one private namespace."""
    import sys

    script = f'{mount}\n{prepare}\nexec "$2" -c "$3" "$4"'
    proc = in_mount_ns(script, str(root), sys.executable, NS_RUNNER, json.dumps(calls))
    assert proc.returncode == 0, shown(proc)
    outs = json.loads(proc.stdout.splitlines()[-1])
    return [
        subprocess.CompletedProcess(c, o["code"], o["out"], o["err"]) for c, o in zip(calls, outs)
    ]


# The journal (var/lib/dockercfg) gets its own small file system, so that the full one is the
# config file's: test_full_disk_at_the_journal fills the journal's instead.
FILL = """
mkdir -p "$1/etc/docker" "$1/var/lib/dockercfg"
mount -t tmpfs -o size=256k,mode=0700 tmpfs "$1/var/lib/dockercfg"
printf '%s' '{original}' > "$1/etc/docker/daemon.json"
chmod 0640 "$1/etc/docker/daemon.json"
dd if=/dev/zero of="$1/filler" bs=4096 2>/dev/null || true   # until the file system is full
{free}
"""


def test_full_disk_before_the_backup(tmp_path: Path):
    root = tmp_path / "small"
    root.mkdir()
    prepare = FILL.format(original=ORIGINAL.decode(), free="")
    add = cli_argv(root, "add-insecure", "new.test:5000", "--apply", "none")
    listing = ["sh", "-c", f'ls -A "{root}/etc/docker" "{root}/etc/docker/.dockercfg-backups"']
    dump = ["cat", str(root / "etc/docker/daemon.json")]
    results = run_mounted(
        'mount -t tmpfs -o size=64k,mode=0755 tmpfs "$1"',
        root,
        [add, cli_argv(root, "--json", *add[5:]), dump, listing],
        prepare,
    )
    one_clear_line(results[0], "no space left on device", "cannot back up")
    assert "no space left on device" in one_json(results[1])["error"]
    assert results[2].stdout.encode() == ORIGINAL
    # Nothing but the lock and the (empty) backup directory was added: no temp file, no backup.
    assert ".dockercfg-tmp-" not in results[3].stdout, results[3].stdout
    assert not BACKUP_NAME.search(results[3].stdout), results[3].stdout


def test_full_disk_at_the_journal(tmp_path: Path):
    """The journal is written before any file: a full disk there changes nothing at all."""
    root = tmp_path / "small"
    root.mkdir()
    conf = '"$1/etc/docker/daemon.json"'
    prepare = (
        f"mkdir -p \"$1/etc/docker\" && printf %s '{ORIGINAL.decode()}' > {conf}\n"
        'dd if=/dev/zero of="$1/filler" bs=4096 2>/dev/null || true\n'
    )
    add = cli_argv(root, "add-insecure", "new.test:5000", "--apply", "none")
    listing = ["sh", "-c", f'ls -A "{root}/etc/docker" "{root}/var/lib/dockercfg"']
    dump = ["cat", str(root / "etc/docker/daemon.json")]
    results = run_mounted(
        'mount -t tmpfs -o size=64k,mode=0755 tmpfs "$1"', root, [add, dump, listing], prepare
    )
    one_clear_line(results[0], "no space left on device", "var/lib/dockercfg/pending.json")
    assert results[1].stdout.encode() == ORIGINAL
    assert ".dockercfg-tmp-" not in results[2].stdout and "pending.json" not in results[2].stdout
    assert not BACKUP_NAME.search(results[2].stdout), results[2].stdout


def test_full_disk_after_the_backup(tmp_path: Path):
    """Room for the small backup, none for the bigger new file: the write itself fails."""
    root = tmp_path / "small"
    root.mkdir()
    # Two pages: one for the pid in the lock file, one for the backup; the new file needs two.
    free = 'truncate -s -8192 "$1/filler"'
    prepare = FILL.format(original=ORIGINAL.decode(), free=free)
    add = cli_argv(root, "add-insecure", *MANY, "--apply", "none")
    files = [
        "sh", "-c",
        f'cd "{root}/etc/docker" && ls -A . .dockercfg-backups && cat daemon.json'
        " && cat .dockercfg-backups/daemon.json.*",
    ]  # fmt: skip
    results = run_mounted('mount -t tmpfs -o size=64k,mode=0755 tmpfs "$1"', root, [add, files],
                          prepare)  # fmt: skip
    one_clear_line(results[0], "cannot write", "daemon.json: no space left on device")
    listing = results[1].stdout
    assert ".dockercfg-tmp-" not in listing, listing
    assert listing.endswith(ORIGINAL.decode() + ORIGINAL.decode()), listing  # file and backup


def test_read_only_mount(tmp_path: Path):
    conf = make_root(tmp_path, ORIGINAL)
    before = tree(tmp_path)
    d = str(conf.parent)
    results = run_mounted(
        'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1"',
        conf.parent,
        [
            cli_argv(tmp_path, "add-insecure", "new.test:5000", "--apply", "none"),
            cli_argv(tmp_path, "remove-insecure", "keep.test:5000", "--apply", "none"),
            cli_argv(tmp_path, "rollback", "--apply", "none"),
            cli_argv(tmp_path, "--json", "show"),
            cli_argv(tmp_path, "validate"),
        ],
    )
    for proc in results[:2]:
        one_clear_line(proc, f"cannot lock {d}/daemon.json: read-only file system")
    assert results[2].returncode == 3 and "read-only file system" in results[2].stderr
    show = one_json(results[3])
    assert results[3].returncode == 0 and show["data"]["insecure_registries"][0]["value"] == (
        "keep.test:5000"
    ), shown(results[3])  # reading still works
    assert results[4].returncode == 0, shown(results[4])
    assert tree(tmp_path) == before


def test_dry_run_works_on_a_read_only_mount(tmp_path: Path):
    conf = make_root(tmp_path, ORIGINAL)
    results = run_mounted(
        'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1"',
        conf.parent,
        [cli_argv(tmp_path, "add-insecure", "new.test:5000", "--dry-run")],
    )
    assert results[0].returncode == 0, shown(results[0])
    assert "+" in results[0].stdout and "new.test:5000" in results[0].stdout


def test_directory_where_the_file_should_be(tmp_path: Path):
    conf = make_root(tmp_path, None)
    conf.mkdir()
    (conf / "keep").write_bytes(b"x")
    before = tree(tmp_path)
    for args in (["add-insecure", "x.test", "--apply", "none"], ["show"], ["validate"],
                 ["rollback", "--apply", "none"], ["apply", "--apply", "none"]):  # fmt: skip
        proc = cli(tmp_path, *args)
        assert proc.returncode == (2 if args[0] == "rollback" else 3), shown(proc)  # no backup
        no_traceback(proc.stderr)
        if args[0] in ("add-insecure", "show", "validate"):
            one_clear_line(proc, str(conf), "it is a directory")
    assert {k: v for k, v in tree(tmp_path).items() if "lock" not in k} == before


def test_missing_parent_directory(tmp_path: Path):
    (tmp_path / "etc").mkdir()
    proc = cli(tmp_path, "--target", "daemon-json", "add-insecure", "x.test", "--apply", "none")
    one_clear_line(proc, f"directory {tmp_path}/etc/docker does not exist")
    elsewhere = tmp_path / "no" / "such" / "daemon.json"
    proc = cli(None, "--config", str(elsewhere), "add-insecure", "x.test", "--apply", "none")
    one_clear_line(proc, f"directory {elsewhere.parent} does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["etc"]
    assert list((tmp_path / "etc").iterdir()) == []


def chattr(flag: str, path: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.mark.parametrize(
    "flag,where,name", [("+i", "file", "immutable"), ("+a", "file", "append-only"),
                        ("+i", "dir", "immutable")],
)  # fmt: skip
def test_immutable_or_append_only(tmp_path: Path, flag: str, where: str, name: str):
    require_root()
    conf = make_root(tmp_path, ORIGINAL)
    safefile.backup(conf)  # the backup dir exists already: only the file itself is protected
    with filelock.lock(conf):
        pass  # ... and the lock file
    target = conf if where == "file" else conf.parent
    if not chattr(flag, target):
        unavailable(f"the file system of {tmp_path} does not support chattr {flag}")
    try:
        proc = cli(tmp_path, "add-insecure", "x.test", "--apply", "none")
        one_clear_line(proc, f"{target} is {name}", f"chattr -{flag[1]}")
        assert conf.read_bytes() == ORIGINAL
        assert temp_files(conf.parent, safefile.backup_dir(conf)) == []
    finally:
        chattr(f"-{flag[1]}", target)

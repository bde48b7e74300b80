"""Many dockercfg processes at once on one daemon.json (Ansible runs hosts' tasks in parallel,
and people run the tool while a playbook does): nothing is lost, the backups form one chain, and
a lock that is never released ends in exit 3 naming its holder instead of a hang.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from adv_support import REPO, cli, cli_argv, make_root, one_json, shown, temp_files, tool_env

from dockercfg import filelock, safefile

WORKERS = 20
START = b'{\n  "debug": false,\n  "insecure-registries": []\n}\n'


def start_all(commands: list[list[str]], env: dict | None = None) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            argv,
            env=tool_env(**(env or {})),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in commands
    ]


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, dict, str]]:
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
        done.append((proc.returncode, json.loads(out), err))
    return done


def registries(data: bytes) -> list[str]:
    return json.loads(data)["insecure-registries"]


def check_backup_chain(conf: Path, results: list[dict], final: list[str]) -> None:
    """Every run backed up the file it changed; the surviving backups are consecutive states."""
    made = [r["backup"] for r in results]
    assert len(set(made)) == len(made), "two runs wrote the same backup name"
    chain = safefile.list_backups(conf)[::-1]  # oldest first
    assert [str(p) for p in chain] == sorted(made)[-len(chain) :], "pruned the wrong backups"
    states = [registries(p.read_bytes()) for p in chain] + [final]
    for older, newer in zip(states, states[1:]):
        # One change at a time, each made on top of the previous one: no lost update.
        assert len(newer) == len(older) + 1 and newer[: len(older)] == older, (older, newer)
    for backup in chain:
        assert backup.stat().st_mode & 0o777 == conf.stat().st_mode & 0o777


def test_twenty_parallel_adds_all_land(tmp_path: Path):
    conf = make_root(tmp_path, START, 0o640)
    names = [f"r{i:02d}.parallel.test:5000" for i in range(WORKERS)]
    procs = start_all(
        [cli_argv(tmp_path, "--json", "add-insecure", n, "--apply", "none") for n in names]
    )
    results = [obj for _code, obj, _err in finish(procs)]

    assert all(r["changed"] is True and r["error"] is None for r in results), results
    final = registries(conf.read_bytes())
    assert sorted(final) == sorted(names) and len(final) == WORKERS
    assert json.loads(conf.read_bytes())["debug"] is False
    assert conf.stat().st_mode & 0o777 == 0o640
    check_backup_chain(conf, results, final)
    assert len(safefile.list_backups(conf)) == 10  # the newest ten are kept
    assert temp_files(conf.parent, safefile.backup_dir(conf)) == []
    assert filelock.lock_path(conf).read_text() == ""  # released: it names no holder


def test_parallel_adds_and_removes_of_both_keys_compose(tmp_path: Path):
    """Half the workers remove entries the other half do not touch; mirrors change meanwhile."""
    old = [f"old{i}.test" for i in range(10)]
    conf = make_root(
        tmp_path,
        json.dumps({"insecure-registries": old, "registry-mirrors": []}, indent=4).encode(),
    )
    commands = [cli_argv(tmp_path, "--json", "remove-insecure", n) for n in old[::2]]
    commands += [cli_argv(tmp_path, "--json", "add-insecure", f"new{i}.test") for i in range(5)]
    mirrors = [f"https://m{i}.example.com" for i in range(5)]
    commands += [cli_argv(tmp_path, "--json", "add-mirror", "--force", m) for m in mirrors]
    procs = start_all([argv + ["--apply", "none"] for argv in commands])
    results = [obj for _code, obj, _err in finish(procs)]

    assert all(r["changed"] for r in results), results
    value = json.loads(conf.read_bytes())
    expected = old[1::2] + [f"new{i}.test" for i in range(5)]
    assert sorted(value["insecure-registries"]) == sorted(expected)
    assert sorted(value["registry-mirrors"]) == sorted(m + "/" for m in mirrors)
    assert len(safefile.list_backups(conf)) == 10
    assert temp_files(conf.parent, safefile.backup_dir(conf)) == []


HOLDER = """
import os, sys, time
from pathlib import Path
from dockercfg import filelock, safefile
with filelock.lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(600)
"""


def hold_lock(conf: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(conf)],
        stdout=subprocess.PIPE,
        env=tool_env(),
        text=True,
    )
    assert proc.stdout.readline() == "locked\n"
    return proc


def test_lock_held_too_long_is_exit_3_naming_the_holder(tmp_path: Path):
    conf = make_root(tmp_path, START)
    holder = hold_lock(conf)
    try:
        started = time.monotonic()
        proc = cli(tmp_path, "add-insecure", "late.test", "--apply", "none",
                   env={"DOCKERCFG_LOCK_TIMEOUT": "0.5"})  # fmt: skip
        elapsed = time.monotonic() - started
        assert proc.returncode == 3, shown(proc)
        assert f"waiting for the lock on {conf} (held by pid {holder.pid})" in proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, shown(proc)
        assert elapsed < 10, elapsed

        proc = cli(tmp_path, "--json", "add-insecure", "late.test", "--apply", "none",
                   env={"DOCKERCFG_LOCK_TIMEOUT": "0.2"})  # fmt: skip
        assert proc.returncode == 3 and f"pid {holder.pid}" in one_json(proc)["error"]
        assert conf.read_bytes() == START
        assert safefile.list_backups(conf) == []
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)

    # The holder died with the lock (kill -9): the kernel released it, the stale pid is ignored.
    assert filelock.lock_path(conf).read_text() == f"{holder.pid}\n"
    proc = cli(tmp_path, "add-insecure", "late.test", "--apply", "none",
               env={"DOCKERCFG_LOCK_TIMEOUT": "5"})  # fmt: skip
    assert proc.returncode == 0, shown(proc)
    assert registries(conf.read_bytes()) == ["late.test"]


def test_lock_timeout_from_the_environment_is_checked(tmp_path: Path):
    conf = make_root(tmp_path, START)
    for bad in ("soon", "-1", "nan", "inf"):
        proc = cli(tmp_path, "add-insecure", "x.test", env={"DOCKERCFG_LOCK_TIMEOUT": bad})
        assert proc.returncode == 2, shown(proc)
        assert "DOCKERCFG_LOCK_TIMEOUT" in proc.stderr
    assert conf.read_bytes() == START


def test_lock_timeout_in_the_library(tmp_path: Path):
    """filelock.lock itself: bounded, names the holder, and the default follows the variable."""
    conf = make_root(tmp_path, START)
    holder = hold_lock(conf)
    try:
        started = time.monotonic()
        try:
            with filelock.lock(conf, timeout=0.3):
                raise AssertionError("got a lock another process holds")
        except safefile.EnvironmentProblem as err:
            assert f"held by pid {holder.pid}" in err.message
        assert time.monotonic() - started < 3
        os.environ["DOCKERCFG_LOCK_TIMEOUT"] = "0.2"
        try:
            assert filelock.lock_timeout() == 0.2
            started = time.monotonic()
            try:
                with filelock.lock(conf):
                    raise AssertionError("got a lock another process holds")
            except safefile.EnvironmentProblem as err:
                assert "timed out after 0.2s" in err.message
            assert time.monotonic() - started < 3
        finally:
            del os.environ["DOCKERCFG_LOCK_TIMEOUT"]
    finally:
        holder.kill()
        holder.wait(10)


def test_twenty_parallel_adds_to_docker_opts_all_land(tmp_path: Path):
    """The same for the shell-variable target (/etc/default/docker, sourced by the init script)."""
    opts = tmp_path / "etc" / "default" / "docker"
    opts.parent.mkdir(parents=True)
    (tmp_path / "etc" / "docker").mkdir()
    opts.write_text('# Docker SysVinit configuration\nDOCKER_OPTS="--dns 8.8.8.8"\n')
    names = [f"r{i:02d}.parallel.test:5000" for i in range(WORKERS)]
    procs = start_all(
        [cli_argv(tmp_path, "--target", "docker-opts", "--json", "add-insecure", n,
                  "--apply", "none") for n in names]
    )  # fmt: skip
    results = [obj for _code, obj, _err in finish(procs)]

    assert all(r["changed"] for r in results), results
    words = subprocess.run(
        ["sh", "-c", 'set -f; . "$1"; printf "%s\\n" $DOCKER_OPTS', "sh", str(opts)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert words[:2] == ["--dns", "8.8.8.8"]
    flags = words[2:]
    assert flags[0::2] == ["--insecure-registry"] * WORKERS
    assert sorted(flags[1::2]) == sorted(names)
    backups = safefile.list_backups(opts)
    assert len(backups) == 10 and len({p.read_bytes() for p in backups}) == 10
    assert temp_files(opts.parent, safefile.backup_dir(opts)) == []

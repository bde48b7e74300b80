"""kill -9 at any moment of a change: daemon.json is always exactly the old or the new bytes.

Two ways to kill: DOCKERCFG_FAULT (safefile's env-controlled hook, inert by default) makes the
tool SIGKILL itself at each named point of the backup and the write, deterministically; and a
driver that forks the CLI hundreds of times and SIGKILLs each child after a random delay,
without any hook. After every kill the next run must succeed and leave no temp file behind.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from adv_support import REPO, cli, cli_argv, make_root, shown, temp_files, tool_env

from dockercfg import safefile

OLD = b'{\n    "debug": true,\n    "insecure-registries": ["old.test:5000"]\n}\n'
NEW = b'{\n    "debug": true,\n    "insecure-registries": ["old.test:5000", "crash.test:5000"]\n}\n'
ADD = ("add-insecure", "crash.test:5000", "--apply", "none")
STAGES = ("temp-created", "temp-partial", "temp-written", "temp-synced", "renamed", "done")
POINTS = ["locked"] + [f"{kind}-{stage}" for kind in ("backup", "write") for stage in STAGES]


def expected_after(point: str, had_file: bool) -> bytes | None:
    if point in ("write-renamed", "write-done"):
        return NEW
    return OLD if had_file else None


def setup_layout(tmp_path: Path, layout: str) -> tuple[Path, Path]:
    """(the path the tool is given, the file that holds the bytes)."""
    conf = make_root(tmp_path, OLD if layout != "absent" else None, 0o640)
    if layout != "symlink":
        return conf, conf
    real = tmp_path / "srv" / "docker.json"
    real.parent.mkdir()
    conf.rename(real)
    conf.symlink_to(real)
    return conf, real


def read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def run_all(commands: list[tuple[Path, dict]]) -> list[subprocess.CompletedProcess]:
    """The CLI once per (root, env), all at once: the points are independent of each other."""
    procs = [
        subprocess.Popen(
            cli_argv(root, *ADD),
            env=tool_env(**env),
            cwd=REPO,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for root, env in commands
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


@pytest.mark.parametrize("layout", ["plain", "absent", "symlink"])
def test_kill_at_every_point_leaves_old_or_new_and_the_next_run_recovers(
    tmp_path: Path, layout: str
):
    new_for_absent = b'{\n  "insecure-registries": [\n    "crash.test:5000"\n  ]\n}\n'
    points = [p for p in POINTS if layout != "absent" or not p.startswith("backup-")]
    places = {point: setup_layout(tmp_path / point, layout) for point in points}

    killed = run_all([(tmp_path / point, {"DOCKERCFG_FAULT": point}) for point in points])

    for point, proc in zip(points, killed):
        conf, real = places[point]
        assert proc.returncode == -signal.SIGKILL, f"{point}: " + shown(proc)
        want = expected_after(point, layout != "absent")
        if layout == "absent" and want == NEW:
            want = new_for_absent
        assert read(real) == want, point
        if want is not None:
            assert stat.S_IMODE(real.stat().st_mode) == (0o640 if layout != "absent" else 0o644)
        if layout == "symlink":
            assert conf.is_symlink(), point
        for backup in safefile.list_backups(conf):
            assert backup.read_bytes() == OLD, point  # a backup is complete or absent

    # The next run (the same command again) finishes the job and sweeps the leftovers.
    recovered = run_all([(tmp_path / point, {"DOCKERCFG_LOCK_TIMEOUT": "5"}) for point in points])

    for point, proc in zip(points, recovered):
        conf, real = places[point]
        assert proc.returncode == 0, f"{point}: " + shown(proc)
        assert read(real) == (new_for_absent if layout == "absent" else NEW), point
        assert temp_files(real.parent, conf.parent, safefile.backup_dir(conf)) == [], point


def test_a_no_op_run_also_sweeps_a_crashed_runs_temp_files(tmp_path: Path):
    conf = make_root(tmp_path, OLD)
    for point in ("backup-temp-written", "write-temp-partial"):
        proc = cli(tmp_path, *ADD, env={"DOCKERCFG_FAULT": point})
        assert proc.returncode == -signal.SIGKILL, shown(proc)
    # The second run, once it held the lock, swept the first one's backup temp file.
    assert len(temp_files(conf.parent)) == 1
    assert temp_files(safefile.backup_dir(conf)) == []
    # Left behind by kill -9 with the config's bytes in them: mode 0600 whatever the file's mode.
    for leftover in temp_files(conf.parent, safefile.backup_dir(conf)):
        assert stat.S_IMODE(os.stat(leftover).st_mode) == 0o600

    proc = cli(tmp_path, "remove-insecure", "never-there.test", "--apply", "none")

    assert proc.returncode == 0 and "no change" in proc.stdout, shown(proc)
    assert conf.read_bytes() == OLD
    assert temp_files(conf.parent, safefile.backup_dir(conf)) == []


# A driver that imports dockercfg once and forks the CLI for every attempt, so hundreds of kills
# at random moments take seconds. It prints one JSON summary.
RACER = r"""
import json, os, random, signal, sys, time
from pathlib import Path

os.environ["PATH"] = "/usr/bin:/bin"  # no dockerd: keep each attempt short and local
os.environ["DOCKERCFG_LOCK_TIMEOUT"] = "10"
from dockercfg import cli, safefile
from dockercfg.validate import validate_config

validate_config({"insecure-registries": ["warm.test"]})  # children inherit the loaded schema

root, count, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
OLD, NEW = sys.argv[4].encode(), sys.argv[5].encode()
conf = root / "etc/docker/daemon.json"
ARGS = ["--root", str(root), "add-insecure", "crash.test:5000", "--apply", "none"]
rng = random.Random(seed)


def attempt(delay):
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        try:
            cli.main(ARGS)
        except SystemExit as done:
            os._exit(done.code if isinstance(done.code, int) else 1)
        os._exit(0)
    if delay is not None:
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)  # a child that already exited is a zombie: still no error
    return os.waitpid(pid, 0)[1]


def reset():
    conf.write_bytes(OLD)
    os.chmod(conf, 0o640)


durations = []
for _ in range(5):
    reset()
    started = time.monotonic()
    status = attempt(None)
    durations.append(time.monotonic() - started)
    assert os.waitstatus_to_exitcode(status) == 0 and conf.read_bytes() == NEW
span = sorted(durations)[2]  # the median: one slow start must not stretch every delay
outcomes = {"old": 0, "new": 0, "killed": 0, "exited": 0}
violations = []
# Half the kills land anywhere in a run; the other half track the moment the file changes
# (a kill that left the old bytes moves it later, one that left the new bytes earlier), so
# many kills hit the backup, the temp file and the rename themselves.
boundary = span * 0.9
i = 0
while outcomes["killed"] < count and i < count * 4:
    i += 1
    reset()
    tracking = i % 2 == 0
    delay = boundary * rng.uniform(0.85, 1.15) if tracking else rng.uniform(0, span)
    status = attempt(delay)
    outcomes["killed" if os.WIFSIGNALED(status) else "exited"] += 1
    data = conf.read_bytes() if conf.exists() else None
    if tracking:
        boundary *= 1.03 if data == OLD else 0.97
    if data == OLD:
        outcomes["old"] += 1
    elif data == NEW:
        outcomes["new"] += 1
    else:
        violations.append(f"attempt {i} (delay {delay:.4f}s): file is {data!r}")
    if conf.exists() and os.stat(conf).st_mode & 0o7777 != 0o640:
        violations.append(f"attempt {i}: mode {oct(os.stat(conf).st_mode)}")
    for backup in safefile.list_backups(conf):
        if backup.read_bytes() != OLD:
            violations.append(f"attempt {i}: backup {backup.name} is {backup.read_bytes()!r}")
reset()
status = attempt(None)  # the run after the last kill
leftovers = [
    str(d / n)
    for d in (conf.parent, safefile.backup_dir(conf))
    for n in os.listdir(d)
    if safefile.TMP_MARK in n
]
print(json.dumps({
    "span": span, "boundary": boundary, "outcomes": outcomes, "violations": violations[:20],
    "recovery": os.waitstatus_to_exitcode(status), "final": conf.read_bytes() == NEW,
    "leftovers": leftovers,
}))
"""

KILLS = 220


def test_racing_sigkill_hundreds_of_times_never_leaves_a_partial_file(tmp_path: Path):
    make_root(tmp_path, OLD, 0o640)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            RACER,
            str(tmp_path),
            str(KILLS),
            "7",
            OLD.decode(),
            NEW.decode(),
        ],
        env=tool_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert proc.returncode == 0, shown(proc)
    summary = json.loads(proc.stdout.splitlines()[-1])
    print(summary)
    assert summary["violations"] == [], summary
    outcomes = summary["outcomes"]
    assert outcomes["killed"] >= KILLS, summary  # each one landed while the tool was running
    assert outcomes["old"] >= 10 and outcomes["new"] >= 10, summary  # before and after the rename
    assert summary["recovery"] == 0 and summary["final"], summary
    assert summary["leftovers"] == [], summary

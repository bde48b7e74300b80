#!/usr/bin/env python3
"""Time until a newly added insecure registry is usable, and containers interrupted on the way
(issue 6, benchmark 1).

In the integration sandbox (tests/integration/sandbox.py: a real dockerd under `systemd --user`
in a private mount namespace and its own network namespace, a real registry at
registry.test:5000), with N running containers (`--network none`, /bin/sleep from an image
imported offline), each repetition times three ways of making registry.test:5000 insecure (and a
reference), from the start of the command until `docker push` to it succeeds:
  dockercfg              dockercfg add-insecure registry.test:5000   (reload: SIGHUP, verified)
  restart                jq edit of daemon.json + systemctl restart docker
  restart+live-restore   the same, with "live-restore": true already live in daemon.json
  reload (reference)     jq edit + systemctl reload docker: the bare reload dockercfg wraps
                         (no validation, no backup, no verification: it returns before dockerd
                         has applied the file, so the first push may still fail)
Before each timed command the daemon is reset to a config without the registry (daemon.json
{"insecure-registries": [], "live-restore": false|true}, reloaded; both keys are always written,
since a reload keeps the old value of a key missing from the file), a push is checked to fail, and
all N containers run (those a restart stopped are started again, untimed). A
container counts as interrupted when, afterwards, it is not running or its PID or StartedAt
changed. The methods alternate (order rotated every repetition); medians are compared.

Needs root, the programs the sandbox needs (tests/run installs them) and jq. It re-executes
itself under `unshare --mount --propagation private`: nothing it mounts is visible outside, and the
host's /etc, /run and $HOME are never touched.

    sudo .venv/bin/python benchmarks/apply.py [--containers 0,10,50] [--reps 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import REPO, header, median, ms, run_script, table, tool_argv, verdict  # noqa: E402

INTEGRATION = REPO / "tests" / "integration"
REEXEC_MARK = "DOCKERCFG_BENCH_UNSHARED"
METHODS = {
    "dockercfg": "dockercfg add-insecure (reload)",
    "restart": "jq + systemctl restart docker",
    "restart+live-restore": "jq + restart, live-restore on",
    "reload": "jq + systemctl reload (reference)",
}
HTTP_ERROR = "server gave HTTP response to HTTPS client"
PUSH_DEADLINE = 120.0  # seconds from the command's start until the push must have worked
TARGET_USABLE, TARGET_RATIO, TARGET_RATIO_AT = 1.0, 5.0, 10  # issue 6


class BenchError(RuntimeError):
    pass


def _raise_interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


# A private mount namespace -----------------------------------------------------------------------


def ensure_private_mount_namespace() -> None:
    """Re-execute under `unshare --mount --propagation private` unless mounts are private."""
    from hostsetup import mount_namespace_problem

    problem = mount_namespace_problem()
    if problem is None:
        return
    if os.environ.get(REEXEC_MARK):
        raise BenchError(f"still no private mount namespace after unshare: {problem}")
    if shutil.which("unshare") is None:
        raise BenchError("unshare (util-linux) is needed for a private mount namespace")
    argv = ["unshare", "--mount", "--propagation", "private", sys.executable, *sys.argv]
    sys.stdout.flush()
    os.execvpe("unshare", argv, {**os.environ, REEXEC_MARK: "1"})


# The benchmark ---------------------------------------------------------------------------------


class ApplyBench:
    def __init__(self, sb, args) -> None:
        from sandbox import IMAGE, REGISTRY

        self.sb = sb
        self.args = args
        self.registry = REGISTRY
        self.image = IMAGE
        self.tool = tool_argv()
        self.notes: list[str] = []

    # daemon state --------------------------------------------------------------------------------

    def live(self) -> tuple[bool, bool]:
        """(registry is insecure in the live daemon, live-restore is on), from /info."""
        fmt = "{{json .LiveRestoreEnabled}} {{json .RegistryConfig.IndexConfigs}}"
        out = self.sb.docker("info", "--format", fmt, timeout=20).stdout
        live_restore, _, index = out.partition(" ")
        entry = json.loads(index).get(self.registry)
        return bool(entry) and entry.get("Secure") is False, json.loads(live_restore) is True

    def reset_config(self, live_restore: bool) -> None:
        """daemon.json without the registry (and live-restore as wanted), live in dockerd."""
        # Both keys always present: a reload leaves a key missing from the file at its old value.
        config = {"insecure-registries": [], "live-restore": live_restore}
        self.sb.daemon_json.write_text(json.dumps(config, indent=2) + "\n")
        wanted = (False, live_restore)
        if self.live() == wanted:
            return
        self.sb.systemctl("reload", "docker.service")
        if not self._wait(lambda: self.live() == wanted, 15):
            self.notes.append("a reset needed a restart: the reload did not take the config")
            self.sb.restart_docker()
            if not self._wait(lambda: self.live() == wanted, 30):
                raise BenchError(f"dockerd does not take {config} even after a restart")

    @staticmethod
    def _wait(check, timeout: float) -> bool:
        deadline, delay = time.monotonic() + timeout, 0.02
        while not check():
            if time.monotonic() > deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        return True

    # containers ----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, tuple[str, str, str]]:
        """{container id: (running, pid, StartedAt)} for every container."""
        ids = self.sb.docker("ps", "-aq", "--no-trunc", timeout=30).stdout.split()
        if not ids:
            return {}
        fmt = "{{.Id}} {{.State.Running}} {{.State.Pid}} {{.State.StartedAt}}"
        out = self.sb.docker("inspect", "--format", fmt, *ids, timeout=60).stdout
        return {cid: (running, pid, started) for cid, running, pid, started in
                (line.split() for line in out.splitlines() if line.strip())}  # fmt: skip

    def ensure_containers(self, n: int) -> None:
        """Exactly n containers, all running (restarting those a restart stopped)."""
        snap = self.snapshot()
        extra = list(snap)[n:] if len(snap) > n else []
        if extra:
            self.sb.docker("rm", "-f", *extra, timeout=60 + 2 * len(extra))
        stopped = [c for c in list(snap)[:n] if snap[c][0] != "true"]
        if stopped:
            self.sb.docker("start", *stopped, timeout=60 + 5 * len(stopped))
        missing = n - min(len(snap), n)
        if missing:
            argv = ["run", "-d", "--network", "none", "--stop-signal", self.args.stop_signal,
                    "--label", "dockercfg-bench", self.image, "/bin/sleep", "1000000"]  # fmt: skip
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda _: self.sb.docker(*argv, timeout=120), range(missing)))
        running = sum(1 for state in self.snapshot().values() if state[0] == "true")
        if running != n:
            raise BenchError(f"{running} containers run instead of {n}")

    # one timed change ----------------------------------------------------------------------------

    def push(self, ref: str) -> tuple[int, str]:
        out = self.sb.docker("push", ref, check=False, timeout=60)
        return out.returncode, out.stdout + out.stderr

    def run_method(self, method: str) -> dict:
        """Make the change one way; return once its command has exited."""
        if method == "dockercfg":
            argv = [*self.tool, "add-insecure", self.registry, "--json"]
            done = subprocess.run(argv, env=self.sb.env, cwd=REPO, capture_output=True,
                                  text=True, timeout=300)  # fmt: skip
            if done.returncode != 0:
                raise BenchError(f"dockercfg exited {done.returncode}: {done.stdout}{done.stderr}")
            result = json.loads(done.stdout)
            return {"applied": result.get("applied"), "verified": result.get("verified")}
        path = self.sb.daemon_json
        verb = "reload" if method == "reload" else "restart"
        script = (
            f'jq \'."insecure-registries" += ["{self.registry}"]\' {path} > {path}.new'
            f" && mv {path}.new {path} && systemctl --user {verb} docker.service"
        )
        done = subprocess.run(["sh", "-c", script], env=self.sb.user_env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        if done.returncode != 0:
            raise BenchError(f"manual change failed ({done.returncode}): {done.stderr}")
        return {"applied": verb, "verified": None}

    def one(self, method: str, n: int, tag: str) -> dict:
        sb = self.sb
        self.reset_config(live_restore=method == "restart+live-restore")
        self.ensure_containers(n)
        ref = f"{self.registry}/bench:{tag}"
        sb.docker("tag", self.image, ref)
        code, out = self.push(ref)
        if code == 0:
            raise BenchError(f"push to {self.registry} worked before the change: reset failed")
        if HTTP_ERROR not in out:
            self.notes.append(f"push failed before the change, but not with {HTTP_ERROR!r}")
        before, pid_before = self.snapshot(), sb.dockerd_pid()

        t0 = time.monotonic()
        details = self.run_method(method)
        command = time.monotonic() - t0
        attempts, delay = 0, 0.02
        while True:
            attempts += 1
            code, out = self.push(ref)
            if code == 0:
                break
            if time.monotonic() - t0 > PUSH_DEADLINE:
                raise BenchError(f"{method}: push still failing after {PUSH_DEADLINE:g}s: {out}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)
        usable = time.monotonic() - t0

        after = self.snapshot()
        interrupted = sum(
            1 for cid, state in before.items() if state[0] == "true" and after.get(cid) != state
        )
        return {
            "command": command,
            "usable": usable,
            "attempts": attempts,
            "interrupted": interrupted,
            "n": n,
            "dockerd_restarted": sb.dockerd_pid() != pid_before,
            **details,
        }

    # the whole run -------------------------------------------------------------------------------

    def run(self, sizes: list[int], reps: int, deadline: float) -> dict:
        results: dict[tuple[int, str], list[dict]] = {}
        methods = list(METHODS)
        memory: dict[int, tuple[float, float]] = {}
        for size_index, n in enumerate(sizes):
            avail_before = mem_available_mb()
            started = time.monotonic()
            self.reset_config(live_restore=False)
            self.ensure_containers(n)
            made = time.monotonic() - started
            memory[n] = (avail_before - mem_available_mb(), made)
            print(f"   N={n}: {n} containers running ({made:.1f}s to set up,"
                  f" MemAvailable {-memory[n][0]:+.0f} MB, load {os.getloadavg()[0]:.2f})",
                  flush=True)  # fmt: skip
            warmup = self.args.warmup if size_index == 0 else 0
            for rep in range(-warmup, reps):
                if time.monotonic() > deadline and rep >= 1:
                    self.notes.append(f"time budget reached: N={n} has {rep} repetitions")
                    break
                shift = rep % len(methods)
                for method in methods[shift:] + methods[:shift]:
                    tag = f"{method.replace('+', '-')}-{n}-{rep + warmup}"
                    result = self.one(method, n, tag)
                    if rep >= 0:
                        results.setdefault((n, method), []).append(result)
                    label = "warm-up" if rep < 0 else f"rep {rep + 1}"
                    print(f"     {label:8} {method:22} command {ms(result['command']):>8}"
                          f"  push ok {ms(result['usable']):>8}"
                          f" ({result['attempts']} push)"
                          f"  interrupted {result['interrupted']}/{n}", flush=True)  # fmt: skip
            if time.monotonic() > deadline and n != sizes[-1]:
                self.notes.append(f"time budget reached: sizes after N={n} skipped")
                break
        return {"results": results, "memory": memory}


def breakdown(bench: ApplyBench) -> None:
    """One more dockercfg add-insecure, under cProfile: where its own time goes."""
    bench.reset_config(live_restore=False)
    with tempfile.TemporaryDirectory(prefix="dockercfg-bench-") as tmp:
        out = Path(tmp) / "add.prof"
        argv = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "dockercfg",
                "add-insecure", bench.registry]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(argv, env=bench.sb.env, cwd=REPO, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        wall = time.monotonic() - started
        if done.returncode != 0 or not out.exists():
            print(f"\n   (no breakdown: dockercfg under cProfile exited {done.returncode})")
            return
        stats = pstats.Stats(str(out)).stats
    # cli.py and output.py only pass the call on: their times are those of ops.py's functions.
    wrappers = ("/cli.py", "/output.py")
    special = {
        "_find_and_load": "imports (all of them, wherever they happen)",
        "<built-in method time.sleep>": "time.sleep (backoff while waiting)",
        "<method 'poll' of 'select.poll' objects>": "waiting for child processes",
    }
    rows, extra = [], []
    for (filename, _line, func), (_cc, calls, _own, cumulative, _callers) in stats.items():
        if func in special and (func != "_find_and_load" or "bootstrap" in filename):
            extra.append([special[func], str(calls), ms(cumulative)])
        elif "/dockercfg/" in filename and cumulative >= 0.005 and not filename.endswith(wrappers):
            rows.append((cumulative, f"{Path(filename).name}:{func}", calls))
    rows.sort(reverse=True)
    print(f"\n   where dockercfg add-insecure spends its time (one run under cProfile: {ms(wall)}"
          " wall,\n   profiling included; cumulative times, nested calls counted in their"
          " callers too;\n   __main__.py:<module> is the whole command after interpreter"
          " start):")  # fmt: skip
    table(
        ["function", "calls", "cumulative"],
        [[where, str(calls), ms(cum)] for cum, where, calls in rows[:16]] + extra,
        indent="     ",
    )


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# Report ------------------------------------------------------------------------------------------


def report(bench: ApplyBench, outcome: dict, sizes: list[int]) -> None:
    results = outcome["results"]
    sizes = [n for n in sizes if any((n, m) in results for m in METHODS)]
    print("\n== results: medians over repetitions. command = until the command exited; push ok ="
          " until `docker push` to the registry worked; ratio = push ok / dockercfg's")  # fmt: skip
    for n in sizes:
        base = median([r["usable"] for r in results.get((n, "dockercfg"), [])])
        rows = []
        for method, label in METHODS.items():
            runs = results.get((n, method), [])
            if not runs:
                continue
            usable = [r["usable"] for r in runs]
            interrupted = [r["interrupted"] for r in runs]
            rows.append([
                label, str(len(runs)), ms(median([r["command"] for r in runs])),
                ms(median(usable)), f"{ms(min(usable))}..{ms(max(usable))}",
                str(max(r["attempts"] for r in runs)), f"{max(interrupted)}/{n}" if n else "-",
                "yes" if any(r["dockerd_restarted"] for r in runs) else "no",
                f"{median(usable) / base:.1f}x" if base == base and base > 0 else "-",
            ])  # fmt: skip
        print(f"\n   N = {n} running containers")
        table(["method", "reps", "command", "push ok", "min..max", "push tries (max)",
               "interrupted (max)", "dockerd restarted", "ratio"], rows)  # fmt: skip

    print("\n   growth with N (median time until push works; slope by least squares):")
    rows = []
    for method, label in METHODS.items():
        points = [(n, median([r["usable"] for r in results[(n, method)]]))
                  for n in sizes if (n, method) in results]  # fmt: skip
        cells = [ms(t) for _, t in points]
        rows.append([label, *cells, slope(points)])
    table(["method", *[f"N={n}" for n in sizes], "per container"], rows)

    print("\n   targets (issue 6):")
    mine = [r for (n, m), runs in results.items() if m == "dockercfg" for r in runs]
    if mine:
        worst_median = max(
            median([r["usable"] for r in results[(n, "dockercfg")]])
            for n in sizes if (n, "dockercfg") in results
        )  # fmt: skip
        print(f"     registry usable within {TARGET_USABLE:g} s after dockercfg (median, worst N):"
              f" {ms(worst_median)} -> {verdict(worst_median <= TARGET_USABLE)}"
              f" (slowest single run {ms(max(r['usable'] for r in mine))})")  # fmt: skip
        hit = sum(r["interrupted"] for r in mine)
        print(f"     0 containers interrupted by dockercfg: {hit} in {len(mine)} runs"
              f" -> {verdict(hit == 0)}")  # fmt: skip
        modes = sorted({str(r["applied"]) for r in mine})
        print(f"     dockercfg applied by: {', '.join(modes)}; verified:"
              f" {all(r['verified'] for r in mine)}")  # fmt: skip
    at = TARGET_RATIO_AT
    if (at, "dockercfg") in results and (at, "restart") in results:
        mine_at = median([r["usable"] for r in results[(at, "dockercfg")]])
        theirs = median([r["usable"] for r in results[(at, "restart")]])
        lr = results.get((at, "restart+live-restore"))
        lr_text = (
            f"; {median([r['usable'] for r in lr]) / mine_at:.1f}x vs restart with live-restore"
            if lr else ""
        )  # fmt: skip
        print(f"     at least {TARGET_RATIO:g}x faster than the manual restart with {at}"
              f" containers: {theirs / mine_at:.1f}x -> {verdict(theirs / mine_at >= TARGET_RATIO)}"
              f"{lr_text}")  # fmt: skip
    else:
        print(f"     (the {TARGET_RATIO:g}x target is measured at N={at}: not in this run)")
    print("\n   memory and set-up per N (MemAvailable drop with N containers running):")
    for n, (mb, made) in outcome["memory"].items():
        print(f"     N={n}: {mb:.0f} MB, {made:.1f}s to reach N running containers")
    for note in dict.fromkeys(bench.notes):
        print(f"   note: {note}")


def slope(points: list[tuple[int, float]]) -> str:
    if len(points) < 2:
        return "-"
    mean_n = sum(n for n, _ in points) / len(points)
    mean_t = sum(t for _, t in points) / len(points)
    den = sum((n - mean_n) ** 2 for n, _ in points)
    if den == 0:
        return "-"
    per = sum((n - mean_n) * (t - mean_t) for n, t in points) / den
    return f"{per * 1000:+.1f} ms"


# Main --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", default="0,10,50", help="N values (default 0,10,50)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per N (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up reps at the first N")
    parser.add_argument("--quick", action="store_true", help="--containers 0,10 --reps 3")
    parser.add_argument(
        "--stop-signal", default="KILL",
        help="containers' stop signal (default KILL: they stop at once, the manual restart's best"
        " case; TERM: /bin/sleep as PID 1 ignores it, so dockerd waits its 10 s stop timeout)",
    )  # fmt: skip
    parser.add_argument("--max-minutes", type=float, default=15, help="time budget (default 15)")
    parser.add_argument("--dockerd", default="20.10", choices=["20.10", "26.1"],
                        help="Debian 12 or 13 (tests/fetch-debian13)")  # fmt: skip
    parser.add_argument(
        "--no-breakdown", dest="breakdown", action="store_false",
        help="skip the final cProfile run of dockercfg add-insecure",
    )  # fmt: skip
    args = parser.parse_args()
    sizes = [0, 10] if args.quick else [int(n) for n in args.containers.split(",") if n.strip()]
    reps = 3 if args.quick else args.reps
    if reps < 1:
        parser.error("--reps must be at least 1")

    sys.path.insert(0, str(INTEGRATION))
    from hostsetup import SandboxUnavailable, preflight

    if os.geteuid() != 0:
        print("apply benchmark: needs root (it mounts over /etc/docker and runs dockerd)",
              file=sys.stderr)  # fmt: skip
        return 2
    signal.signal(signal.SIGTERM, _raise_interrupt)
    ensure_private_mount_namespace()
    try:
        preflight()
        if shutil.which("jq") is None:
            raise SandboxUnavailable("jq is needed for the manual way (apt-get install jq)")
    except SandboxUnavailable as err:
        print(f"apply benchmark cannot run here: {err}", file=sys.stderr)
        return 2
    from hostsetup import DOCKERDS
    from sandbox import sandbox_for

    try:
        sb = sandbox_for(DOCKERDS[f"dockerd{args.dockerd}"])
    except SandboxUnavailable as err:
        print(f"apply benchmark cannot run here: {err}", file=sys.stderr)
        return 2
    header(
        f"apply on dockerd {args.dockerd}: dockercfg (reload) vs manual restart, until push works"
    )
    print(f"   N = {', '.join(map(str, sizes))} containers; {reps} reps (+{args.warmup} warm-up);"
          f" stop signal {args.stop_signal}; budget {args.max_minutes:g} min",
          flush=True)  # fmt: skip
    deadline = time.monotonic() + args.max_minutes * 60
    started = time.monotonic()
    try:
        sb.start()
        print(f"   sandbox {sb.t} up in {time.monotonic() - started:.1f}s", flush=True)
        bench = ApplyBench(sb, args)
        outcome = bench.run(sizes, reps, deadline)
        report(bench, outcome, sizes)
        if args.breakdown:
            breakdown(bench)
    finally:
        sb.stop()
        remove_leftovers(sb.t)
    return 0


def remove_leftovers(t: Path) -> None:
    """What Sandbox.stop() cannot remove: after a restart with live-restore, dockerd keeps the
    bind mount of its data root onto itself (the new daemon finds it already mounted and drops
    its unmount-on-shutdown marker), so the directory stays busy. Unmount it here, in this
    private namespace, and remove the rest."""
    from hostsetup import umount

    if os.environ.get("DOCKERCFG_KEEP_SANDBOX") or not t.exists():
        return
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for point in reversed(mounts):
        if point == str(t) or point.startswith(f"{t}/"):
            umount(point)
    shutil.rmtree(t, ignore_errors=True)
    if t.exists():
        print(f"apply benchmark: could not remove {t}", file=sys.stderr)


if __name__ == "__main__":
    run_script(main, "apply", (BenchError,), "apply benchmark interrupted; sandbox stopped")

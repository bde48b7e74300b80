#!/usr/bin/env python3
"""How add / remove / validate grow with the size of insecure-registries (issue 6, benchmark 3).

For daemon.json files with N insecure-registries entries (half CIDRs, IPv4 and IPv6, half host
names with and without a port; N = 10, 1k, 5k, 10k, 20k by default), times through the CLI, on a
--root prefix with `--apply none` (nothing outside a temporary directory is touched):
  add       dockercfg add-insecure scale-test.example:5000 --apply none --root R
  validate  dockercfg validate --root R
  remove    dockercfg remove-insecure scale-test.example:5000 --apply none --root R
  json.load python -c "import json; json.load(open(F))"  (the floor for reading the file)
Each round runs every size, sizes shuffled, add -> validate -> remove -> json.load per size. The
N = 10 file gives the fixed cost (start-up); "per entry" is (time - fixed cost) / N, and the
growth exponent between two sizes is log((t2 - t0) / (t1 - t0)) / log(N2 / N1): ~1 is linear,
~2 quadratic (computed on CPU time, which other load disturbs less than wall time). With
--profile (or when an exponent exceeds 1.4) each command is profiled with cProfile at the
largest size.

    .venv/bin/python benchmarks/scale.py [--sizes 1000,5000,10000,20000] [--rounds 7] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import (  # noqa: E402
    REPO,
    alternate,
    header,
    median,
    ms,
    python,
    run_script,
    run_timed,
    table,
    tool_argv,
    tool_env,
    verdict,
)

BASELINE = 10  # entries: the fixed cost of a command
VALUE = "scale-test.example:5000"
TARGET_SIZE, TARGET_SECONDS = 10_000, 1.0  # issue 6: 10,000 entries validate + add under 1 s
SUPERLINEAR = 1.4  # an exponent above this gets a profile (quadratic is 2)
NOISE = 0.03  # seconds: growth smaller than this is not judged


def entry(i: int) -> str:
    kind = i % 4
    if kind == 0:
        return f"10.{(i >> 8) & 255}.{i & 255}.0/24"
    if kind == 1:
        return f"fd00:{i:x}::/48"
    if kind == 2:
        return f"reg-{i}.example.test:5000"
    return f"host-{i}.corp.example"


def write_root(base: Path, size: int) -> Path:
    root = base / f"n{size}"
    (root / "etc/docker").mkdir(parents=True)
    config = {
        "debug": False,
        "insecure-registries": [entry(i) for i in range(size)],
        "log-driver": "json-file",
    }
    (root / "etc/docker/daemon.json").write_text(json.dumps(config, indent=2) + "\n")
    return root


def tool_args(root: Path) -> dict[str, list[str]]:
    """The dockercfg arguments of each timed command (without the program itself)."""
    r = ["--root", str(root)]
    return {
        "add": ["add-insecure", VALUE, "--apply", "none", *r],
        "validate": ["validate", *r],
        "remove": ["remove-insecure", VALUE, "--apply", "none", *r],
    }


def argvs(root: Path) -> dict[str, list[str]]:
    tool = tool_argv()
    daemon_json = str(root / "etc/docker/daemon.json")
    commands = {name: [*tool, *args] for name, args in tool_args(root).items()}
    commands["json.load"] = [python(), "-c", f"import json; json.load(open({daemon_json!r}))"]
    return commands


def exponent(t0: float, t1: float, t2: float, n1: int, n2: int) -> float:
    """Growth exponent of (t - t0) between sizes n1 and n2."""
    if t1 - t0 <= 0 or t2 - t0 <= 0:
        return float("nan")
    return math.log((t2 - t0) / (t1 - t0)) / math.log(n2 / n1)


def profile(name: str, args: list[str], env: dict[str, str], out: Path, top: int = 14) -> None:
    """Run one command under cProfile; print the functions with the most own time."""
    stats = out / f"{name}.prof"
    cmd = [python(), "-m", "cProfile", "-o", str(stats), "-m", "dockercfg", *args]
    subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, timeout=600, check=True)
    print(f"\n   cProfile of `{name}` (top {top} by own time):")
    loaded = pstats.Stats(str(stats))
    rows = []
    for (filename, line, func), (_cc, calls, own, cumulative, _callers) in loaded.stats.items():
        where = f"{Path(filename).name}:{line}({func})" if line else func
        rows.append((own, cumulative, calls, where))
    rows.sort(reverse=True)
    table(
        ["function", "calls", "own", "cumulative"],
        [[w, str(c), ms(o), ms(cu)] for o, cu, c, w in rows[:top]],
        indent="     ",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,10000,20000", help="comma-separated sizes")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--profile", action="store_true", help="cProfile at the largest size")
    parser.add_argument("--max-minutes", type=float, default=10, help="time budget (default 10)")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()} | {BASELINE})
    rounds = 3 if args.quick else args.rounds
    deadline = time.monotonic() + args.max_minutes * 60

    header("scale: add / validate / remove vs the number of insecure-registries entries")
    env = tool_env()
    with tempfile.TemporaryDirectory(prefix="dockercfg-scale-") as tmp:
        roots = {size: write_root(Path(tmp), size) for size in sizes}
        print(
            f"   sizes {', '.join(map(str, sizes))} (half CIDRs, half hosts); {rounds} rounds"
            f" + 1 warm-up; tool: {' '.join(tool_argv())}"
        )
        # One job per size, so that sizes alternate; inside it the four commands, in order.
        times: dict[tuple[int, str], list[tuple[float, float]]] = {}

        def job(size: int):
            def run() -> float:
                for name, argv in argvs(roots[size]).items():
                    times.setdefault((size, name), []).append(run_timed(argv, env=env, timeout=600))
                return 0.0

            return run

        alternate(
            {str(size): job(size) for size in sizes}, rounds=rounds, warmup=1, deadline=deadline
        )
        # The first value of each is from the warm-up round.
        wall = {key: median([w for w, _ in values[1:]]) for key, values in times.items()}
        cpu = {key: median([c for _, c in values[1:]]) for key, values in times.items()}
        names = ["json.load", "validate", "add", "remove"]

        print("\n   wall time (median):")
        rows = []
        for size in sizes:
            data = roots[size] / "etc/docker/daemon.json"
            both = wall[(size, "validate")] + wall[(size, "add")]
            rows.append(
                [
                    f"{size:,}",
                    f"{data.stat().st_size / 1024:.0f} KiB",
                    *[ms(wall[(size, n)]) for n in names],
                    ms(both),
                ]
            )
        table(["entries", "file", *names, "validate+add"], rows)

        print(
            f"\n   cpu time per entry above the fixed cost (the N={BASELINE} file), in microseconds"
            "\n   (constant = linear; doubling with N = quadratic; cpu time, which other load on"
            " the machine\n   disturbs less than wall time):"
        )
        rows = []
        for size in sizes[1:]:
            cells = [f"{(cpu[(size, n)] - cpu[(BASELINE, n)]) / size * 1e6:.1f}" for n in names]
            rows.append([f"{size:,}", *cells])
        table(["entries", *names], rows)

        print(
            "\n   growth exponent of (cpu time - fixed cost) between sizes (1 = linear, 2 ="
            f" quadratic;\n   '-' where that cost is under {ms(NOISE)}, too small to judge):"
        )
        rows, worst = [], 0.0
        big = sizes[1:]
        for n1, n2 in zip(big, big[1:]):
            cells = []
            for n in names:
                t0, t1, t2 = cpu[(BASELINE, n)], cpu[(n1, n)], cpu[(n2, n)]
                e = exponent(t0, t1, t2, n1, n2) if t1 - t0 >= NOISE else float("nan")
                worst = max(worst, e) if e == e else worst
                cells.append("-" if e != e else f"{e:.2f}")
            rows.append([f"{n1:,} -> {n2:,}", *cells])
        table(["sizes", *names], rows)
        shape = "linear" if worst <= SUPERLINEAR else "SUPERLINEAR somewhere: see the profile"
        print(f"     largest exponent {worst:.2f}: {shape}")

        if TARGET_SIZE in sizes:
            both = wall[(TARGET_SIZE, "validate")] + wall[(TARGET_SIZE, "add")]
            print(
                f"\n   target (issue 6): {TARGET_SIZE:,} entries validate + add under"
                f" {TARGET_SECONDS:g} s: {ms(both)} -> {verdict(both < TARGET_SECONDS)}"
            )

        if args.profile or worst > SUPERLINEAR:
            largest = sizes[-1]
            print(f"\n-- cProfile at {largest:,} entries (in-process times include profiling)")
            for name in ("validate", "add", "remove"):
                profile(name, tool_args(roots[largest])[name], env, Path(tmp))
    return 0


if __name__ == "__main__":
    run_script(main, "scale")

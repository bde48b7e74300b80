"""Shared helpers for the benchmarks: run commands, alternate them, print medians and ratios.

Every benchmark compares commands *in the same run*: each round runs every command once, in a
shuffled order (fixed seed), so drift on the machine (CPU frequency, page cache, other load) hits
all of them alike. Only medians are compared; min and max are printed to show the spread.
"""

from __future__ import annotations

import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]


def python() -> str:
    """The interpreter the tool runs with: the one running the benchmark (.venv/bin/python)."""
    return sys.executable


def tool_argv() -> list[str]:
    """How a user starts dockercfg with this interpreter: its console script, else `-m`.

    Run it with cwd=REPO, so that `-m dockercfg` finds this checkout without an install.
    """
    script = Path(sys.executable).parent / "dockercfg"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "dockercfg"]


def tool_env(**extra: str) -> dict[str, str]:
    """The caller's environment without DOCKER_HOST (no benchmark talks to the host's dockerd)."""
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra)
    return env


def header(title: str) -> None:
    print(f"== {title}")
    print(f"   {describe_checkout()}")
    print(
        f"   python {platform.python_version()} ({sys.executable}); "
        f"{platform.system()} {platform.release()}; {os.cpu_count()} CPUs; "
        f"load {os.getloadavg()[0]:.2f}"
    )


def describe_checkout() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "dockercfg checkout: unknown revision (no git)"
    return f"dockercfg {rev or 'unknown'}{' + uncommitted changes' if dirty else ''}"


class CommandFailed(RuntimeError):
    pass


def run_timed(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = REPO,
    timeout: float = 120,
    ok_codes: Sequence[int] = (0,),
) -> tuple[float, float]:
    """Run argv once, output discarded; (wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        list(argv), env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, timeout=timeout,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in ok_codes:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise CommandFailed(
            f"{' '.join(argv)} exited {done.returncode}: {' / '.join(detail) or 'no output'}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def alternate(
    jobs: dict[str, Callable[[], float | tuple[float, float]]],
    *,
    rounds: int,
    warmup: int = 2,
    seed: int = 6,
    deadline: float | None = None,
) -> dict[str, list[tuple[float, float]]]:
    """Run every job once per round in a shuffled order; {name: [(wall, cpu), ...]}.

    A job returns wall seconds, or (wall, cpu). Warm-up rounds are run and thrown away. When
    `deadline` (time.monotonic()) passes, no new round starts: the results so far are returned.
    """
    rng = random.Random(seed)
    names = list(jobs)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for index in range(warmup + rounds):
        if deadline is not None and time.monotonic() > deadline and index > warmup:
            print(f"   (time budget reached: {index - warmup} rounds instead of {rounds})")
            break
        order = names[:]
        rng.shuffle(order)
        for name in order:
            value = jobs[name]()
            wall, cpu = value if isinstance(value, tuple) else (value, float("nan"))
            if index >= warmup:
                results[name].append((wall, cpu))
    return results


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def ratio(value: float, base: float) -> str:
    if base != base or value != value or base <= 0:
        return "-"
    return f"{value / base:.2f}x"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "   ") -> None:
    """Print an aligned text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return indent + "  ".join(parts).rstrip()

    print(line(headers))
    print(indent + "  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def run_script(
    main: Callable[[], int], name: str, errors: tuple = (), interrupted: str = ""
) -> None:
    """The scripts' shared entry: exit with main()'s status, one line on failure, 130 on ^C."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        if interrupted:
            print(interrupted, file=sys.stderr)
        sys.exit(130)
    except (*errors, OSError, subprocess.SubprocessError, RuntimeError) as err:
        print(f"{name} benchmark failed: {err}", file=sys.stderr)
        sys.exit(1)

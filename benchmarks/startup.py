#!/usr/bin/env python3
"""Start-up cost of dockercfg commands against the interpreter floor (issue 6, benchmark 2).

Compared in the same run, alternating (each round runs every command once, shuffled):
  floors      python -c pass; python -c "import json; json.load(open(F))" (small and 1 MB F)
  reference   python -c "import typer" (the CLI framework alone, which every command pays)
  dockercfg   --help; validate (small file, with and without --docker-version; 1 MB file);
              show --root TMP; add-insecure x:5000 --dry-run --root TMP
Then `python -X importtime` of `--help` and `validate`: the heaviest imports, by package.

Read-only for the host: every file is in a temporary directory, `show` and `add-insecure` use
--root, `validate` reads only the given file (and runs `dockerd --version` when installed).

    .venv/bin/python benchmarks/startup.py [--rounds 20] [--quick] [--hyperfine]
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import (  # noqa: E402
    REPO,
    alternate,
    header,
    median,
    ms,
    python,
    ratio,
    run_script,
    run_timed,
    table,
    tool_argv,
    tool_env,
    verdict,
)

SMALL_CONFIG = {
    "insecure-registries": ["registry.internal:5000", "10.20.0.0/16"],
    "registry-mirrors": ["https://mirror.example.com"],
    "log-driver": "json-file",
    "log-opts": {"max-size": "10m", "max-file": "3"},
    "live-restore": True,
    "storage-driver": "overlay2",
}
TARGET_RATIO = 2.5  # issue 6: --help and validate (small) within 2.5x of `python -c pass`
DOCKER_VERSION = "20.10.24"


def big_config(min_bytes: int = 1_000_000) -> bytes:
    """A valid daemon.json of at least min_bytes: insecure registries (hosts, CIDRs) and labels."""
    count = min_bytes // 80 + 1
    while True:
        registries = [
            f"10.{(i >> 8) & 255}.{i & 255}.0/24" if i % 3 == 0 else f"reg-{i}.example.test:5000"
            for i in range(count)
        ]
        config = {
            "insecure-registries": registries,
            "labels": [f"com.example.node-{i}=rack-{i % 40}" for i in range(count)],
            "log-opts": {"max-size": "10m"},
        }
        data = (json.dumps(config, indent=2) + "\n").encode()
        if len(data) >= min_bytes:
            return data
        count = int(count * min_bytes / len(data)) + 1


def make_files(tmp: Path) -> dict[str, Path]:
    small = tmp / "small.json"
    small.write_text(json.dumps(SMALL_CONFIG, indent=2) + "\n")
    big = tmp / "big.json"
    big.write_bytes(big_config())
    root = tmp / "root"
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text(json.dumps(SMALL_CONFIG, indent=2) + "\n")
    return {"small": small, "big": big, "root": root}


def commands(files: dict[str, Path]) -> dict[str, list[str]]:
    py, tool = python(), tool_argv()
    load = "import json; json.load(open({!r}))"
    root = str(files["root"])
    return {
        "python -c pass": [py, "-c", "pass"],
        "python json.load small": [py, "-c", load.format(str(files["small"]))],
        "python json.load 1 MB": [py, "-c", load.format(str(files["big"]))],
        "python -c 'import typer'": [py, "-c", "import typer"],
        "dockercfg --help": [*tool, "--help"],
        "dockercfg validate small": [*tool, "validate", str(files["small"])],
        f"dockercfg validate small --docker-version {DOCKER_VERSION}": [
            *tool,
            "validate",
            str(files["small"]),
            "--docker-version",
            DOCKER_VERSION,
        ],  # fmt: skip
        "dockercfg validate 1 MB": [*tool, "validate", str(files["big"])],
        "dockercfg show --root TMP": [*tool, "show", "--root", root],
        "dockercfg add-insecure x:5000 --dry-run --root TMP": [
            *tool,
            "add-insecure",
            "x:5000",
            "--dry-run",
            "--root",
            root,
        ],  # fmt: skip
    }


# -X importtime -------------------------------------------------------------------------------


def importtime(argv: list[str], env: dict[str, str]) -> list[tuple[int, str, int, int]]:
    """[(depth, module, self us, cumulative us)] from one `python -X importtime` run."""
    if argv[0] != python():  # the console script: run it with the interpreter
        argv = [python(), *argv]
    cmd = [argv[0], "-X", "importtime", *argv[1:]]
    done = subprocess.run(
        cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        self_us, cumulative, name = int(parts[0]), int(parts[1]), parts[2][1:]
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((depth, name.strip(), self_us, cumulative))
    return rows


def import_tree(rows: list[tuple[int, str, int, int]]) -> list[tuple[int, str, int]]:
    """importtime prints children before their parent: rebuild the tree, in import order.

    Returns [(depth, module, cumulative us)] in pre-order (parents first).
    """
    pending: dict[int, list] = defaultdict(list)  # depth -> finished nodes awaiting a parent
    for depth, name, _self_us, cumulative in rows:
        node = (depth, name, cumulative, pending.pop(depth + 1, []))
        pending[depth].append(node)
    out: list[tuple[int, str, int]] = []

    def walk(node) -> None:
        depth, name, cumulative, children = node
        out.append((depth, name, cumulative))
        for child in children:
            walk(child)

    for node in pending.get(0, []):
        walk(node)
    return out


def import_summary(label: str, argv: list[str], env: dict[str, str], runs: int) -> float:
    """Print where one command's import time goes (the median run of `runs`); total seconds."""
    samples = sorted(
        (importtime(argv, env) for _ in range(runs)), key=lambda r: sum(x[2] for x in r)
    )
    rows = samples[len(samples) // 2]
    total = sum(r[2] for r in rows) / 1e6
    print(f"\n   {label}: {ms(total)} of imports in all (median of {runs} runs)")
    packages: dict[str, int] = defaultdict(int)
    for _depth, name, self_us, _cumulative in rows:
        packages[name.split(".")[0]] += self_us
    heavy = sorted(packages.items(), key=lambda kv: -kv[1])[:8]
    print("     self time per package: " + ", ".join(
        f"{name} {ms(us / 1e6)}" for name, us in heavy
    ))  # fmt: skip
    print("     import tree (cumulative, >= 2 ms, 3 levels):")
    for depth, name, cumulative in import_tree(rows):
        if depth <= 2 and cumulative >= 2000:
            print(f"       {'  ' * depth}{name:<{40 - 2 * depth}} {ms(cumulative / 1e6):>8}")
    return total


def loaded_modules(argv: list[str], env: dict[str, str]) -> set[str]:
    names = {row[1] for row in importtime(argv, env)}
    return {name.split(".")[0] for name in names}


# hyperfine (optional cross-check) --------------------------------------------------------------


def hyperfine(cmds: dict[str, list[str]], runs: int, env: dict[str, str]) -> None:
    exe = shutil.which("hyperfine")
    if exe is None:
        print("\n   hyperfine is not installed (apt-get install hyperfine); cross-check skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hf.json"
        argv = [exe, "-N", "--warmup", "3", "--runs", str(runs), "--export-json", str(out),
                "--style", "none"]  # fmt: skip
        for name, cmd in cmds.items():
            argv += ["-n", name, shlex.join(cmd)]
        subprocess.run(argv, env=env, cwd=REPO, check=True, timeout=1800,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        results = json.loads(out.read_text())["results"]
    base = next(r["median"] for r in results if r["command"] == "python -c pass")
    print(f"\n   hyperfine {runs} runs per command (not alternating; a cross-check only):")
    table(
        ["command", "median", "vs pass"],
        [[r["command"], ms(r["median"]), ratio(r["median"], base)] for r in results],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="alternating rounds (default 20)")
    parser.add_argument("--quick", action="store_true", help="5 rounds, 3 importtime runs")
    parser.add_argument(
        "--hyperfine", action="store_true", help="also time with hyperfine, if installed"
    )
    parser.add_argument("--max-minutes", type=float, default=10, help="time budget (default 10)")
    args = parser.parse_args()
    rounds = 5 if args.quick else args.rounds
    deadline = time.monotonic() + args.max_minutes * 60

    header("start-up: dockercfg commands vs the interpreter floor")
    env = tool_env()
    with tempfile.TemporaryDirectory(prefix="dockercfg-bench-") as tmp:
        files = make_files(Path(tmp))
        print(
            f"   small file {files['small'].stat().st_size} bytes, big file"
            f" {files['big'].stat().st_size / 1e6:.2f} MB; tool: {' '.join(tool_argv())};"
            f" {rounds} rounds + 2 warm-up, order shuffled per round"
        )
        cmds = commands(files)
        jobs = {name: (lambda c=cmd: run_timed(c, env=env)) for name, cmd in cmds.items()}
        results = alternate(jobs, rounds=rounds, warmup=2, deadline=deadline)

        wall = {name: median([w for w, _ in v]) for name, v in results.items()}
        cpu = {name: median([c for _, c in v]) for name, v in results.items()}
        base, json_small = wall["python -c pass"], wall["python json.load small"]
        cpu_base = cpu["python -c pass"]
        rows = []
        for name in cmds:
            spread = [w for w, _ in results[name]]
            rows.append(
                [
                    name,
                    ms(wall[name]),
                    f"{ms(min(spread))}..{ms(max(spread))}",
                    ratio(wall[name], base),
                    ratio(wall[name], json_small),
                    ms(cpu[name]),
                    ratio(cpu[name], cpu_base),
                ]
            )
        print()
        table(
            ["command", "wall", "min..max", "vs pass", "vs json.load", "cpu", "cpu vs pass"], rows
        )
        print(
            "   wall = elapsed time (median); cpu = user+system time of the process and its"
            " children, which\n   other load on the machine inflates less than wall time"
        )

        print("\n   targets (issue 6): --help and validate (small) within "
              f"{TARGET_RATIO}x of `python -c pass`")  # fmt: skip
        for name in ("dockercfg --help", "dockercfg validate small",
                     f"dockercfg validate small --docker-version {DOCKER_VERSION}"):  # fmt: skip
            r, c = wall[name] / base, cpu[name] / cpu_base
            print(f"     {name}: {r:.2f}x wall, {c:.2f}x cpu -> {verdict(r <= TARGET_RATIO)}")
        typer, typer_cpu = wall["python -c 'import typer'"], cpu["python -c 'import typer'"]
        print(
            f"     `python -c 'import typer'` alone: {typer / base:.2f}x wall, "
            f"{typer_cpu / cpu_base:.2f}x cpu ({ms(typer_cpu - cpu_base)} cpu over the floor;"
            f" all of {TARGET_RATIO}x leaves {ms((TARGET_RATIO - 1) * cpu_base)} cpu over it)"
        )

        runs = 3 if args.quick else 7
        print("\n-- python -X importtime: where the import time goes")
        help_argv = cmds["dockercfg --help"]
        validate_argv = cmds[f"dockercfg validate small --docker-version {DOCKER_VERSION}"]
        import_summary("dockercfg --help", help_argv, env, runs)
        import_summary(
            f"dockercfg validate small --docker-version {DOCKER_VERSION}", validate_argv, env, runs
        )
        heavy = {"jsonschema", "gi", "pydbus", "distro"}
        for label, argv in (("--help", help_argv), ("validate small", validate_argv)):
            found = sorted(loaded_modules(argv, env) & heavy)
            print(f"     heavy modules imported by {label}: {', '.join(found) or 'none'}")

        if args.hyperfine:
            hyperfine(cmds, rounds, env)
    return 0


if __name__ == "__main__":
    run_script(main, "startup")

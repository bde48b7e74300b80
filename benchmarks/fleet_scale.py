"""The fleet playbook on many file-only hosts: per-host cost of the module against a bare command.

Each host is a `--root` tree under a temporary directory, reached with `connection: local`; the
task makes its lists exact (the module's `state: exact`, or `command: dockercfg --root R set ...
--json` with `changed_when` from the envelope). For each N the two playbooks run alternately,
first on fresh trees (every host changes) and then again (nothing changes), and the wall time per
host is printed. The target: the per-host cost stays flat as N grows (largest N within 1.5x of the
smallest), and the module costs at most 1.5x the bare command. Nothing outside the temporary
directory is written; no dockerd is touched (`--root`).

    .venv/bin/python benchmarks/fleet_scale.py [--sizes 25,50,100] [--forks 4] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANSIBLE = REPO / ".venv-ansible" / "bin" / "ansible-playbook"
COLLECTIONS = REPO / "packaging" / "ansible"
TOOL_BIN = REPO / ".venv" / "bin"
LISTS = {"insecure": ["registry.fleet:5000", "extra.fleet:5000"], "mirrors": ["https://m.fleet/"]}

PLAYS = {
    "module": """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: the fleet's registries
      dockercfg.docker.daemon_registries:
        insecure_registries: "{{ fleet_insecure }}"
        registry_mirrors: "{{ fleet_mirrors }}"
        state: exact
        root: "{{ dockercfg_root }}"
""",
    "command": """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: the fleet's registries
      ansible.builtin.command:
        argv: [dockercfg, --root, "{{ dockercfg_root }}", set,
               "--insecure-registries={{ fleet_insecure | join(',') }}",
               "--registry-mirrors={{ fleet_mirrors | join(',') }}", --json]
      register: out
      changed_when: (out.stdout | from_json).changed
""",
}


def make_fleet(top: Path, n: int) -> Path:
    """n fresh --root trees, each with a daemon.json of its own, and their inventory."""
    shutil.rmtree(top, ignore_errors=True)
    hosts = {}
    for i in range(n):
        root = top / f"node{i:03d}"
        (root / "etc" / "docker").mkdir(parents=True)
        (root / "etc" / "docker" / "daemon.json").write_text('{\n  "debug": true\n}\n')
        hosts[f"node{i:03d}"] = {"dockercfg_root": str(root)}
    inventory = top / "inventory.json"
    group_vars = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "fleet_insecure": LISTS["insecure"],
        "fleet_mirrors": LISTS["mirrors"],
    }
    inventory.write_text(json.dumps({"fleet": {"vars": group_vars, "hosts": hosts}}))
    return inventory


def playbook(env: dict, inventory: Path, play: Path, forks: int) -> tuple[float, int]:
    """(wall seconds, hosts changed) of one ansible-playbook run; exits on a failed run."""
    started = time.monotonic()
    proc = subprocess.run(
        [str(ANSIBLE), "-i", str(inventory), str(play), "--forks", str(forks)],
        env=env, capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"ansible-playbook failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    recap = proc.stdout.split("PLAY RECAP", 1)[-1]
    changed = sum(
        1 for line in recap.splitlines() if "changed=" in line and "changed=0" not in line
    )
    return took, changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="25,50,100")
    parser.add_argument("--forks", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if not ANSIBLE.exists():
        sys.exit(f"{ANSIBLE} is missing (tests/run makes .venv-ansible)")
    sizes = [int(s) for s in args.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="fleet-scale-"))
    env = {
        "PATH": f"{TOOL_BIN}:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(tmp / "home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_CONFIG": str(tmp / "no-ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "DOCKERCFG_CACHE_DIR": str(tmp / "cache"),  # not root's /var/cache/dockercfg
    }
    plays = {}
    for kind, text in PLAYS.items():
        plays[kind] = tmp / f"{kind}.yml"
        plays[kind].write_text(text)
    per_host: dict[tuple[str, str, int], list[float]] = {}
    try:
        for n in sizes:
            for rnd in range(args.rounds):
                # Alternate which kind runs first, so neither always gets the warmer cache.
                kinds = list(PLAYS) if rnd % 2 == 0 else list(reversed(PLAYS))
                for kind in kinds:
                    inventory = make_fleet(tmp / "fleet", n)
                    for phase in ("changing", "unchanged"):
                        took, changed = playbook(env, inventory, plays[kind], args.forks)
                        want = n if phase == "changing" else 0
                        if changed != want:
                            sys.exit(f"{kind} {phase} N={n}: {changed} hosts changed, not {want}")
                        per_host.setdefault((kind, phase, n), []).append(took / n)
                        print(f"N={n:4d} {kind:8s} {phase:9s} {took:7.1f}s  "
                              f"{1000 * took / n:6.0f} ms/host", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nper-host wall time (median ms), forks={args.forks}, {os.cpu_count()} CPUs")
    print(f"{'N':>5} {'phase':9} {'module':>8} {'command':>8} {'ratio':>6}")
    for n in sizes:
        for phase in ("changing", "unchanged"):
            mod = statistics.median(per_host[("module", phase, n)]) * 1000
            cmd = statistics.median(per_host[("command", phase, n)]) * 1000
            print(f"{n:5d} {phase:9} {mod:8.0f} {cmd:8.0f} {mod / cmd:6.2f}")
    for kind in PLAYS:
        first = statistics.median(per_host[(kind, "changing", sizes[0])])
        last = statistics.median(per_host[(kind, "changing", sizes[-1])])
        verdict = "MET" if last <= 1.5 * first else "NOT MET"
        print(f"{kind}: N={sizes[-1]} costs {last / first:.2f}x N={sizes[0]} per host: {verdict}")
    ratio = statistics.median(per_host[("module", "changing", sizes[-1])]) / statistics.median(
        per_host[("command", "changing", sizes[-1])]
    )
    print(
        f"module vs command at N={sizes[-1]}: {ratio:.2f}x: {'MET' if ratio <= 1.5 else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()

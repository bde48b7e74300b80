"""The collection against a fleet over SSH: an unprivileged user with a key, become through sudo,
module transfer and interpreter discovery left to Ansible, a real dockerd (20.10 and 26.1) on each
host and one registry they all push to (fleet.py has the layout)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from fleet import REGISTRY, Fleet
from pkgtest import Ansible, recap, shown

PLAYBOOK = """
- name: registries for the fleet
  hosts: "{{ fleet_pattern | default('fleet') }}"
  gather_facts: false
  tasks:
    - name: the fleet's registry and mirror, nothing else
      dockercfg.docker.daemon_registries:
        insecure_registries: "{{ fleet_insecure }}"
        registry_mirrors: "{{ fleet_mirrors }}"
        state: exact
"""
MIRROR = "https://mirror.fleet/"
NOT_INSTALLED = "dockercfg is not installed on this host; install it first"


class Controller:
    """ansible-playbook inside the fleet's network (its fabric namespace)."""

    def __init__(self, fleet: Fleet, ansible_bin: Path, tmp: Path) -> None:
        self.fleet = fleet
        self.ansible = Ansible(ansible_bin, tmp)
        self.env = {
            **self.ansible.env,
            "ANSIBLE_REMOTE_TEMP": "~/.ansible/tmp",  # the remote user's, not a path of ours
            "ANSIBLE_TIMEOUT": "30",
        }
        self.playbook = tmp / "fleet.yml"
        self.playbook.write_text(PLAYBOOK)
        self.inventory = tmp / "inventory.json"

    def run(self, insecure: list[str], *args: str, pattern: str = "fleet"):
        docker_hosts = [h for h in self.fleet.hosts if h.dockerd]
        bare = [h for h in self.fleet.hosts if not h.dockerd]
        group_vars = {"fleet_insecure": insecure, "fleet_mirrors": [MIRROR]}
        groups = {"fleet": docker_hosts, "bare": bare}
        self.inventory.write_text(json.dumps(self.fleet.inventory(group_vars, groups)))
        cmd = [
            str(self.ansible.bin_dir / "ansible-playbook"), "-i", str(self.inventory),
            str(self.playbook), "--forks", "5", "-e", f"fleet_pattern={pattern}", *args,
        ]  # fmt: skip
        started = time.monotonic()
        proc = subprocess.run(
            ["nsenter", f"--net={self.fleet.fabric}", *cmd],
            env=self.env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        return proc, time.monotonic() - started


def fatal_line(output: str, host: str) -> str:
    return next((line for line in output.splitlines() if f"fatal: [{host}]" in line), "")


def test_playbook_over_ssh_on_the_fleet(fleet: Fleet, ansible_bin: Path, tmp_path: Path):
    docker_hosts = [h for h in fleet.hosts if h.dockerd]
    bare = [h for h in fleet.hosts if not h.dockerd]
    versions = {h.name: h.dockerd_version() for h in docker_hosts}
    assert any(v.startswith("20.10") for v in versions.values()), versions
    assert any(v.startswith("26.") for v in versions.values()), versions
    for host in docker_hosts:
        code, out = host.push()
        assert code != 0 and "HTTP response to HTTPS client" in out, (host.name, out)
    control = Controller(fleet, ansible_bin, tmp_path)
    times = {}

    # 1. The first run changes every host, and each host's dockerd can push to the registry.
    first, times["first"] = control.run([REGISTRY])
    assert first.returncode == 0, shown(first)
    counts = recap(first.stdout)
    assert {h: c["changed"] for h, c in counts.items()} == {h.name: 1 for h in docker_hosts}
    for host in docker_hosts:
        assert json.loads(host.daemon_json.read_text()) == {
            "insecure-registries": [REGISTRY],
            "registry-mirrors": [MIRROR],
        }, host.name
        code, out = host.push()
        assert code == 0, (host.name, versions[host.name], out)

    # 2. The second run changes nothing and writes nothing.
    stats = {h.name: h.daemon_json.stat() for h in docker_hosts}
    second, times["second"] = control.run([REGISTRY])
    assert second.returncode == 0, shown(second)
    assert all(c["changed"] == 0 for c in recap(second.stdout).values()), shown(second)
    for host in docker_hosts:
        now, then = host.daemon_json.stat(), stats[host.name]
        assert (now.st_ino, now.st_mtime_ns) == (then.st_ino, then.st_mtime_ns), host.name

    # 3. --check --diff on a changed inventory: each host's diff shown, nothing written.
    texts = {h.name: h.daemon_json.read_bytes() for h in docker_hosts}
    wanted = [REGISTRY, "extra.fleet:5000"]
    check, times["check"] = control.run(wanted, "--check", "--diff")
    assert check.returncode == 0, shown(check)
    assert all(c["changed"] == 1 for c in recap(check.stdout).values()), shown(check)
    assert check.stdout.count('+    "extra.fleet:5000"') == len(docker_hosts), shown(check)
    assert {h.name: h.daemon_json.read_bytes() for h in docker_hosts} == texts

    # 4. A broken daemon.json fails its host alone, with dockercfg's message; a host without
    # dockercfg fails with the install hint; the others change.
    broken = docker_hosts[0]
    broken.daemon_json.write_text('{"insecure-registries": ["registry.fleet:5000"],,}\n')
    last, times["broken"] = control.run(wanted, pattern="all")
    assert last.returncode != 0, shown(last)
    counts = recap(last.stdout)
    failed = {h for h, c in counts.items() if c["failed"]}
    assert failed == {broken.name, *(h.name for h in bare)}, shown(last)
    assert "daemon.json" in fatal_line(last.stdout, broken.name), shown(last)
    for host in bare:
        assert NOT_INSTALLED in fatal_line(last.stdout, host.name), shown(last)
    for host in docker_hosts[1:]:
        assert counts[host.name]["changed"] == 1, shown(last)
        assert json.loads(host.daemon_json.read_text())["insecure-registries"] == wanted
    assert broken.daemon_json.read_text().endswith(",,}\n")
    assert "Traceback" not in last.stdout + last.stderr

    print(
        f"\nfleet over SSH: {len(fleet.hosts)} hosts (dockerd {sorted(versions.values())}); "
        + ", ".join(f"{k} run {v:.1f}s" for k, v in times.items()),
        file=sys.stderr,
    )

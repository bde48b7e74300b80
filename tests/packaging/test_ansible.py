"""The Ansible collection with real ansible-core: playbooks on localhost (connection: local), each
against its own --root prefix under tmp; a fleet of local hosts with forks; ansible-test."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pkgtest import COLLECTION, REPO, VENV_BIN, Ansible, recap, shown, unavailable

MODULE = "dockercfg.docker.daemon_registries"
MODULE_FILE = COLLECTION / "plugins" / "modules" / "daemon_registries.py"


def _constant(name: str) -> str:
    """A string constant of the module (which imports ansible, absent from this venv)."""
    for node in ast.parse(MODULE_FILE.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise LookupError(name)


NOT_INSTALLED = _constant("NOT_INSTALLED")


@pytest.fixture(autouse=True)
def _private_version_cache(request, tmp_path: Path):
    """dockercfg as root caches `dockerd --version` in /var/cache/dockercfg: keep it in tmp."""
    if "ansible" in request.fixturenames:
        request.getfixturevalue("ansible").env["DOCKERCFG_CACHE_DIR"] = str(tmp_path / "cache")


def make_root(tmp: Path, name: str = "root", text: str | None = None) -> Path:
    root = tmp / name
    (root / "etc" / "docker").mkdir(parents=True)
    if text is not None:
        (root / "etc" / "docker" / "daemon.json").write_text(text)
    return root


def daemon_json(root: Path) -> dict:
    return json.loads((root / "etc" / "docker" / "daemon.json").read_text())


def task_play(root: Path | None, out: Path, **options) -> str:
    """One module task on localhost; its registered result is written to `out` as JSON."""
    args = {**({"root": str(root)} if root else {}), **options}
    return f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: registries
      {MODULE}: {json.dumps(args)}
      register: result
      ignore_errors: true
    - name: keep the result
      ansible.builtin.copy:
        content: "{{{{ result | to_json }}}}"
        dest: {out}
      check_mode: false
      diff: false
      changed_when: false
"""


def result_of(out: Path) -> dict:
    return json.loads(out.read_text())


def test_first_run_changes_second_does_not_and_diff_shows_it(ansible: Ansible, tmp_path: Path):
    root = make_root(tmp_path, text='{\n  "debug": true\n}\n')
    out = tmp_path / "result.json"
    play = task_play(
        root,
        out,
        insecure_registries=["registry.lab:5000"],
        registry_mirrors=["https://m.lab"],
        force=True,  # m.lab does not exist: add-mirror would refuse it as dead
    )
    first = ansible.playbook(play, "--diff")
    assert first.returncode == 0, shown(first)
    assert recap(first.stdout)["localhost"]["changed"] == 1, shown(first)
    result = result_of(out)
    assert result["changed"] is True and result["file"] == "/etc/docker/daemon.json"
    assert result["backup_file"] and Path(result["backup_file"]).is_file()
    assert Path(result["backup_file"]).read_text() == '{\n  "debug": true\n}\n'
    assert daemon_json(root) == {
        "debug": True,
        "insecure-registries": ["registry.lab:5000"],
        "registry-mirrors": ["https://m.lab/"],
    }
    assert '+  "insecure-registries": [' in first.stdout, shown(first)  # the --diff output
    assert result["diff"]["before"] == '{\n  "debug": true\n}\n'
    assert json.loads(result["diff"]["after"]) == daemon_json(root)

    before = (root / "etc/docker/daemon.json").stat()
    second = ansible.playbook(play, "--diff")
    assert second.returncode == 0, shown(second)
    assert recap(second.stdout)["localhost"]["changed"] == 0, shown(second)
    assert result_of(out)["changed"] is False
    after = (root / "etc/docker/daemon.json").stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_check_mode_changes_nothing_on_disk_and_shows_the_diff(ansible: Ansible, tmp_path: Path):
    text = '{\n  "insecure-registries": ["old.lab:5000"]\n}\n'
    root = make_root(tmp_path, text=text)
    out = tmp_path / "result.json"
    play = task_play(root, out, insecure_registries=["new.lab:5000"], state="exact")
    proc = ansible.playbook(play, "--check", "--diff")
    assert proc.returncode == 0, shown(proc)
    assert recap(proc.stdout)["localhost"]["changed"] == 1, shown(proc)
    assert (root / "etc/docker/daemon.json").read_text() == text
    # No backup, no temp file. (dockercfg --dry-run still creates its empty lock file.)
    left = sorted(p.name for p in (root / "etc/docker").iterdir())
    assert set(left) - {".daemon.json.dockercfg.lock"} == {"daemon.json"}, left
    assert "old.lab:5000" in proc.stdout and "new.lab:5000" in proc.stdout, shown(proc)
    assert all("--dry-run" in cmd for cmd in result_of(out)["commands"])


def test_exact_and_absent(ansible: Ansible, tmp_path: Path):
    root = make_root(
        tmp_path, text='{"insecure-registries": ["http://keep.lab:5000", "gone.lab:1"]}\n'
    )
    out = tmp_path / "result.json"
    exact = task_play(root, out, insecure_registries=["keep.lab:5000", "add.lab:2"], state="exact")
    proc = ansible.playbook(exact)
    result = result_of(out)
    assert proc.returncode == 0 and result["changed"] is True, shown(proc)
    # One `dockercfg set`: one process, one transaction; dockercfg normalises the spelling.
    assert [cmd[3] for cmd in result["commands"]] == ["set"], result["commands"]
    assert daemon_json(root)["insecure-registries"] == ["keep.lab:5000", "add.lab:2"]
    assert result["before"]["insecure-registries"] == ["keep.lab:5000", "gone.lab:1"], result
    assert result["after"]["insecure-registries"] == ["keep.lab:5000", "add.lab:2"], result
    proc = ansible.playbook(exact)
    assert proc.returncode == 0 and result_of(out)["changed"] is False, shown(proc)

    absent = task_play(root, out, insecure_registries=["add.lab:2"], state="absent")
    proc = ansible.playbook(absent)
    assert proc.returncode == 0 and result_of(out)["changed"] is True, shown(proc)
    assert daemon_json(root)["insecure-registries"] == ["keep.lab:5000"]
    proc = ansible.playbook(task_play(root, out, registry_mirrors=[], state="exact"))
    assert proc.returncode == 0 and result_of(out)["changed"] is False, shown(proc)


def test_exact_with_one_bad_value_writes_nothing(ansible: Ansible, tmp_path: Path):
    """Both lists in one transaction: a bad mirror refuses the insecure registry too."""
    text = '{"insecure-registries": ["old.lab:1"]}\n'
    root = make_root(tmp_path, text=text)
    out = tmp_path / "result.json"
    play = task_play(
        root, out, insecure_registries=["new.lab:1"], registry_mirrors=["ftp://m"], state="exact"
    )
    proc = ansible.playbook(play)
    result = result_of(out)
    assert result["failed"] is True and result["changed"] is False, shown(proc)
    assert len(result["results"]) == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert (root / "etc/docker/daemon.json").read_text() == text
    assert sorted(p.name for p in (root / "etc/docker").iterdir()) in (
        ["daemon.json"], [".daemon.json.dockercfg.lock", "daemon.json"],
    )  # fmt: skip


def test_bad_input_fails_cleanly_with_dockercfgs_message(ansible: Ansible, tmp_path: Path):
    text = '{"debug": true}\n'
    root = make_root(tmp_path, text=text)
    out = tmp_path / "result.json"
    proc = ansible.playbook(task_play(root, out, insecure_registries=["bad host!"]))
    assert recap(proc.stdout)["localhost"]["failed"] == 0  # ignore_errors: the next task ran
    result = result_of(out)
    assert result["failed"] is True and result["rc"] == 2
    assert result["msg"].startswith("insecure registry bad host! is not valid"), result
    assert "Traceback" not in proc.stdout + proc.stderr
    assert (root / "etc/docker/daemon.json").read_text() == text

    broken = make_root(tmp_path, "broken", text='{"debug": true,,}\n')
    proc = ansible.playbook(task_play(broken, out, insecure_registries=["ok.lab:1"]))
    result = result_of(out)
    assert result["failed"] is True and result["rc"] == 3, result
    assert "daemon.json" in result["msg"]


def test_missing_dockercfg_fails_with_the_install_advice(ansible: Ansible, tmp_path: Path):
    root = make_root(tmp_path)
    out = tmp_path / "result.json"
    if shutil.which("dockercfg", path="/usr/sbin:/usr/bin:/sbin:/bin"):
        unavailable("dockercfg is installed system-wide here: the test needs a host without it")
    proc = ansible.playbook(
        task_play(root, out, insecure_registries=["a.lab:1"]),
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert result_of(out)["msg"] == NOT_INSTALLED, shown(proc)


def test_missing_executable_option_fails_with_the_install_advice(ansible: Ansible, tmp_path: Path):
    root = make_root(tmp_path)
    out = tmp_path / "result.json"
    play = task_play(
        root, out, insecure_registries=["a.lab:1"], executable=str(tmp_path / "no-dockercfg")
    )
    proc = ansible.playbook(play)
    assert result_of(out)["msg"] == NOT_INSTALLED, shown(proc)


def test_plain_cli_from_ansible_with_changed_when(ansible: Ansible, tmp_path: Path):
    """The README's recipe: command + changed_when from dockercfg's --json."""
    root = make_root(tmp_path)
    play = f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Docker may use the lab registry over HTTP
      ansible.builtin.command: dockercfg --root {root} add-insecure registry.lab:5000 --json
      register: out
      changed_when: (out.stdout | from_json).changed
"""
    first = ansible.playbook(play)
    assert first.returncode == 0 and recap(first.stdout)["localhost"]["changed"] == 1, shown(first)
    second = ansible.playbook(play)
    assert second.returncode == 0, shown(second)
    assert recap(second.stdout)["localhost"]["changed"] == 0, shown(second)
    assert daemon_json(root) == {"insecure-registries": ["registry.lab:5000"]}


# The real thing -------------------------------------------------------------------------------


@pytest.mark.integration
def test_playbook_makes_the_sandbox_registry_usable(sb, ansible: Ansible, tmp_path: Path):
    """A real dockerd under systemd and a plain-HTTP registry: push fails, the playbook runs
    (no --root: the sandbox's private /etc/docker), push works, and a second run changes nothing."""
    from sandbox import REGISTRY

    code, output = sb.push()
    assert code != 0 and "server gave HTTP response to HTTPS client" in output, output
    out = tmp_path / "result.json"
    play = task_play(None, out, insecure_registries=[REGISTRY])
    tool_env = {k: sb.env[k] for k in ("DBUS_SYSTEM_BUS_ADDRESS", "DOCKER_HOST", "DOCKER_CONFIG")}
    proc = ansible.playbook(play, "--diff", env=tool_env)
    assert proc.returncode == 0, shown(proc)
    result = result_of(out)
    assert result.get("failed") is not True, result
    assert result["changed"] is True and result["file"] == "/etc/docker/daemon.json", result
    assert result["applied"] == "reload" and result["verified"] is True, result
    assert json.loads(sb.daemon_json.read_text()) == {"insecure-registries": [REGISTRY]}
    code, output = sb.push()
    assert code == 0, output

    proc = ansible.playbook(play, env=tool_env)
    assert proc.returncode == 0 and result_of(out)["changed"] is False, shown(proc)


# The fleet -----------------------------------------------------------------------------------

HOSTS = 24
FORKS = 8


def test_fleet_of_local_hosts_with_forks(ansible: Ansible, tmp_path: Path):
    """24 hosts, each a --root prefix of its own; odd hosts already have the mirror."""
    hosts = {}
    for i in range(1, HOSTS + 1):
        name = f"node{i:02d}"
        seed = '{\n  "registry-mirrors": ["https://mirror.lab/"]\n}\n' if i % 2 else None
        hosts[name] = make_root(tmp_path / "fleet", name, text=seed)
    inventory = tmp_path / "fleet.yml"
    inventory.write_text(
        json.dumps(
            {
                "fleet": {
                    "vars": {
                        "ansible_connection": "local",
                        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                    },
                    "hosts": {
                        name: {"dockercfg_root": str(root), "node_index": int(name[4:])}
                        for name, root in hosts.items()
                    },
                }
            }
        )
    )
    play = f"""
- hosts: fleet
  gather_facts: false
  tasks:
    - name: this node's registry and the shared one
      {MODULE}:
        insecure_registries: ["reg{{{{ node_index }}}}.lab:5000", "shared.lab:5000"]
        root: "{{{{ dockercfg_root }}}}"
    - name: the mirror
      {MODULE}:
        registry_mirrors: ["https://mirror.lab"]
        force: true
        root: "{{{{ dockercfg_root }}}}"
"""
    started = time.monotonic()
    first = ansible.playbook(play, "--forks", str(FORKS), inventory=inventory)
    first_time = time.monotonic() - started
    assert first.returncode == 0, shown(first)
    counts = recap(first.stdout)
    assert sorted(counts) == sorted(hosts)
    for name, root in hosts.items():
        index = int(name[4:])
        assert counts[name]["changed"] == (1 if index % 2 else 2), (name, counts[name])
        assert counts[name]["failed"] == 0
        assert daemon_json(root) == {
            **({"registry-mirrors": ["https://mirror.lab/"]} if index % 2 else {}),
            "insecure-registries": [f"reg{index}.lab:5000", "shared.lab:5000"],
            **({} if index % 2 else {"registry-mirrors": ["https://mirror.lab/"]}),
        }, name
    started = time.monotonic()
    second = ansible.playbook(play, "--forks", str(FORKS), inventory=inventory)
    second_time = time.monotonic() - started
    assert second.returncode == 0, shown(second)
    assert all(c["changed"] == 0 for c in recap(second.stdout).values()), shown(second)
    print(
        f"\nfleet: {HOSTS} hosts, forks={FORKS}: first run {first_time:.1f}s (changed), "
        f"second run {second_time:.1f}s (unchanged)",
        file=sys.stderr,
    )


# ansible-test ----------------------------------------------------------------------------------


def ansible_test(ansible_bin: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """ansible-test on a copy of the collection (outside git: every file counts as the
    collection's), with a cached HOME in .venv-ansible and the get-pip stand-in in it."""
    home = REPO / ".venv-ansible" / "ansible-test-home"
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    standin = Path(__file__).with_name("get_pip_standin.py").read_text()
    for version in ("24_2", "25_1", "25_2", "25_3"):  # whichever pip this ansible-test wants
        (cache / f"get_pip_{version}.py").write_text(standin)
    copy = tmp_path / "ansible_collections" / "dockercfg" / "docker"
    shutil.copytree(COLLECTION, copy, ignore=shutil.ignore_patterns("output", "__pycache__"))
    env = {
        "PATH": f"{ansible_bin}:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        **{k: v for k, v in os.environ.items() if k.startswith("PIP_")},
    }
    return subprocess.run(
        [str(ansible_bin / "ansible-test"), *args, "--local", "--python", "3.11", "--color", "no"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_module_unit_tests_with_ansible_test(ansible_bin: Path, tmp_path: Path):
    proc = ansible_test(ansible_bin, tmp_path, "units")
    assert proc.returncode == 0, shown(proc)
    assert " passed" in proc.stdout and " failed" not in proc.stdout, shown(proc)


def test_ansible_test_sanity(ansible_bin: Path, tmp_path: Path):
    proc = ansible_test(ansible_bin, tmp_path, "sanity")
    assert proc.returncode == 0, shown(proc)
    assert "ERROR" not in proc.stdout, shown(proc)


def test_venv_bin_has_this_checkouts_dockercfg():
    assert (VENV_BIN / "dockercfg").exists(), "packaging/install-from-source makes .venv"

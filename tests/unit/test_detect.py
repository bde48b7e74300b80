"""Detection on fixture trees (--root) shaped like real hosts: os-release, init markers, units,
config files. Under a --root prefix only files are read, which is what makes these tests possible;
macOS and Windows cannot run here, so their trees are fixtures of the files those systems have.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockercfg.detect import Options, detect
from dockercfg.errors import EnvironmentProblem

DEBIAN_UNIT = """[Unit]
Description=Docker Application Container Engine
[Service]
Type=notify
EnvironmentFile=-/etc/default/docker
ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS
ExecReload=/bin/kill -s HUP $MAINPID
"""
DOCKER_CE_UNIT = """[Service]
Type=notify
ExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock
ExecReload=/bin/kill -s HUP $MAINPID
"""
CENTOS7_UNIT = """[Service]
EnvironmentFile=-/etc/sysconfig/docker
EnvironmentFile=-/etc/sysconfig/docker-storage
ExecStart=/usr/bin/dockerd-current \\
          --add-runtime docker-runc=/usr/libexec/docker/docker-runc-current \\
          $OPTIONS $DOCKER_STORAGE_OPTIONS $ADD_REGISTRY $BLOCK_REGISTRY $INSECURE_REGISTRY
"""


def os_release(ident: str, version: str) -> str:
    return f'ID={ident}\nVERSION_ID="{version}"\nNAME="{ident}"\n'


def build(root: Path, files: dict[str, str], dirs: tuple[str, ...] = ()) -> Path:
    for name, text in files.items():
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name in dirs:
        (root / name.lstrip("/")).mkdir(parents=True, exist_ok=True)
    return root


HOSTS = {
    "ubuntu-14.04-upstart": (
        {
            "/etc/os-release": os_release("ubuntu", "14.04"),
            "/etc/init/docker.conf": 'exec "$DOCKERD" $DOCKER_OPTS --raw-logs\n',
            "/sbin/initctl": "",
            "/etc/default/docker": 'DOCKER_OPTS="--dns 8.8.8.8"\n',
        },
        (),
        ("docker-opts", "/etc/default/docker"),
    ),
    "ubuntu-16.04-docker-ce": (
        {
            "/etc/os-release": os_release("ubuntu", "16.04"),
            "/lib/systemd/system/docker.service": DOCKER_CE_UNIT,
        },
        ("/run/systemd/system", "/etc/docker"),
        ("daemon-json", "/etc/docker/daemon.json"),
    ),
    "ubuntu-22.04-docker.io": (
        {
            "/etc/os-release": os_release("ubuntu", "22.04"),
            "/lib/systemd/system/docker.service": DEBIAN_UNIT,
            "/etc/default/docker": "#DOCKER_OPTS=\n",
        },
        ("/run/systemd/system",),
        ("daemon-json", "/etc/docker/daemon.json"),
    ),
    "debian-7-sysvinit": (
        {
            "/etc/os-release": os_release("debian", "7"),
            "/etc/init.d/docker": "#!/bin/sh\n",
            "/etc/default/docker": "DOCKER_OPTS=\n",
        },
        (),
        ("docker-opts", "/etc/default/docker"),
    ),
    "debian-12-systemd": (
        {
            "/etc/os-release": os_release("debian", "12"),
            "/lib/systemd/system/docker.service": DEBIAN_UNIT,
            "/etc/init.d/docker": "#!/bin/sh\n",
        },
        ("/run/systemd/system", "/etc/docker"),
        ("daemon-json", "/etc/docker/daemon.json"),
    ),
    "centos-7-docker-1.13": (
        {
            "/etc/os-release": os_release("centos", "7"),
            "/usr/lib/systemd/system/docker.service": CENTOS7_UNIT,
            "/etc/sysconfig/docker": "OPTIONS='--selinux-enabled --log-driver=journald'\n",
        },
        ("/run/systemd/system", "/etc/docker"),
        ("sysconfig", "/etc/sysconfig/docker"),
    ),
    "ubuntu-snap": (
        {
            "/etc/os-release": os_release("ubuntu", "22.04"),
            "/var/snap/docker/current/config/daemon.json": '{"log-level": "error"}\n',
        },
        ("/run/systemd/system", "/snap/bin"),
        ("snap", "/var/snap/docker/current/config/daemon.json"),
    ),
    "wsl-desktop": (
        {
            "/etc/os-release": os_release("ubuntu", "22.04"),
            "/proc/version": "Linux version 5.15.153.1-microsoft-standard-WSL2\n",
        },
        ("/mnt/wsl/docker-desktop", "/mnt/c/Users/alice", "/mnt/c/Users/Public"),
        ("desktop", "/mnt/c/Users/alice/.docker/daemon.json"),
    ),
    "macos-desktop": (
        {"/System/Library/CoreServices/SystemVersion.plist": "<plist/>\n"},
        ("/Users/alice/.docker",),
        ("desktop", "/Users/alice/.docker/daemon.json"),
    ),
    "windows-desktop": (
        {},
        ("/Windows/System32", "/Users/alice/.docker"),
        ("desktop", "/Users/alice/.docker/daemon.json"),
    ),
    "linux-desktop": (
        {
            "/etc/os-release": os_release("ubuntu", "24.04"),
            "/home/alice/.docker/config.json": '{"currentContext": "desktop-linux"}\n',
        },
        ("/home/alice/.docker/desktop",),
        ("desktop", "/home/alice/.docker/daemon.json"),
    ),
}


@pytest.fixture
def user_env(monkeypatch):
    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("USER", "alice")


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_fixture_host_is_detected(tmp_path, monkeypatch, user_env, name):
    files, dirs, (target, shown) = HOSTS[name]
    home = "/Users/alice" if name in ("macos-desktop", "windows-desktop") else "/home/alice"
    monkeypatch.setenv("HOME", home)
    root = build(tmp_path, files, dirs)
    host = detect(Options(root=root, docker_version="20.10.24"), want_service=False)
    assert (host.target, host.shown_path) == (target, shown), host.evidence
    assert host.service_kind == "none"  # under --root nothing is applied to this machine
    assert host.evidence


def test_debian_unit_passes_docker_opts_flags_for_conflict_checks(tmp_path, user_env):
    root = build(
        tmp_path,
        {
            "/lib/systemd/system/docker.service": DEBIAN_UNIT,
            "/etc/default/docker": (
                'DOCKER_OPTS="--insecure-registry old.test:5000 --dns 1.1.1.1"\n'
            ),
        },
        ("/run/systemd/system", "/etc/docker"),
    )
    host = detect(Options(root=root, docker_version="20.10.24"), want_service=False)
    assert "--insecure-registry" in host.flags() and "old.test:5000" in host.flags()
    assert any(s.file == root / "etc/default/docker" for s in host.flag_sources)


def test_drop_in_execstart_override_replaces_the_unit_line(tmp_path, user_env):
    root = build(
        tmp_path,
        {
            "/lib/systemd/system/docker.service": DOCKER_CE_UNIT,
            "/etc/systemd/system/docker.service.d/override.conf": (
                "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --insecure-registry d.test:1\n"
            ),
        },
        ("/run/systemd/system", "/etc/docker"),
    )
    host = detect(Options(root=root, docker_version="20.10.24"), want_service=False)
    assert host.flags() == ["/usr/bin/dockerd", "--insecure-registry", "d.test:1"]


def test_rootless_target_uses_xdg_config_home(tmp_path, monkeypatch, user_env):
    monkeypatch.setenv("HOME", "/home/alice")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/home/alice/.cfg")
    host = detect(
        Options(root=tmp_path, target="rootless", docker_version="27.0"), want_service=False
    )
    assert host.shown_path == "/home/alice/.cfg/docker/daemon.json"


def test_sudo_uses_the_invoking_users_home(tmp_path, monkeypatch, user_env):
    root = build(
        tmp_path,
        {"/etc/passwd": "root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n"},
        ("/home/bob/.docker/desktop",),
    )
    monkeypatch.setenv("HOME", "/root")
    monkeypatch.setenv("SUDO_USER", "bob")
    host = detect(Options(root=root, docker_version="27.0"), want_service=False)
    assert (host.target, host.shown_path) == ("desktop", "/home/bob/.docker/daemon.json")


def test_ambiguous_host_asks_for_target(tmp_path, monkeypatch, user_env):
    monkeypatch.setenv("HOME", "/home/alice")
    root = build(
        tmp_path,
        {"/lib/systemd/system/docker.service": DOCKER_CE_UNIT},
        ("/run/systemd/system", "/home/alice/.docker/desktop"),
    )
    with pytest.raises(EnvironmentProblem) as err:
        detect(Options(root=root, docker_version="27.0"), want_service=False)
    assert "--target" in err.value.message and "desktop" in err.value.message


def test_wsl_with_several_windows_users_is_not_guessed(tmp_path, monkeypatch, user_env):
    monkeypatch.setenv("USER", "carol")
    root = build(
        tmp_path,
        {"/proc/version": "microsoft"},
        ("/mnt/wsl/docker-desktop", "/mnt/c/Users/alice", "/mnt/c/Users/bob"),
    )
    with pytest.raises(EnvironmentProblem):
        detect(Options(root=root, docker_version="27.0"), want_service=False)


def run_cli(*args: str, root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HOME="/home/alice")
    env.pop("SUDO_USER", None)
    return subprocess.run(
        [sys.executable, "-m", "dockercfg", "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_conflict_with_docker_opts_is_caught_and_migrate_moves_the_flags(tmp_path):
    opts = 'DOCKER_OPTS="--dns 1.1.1.1 --insecure-registry old.test:5000"\n'
    root = build(
        tmp_path,
        {
            "/lib/systemd/system/docker.service": DEBIAN_UNIT,
            "/etc/default/docker": opts,
            "/etc/docker/daemon.json": '{"debug": true}\n',
        },
        ("/run/systemd/system",),
    )
    refused = run_cli("add-insecure", "new.test:5000", "--json", root=root)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    problem = json.loads(refused.stdout)["problems"][0]
    assert problem["code"] == "flag-conflict" and "--insecure-registry" in problem["message"]
    assert (root / "etc/default/docker").read_text() == opts
    moved = run_cli("add-insecure", "new.test:5000", "--migrate", "--json", root=root)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert json.loads((root / "etc/docker/daemon.json").read_text()) == {
        "debug": True,
        "insecure-registries": ["old.test:5000", "new.test:5000"],
    }
    assert (root / "etc/default/docker").read_text() == 'DOCKER_OPTS="--dns 1.1.1.1"\n'
    assert run_cli("validate", root=root).returncode == 0


def test_docker_opts_target_edits_flags_and_keeps_the_rest(tmp_path):
    text = '# Docker Upstart and SysVinit configuration file\nDOCKER_OPTS="--dns 8.8.8.8"\n'
    root = build(tmp_path, {"/etc/init.d/docker": "#!/bin/sh\n", "/etc/default/docker": text})
    proc = run_cli("add-insecure", "registry.test:5000", "--json", root=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["target"] == "docker-opts" and out["changed"] is True
    assert (root / "etc/default/docker").read_text() == (
        "# Docker Upstart and SysVinit configuration file\n"
        'DOCKER_OPTS="--dns 8.8.8.8 --insecure-registry registry.test:5000"\n'
    )
    again = json.loads(run_cli("add-insecure", "registry.test:5000", "--json", root=root).stdout)
    assert again["changed"] is False
    bad = run_cli("add-insecure", "$(reboot)", root=root)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_wrong_flag_forms_are_refused_and_fix_rewrites_them(tmp_path):
    text = 'DOCKER_OPTS="--dns 1.1.1.1 --insecure-registries=a.test:5000,b.test:5000"\n'
    root = build(tmp_path, {"/etc/init.d/docker": "#!/bin/sh\n", "/etc/default/docker": text})
    refused = run_cli("add-insecure", "c.test:5000", root=root)
    assert refused.returncode == 1 and "dockercfg fix" in refused.stderr
    assert (root / "etc/default/docker").read_text() == text
    assert run_cli("validate", root=root).returncode == 1
    fixed = run_cli("fix", "--json", root=root)
    assert fixed.returncode == 0 and json.loads(fixed.stdout)["changed"] is True
    assert (root / "etc/default/docker").read_text() == (
        'DOCKER_OPTS="--dns 1.1.1.1 --insecure-registry a.test:5000'
        ' --insecure-registry b.test:5000"\n'
    )
    assert run_cli("validate", root=root).returncode == 0
    assert json.loads(run_cli("fix", "--json", root=root).stdout)["changed"] is False


def test_detect_reports_the_distribution_from_os_release(tmp_path):
    root = build(tmp_path, {"/etc/os-release": os_release("ubuntu", "22.04")}, ("/etc/docker",))
    out = json.loads(run_cli("detect", "--json", root=root).stdout)
    assert out["data"]["distribution"] == "ubuntu 22.04"


def test_fix_moves_ignored_singular_keys_into_the_plural_ones(tmp_path):
    text = '{\n  "debug": true,\n  "registry-mirror": ["https://m.example.com"]\n}\n'
    root = build(tmp_path, {"/etc/docker/daemon.json": text})
    refused = run_cli("add-insecure", "c.test:5000", root=root)
    assert refused.returncode == 1 and "dockercfg fix" in refused.stderr
    fixed = run_cli("fix", "--json", root=root)
    assert fixed.returncode == 0 and json.loads(fixed.stdout)["changed"] is True, fixed.stderr
    assert json.loads((root / "etc/docker/daemon.json").read_text()) == {
        "debug": True,
        "registry-mirrors": ["https://m.example.com/"],
    }
    assert run_cli("validate", root=root).returncode == 0


# One sh reader for /etc/default/docker -----------------------------------------------------------

ACCUMULATING_DEFAULTS = (
    'DOCKER_OPTS="--insecure-registry a.example:5000"\n'
    'DOCKER_OPTS="$DOCKER_OPTS -p /run/other.pid"  # Debian\'s idiom: append to the value\n'
)


def test_every_reader_of_etc_default_docker_sees_the_same_words(tmp_path):
    """Under sysvinit, the DOCKER_OPTS target, detection's next start (dockercfg.launch) and the
    init script's settings read the file through one sh evaluator. They used to disagree: shlex,
    which detection used, leaves `$DOCKER_OPTS` as a literal word instead of the value assigned
    before it."""
    import shlex

    from dockercfg.services.pids import sysv_settings
    from dockercfg.targets.docker_opts import parse

    root = build(
        tmp_path, {"etc/default/docker": ACCUMULATING_DEFAULTS, "etc/init.d/docker": "#!/bin/sh\n"}
    )
    path = root / "etc/default/docker"
    target = parse(path, path.read_bytes(), "DOCKER_OPTS").flags
    host = detect(Options(root=root, docker_version="20.10.24"), want_service=False)
    settings = sysv_settings(root)

    assert target == ["--insecure-registry", "a.example:5000", "-p", "/run/other.pid"]
    assert host.launch.argv == ["/usr/bin/dockerd", "-p", "/run/other.pid", *target]
    assert host.launch.origins[3:] == ["/etc/default/docker:1"] * 2 + ["/etc/default/docker:2"] * 2
    assert settings.pidfile == "/run/other.pid"
    # What shlex made of the second assignment (the old reader): not what sh passes to dockerd.
    old = shlex.split(ACCUMULATING_DEFAULTS.splitlines()[1].split("=", 1)[1], comments=True)
    assert " ".join(old).split() != target

"""Whose per-user Docker a run configures (dockercfg.invoker), and who owns what root creates
in that user's tree (dockercfg.ownership). The passwd database is a --root tree's /etc/passwd;
the real sudo is exercised in tests/adversarial/test_privilege.py."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from support import require_root

from dockercfg import invoker, ownership
from dockercfg.detect import Options, detect
from dockercfg.errors import EnvironmentProblem

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "bob:x:1000:1001::/home/bob:/bin/sh\n"
    "bobby:x:1000:1001::/home/bob:/bin/sh\n"  # a second name for uid 1000
    "carol:x:1002:1002::/srv/carol:/bin/sh\n"
)
ELEVATION = ("SUDO_UID", "SUDO_GID", "SUDO_USER", "PKEXEC_UID", "DOAS_USER")
XDG = ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR")


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    """A --root tree with a passwd file; root's environment as sudo leaves it by default."""
    require_root("the invoking user only differs from us when we are root")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    for name in ELEVATION + XDG:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/root")
    return tmp_path


def sudo(monkeypatch, uid: str | None, user: str | None) -> None:
    for name, value in (("SUDO_UID", uid), ("SUDO_USER", user)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def test_sudo_means_the_invoking_user_from_the_passwd_database(tree, monkeypatch):
    sudo(monkeypatch, "1000", "bob")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/0")  # a root session's, not bob's
    user = invoker.invoker(tree)
    assert (user.name, user.uid, user.gid, user.via) == ("bob", 1000, 1001, "sudo")
    assert user.home == "/home/bob"  # not $HOME=/root (sudo's default, or sudo -H)
    assert user.config_home == "/home/bob/.config"
    assert user.state_home == "/home/bob/.local/state"
    assert user.runtime_dir == "/run/user/1000"
    assert user.owner == (1000, 1001)
    monkeypatch.setenv("HOME", "/home/bob")  # sudo keeping HOME changes nothing
    assert invoker.invoker(tree).home == "/home/bob"


def test_the_users_own_xdg_directories_count_under_sudo(tree, monkeypatch):
    """`sudo -E` keeps the user's XDG variables: used when the directory is theirs."""
    sudo(monkeypatch, "1000", "bob")
    mine = tree / "home/bob/cfg"
    mine.mkdir(parents=True)
    os.chown(mine, 1000, 1001)
    rootish = tree / "root/cfg"
    rootish.mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/home/bob/cfg")
    monkeypatch.setenv("XDG_STATE_HOME", "/root/cfg")
    user = invoker.invoker(tree)
    assert user.config_home == "/home/bob/cfg"
    assert user.state_home == "/home/bob/.local/state"  # root's directory: not bob's state


def test_a_name_alias_of_the_same_uid_is_the_same_user(tree, monkeypatch):
    sudo(monkeypatch, "1000", "bobby")
    assert invoker.invoker(tree).uid == 1000


@pytest.mark.parametrize(
    "uid, user, says",
    [
        ("4242", "ghost", "SUDO_UID='4242' names no user"),
        ("4242", None, "SUDO_UID='4242' names no user"),
        ("x", "bob", "SUDO_UID='x' names no user"),
        (None, "ghost", "SUDO_USER='ghost' names no user"),
        ("1000", "carol", "SUDO_USER='carol' names another user"),
    ],
)  # fmt: skip
def test_sudo_variables_that_name_no_user_are_refused(tree, monkeypatch, uid, user, says):
    sudo(monkeypatch, uid, user)
    with pytest.raises(EnvironmentProblem, match=says):
        invoker.invoker(tree)
    with pytest.raises(EnvironmentProblem, match=says):
        detect(Options(root=tree, target="rootless", docker_version="27.0"), want_service=False)
    # A system dockerd never asks whose home it is.
    (tree / "etc/docker").mkdir(exist_ok=True)
    host = detect(Options(root=tree, target="daemon-json", docker_version="27.0"))
    assert host.shown_path == "/etc/docker/daemon.json"
    home, why = invoker.invoking_home(tree)
    assert home == tree / "root" and "names" in why


def test_sudo_from_root_and_plain_root_are_root(tree, monkeypatch):
    sudo(monkeypatch, "0", "root")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/root/.cfg")
    user = invoker.invoker(tree)
    assert (user.name, user.uid, user.via, user.home) == ("root", 0, None, "/root")
    assert user.config_home == "/root/.cfg" and user.owner is None
    sudo(monkeypatch, None, None)
    assert invoker.invoker(tree).runtime_dir == "/run/user/0"


@pytest.mark.parametrize(
    "variable, value, via", [("PKEXEC_UID", "1002", "pkexec"), ("DOAS_USER", "carol", "doas")]
)
def test_pkexec_and_doas_name_the_invoking_user(tree, monkeypatch, variable, value, via):
    monkeypatch.setenv(variable, value)
    user = invoker.invoker(tree)
    assert (user.name, user.home, user.via) == ("carol", "/srv/carol", via)


def test_rootless_detection_under_sudo_uses_the_users_file_and_socket(tree, monkeypatch):
    sudo(monkeypatch, "1000", "bob")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/0")
    host = detect(Options(root=tree, target="rootless", docker_version="27.0"))
    assert host.shown_path == "/home/bob/.config/docker/daemon.json"
    assert host.config_path == tree / "home/bob/.config/docker/daemon.json"
    assert host.default_socket == "/run/user/1000/docker.sock"
    assert any("sudo: using bob's home /home/bob" in e for e in host.evidence)
    host = detect(Options(root=tree, target="desktop", docker_version="27.0"))
    assert host.shown_path == "/home/bob/.docker/daemon.json"


# Ownership of what root creates ---------------------------------------------------------------


def owned(path: Path) -> tuple[int, int, int]:
    st = path.lstat()
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test_a_new_directory_in_a_users_tree_is_theirs_with_the_exact_mode(tmp_path):
    require_root("chown")
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, 1000, 1001)
    old = os.umask(0o077)
    try:
        assert ownership.make_dir(home / "a", 0o755)
        assert ownership.make_dir(home / "a" / "b", 0o700)
        assert not ownership.make_dir(home / "a", 0o755)
        assert ownership.make_dir(tmp_path / "rootdir", 0o755)
    finally:
        os.umask(old)
    assert owned(home / "a") == (1000, 1001, 0o755)
    assert owned(home / "a" / "b") == (1000, 1001, 0o700)
    assert owned(tmp_path / "rootdir")[:2] == (0, 0)  # a root-owned parent: root's


def test_reclaim_gives_back_a_root_owned_directory_and_never_follows_a_link(tmp_path):
    require_root("chown")
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, 1000, 1001)
    (home / "left").mkdir(0o700)  # what an older run under sudo left behind
    victim = tmp_path / "victim"
    victim.mkdir(0o700)
    (home / "link").symlink_to(victim)
    assert not ownership.make_dir(home / "left", 0o700, reclaim=True)
    assert owned(home / "left")[:2] == (1000, 1001)
    assert not ownership.make_dir(home / "link", 0o755, reclaim=True)
    assert owned(victim) == (0, 0, 0o700)


def test_a_rootless_change_creates_the_missing_config_dir_and_a_no_op_leaves_none(tree):
    import subprocess
    import sys

    home = tree / "home/bob"
    home.mkdir(parents=True)
    os.chown(home, 1000, 1001)
    env = {k: v for k, v in os.environ.items() if k not in ELEVATION + XDG}
    env.update(HOME="/root", SUDO_UID="1000", SUDO_USER="bob")

    def run(*args: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "dockercfg", "--root", str(tree), "--target", "rootless"]
        return subprocess.run([*argv, *args, "--apply", "none"], capture_output=True, text=True,
                              env=env, timeout=60)  # fmt: skip

    proc = run("remove-insecure", "x.test:5000")  # nothing to remove: no trace either
    assert proc.returncode == 0, proc.stderr
    assert not (home / ".config").exists()
    proc = run("add-insecure", "x.test:5000")
    assert proc.returncode == 0, proc.stderr
    conf = home / ".config/docker/daemon.json"
    for path in (home / ".config", conf.parent, conf):
        assert owned(path)[:2] == (1000, 1001), path
    assert b"x.test:5000" in conf.read_bytes()


def test_under_sudo_the_rootless_daemon_is_the_users_own_not_roots(tree, monkeypatch):
    """/proc as detection reads it (pid, argv, uid, RootlessKit): root's dockerd says
    `-H unix:///var/run/docker.sock`; bob's rootless one, which the target means, says nothing."""
    from dockercfg import hostfacts

    procs = [
        hostfacts.Process(100, ["dockerd", "-H", "unix:///var/run/docker.sock"], 0, "", False),
        hostfacts.Process(200, ["dockerd"], 1000, "", True),
        hostfacts.Process(300, ["dockerd"], 1002, "", True),
    ]
    monkeypatch.setattr(hostfacts, "dockerd_processes", lambda root: procs)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    sudo(monkeypatch, "1000", "bob")
    host = detect(Options(root=tree, target="rootless", docker_version="27.0"))
    assert host.dockerd_pid == 200 and host.socket == "/run/user/1000/docker.sock"
    assert all("pid 100" not in s.where for s in host.flag_sources)

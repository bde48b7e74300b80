"""sudo means the invoking user: a real user runs the real `sudo dockercfg …` against their
rootless Docker, and every file lands in their tree, owned by them; their own later run, without
sudo, changes the same files.

The user exists only in a private mount namespace: /etc/passwd, /etc/group, /etc/shadow,
/etc/subuid, /etc/subgid and /etc/sudoers.d are bind-mounted copies with the user, their ranges
and a NOPASSWD rule added; /home is a temp dir, /root, /run, /var/lib/dockercfg and
/var/cache/dockercfg are empty tmpfs. The machine's users, root's home and $HOME are never
touched.

The live test runs the user's real rootless dockerd (Debian's 20.10 under rootlesskit, with
--net=host: no slirp4netns, no bridge, vfs storage) inside the namespace, which has its own PID
namespace so that nothing it starts outlives it. Its systemd --user unit is not there, so changes
are written with --apply none and the user makes the daemon reload (SIGHUP), as systemd's
ExecReload would.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from adv_support import REPO, require_mount_ns, require_root, unavailable, world_dir

USER, UID = "dcfgsudo", 2301
HOME = f"/home/{USER}"
RUNTIME = f"/run/user/{UID}"
GHOST = "SUDO_UID=4242 SUDO_USER=ghost"  # what a forged or stale environment says
TOOL = f"{shlex.quote(sys.executable)} -m dockercfg"

SETUP = """
T=$1
for f in passwd group shadow subuid subgid; do
  [ -e /etc/$f ] || continue  # no /etc/subuid: the live rootless test says it cannot run
  mount --bind "$T/etc/$f" /etc/$f
done
mount --bind "$T/sudoers.d" /etc/sudoers.d
mount --bind "$T/home" /home
mount -t tmpfs -o mode=0700 tmpfs /root
mount -t tmpfs -o mode=0755 tmpfs /run
for d in /var/lib/dockercfg /var/cache/dockercfg; do
  if [ -d "$d" ]; then mount -t tmpfs -o mode=0755 tmpfs "$d"; fi
done
mkdir -p {runtime}
chown {uid}:{uid} {runtime}
chmod 0700 {runtime}
cd /
exec setpriv --reuid={uid} --regid={uid} --init-groups env -i PATH=/usr/bin:/bin \\
  HOME={home} USER={user} LOGNAME={user} XDG_RUNTIME_DIR={runtime} sh "$T/steps.sh"
"""


def step(name: str, command: str) -> str:
    """One command as the user; its stdout, stderr and exit code land in $T/out/NAME.*"""
    out = f'"$T/out/{name}"'
    return f"{command} >{out}.out 2>{out}.err; echo $? >{out}.rc\n"


def as_root(args: str, sudo: str = "sudo -n", env: str = "") -> str:
    """`sudo dockercfg …` (sudo drops PYTHONPATH: `env` puts this checkout back)."""
    return f"{sudo} env PYTHONPATH={REPO} DOCKERCFG_CACHE_DIR=/tmp/dcfg-cache {env} {TOOL} {args}"


def as_user(args: str) -> str:
    return f"PYTHONPATH={REPO} {TOOL} {args}"


def result(out: Path, name: str) -> tuple[int, str, str]:
    text = [(out / f"{name}.{kind}").read_text() for kind in ("rc", "out", "err")]
    return int(text[0]), text[1], text[2]


def ok_json(out: Path, name: str) -> dict:
    code, stdout, stderr = result(out, name)
    assert code == 0 and "Traceback" not in stderr, (name, code, stdout, stderr)
    return json.loads(stdout)


def make_world(t: Path) -> None:
    """The user, their sudo rule and their empty home: files only the namespace mounts."""
    etc = t / "etc"
    etc.mkdir()
    for name, line in (
        ("passwd", f"{USER}:x:{UID}:{UID}::{HOME}:/bin/sh"),
        ("group", f"{USER}:x:{UID}:"),
        ("shadow", f"{USER}:*:20000:0:99999:7:::"),
        ("subuid", f"{USER}:231072:65536"),  # rootlesskit's user namespace
        ("subgid", f"{USER}:231072:65536"),
    ):
        system = Path(f"/etc/{name}")
        text = system.read_text().rstrip("\n") if system.exists() else ""
        (etc / name).write_text(f"{text}\n{line}\n")
    (etc / "shadow").chmod(0o640)
    sudoers = t / "sudoers.d"
    shutil.copytree("/etc/sudoers.d", sudoers, symlinks=True)
    rule = sudoers / USER
    rule.write_text(f"{USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    rule.chmod(0o440)
    home = t / "home" / USER
    home.mkdir(parents=True)
    os.chown(home, UID, UID)
    (t / "out").mkdir(mode=0o777)
    (t / "out").chmod(0o777)
    (t / "system").mkdir()
    (t / "system" / "daemon.json").write_text("{}\n")


def left_by_an_older_run(home: Path) -> None:
    """What dockercfg before this fix left under sudo: a root-owned journal in the user's home."""
    state = home / ".local" / "state" / "dockercfg"
    (state / "history").mkdir(parents=True)
    for d in (home / ".local", home / ".local" / "state"):
        d.chmod(0o755)
    for d in (state, state / "history"):
        d.chmod(0o700)
    lock = state / ".transaction.dockercfg.lock"
    lock.write_bytes(b"")
    lock.chmod(0o600)


def run_as_the_user(t: Path, steps: str) -> None:
    for tool in ("sudo", "setpriv"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed")
    (t / "steps.sh").write_text(f"T={t}\n" + steps)
    script = SETUP.format(uid=UID, user=USER, home=HOME, runtime=RUNTIME)
    require_mount_ns()
    # Its own PID namespace too: whatever the user started ends with it.
    cmd = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc",
           "sh", "-ec", script, "sh", str(t)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd="/")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)


def entries(top: Path) -> dict[str, os.stat_result]:
    found = {".": top.lstat()}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found[str(path.relative_to(top))] = path.lstat()
    return found


def mode(st: os.stat_result) -> int:
    return stat.S_IMODE(st.st_mode)


def test_sudo_writes_the_invoking_users_rootless_files_and_their_own_run_can_change_them():
    require_root()
    with world_dir() as t:
        make_world(t)
        left_by_an_older_run(t / "home" / USER)
        ca = t / "pki"
        sys.path.insert(0, str(REPO / "tests" / "integration"))
        from tls_registry import Pki

        if shutil.which("openssl") is None:
            unavailable("needs the openssl CLI")
        pem = Pki(ca).ca()
        ca.chmod(0o755)
        pem.chmod(0o644)
        rootless = "--json --target rootless"
        system = f"--json --target daemon-json --config {t}/system/daemon.json"
        steps = "".join(
            [
                # the system dockerd under sudo: root's files, nothing in the user's home
                step("system", as_root(f"{system} add-insecure sys.test:5000 --apply none")),
                f'find {HOME}/.config >"$T/out/home-after-system" 2>/dev/null || :\n',
                # no ~/.config/docker yet: created, the user's
                step("add", as_root(f"{rootless} add-insecure reg.test:5000 --apply none")),
                step("trust", as_root(f"{rootless} trust-ca reg.test:5443 --ca {pem} --offline")),
                # sudo -H: HOME is root's; the files still go to the user's tree
                step("trust-h", as_root(f"{rootless} trust-ca h.test:5443 --ca {pem} --offline",
                                        sudo="sudo -n -H")),
                # HOME and XDG_RUNTIME_DIR kept from the user's environment
                step("add-keep", as_root(f"{rootless} add-insecure keep.test:5000 --apply none",
                                         sudo="sudo -n --preserve-env=HOME,XDG_RUNTIME_DIR")),
                step("show", as_root(f"{rootless} show")),
                # an existing file keeps its mode (and its owner) under sudo
                f"chmod 0640 {HOME}/.config/docker/daemon.json\n",
                step("add-0640", as_root(f"{rootless} add-insecure m.test:5000 --apply none")),
                # the user's own later run, without sudo, changes the same files
                step("untrust", as_user(f"{rootless} untrust-ca h.test:5443")),
                step("mine", as_user(f"{rootless} add-insecure mine.test:5000 --apply none")),
                step("rollback", as_user(f"{rootless} rollback --apply none")),
                step("list", as_user(f"{rootless} rollback --list")),
                # sudo variables that name nobody: refused for the user's Docker only
                step("ghost", as_root("--target rootless show", env=GHOST)),
                step("ghost-system", as_root(f"{system} show", env=GHOST)),
            ]
        )  # fmt: skip
        run_as_the_user(t, steps)
        out = t / "out"

        system = ok_json(out, "system")
        assert system["changed"] is True
        st = (t / "system" / "daemon.json").stat()
        assert (st.st_uid, st.st_gid) == (0, 0)
        assert (out / "home-after-system").read_text() == ""  # not even ~/.config

        added = ok_json(out, "add")
        assert added["file"] == f"{HOME}/.config/docker/daemon.json", added
        trusted = ok_json(out, "trust")
        assert trusted["data"]["directory"] == f"{HOME}/.config/docker/certs.d/reg.test:5443"
        assert ok_json(out, "trust-h")["data"]["directory"].startswith(f"{HOME}/.config/docker/")
        assert ok_json(out, "add-keep")["changed"] is True
        shown = ok_json(out, "show")
        said = " ".join(shown["warnings"])
        assert f"{RUNTIME}/docker.sock" in said and "/run/user/0" not in said, shown
        assert ok_json(out, "add-0640")["changed"] is True

        assert ok_json(out, "mine")["changed"] is True
        assert ok_json(out, "untrust")["data"]["removed"] == ["ca.crt"]
        assert ok_json(out, "rollback")["changed"] is True  # the user's own history, readable
        listed = ok_json(out, "list")
        assert len(listed["data"]["transactions"]) >= 6, listed

        code, stdout, stderr = result(out, "ghost")
        assert code == 3 and stderr.count("\n") == 1, (code, stdout, stderr)
        assert "SUDO_UID='4242' names no user" in stderr
        assert ok_json(out, "ghost-system")["file"] == f"{t}/system/daemon.json"

        home = t / "home" / USER
        found = entries(home)  # the older run's root-owned journal included: given back
        assert not [n for n, s in found.items() if (s.st_uid, s.st_gid) != (UID, UID)], {
            n: (s.st_uid, s.st_gid) for n, s in found.items()
        }
        docker = ".config/docker"
        assert mode(found[f"{docker}/daemon.json"]) == 0o640
        assert mode(found[f"{docker}/.daemon.json.dockercfg.lock"]) == 0o600
        assert mode(found[f"{docker}/.dockercfg-backups"]) == 0o700
        assert mode(found[f"{docker}/certs.d/reg.test:5443"]) == 0o755
        assert mode(found[f"{docker}/certs.d/reg.test:5443/ca.crt"]) == 0o644
        assert mode(found[".local/state/dockercfg"]) == 0o700
        assert f"{docker}/certs.d/h.test:5443/ca.crt" not in found  # untrusted by the user
        text = (home / docker / "daemon.json").read_text()
        for registry in ("reg.test:5000", "keep.test:5000", "m.test:5000"):
            assert registry in text, text
        assert "mine.test:5000" not in text  # rolled back by the user's own run
        assert not (t / "home" / "root").exists()


@pytest.mark.parametrize("variable", ["SUDO_UID", "PKEXEC_UID"])
def test_a_missing_home_is_not_created_by_root(variable):
    """The user's home itself is never made by dockercfg: a rootless write for a user whose
    home does not exist stays the 'directory does not exist' error, and nothing is created."""
    require_root()
    with world_dir() as t:
        make_world(t)
        (t / "home" / USER).rmdir()
        steps = step(
            "add", as_root("--target rootless add-insecure reg.test:5000 --apply none",
                           env=f"SUDO_UID= SUDO_USER= {variable}={UID}")
        )  # fmt: skip
        run_as_the_user(t, steps)
        code, _stdout, stderr = result(t / "out", "add")
        assert code == 3 and f"directory {HOME}/.config/docker does not exist" in stderr, stderr
        assert list((t / "home").iterdir()) == []


ROOTLESS_DOCKERD = """
rootlesskit --net=host --copy-up=/etc --copy-up=/run --state-dir={runtime}/rootlesskit \\
  {dockerd} --storage-driver=vfs --iptables=false --bridge=none --ip-forward=false \\
  --ip-masq=false >"$T/out/dockerd.log" 2>&1 &
i=0
until grep -q "API listen on {runtime}/docker.sock" "$T/out/dockerd.log"; do
  i=$((i + 1))
  if [ $i -ge 300 ]; then
    echo "the rootless dockerd did not start:" >&2; tail -n 15 "$T/out/dockerd.log" >&2; exit 1
  fi
  sleep 0.2
done
"""


def test_sudo_show_asks_the_users_live_rootless_dockerd():
    """`sudo dockercfg show` answers from the user's running rootless dockerd (its socket in
    /run/user/UID, not root's), before and after the change it reloads."""
    require_root()
    for tool in ("rootlesskit", "newuidmap", "dockerd"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (rootlesskit, uidmap, docker.io)")
    if not Path("/etc/subuid").exists() or not Path("/etc/subgid").exists():
        unavailable("no /etc/subuid or /etc/subgid to bind the user's ranges over")
    with world_dir() as t:
        make_world(t)
        rootless = "--json --target rootless"
        steps = "".join(
            [
                ROOTLESS_DOCKERD.format(runtime=RUNTIME, dockerd=shutil.which("dockerd")),
                step("add", as_root(f"{rootless} add-insecure live.test:5000 --apply none")),
                step("before", as_root(f"{rootless} show")),
                f'kill -HUP "$(cat {RUNTIME}/docker.pid)"\n',  # what its unit's ExecReload does
                "sleep 2\n",
                step("after", as_root(f"{rootless} show")),
            ]
        )
        run_as_the_user(t, steps)
        out = t / "out"
        assert ok_json(out, "add")["file"] == f"{HOME}/.config/docker/daemon.json"
        before = ok_json(out, "before")
        assert before["data"]["live"] is not None, before  # it answered, on the user's socket
        assert "live.test:5000" not in before["data"]["live"]["insecure_names"]
        assert any("differs from the live daemon" in w for w in before["warnings"]), before
        after = ok_json(out, "after")
        assert "live.test:5000" in after["data"]["live"]["insecure_names"], after
        assert not after["data"]["pending"], after
        found = entries(t / "home" / USER / ".config")
        assert all(st.st_uid == UID for st in found.values()), found

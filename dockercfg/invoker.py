"""Whose per-user Docker a run configures: the person who invoked dockercfg, also through sudo.

A rootless dockerd, Docker Desktop and the per-user files of other engines live in the invoking
user's home and runtime directory. Under sudo, root's own HOME (`sudo -H`, or sudo's default)
and XDG_RUNTIME_DIR (/run/user/0) describe root, not them, so this is decided once per run:

- not root: ourselves, as the environment says ($HOME, else the passwd entry; XDG_CONFIG_HOME,
  XDG_STATE_HOME, XDG_RUNTIME_DIR, else ~/.config, ~/.local/state, /run/user/UID);
- root elevated by sudo (SUDO_UID, SUDO_USER), pkexec (PKEXEC_UID) or doas (DOAS_USER): that
  user, looked up in the passwd database (inside --root: the tree's /etc/passwd); when SUDO_UID
  and SUDO_USER are both set they must name the same user. The home is the passwd entry's, never
  $HOME, and an XDG variable counts only when it names a directory that user owns (`sudo -E` keeps
  the user's own; a root session's /run/user/0 is not theirs);
- root otherwise (or sudo from root): root, as the environment says.

A variable that names no user is an error only where a per-user path is needed (exit 3): a
system dockerd (/etc/docker) never asks. New files and directories in that user's tree are made
theirs by the writer (dockercfg.safefile: a new entry takes its directory's owner).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from dockercfg import hostfacts as facts
from dockercfg.errors import EnvironmentProblem


@dataclass(frozen=True)
class Invoker:
    """The invoking user; every path is as the host sees it (`inside` maps it into --root)."""

    name: str
    uid: int
    gid: int
    home: str
    config_home: str
    state_home: str
    runtime_dir: str
    via: str | None  # "sudo" | "pkexec" | "doas", or None when dockercfg runs as this user
    why: str

    @property
    def owner(self) -> tuple[int, int] | None:
        """(uid, gid) for a new file in this user's tree; None when it is ours anyway."""
        return (self.uid, self.gid) if os.geteuid() == 0 and self.uid != os.geteuid() else None


@dataclass(frozen=True)
class _Entry:
    name: str
    uid: int
    gid: int
    home: str


def invoker(root: Path = facts.LIVE) -> Invoker:
    """The invoking user; EnvironmentProblem when sudo, pkexec or doas names no user."""
    found = _decide(root)
    if isinstance(found, str):
        raise EnvironmentProblem(found)
    return found


def invoking_home(root: Path) -> tuple[Path, str]:
    """(home inside --root, why) for detection, which must not fail on a system host."""
    found = _decide(root)
    if isinstance(found, str):
        home = os.environ.get("HOME") or "/root"
        return facts.inside(root, home), f"home {home} ({found})"
    return facts.inside(root, found.home), found.why


def inside(root: Path, path: str) -> Path:
    return facts.inside(root, path)


ELEVATORS = (("sudo", "SUDO_UID"), ("pkexec", "PKEXEC_UID"), ("doas", "DOAS_USER"))
_CACHE: dict[tuple, Invoker | str] = {}
_ENV = ("SUDO_UID", "SUDO_USER", "PKEXEC_UID", "DOAS_USER", "HOME", "USER")
_XDG = ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR")


def _decide(root: Path) -> Invoker | str:
    key = (root, os.geteuid(), *(os.environ.get(n) for n in _ENV + _XDG))
    if key not in _CACHE:
        _CACHE[key] = _resolve(root)
    return _CACHE[key]


def _resolve(root: Path) -> Invoker | str:
    me = os.geteuid()
    if me == 0:
        for via, variable in ELEVATORS:
            value = os.environ.get(variable)
            if via == "sudo" and not value and os.environ.get("SUDO_USER"):
                variable, value = "SUDO_USER", os.environ["SUDO_USER"]
            if value:
                entry = _elevating_user(root, variable, value)
                if isinstance(entry, str):
                    return entry
                if entry.uid != 0:
                    return _elevated(root, entry, via)
                break
    entry = _lookup(root, uid=me) or _Entry(os.environ.get("USER") or str(me), me, os.getegid(), "")
    home = os.environ.get("HOME") or entry.home or "/"
    env = os.environ
    return Invoker(
        name=entry.name,
        uid=me,
        gid=os.getegid(),
        home=home,
        config_home=_absolute(env.get("XDG_CONFIG_HOME")) or os.path.join(home, ".config"),
        state_home=_absolute(env.get("XDG_STATE_HOME")) or os.path.join(home, ".local/state"),
        runtime_dir=_absolute(env.get("XDG_RUNTIME_DIR")) or f"/run/user/{me}",
        via=None,
        why=f"home {home}",
    )


def _elevating_user(root: Path, variable: str, value: str) -> _Entry | str:
    shown = f"{variable}={value[:40]!r}"
    if variable.endswith("_UID"):
        entry = _lookup(root, uid=int(value)) if value.isdigit() else None
    else:
        entry = _lookup(root, name=value)
    if entry is None:
        return (
            f"{shown} names no user in the passwd database, so whose per-user Docker to configure"
            " is unknown: run dockercfg as that user, or without sudo's variables"
        )
    named = os.environ.get("SUDO_USER")
    if variable == "SUDO_UID" and named and named != entry.name:
        other = _lookup(root, name=named)
        if other is None or other.uid != entry.uid:
            return (
                f"SUDO_UID={value} is {entry.name}, but SUDO_USER={named[:40]!r} names another"
                " user: cannot tell whose per-user Docker to configure"
            )
    return entry


def _elevated(root: Path, entry: _Entry, via: str) -> Invoker:
    env = os.environ
    home = entry.home or "/"

    def theirs(variable: str, default: str) -> str:
        path = _absolute(env.get(variable))
        try:
            if path and os.stat(inside(root, path)).st_uid == entry.uid:
                return path
        except OSError:
            pass
        return default

    return Invoker(
        name=entry.name,
        uid=entry.uid,
        gid=entry.gid,
        home=home,
        config_home=theirs("XDG_CONFIG_HOME", os.path.join(home, ".config")),
        state_home=theirs("XDG_STATE_HOME", os.path.join(home, ".local/state")),
        runtime_dir=theirs("XDG_RUNTIME_DIR", f"/run/user/{entry.uid}"),
        via=via,
        why=f"{via}: using {entry.name}'s home {home}",
    )


def _absolute(path: str | None) -> str | None:
    return path if path and os.path.isabs(path) else None


def _lookup(root: Path, uid: int | None = None, name: str | None = None) -> _Entry | None:
    """A passwd entry: the system's database (NSS) live, the tree's /etc/passwd under --root."""
    if root == facts.LIVE:
        try:
            pw = pwd.getpwuid(uid) if uid is not None else pwd.getpwnam(name or "")
        except (KeyError, OverflowError, ValueError):
            return None
        return _Entry(pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir)
    for line in (facts.read_text(inside(root, "/etc/passwd")) or "").splitlines():
        parts = line.split(":")
        if len(parts) < 6 or not parts[2].isdigit() or not parts[3].isdigit():
            continue
        if (uid is not None and int(parts[2]) == uid) or (name is not None and parts[0] == name):
            return _Entry(parts[0], int(parts[2]), int(parts[3]), parts[5])
    return None

"""What every non-dockerd engine shares: paths inside --root, reading, the writability check
made before anything is written, and the appliers (a systemd unit, or nothing at all)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from dockercfg import safefile
from dockercfg.engines.base import DOCKER_HUB, FileChange, Found, RegistryEdit
from dockercfg.errors import ApplyFailed, DockercfgError, EnvironmentProblem

APPLY_TIMEOUT = 90.0  # seconds for a unit's restart or reload job
CA_MODE = 0o644


def visible_file(path: Path) -> bool:
    """A regular file this user can see: another user's home may deny even a stat, and a file
    the invoking user cannot see is not theirs to configure."""
    try:
        return path.is_file()
    except OSError:
        return False


def inside(root: Path, path: str) -> Path:
    """The host path `path` under --root."""
    return root / path.lstrip("/")


def shown(root: Path, real: Path) -> str:
    """The path as the host sees it (for messages, diffs and the journal)."""
    try:
        return "/" + str(real.relative_to(root)).lstrip("/") if root != Path("/") else str(real)
    except ValueError:
        return str(real)


def read(path: Path) -> bytes | None:
    return safefile.read_bytes(path)


def ensure_writable(root: Path, path: Path) -> None:
    """Refuse before the transaction starts when `path` cannot be written (a read-only mount,
    a directory without write permission): no engine's file is written then."""
    probe = path if path.exists() else path.parent
    while not probe.exists():
        probe = probe.parent
    target = probe if probe.is_dir() else probe.parent
    if not os.access(target, os.W_OK) or (probe.is_file() and not os.access(probe, os.W_OK)):
        why = "read-only file system" if _read_only_mount(target) else "permission denied"
        raise EnvironmentProblem(f"cannot write {shown(root, path)}: {why} ({shown(root, target)})")


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def change(root: Path, path: Path, before: bytes | None, after: bytes | None) -> FileChange | None:
    """A FileChange when the bytes differ (checked writable), else None."""
    if before == after:
        return None
    ensure_writable(root, path)
    return FileChange(path=path, shown=shown(root, path), before=before, after=after)


def registry_of(edit: RegistryEdit) -> str:
    return edit.for_registry or DOCKER_HUB


def edited(current: list[str], edit: RegistryEdit) -> list[str]:
    """`current` after the edit, order kept, no duplicates."""
    if edit.mode == "set":
        wanted = list(edit.values)
    elif edit.mode == "add":
        wanted = current + [v for v in edit.values if v not in current]
    elif edit.mode == "remove":
        wanted = [v for v in current if v not in edit.values]
    else:
        raise ValueError(f"unknown edit mode {edit.mode!r}")
    return list(dict.fromkeys(wanted))


def url_host(url: str) -> str:
    """`https://mirror.example:5000/path` -> `mirror.example:5000/path` (podman, BuildKit)."""
    return url.split("://", 1)[-1].rstrip("/")


def systemd_units(root: Path, names: list[str]) -> list[str]:
    """The units of `names` installed on the host (unit files in the usual directories)."""
    dirs = ("etc/systemd/system", "lib/systemd/system", "usr/lib/systemd/system")
    return [n for n in names if any((root / d / f"{n}.service").exists() for d in dirs)]


class NoApply:
    """An engine that reads its files on every use: nothing to reload; the proof is that the
    files on disk parse as the engine reads them."""

    def __init__(self, name: str, check: Any = None, note: str | None = None) -> None:
        self.name = name
        self.check = check  # callable(): raises DockercfgError when the files are unusable
        self.note = note
        self.applied: str | None = None  # how the forward change was taken, for the report

    def apply(self, phase: str, result: Any) -> str:
        if self.note and phase == "forward":
            result.warnings.append(self.note)
        if phase == "forward":
            self.applied = "none: read on every use"
        return "none"

    def verify(self, phase: str, result: Any) -> None:
        if self.check is None or phase != "forward":
            return  # a revert restores files the engine was already using
        try:
            self.check()
        except DockercfgError as err:
            raise ApplyFailed(f"{self.name}: {err.message}") from None


class UnitApplier(NoApply):
    """A systemd unit that reads its files at start (restart) or on reload. A unit that is not
    running is not started: the files are in place for its next start."""

    def __init__(
        self, name: str, root: Path, units: list[str], verb: str, check: Any = None, note=None
    ) -> None:
        super().__init__(name, check, note)
        self.root = root
        self.units = units
        self.verb = verb  # "restart" | "reload"
        self.done: dict[str, list[str]] = {}

    def _active(self) -> list[str]:
        if self.root != Path("/") or shutil.which("systemctl") is None:
            return []
        out = []
        for unit in self.units:
            state = _systemctl("is-active", unit, timeout=10, check=False)
            if state.strip() in ("active", "reloading"):
                out.append(unit)
        return out

    def apply(self, phase: str, result: Any) -> str:
        super().apply(phase, result)
        units = self._active() if phase == "forward" else self.done.get("forward", [])
        self.done[phase] = units
        for unit in units:
            _systemctl(self.verb, unit, timeout=APPLY_TIMEOUT)
        if phase == "forward":
            self.applied = (
                f"{self.verb}: {', '.join(units)}"
                if units
                else "none: not running, the change takes effect when it starts"
            )
        if not units:
            if phase == "forward" and self.units and self.root == Path("/"):
                result.warnings.append(
                    f"{self.name} is not running: the change takes effect when it starts"
                )
            return "none"
        return self.verb

    def verify(self, phase: str, result: Any) -> None:
        super().verify(phase, result)
        for unit in self.done.get(phase, []):
            state = _systemctl("is-active", unit, timeout=10, check=False).strip()
            if state != "active":
                raise ApplyFailed(f"{unit} is {state or 'unknown'} after {self.verb}")


def _systemctl(*args: str, timeout: float, check: bool = True) -> str:
    try:
        done = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ApplyFailed(f"systemctl {' '.join(args)} took over {timeout:.0f}s") from None
    except OSError as err:
        raise EnvironmentProblem(f"cannot run systemctl: {err.strerror}") from None
    if check and done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise ApplyFailed(f"systemctl {' '.join(args)}: {tail}")
    return done.stdout


KUBELET_BINARIES = ("usr/bin/kubelet", "usr/local/bin/kubelet")


def kubelet(root: Path) -> str | None:
    """Evidence of a kubelet on this host (its binary or unit), or None."""
    for binary in KUBELET_BINARIES:
        if (root / binary).exists():
            return f"kubelet /{binary}"
    return "kubelet.service" if systemd_units(root, ["kubelet"]) else None


def found_with_units(
    name: str,
    root: Path,
    files: dict[str, Path],
    evidence: list[str],
    units: list[str],
    default: str | None = None,
) -> Found:
    """An engine found here and run by systemd `units` (the first is the one applied), if any."""
    return Found(
        default=default,
        engine=name,
        files=files,
        root=root,
        service=f"systemd {units[0]}.service" if units else "none",
        evidence=evidence,
        extra={"units": units},
    )

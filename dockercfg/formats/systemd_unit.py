"""systemd unit files as systemd's own config parser reads them (src/shared/conf-parser.c), and
which files make up a unit (its fragment, then its drop-ins in systemd's order).

Each directive keeps the line it starts on, so that a flag can be traced to `file:line`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WHITESPACE = " \t\n\r"
COMMENTS = "#;"
# Searched in this order; a file of the same name in an earlier directory masks the later ones.
UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/run/systemd/generator.late",  # units systemd-sysv-generator makes of init scripts
)


@dataclass(frozen=True)
class Directive:
    section: str
    key: str
    value: str
    line: int  # where the directive starts (a continued one spans several lines)


def parse_unit(text: str) -> list[Directive]:
    """Every `Key=value` with its section, in order. Like config_parse: comment lines are
    skipped (also inside a continuation), a line ending in an odd backslash continues on the
    next one with the backslash read as a space, key and value are stripped."""
    out: list[Directive] = []
    section, pending, first = "", "", 0
    if text.startswith("\ufeff"):
        text = text[1:]
    for number, raw in enumerate(text.split("\n"), 1):
        stripped = raw.lstrip(WHITESPACE)
        if stripped and stripped[0] in COMMENTS:
            continue
        line = pending + raw if pending else raw
        first = first if pending else number
        if (len(line) - len(line.rstrip("\\"))) % 2:
            pending = line[:-1] + " "
            continue
        pending = ""
        line = line.strip(WHITESPACE)
        if not line:
            continue
        if line.startswith("["):
            section = line[1 : line.find("]")] if "]" in line else ""
            continue
        key, sep, value = line.partition("=")
        if sep:
            out.append(Directive(section, key.strip(WHITESPACE), value.strip(WHITESPACE), first))
    if pending.strip(WHITESPACE):
        line = pending.strip(WHITESPACE)
        key, sep, value = line.partition("=")
        if sep and not line.startswith("["):
            out.append(Directive(section, key.strip(WHITESPACE), value.strip(WHITESPACE), first))
    return out


def unit_paths(root: Path, name: str, dirs: tuple[str, ...] = UNIT_DIRS) -> list[str]:
    """The unit's fragment and its `NAME.d/*.conf` drop-ins (host paths), as systemd loads them:
    the first fragment found; drop-ins sorted by file name, an earlier directory's masking a
    later one's of the same name. [] when there is no such unit."""

    def real(path: str) -> Path:
        return root / path.lstrip("/") if root != Path("/") else Path(path)

    fragment = next((f"{d}/{name}" for d in dirs if _is_file(real(f"{d}/{name}"))), None)
    if fragment is None:
        return []
    drop_ins: dict[str, str] = {}
    for d in dirs:
        for entry in _listdir(real(f"{d}/{name}.d")):
            if entry.endswith(".conf"):
                drop_ins.setdefault(entry, f"{d}/{name}.d/{entry}")
    return [fragment] + [drop_ins[k] for k in sorted(drop_ins)]


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _listdir(path: Path) -> list[str]:
    import os

    try:
        return os.listdir(path)
    except OSError:
        return []

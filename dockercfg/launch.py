"""The command line the next start of dockerd gets, each word with the `file:line` it comes from.

The reader is the one the init system that starts dockerd uses:
- systemd: the unit's fragment and drop-ins (`ExecStart=`, `Environment=`, `EnvironmentFile=`,
  each list reset by an empty assignment), `Environment=` lines first, then every
  `EnvironmentFile=` in order, later ones overriding earlier ones; a file's own text is read by
  systemd's env-file parser, which never expands `$VAR` (dockercfg.formats.systemd_env). In
  ExecStart, `$VAR` alone becomes the value's words and `${VAR}` one piece of a word.
- sysvinit and upstart: /etc/default/docker sourced by /bin/sh (dockercfg.formats.shellvars, through
  the DOCKER_OPTS target's evaluator), `dockerd ... $DOCKER_OPTS` unquoted.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dockercfg.formats import systemd_env as sde
from dockercfg.formats.systemd_unit import parse_unit
from dockercfg.problems import ERROR, Problem

LIVE = Path("/")
SYSTEMD = "systemd"
SH = "/bin/sh"


@dataclass(frozen=True)
class Arg:
    text: str
    origin: str  # "path:line" as the host shows it


@dataclass
class EnvFile:
    shown: str  # the path as the host sees it
    path: Path  # inside --root
    variables: dict[str, str]


@dataclass
class Launch:
    """What the service manager will run: dockerd's argv, word by word, with its origin."""

    reader: str  # "systemd" or "/bin/sh": who reads the files
    where: str  # e.g. "docker.service as systemd starts it"
    args: list[Arg] = field(default_factory=list)
    env_files: list[EnvFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # the manager refuses to start it
    rebuild: Callable[[dict], Launch] = field(default=lambda overrides: Launch("", ""), repr=False)

    @property
    def argv(self) -> list[str]:
        return [a.text for a in self.args]

    @property
    def origins(self) -> list[str]:
        return [a.origin for a in self.args]

    def to_json(self) -> dict:
        return {"reader": self.reader, "where": self.where, "argv": self.argv,
                "origins": self.origins}  # fmt: skip


def _inside(root: Path, path: str) -> Path:
    return root / path.lstrip("/") if root != LIVE else Path(path)


def _read(path: Path, overrides: dict[Path, bytes | None]) -> bytes | None:
    if path in overrides:
        return overrides[path]
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20)
    except OSError:
        return None


def systemd_launch(
    root: Path,
    paths: list[str],
    unit: str = "docker.service",
    overrides: dict[Path, bytes | None] | None = None,
) -> Launch:
    """`paths`: the unit's fragment then its drop-ins (host paths). `overrides`: file bytes to
    read instead of the disk's (a planned edit), keyed by the path inside --root."""
    overrides = overrides or {}
    launch = Launch(SYSTEMD, f"{unit} as systemd starts it")
    launch.rebuild = lambda more: systemd_launch(root, paths, unit, {**overrides, **more})
    specifiers = {"n": unit, "N": unit.rsplit(".", 1)[0], "p": unit.split("@")[0].rsplit(".")[0]}
    exec_start: list[tuple[str, str]] = []
    environment: list[tuple[str, str]] = []
    env_files: list[tuple[str, str]] = []
    for shown in paths:
        data = _read(_inside(root, shown), overrides) or b""
        for d in parse_unit(data.decode("utf-8", "replace")):
            if d.section != "Service":
                continue
            lists = {"ExecStart": exec_start, "Environment": environment,
                     "EnvironmentFile": env_files}  # fmt: skip
            if d.key in lists:
                target = lists[d.key]
                if d.value:
                    target.append((d.value, f"{shown}:{d.line}"))
                else:  # an empty assignment resets the list (the drop-in override idiom)
                    target.clear()
    env: dict[str, tuple[str, str]] = {}
    for value, origin in environment:
        for name, item in sde.parse_environment_line(value, specifiers).items():
            env.pop(name, None)
            env[name] = (item, origin)
    for value, origin in env_files:
        _load_env_file(root, sde.expand_specifiers(value, specifiers), origin, env, launch,
                       overrides)  # fmt: skip
    if not exec_start:
        return launch
    text, origin = exec_start[-1]  # Type=notify/simple: systemd refuses more than one
    launch.args = _expand(text, origin, specifiers, env)
    return launch


def _load_env_file(
    root: Path,
    spec: str,
    origin: str,
    env: dict[str, tuple[str, str]],
    launch: Launch,
    overrides: dict[Path, bytes | None],
) -> None:
    optional = spec.startswith("-")
    shown = spec[1:] if optional else spec
    if any(c in shown for c in "*?["):  # systemd globs the name (glob(3), sorted)
        names = sorted(glob.glob(str(_inside(root, shown))))
        prefix = len(str(root).rstrip("/")) if root != LIVE else 0
        found = [(n[prefix:] or "/", Path(n)) for n in names]
    else:
        found = [(shown, _inside(root, shown))]
    for name, path in found:
        data = _read(path, overrides)
        if data is None:
            if not optional:
                launch.problems.append(Problem(
                    "environment-file", origin,
                    f"EnvironmentFile={name} does not exist: systemd refuses to start the unit",
                    hint=f"create it, or write EnvironmentFile=-{name} (optional)"))  # fmt: skip
            continue
        try:
            items = sde.parse_assignments(data)
        except sde.EnvFileError as err:
            launch.problems.append(
                Problem("environment-file", f"{name}:{err.line}", err.message, ERROR)
            )
            continue
        variables: dict[str, str] = {}
        for item in items:
            if item.valid:
                env.pop(item.key, None)
                env[item.key] = (item.value, f"{name}:{item.line}")
                variables.pop(item.key, None)
                variables[item.key] = item.value
        launch.env_files.append(EnvFile(name, path, variables))


def _expand(
    text: str, origin: str, specifiers: dict[str, str], env: dict[str, tuple[str, str]]
) -> list[Arg]:
    """systemd's replace_env_argv, with the origin of every word: a word from `$VAR` comes from
    the line that assigned VAR; `:` as a prefix turns substitution off."""
    stripped = text.lstrip(sde.WHITESPACE)
    prefixes = stripped[: len(stripped) - len(stripped.lstrip(sde.EXEC_PREFIXES))]
    words = sde.exec_start_argv(text, specifiers)
    if "@" in prefixes and len(words) > 1:  # `@path argv0 args`: argv[0] is the second word
        words = words[1:]
    if ":" in prefixes:
        return [Arg(w, origin) for w in words]
    values = {name: value for name, (value, _) in env.items()}
    args: list[Arg] = []
    for word in words:
        name = word[1:] if word.startswith("$") and word[1:2] not in ("{", "$") else None
        if name is not None:
            if name in env:
                args += [Arg(w, env[name][1]) for w in sde.expand_argv([word], values)]
            continue
        refs = [n for n in _braced_names(word) if n in env]
        where = env[refs[0]][1] if refs else origin
        args += [Arg(w, where) for w in sde.expand_argv([word], values)]
    return args


def _braced_names(word: str) -> list[str]:
    names, i = [], 0
    while i < len(word):
        if word.startswith("$$", i):
            i += 2
        elif word.startswith("${", i) and "}" in word[i:]:
            end = word.index("}", i)
            names.append(word[i + 2 : end])
            i = end + 1
        else:
            i += 1
    return names


def script_dockerd(root: Path, script: str) -> str:
    """The dockerd an init script runs: its `DOCKERD=` (Debian: /usr/sbin/dockerd)."""
    import re

    data = _read(_inside(root, script), {}) or b""
    found = re.search(rb"^[ \t]*DOCKERD=([\"']?)(/[^\"'\s$`]+)\1[ \t]*$", data, re.M)
    return found.group(2).decode("utf-8", "replace") if found else "/usr/bin/dockerd"


def sh_launch(
    root: Path,
    shown: str,
    variable: str,
    program: list[Arg],
    overrides: dict[Path, bytes | None] | None = None,
) -> Launch:
    """An init script that sources `shown` and runs `PROGRAM $VARIABLE` unquoted."""
    from dockercfg.errors import EnvironmentProblem
    from dockercfg.targets.docker_opts import parse

    launch = Launch(SH, f"the init script, which sources {shown} with {SH}", list(program))
    overrides = overrides or {}
    launch.rebuild = lambda more: sh_launch(root, shown, variable, program, {**overrides, **more})
    path = _inside(root, shown)
    data = _read(path, overrides)
    if data is None:
        return launch
    try:
        doc = parse(path, data, variable)
    except EnvironmentProblem as err:
        launch.problems.append(Problem("environment-file", shown, err.message))
        return launch
    lines = doc.word_lines()
    launch.args += [Arg(w, f"{shown}:{n}") for w, n in zip(doc.flags, lines)]
    launch.env_files.append(EnvFile(shown, path, {variable: " ".join(doc.flags)}))
    return launch


FLAG_VARIABLES = ("DOCKER_OPTS", "OPTIONS", "ADD_REGISTRY", "BLOCK_REGISTRY", "INSECURE_REGISTRY")


def env_file_launch(path: Path, shown: str, data: bytes, reader: str) -> Launch:
    """A variables file no unit names: `dockerd $DOCKER_OPTS` (or RHEL's `$OPTIONS ...`) as
    `reader` reads the file."""
    program = [Arg("dockerd", shown)]
    if reader == SH:
        items = [v for v in FLAG_VARIABLES if f"{v}=".encode() in data] or ["DOCKER_OPTS"]
        launch = sh_launch(LIVE, str(path), items[0], program, {path: data})
        launch.args = [Arg(a.text, a.origin.replace(str(path), shown, 1)) for a in launch.args]
        return launch
    launch = Launch(SYSTEMD, f"{shown} as systemd's EnvironmentFile= reads it", program)
    try:
        items = sde.parse_assignments(data)
    except sde.EnvFileError as err:
        launch.problems.append(Problem("environment-file", f"{shown}:{err.line}", err.message))
        return launch
    last = {i.key: i for i in items if i.valid}
    for name in FLAG_VARIABLES:
        if name in last:
            where = f"{shown}:{last[name].line}"
            launch.args += [Arg(w, where) for w in sde.extract_words(last[name].value)]
    return launch

"""Text renderers that command modules register for their own commands.

output.py looks a command's renderer up here instead of importing the command modules: a command
module that renders itself (probe, trust) registers when it is imported, which happens before its
operation runs, so the lower layer never imports the higher one.
"""

from __future__ import annotations

from typing import Callable

from dockercfg.result import Result

Renderer = Callable[[Result, bool], list[str]]  # (result, verbose) -> lines

_TEXT: dict[str, Renderer] = {}


def register(renderer: Renderer, *commands: str) -> None:
    """Render `commands`' results with `renderer` (one registration per command name)."""
    for command in commands:
        _TEXT[command] = renderer


def lookup(command: str) -> Renderer | None:
    """The renderer registered for `command`, or None (output.py then uses its own)."""
    return _TEXT.get(command)


def engine_lines(data: dict) -> list[str]:
    """One line per engine of `data.engines` (changed, unchanged, skipped and why) and how each
    changed one took it; nothing when only dockerd was concerned and nothing else was found."""
    engines = data.get("engines") or {}
    applied = data.get("engines_applied") or {}
    quiet = ("skipped: not found on this host", "skipped: not asked (--engine)")
    if all(name == "docker" or what in quiet for name, what in engines.items()):
        return []
    lines = []
    for name, what in engines.items():
        how = f" ({applied[name]})" if name in applied else ""
        lines.append(f"  {name}: {what}{how}")
    return ["engines:", *lines]


def engine_show_lines(data: dict) -> list[str]:
    """The text of `show` for the engines (after dockerd's)."""
    lines = []
    for name, view in (data.get("engines") or {}).items():
        if "error" in view:
            lines.append(f"{name}: cannot read: {view['error']}")
            continue
        insecure = ", ".join(view["insecure_registries"]) or "none"
        lines.append(f"{name}: insecure {insecure}")
        for registry, urls in view["registry_mirrors"].items():
            lines.append(f"  mirrors for {registry}: {', '.join(urls)}")
    return lines


def engine_detect_lines(data: dict) -> list[str]:
    """The text of `detect` for the engines."""
    lines = []
    for name, what in (data.get("engines") or {}).items():
        if not what["found"]:
            lines.append(f"{name}: not found")
            continue
        version = f" {what['version']}" if what["version"] else ""
        default = (
            f"in the default ({what['default_reason']})"
            if what["in_default"]
            else f"only with --engine {name} or all"
        )
        lines.append(f"{name}{version}: {what['service']}; {default}")
        lines += [f"  - {line}" for line in what["evidence"]]
    return lines

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

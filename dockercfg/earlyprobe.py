"""The hand-off of the `dockerd --version` process the entry point starts before typer is imported.

entry.py puts it here; detect.py takes it (once). Both depend on this module, never on each other,
so the entry point stays on top of the layers and detection below them.
"""

from __future__ import annotations

from typing import Any

_started: Any = None  # the started probe (a Popen or a cached answer), or None


def put(probe: Any) -> None:
    """Leave the early probe for detection to collect."""
    global _started
    _started = probe


def take() -> Any:
    """The early probe, at most once: a second caller starts its own."""
    global _started
    probe, _started = _started, None
    return probe

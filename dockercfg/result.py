"""What every command reports: one Result, rendered as text or as the versioned --json envelope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Bumped when a key of the --json envelope changes meaning or goes away (new keys do not bump it).
SCHEMA_VERSION = 2


@dataclass
class Result:
    """What every command reports; rendered as text or as the one --json object."""

    command: str
    changed: bool = False
    target: str | None = None
    file: str | None = None
    backup: str | None = None
    diff: str | None = None
    applied: str | None = None  # "reload" | "restart" | "none" | None (nothing to apply)
    verified: bool | None = None
    problems: list[Any] = field(default_factory=list)  # dockercfg.problems.Problem
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        out.update(self.__dict__)
        out["problems"] = [p.to_json() for p in self.problems]
        return out

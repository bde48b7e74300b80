"""A validation finding: what is wrong, where, and how bad."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    code: str  # stable machine name, e.g. "unknown-key", "invalid-registry"
    path: str  # where: "insecure-registries[2]", "file.json:3:7", "" for the whole file
    message: str  # one line, dockerd's wording where dockerd has one
    severity: str = ERROR
    hint: str | None = None  # e.g. 'did you mean "registry-mirrors"?'

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def render(self) -> str:
        """One line: the path is escaped and clipped (it may hold a key from the file)."""
        from dockercfg.model import _s

        where = f"{_s(self.path)}: " if self.path else ""
        tail = f" ({self.hint})" if self.hint else ""
        return f"{self.severity}: {where}{self.message}{tail}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

"""The Target protocol every kind of dockerd config file implements, and the Document it reads.

A target knows one file kind: how to read it, how an edit of the owned lists is planned and
rendered (through its Document), which problems dockerd would have with it, and what dockerd then
gets (the daemon.json value and the flags), which is both what the conflict check compares and
what verification expects from /info. It never writes: the transaction does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dockercfg.problems import Problem


class Document(Protocol):
    """A parsed file: the value dockerd reads from it, and edits that return new documents."""

    path: Path
    value: dict
    warnings: list[str]
    problems: list[Problem]  # what dockerd would refuse, found by reading (beyond the schema)

    def get_list(self, key: str) -> list[str] | None: ...

    def with_list(self, key: str, items: list[str]) -> Document: ...

    def fix_common_mistakes(self) -> Document:
        """The same file with what dockerd ignores or refuses rewritten into what it takes."""
        ...

    def render(self) -> bytes: ...


class Target(Protocol):
    """One kind of file, bound to the detected host (see targets/__init__.py for the registry)."""

    name: str
    # The file holds dockerd's command-line flags: read only when dockerd starts (every change
    # is a restart), and there is no flag left to migrate into daemon.json.
    holds_flags: bool
    json_shown: str  # the daemon.json dockerd reads with it, as the host names it

    def read(self, data: bytes, path: Path | None = None) -> Document: ...

    def settings(self, doc: Document) -> tuple[dict, list[str], str]:
        """(daemon.json value, dockerd flags, where the flags come from) once `doc` is in force."""
        ...

    def file_problems(self, data: bytes, shown: str) -> list[Problem]:
        """What dockerd would refuse in the bytes themselves (syntax, encoding, schema)."""
        ...

    def dockerd_problem(self, data: bytes, shown: str | None = None) -> Problem | None:
        """`dockerd --validate` on the bytes, where it applies and the installed dockerd has it."""
        ...

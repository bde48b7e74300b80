"""Which kind of file a path holds, for commands given a file of either kind."""

from __future__ import annotations

import re
from collections.abc import Sequence

_ASSIGNMENT = re.compile(rb"^[ \t]*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_]*=", re.M)


def file_kind(path: str, data: bytes, env_files: Sequence[str] = ()) -> str:
    """ "json" (a daemon.json) or "env" (shell/EnvironmentFile variables such as
    /etc/default/docker), from the name and the text: a file the next start reads as variables,
    a `.json` name, a text that starts like JSON, or `NAME=` assignments."""
    if path in env_files:
        return "env"
    if path.endswith(".json"):
        return "json"
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"[", b'"') or not text:
        return "json"
    first = text.split(b"\n", 1)[0].lstrip()
    if _ASSIGNMENT.search(text) or first.startswith((b"#", b";")):
        return "env"
    return "json"

"""dockerd version numbers, compared as tuples: rules in dockercfg depend on them."""

from __future__ import annotations

import re

Version = tuple[int, int, int]

# The newest rules apply when no dockerd is found.
NEWEST: Version = (99, 0, 0)

_VERSION_RE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str) -> Version | None:
    """'Docker version 20.10.24+dfsg1, build 5d6db84' or '24.0.8' -> (20, 10, 24)."""
    match = _VERSION_RE.search(text)
    if not match:
        return None
    major, minor, patch = match.groups()
    return (int(major), int(minor), int(patch or 0))


def format_version(version: Version) -> str:
    return "newest" if version == NEWEST else ".".join(str(part) for part in version)

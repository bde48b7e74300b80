"""The owned lists' values compared as dockerd compares them, and the list an add or a remove
leaves: shared by every target's edits (and by `fix`, which merges ignored keys into them)."""

from __future__ import annotations

INSECURE_KEY = "insecure-registries"
MIRRORS_KEY = "registry-mirrors"


def normalized(key: str, value: str, strict: bool = False) -> str:
    """The comparable form of a value already in a file (kept as is when invalid, unless strict)."""
    from dockercfg.model import InvalidValue, normalize_insecure, normalize_mirror
    from dockercfg.versions import NEWEST

    try:
        if key == INSECURE_KEY:
            return normalize_insecure(value).value
        return normalize_mirror(value, NEWEST)
    except InvalidValue:
        if strict:
            raise
        return value


def changed_list(current: list[str] | None, add: bool, values: list[str], key: str):
    """The key's new list, or None when the command changes nothing (idempotent)."""
    present = [normalized(key, v) for v in current or []]
    if add:
        new = list(current or []) + [v for v in values if v not in present]
        return new if (current is None or len(new) != len(current)) else None
    if current is None:
        return None
    kept = [v for v, norm in zip(current, present) if norm not in values]
    return kept if len(kept) != len(current) else None

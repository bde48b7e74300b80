"""TOML read and written through tomlkit, so an edit keeps every comment, order and layout.

tomlkit is imported on the first parse only: commands that never touch a TOML file never pay
for it.
"""

from __future__ import annotations

from typing import Any

from dockercfg.errors import EnvironmentProblem


def parse(text: bytes | None, shown: str) -> Any:
    """The document (an empty one for an absent file); unparsable input raises
    EnvironmentProblem naming file:line:column."""
    import tomlkit
    from tomlkit.exceptions import ParseError

    if text is None:
        return tomlkit.document()
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as err:
        raise EnvironmentProblem(f"{shown}: not UTF-8 (byte {err.start})") from None
    try:
        return tomlkit.parse(decoded)
    except ParseError as err:
        raise EnvironmentProblem(
            f"{shown}:{err.line}:{err.col + 1}: not valid TOML: {_reason(err)}"
        ) from None
    except (ValueError, KeyError, TypeError) as err:  # tomlkit 0.11 raises these for duplicates
        raise EnvironmentProblem(f"{shown}: not valid TOML: {err}") from None


def _reason(err: Exception) -> str:
    message = str(err)
    message = message.split(" at line ")[0] if " at line " in message else message
    # Newer tomlkit quotes the offending character raw ("Unexpected character: '\n'"): one line.
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def dump(doc: Any) -> bytes:
    import tomlkit

    return tomlkit.dumps(doc).encode("utf-8")


def table(parent: Any, key: str) -> Any:
    """parent[key] as a table, created (a real `[section]`, not inline) when missing."""
    import tomlkit

    if key not in parent:
        parent[key] = tomlkit.table()
    return parent[key]


def plain(value: Any) -> Any:
    """A tomlkit value as plain Python (dict, list, str, bool, int)."""
    if hasattr(value, "unwrap"):
        return value.unwrap()
    return value

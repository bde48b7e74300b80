"""daemon.json: edit the two registry keys in place, leaving every other byte of the file alone.

Re-serialising the whole document would reformat keys dockercfg does not own (compact arrays,
spacing, key order, unicode escapes), so the edit replaces only the text span of the owned value,
or inserts one new member before the closing brace in the file's own style.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from dockercfg.errors import EnvironmentProblem

INSECURE_KEY = "insecure-registries"
MIRRORS_KEY = "registry-mirrors"
OWNED_KEYS = (INSECURE_KEY, MIRRORS_KEY)

_WS = re.compile(r"[ \t\r\n]*")
_DECODER = json.JSONDecoder()


@dataclass
class _Member:
    key: str
    key_start: int  # offset of the opening quote of the key
    value_start: int
    value_end: int


@dataclass
class DaemonJson:
    """A parsed daemon.json: the value plus enough of the text to edit it in place."""

    path: Path
    text: str  # decoded text without BOM
    value: dict
    members: list[_Member] = field(default_factory=list)
    close_brace: int = -1  # offset of the top-level "}" (-1: empty file)
    had_bom: bool = False
    warnings: list[str] = field(default_factory=list)

    def get_list(self, key: str) -> list[str] | None:
        """The list under key, or None when the key is absent (dockerd then keeps its old value)."""
        value = self.value.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise EnvironmentProblem(
                f"{self.path}: {key} must be a list of strings, not {json.dumps(value)[:60]};"
                " fix it by hand first (see: dockercfg validate)"
            )
        return list(value)

    def with_list(self, key: str, items: list[str]) -> DaemonJson:
        """A new document whose `key` holds exactly `items` (kept as [] when empty)."""
        new_text = _set_member(self, key, items)
        return parse(self.path, new_text.encode("utf-8"))

    def render(self) -> bytes:
        # Never write a BOM or an empty file: dockerd before 24.0 refuses both.
        return self.text.encode("utf-8")


def parse(path: Path, data: bytes) -> DaemonJson:
    """Parse daemon.json bytes; an unparsable file raises EnvironmentProblem with file:line:col."""
    from dockercfg.jsontext import JSONSyntaxError, parse_config

    try:
        parsed = parse_config(data, str(path))
    except JSONSyntaxError as err:
        raise EnvironmentProblem(
            f"{err}; refusing to edit a file dockerd cannot read (fix it, or restore a backup)"
        ) from None
    text = parsed.text
    doc = DaemonJson(path=path, text=text, value=parsed.value, had_bom=parsed.had_bom)
    if parsed.had_bom:
        doc.warnings.append(f"{path} starts with a byte-order mark; it is dropped on write")
    if not parsed.was_empty:
        doc.members, doc.close_brace = _scan_members(text)
    return doc


def _scan_members(text: str) -> tuple[list[_Member], int]:
    """Offsets of each top-level member, found with the stdlib decoder (the text is valid JSON)."""
    pos = _WS.match(text, 0).end() + 1  # past "{"
    members = []
    while True:
        pos = _WS.match(text, pos).end()
        if text[pos] == "}":
            return members, pos
        if text[pos] == ",":
            pos = _WS.match(text, pos + 1).end()
        key_start = pos
        key, pos = json.decoder.scanstring(text, pos + 1)
        pos = _WS.match(text, pos).end() + 1  # past ":"
        value_start = _WS.match(text, pos).end()
        _, value_end = _DECODER.raw_decode(text, value_start)
        members.append(_Member(key, key_start, value_start, value_end))
        pos = value_end


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _line_indent(text: str, offset: int) -> str:
    line_start = text.rfind("\n", 0, offset) + 1
    return text[line_start:offset] if not text[line_start:offset].strip() else ""


def _render_list(items: list[str], key_indent: str, multiline: bool, nl: str) -> str:
    if not items:
        return "[]"
    if not multiline:
        return "[" + ", ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"
    unit = key_indent or "  "
    inner = ("," + nl).join(f"{key_indent}{unit}{json.dumps(i, ensure_ascii=False)}" for i in items)
    return f"[{nl}{inner}{nl}{key_indent}]"


def _set_member(doc: DaemonJson, key: str, items: list[str]) -> str:
    text, nl = doc.text, _newline(doc.text)
    if doc.close_brace < 0 or not doc.members:
        # Empty file or "{}": write a fresh object in the common two-space style.
        head = text[: text.find("{")] if doc.close_brace >= 0 else ""
        tail = text[doc.close_brace + 1 :] if doc.close_brace >= 0 else nl
        body = f'{{{nl}  "{key}": {_render_list(items, "  ", True, nl)}{nl}}}'
        return head + body + (tail if tail else nl)
    multiline_object = "\n" in text[doc.members[0].key_start : doc.close_brace]
    existing = [m for m in doc.members if m.key == key]
    if existing:
        # Go's decoder keeps the last duplicate, so that is the one to edit.
        member = existing[-1]
        old_value = text[member.value_start : member.value_end]
        multiline = "\n" in old_value or (old_value.strip() in ("[]", "null") and multiline_object)
        indent = _line_indent(text, member.key_start)
        new_value = _render_list(items, indent, multiline and bool(items), nl)
        return text[: member.value_start] + new_value + text[member.value_end :]
    last, first = doc.members[-1], doc.members[0]
    colon = text[text.find(":", first.key_start + len(json.dumps(first.key))) : first.value_start]
    indent = _line_indent(text, last.key_start)
    separator = f",{nl}{indent}" if multiline_object else ", "
    new_value = _render_list(items, indent, multiline_object, nl)
    insertion = f"{separator}{json.dumps(key)}{colon or ': '}{new_value}"
    return text[: last.value_end] + insertion + text[last.value_end :]

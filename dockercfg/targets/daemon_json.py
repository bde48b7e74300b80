"""daemon.json: edit the two registry keys in place, leaving every other byte of the file alone.

Re-serialising the whole document would reformat keys dockercfg does not own (compact arrays,
spacing, key order, unicode escapes), so the edit replaces only the text span of the owned value,
or inserts one new member before the closing brace in the file's own style.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dockercfg.errors import EnvironmentProblem, UsageError
from dockercfg.targets.owned import INSECURE_KEY, MIRRORS_KEY, changed_list, normalized

if TYPE_CHECKING:
    from dockercfg.hostmodel import Host
    from dockercfg.problems import Problem

OWNED_KEYS = (INSECURE_KEY, MIRRORS_KEY)
# Keys dockerd accepts and then silently ignores, and the key that does the job.
SINGULAR_KEYS = {"insecure-registry": INSECURE_KEY, "registry-mirror": MIRRORS_KEY}


@dataclass
class _Member:
    key: str
    key_start: int  # offset of the opening quote of the key
    key_end: int  # offset just past its closing quote
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
    problems: list[Problem] = field(default_factory=list)  # the schema check finds them all

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

    def without(self, key: str) -> DaemonJson:
        """A new document with every member named `key` removed (with its separating comma)."""
        text = self.text
        for member in reversed([m for m in self.members if m.key == key]):
            doc = parse(self.path, text.encode("utf-8"))
            members = doc.members
            i = next(n for n, m in enumerate(members) if m.key_start == member.key_start)
            if len(members) == 1:
                start = text.index("{") + 1
                text = text[:start] + text[doc.close_brace :]
            elif i > 0:
                text = text[: members[i - 1].value_end] + text[members[i].value_end :]
            else:
                text = text[: members[0].key_start] + text[members[1].key_start :]
        return parse(self.path, text.encode("utf-8"))

    def fix_common_mistakes(self) -> DaemonJson:
        """Values under the ignored singular keys moved into the plural ones (noted first in
        the new document's warnings)."""
        from dockercfg.model import InvalidValue

        doc, notes = self, []
        for singular, plural in SINGULAR_KEYS.items():
            if singular not in doc.value:
                continue
            raw = doc.value[singular]
            values = [raw] if isinstance(raw, str) else raw
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise UsageError(f'"{singular}" is not a list of strings; fix it by hand')
            try:
                wanted = [normalized(plural, v, strict=True) for v in values]
            except InvalidValue as err:
                raise UsageError(f'"{singular}": {err.message}; fix it by hand') from None
            merged = changed_list(doc.get_list(plural), True, wanted, plural)
            if merged is not None:
                doc = doc.with_list(plural, merged)
            doc = doc.without(singular)
            notes.append(f'moved "{singular}" (ignored by dockerd) into "{plural}"')
        doc.warnings[:0] = notes
        return doc

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
    text = _strict_edges(parsed.text)
    doc = DaemonJson(path=path, text=text, value=parsed.value, had_bom=parsed.had_bom)
    if parsed.had_bom:
        doc.warnings.append(f"{path} starts with a byte-order mark; it is dropped on write")
    if text != parsed.text:
        doc.warnings.append(
            f"{path} has white space around the JSON object that dockerd before 23.0 rejects"
            " (not space, tab or newline); it is dropped on write"
        )
    for key in OWNED_KEYS:
        count = sum(1 for dup, _line, _col in parsed.duplicates if dup == key)
        if count:
            doc.warnings.append(
                f"{path}: {key} is given {count} times and dockerd uses only the last one;"
                " dockercfg keeps only that one when it changes the key"
            )
    if not parsed.was_empty:
        # jsontext's spans are offsets in its text; _strict_edges may have shortened the head.
        shift = text.index("{") - parsed.text.index("{")
        doc.members = [_Member(k, a + shift, b + shift, c + shift, d + shift)
                       for k, a, b, c, d in parsed.members]  # fmt: skip
        doc.close_brace = parsed.close_brace + shift
    return doc


class DaemonJsonTarget:
    """daemon.json (system, rootless, snap, Docker Desktop): dockerd reloads it on SIGHUP."""

    holds_flags = False

    def __init__(self, host: Host) -> None:
        self.host, self.name, self.json_shown = host, host.target, host.shown_path

    def read(self, data: bytes, path: Path | None = None) -> DaemonJson:
        return parse(path or self.host.config_path, data)

    def settings(self, doc: DaemonJson) -> tuple[dict, list[str], str]:
        sources = [s.where for s in self.host.flag_sources if s.argv]
        return doc.value, self.host.flags(), "; ".join(sources) or "no flags"

    def file_problems(self, data: bytes, shown: str) -> list[Problem]:
        from dockercfg.validate import validate_bytes
        from dockercfg.versions import NEWEST

        return validate_bytes(data, source=shown, version=self.host.dockerd_version or NEWEST)

    def dockerd_problem(self, data: bytes, shown: str | None = None) -> Problem | None:
        from dockercfg.validate import dockerd_validate

        return dockerd_validate(data, version=self.host.dockerd_version, source=shown)


def _strict_edges(text: str) -> str:
    """Drop the white space around the object that Go's bytes.TrimSpace (dockerd >= 23) allows
    but JSON does not (U+00A0, U+2028, \\v, ...): dockerd 20.10 fails on it."""
    from dockercfg.jsontext import _GO_SPACE

    start, end = 0, len(text)
    while start < end and text[start] in _GO_SPACE:
        start += 1
    while end > start and text[end - 1] in _GO_SPACE:
        end -= 1
    json_space = " \t\r\n"
    head = "".join(c for c in text[:start] if c in json_space)
    tail = "".join(c for c in text[end:] if c in json_space)
    return head + text[start:end] + tail


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
        # Empty file or "{}": a fresh object in the common two-space style, in the place of the
        # "{}" with the white space around it kept, ending in a newline.
        body = f'{{{nl}  "{key}": {_render_list(items, "  ", True, nl)}{nl}}}'
        if doc.close_brace < 0:
            return body + nl
        return text[: text.find("{")] + body + (text[doc.close_brace + 1 :] or nl)
    multiline_object = "\n" in text[doc.members[0].key_start : doc.close_brace]
    existing = [m for m in doc.members if m.key == key]
    if existing:
        # Go's decoder keeps the last duplicate, so that is the one to edit.
        member = existing[-1]
        old_value = text[member.value_start : member.value_end]
        multiline = "\n" in old_value or (old_value.strip() in ("[]", "null") and multiline_object)
        indent = _line_indent(text, member.key_start)
        new_value = _render_list(items, indent, multiline and bool(items), nl)
        text = text[: member.value_start] + new_value + text[member.value_end :]
        # The earlier duplicates dockerd ignores go, right to left so offsets stay valid; each
        # has a later member, whose key takes its place.
        following = {id(a): b for a, b in zip(doc.members, doc.members[1:])}
        for dup in reversed(existing[:-1]):
            text = text[: dup.key_start] + text[following[id(dup)].key_start :]
        return text
    last, first = doc.members[-1], doc.members[0]
    colon = text[first.key_end : first.value_start]  # the file's own spacing around ":"
    indent = _line_indent(text, last.key_start)
    separator = f",{nl}{indent}" if multiline_object else ", "
    new_value = _render_list(items, indent, multiline_object, nl)
    insertion = f"{separator}{json.dumps(key)}{colon}{new_value}"
    return text[: last.value_end] + insertion + text[last.value_end :]

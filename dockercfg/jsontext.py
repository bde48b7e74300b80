"""Decode daemon.json bytes the way dockerd does, with exact line:column positions.

A small iterative scanner instead of json.loads, because the stdlib decoder cannot report duplicate
keys with their positions, accepts NaN/Infinity (Go rejects them), raises RecursionError on deep
nesting and ValueError on integer literals longer than 4300 digits. Error texts follow Go's
encoding/json scanner, which is what dockerd prints (moby: daemon/config/config.go
getConflictFreeConfiguration).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Union

# Go allows 10000 levels; we stop far earlier so that no later step (jsonschema, json.dumps,
# deepcopy, ==) can hit Python's recursion limit. No real daemon.json comes close.
MAX_DEPTH = 512

# bytes.TrimSpace trims Unicode white space (unicode.IsSpace) from both ends before decoding.
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)
_WS = re.compile(r"[ \t\n\r]*")  # JSON white space, the only kind allowed between tokens
_STR_CHUNK = re.compile(r'[^"\\\x00-\x1f]*')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),  # dockerd >= 23 also honours UTF-16 BOMs (PowerShell writes them)
    (b"\xfe\xff", "utf-16-be"),
)
# Integer literals longer than this become +-inf: Go decodes numbers as float64 and fails on
# them anyway, and int() refuses more than 4300 digits.
_MAX_INT_DIGITS = 400


class JSONSyntaxError(ValueError):
    """The file cannot be decoded; str() is `source:line:column: message` (1-based)."""

    def __init__(self, source: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{source}:{line}:{column}: {message}")
        self.source = source
        self.line = line
        self.column = column
        self.message = message

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.message}"


@dataclass
class ParsedConfig:
    value: dict[str, Any]
    had_bom: bool = False
    was_empty: bool = False
    # Every occurrence of a key that appears more than once in one object, in file order:
    # (path, line, column). dockerd (Go maps) silently keeps the last one.
    duplicates: list[tuple[str, int, int]] = field(default_factory=list)
    # path -> (line, column) of each object key (its last occurrence) and each array element.
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)
    encoding: str = "utf-8"
    text: str = ""  # the decoded text, without the BOM
    # White space other than JSON's (U+00A0, U+2028, \v, ...) around the value: dockerd trims it
    # since 23.0 (bytes.TrimSpace); 20.10 fails with "invalid character".
    loose_space: bool = field(default=False, compare=False)
    # The top-level object's members as text spans, in file order, for editing in place:
    # (key, key_start, key_end, value_start, value_end); key_start is the key's opening quote,
    # key_end just past its closing quote. close_brace is the offset of the object's "}".
    members: list[tuple[str, int, int, int, int]] = field(default_factory=list, compare=False)
    close_brace: int = field(default=-1, compare=False)


PathPart = Union[str, int]


def join_path(parent: str, part: PathPart) -> str:
    """Extend a problem path: `insecure-registries` + 2 -> `insecure-registries[2]`."""
    if isinstance(part, int):
        return f"{parent}[{part}]"
    if _PLAIN_KEY.match(part):
        return f"{parent}.{part}" if parent else part
    return f"{parent}[{json.dumps(part, ensure_ascii=False)}]"


def format_path(parts: Iterable[PathPart]) -> str:
    path = ""
    for part in parts:
        path = join_path(path, part)
    return path


def quote_char(char: str) -> str:
    """Go's quoteChar: how encoding/json shows the offending character."""
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    return "'" + repr(char)[1:-1] + "'"


def parse_config(data: bytes, source: str) -> ParsedConfig:
    """Decode daemon.json bytes; raise JSONSyntaxError with the position of the first problem."""
    text, encoding, had_bom = _decode(data, source)
    start, end = 0, len(text)
    while start < end and text[start] in _GO_SPACE:
        start += 1
    while end > start and text[end - 1] in _GO_SPACE:
        end -= 1
    loose = any(c not in " \t\r\n" for c in text[:start] + text[end:])
    if start == end:
        return ParsedConfig({}, had_bom, True, encoding=encoding, text=text, loose_space=loose)
    scanner = _Scanner(text, source, start, end)
    value = scanner.parse()
    if not isinstance(value, dict):
        line, column = scanner.line_col(start)
        kind = json_type(value)
        raise JSONSyntaxError(
            source, line, column, f"top-level value must be a JSON object, not {kind}"
        )
    return ParsedConfig(
        value,
        had_bom,
        False,
        scanner.duplicates,
        scanner.positions,
        encoding=encoding,
        text=text,
        loose_space=loose,
        members=scanner.members,
        close_brace=scanner.close_brace,
    )


def json_type(value: Any) -> str:
    """How a decoded value is named in messages: "a string", "an array", ..."""
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _decode(data: bytes, source: str) -> tuple[str, str, bool]:
    encoding, body, had_bom = "utf-8", data, False
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding, body, had_bom = name, data[len(bom) :], True
            break
    if encoding != "utf-8":
        # Go's UTF-16 decoder replaces malformed units with U+FFFD instead of failing.
        return body.decode(encoding, errors="replace"), encoding, had_bom
    try:
        return body.decode("utf-8"), encoding, had_bom
    except UnicodeDecodeError as err:
        prefix = body[: err.start].decode("utf-8")
        line = prefix.count("\n") + 1
        column = len(prefix) - (prefix.rfind("\n") + 1) + 1
        offset = err.start + (len(data) - len(body))
        raise JSONSyntaxError(
            source, line, column, f"invalid UTF-8 at byte offset {offset}"
        ) from None


class _Frame:
    __slots__ = ("container", "path", "key", "key_end", "seen", "reported", "index")

    def __init__(self, container: dict | list, path: str) -> None:
        self.container = container
        self.path = path
        self.key = ""
        self.key_end = 0
        self.seen: dict[str, int] = {}  # key -> offset of its first occurrence
        self.reported: set[str] = set()
        self.index = 0


class _Scanner:
    """One pass over text[start:end] with an explicit stack (no recursion)."""

    def __init__(self, text: str, source: str, start: int, end: int) -> None:
        self.text = text
        self.source = source
        self.start = start
        self.end = end
        self.duplicates: list[tuple[str, int, int]] = []
        self.positions: dict[str, tuple[int, int]] = {}
        self.members: list[tuple[str, int, int, int, int]] = []
        self.close_brace = -1
        self._member: tuple[str, int, int, int] | None = None  # a top-level member's key so far
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_col(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def error(self, offset: int, message: str) -> JSONSyntaxError:
        line, column = self.line_col(offset)
        return JSONSyntaxError(self.source, line, column, message)

    def char(self, pos: int) -> str:
        if pos >= self.end:
            raise self.error(pos, "unexpected end of JSON input")
        return self.text[pos]

    def invalid(self, pos: int, context: str) -> JSONSyntaxError:
        if pos >= self.end:
            return self.error(pos, "unexpected end of JSON input")
        return self.error(pos, f"invalid character {quote_char(self.text[pos])} {context}")

    def ws(self, pos: int) -> int:
        return _WS.match(self.text, pos, self.end).end()

    def parse(self) -> Any:
        stack: list[_Frame] = []
        path = ""
        pos = self.start
        while True:
            # A value starts here.
            pos = self.ws(pos)
            char = self.char(pos)
            if char in "{[":
                if len(stack) >= MAX_DEPTH:
                    raise self.error(
                        pos, f"nesting deeper than {MAX_DEPTH} levels is not supported"
                    )
                frame = _Frame({} if char == "{" else [], path)
                stack.append(frame)
                pos = self.ws(pos + 1)
                closing = "}" if char == "{" else "]"
                if self.char(pos) == closing:
                    if len(stack) == 1:
                        self.close_brace = pos
                    pos += 1
                    value: Any = stack.pop().container
                elif char == "{":
                    pos, path = self._member_key(stack, frame, pos)
                    continue
                else:
                    path = join_path(frame.path, 0)
                    self.positions[path] = self.line_col(pos)
                    continue
            else:
                value, pos = self._scalar(pos, char)
            # A value ended: store it in its container, then close containers or find the next.
            while stack:
                frame = stack[-1]
                if isinstance(frame.container, dict):
                    frame.container[frame.key] = value
                    after = "after object key:value pair"
                    if len(stack) == 1 and self._member is not None:
                        self.members.append((*self._member, pos))
                else:
                    frame.container.append(value)
                    after = "after array element"
                pos = self.ws(pos)
                char = self.char(pos)
                if char == ",":
                    pos = self.ws(pos + 1)
                    if isinstance(frame.container, dict):
                        pos, path = self._member_key(stack, frame, pos)
                    else:
                        frame.index += 1
                        path = join_path(frame.path, frame.index)
                        self.positions[path] = self.line_col(pos)
                    break
                if char == ("}" if isinstance(frame.container, dict) else "]"):
                    if len(stack) == 1:
                        self.close_brace = pos
                    pos += 1
                    value = stack.pop().container
                    continue
                raise self.invalid(pos, after)
            else:
                pos = self.ws(pos)
                if pos < self.end:
                    raise self.invalid(pos, "after top-level value")
                return value

    def _member_key(self, stack: list[_Frame], frame: _Frame, pos: int) -> tuple[int, str]:
        """_key, noting the spans of the top-level object's members."""
        after, path = self._key(frame, pos)
        if len(stack) == 1:
            self._member = (frame.key, pos, frame.key_end, self.ws(after))
        return after, path

    def _key(self, frame: _Frame, pos: int) -> tuple[int, str]:
        """Read `"key" :` at pos; record duplicates; return the offset after ':' and the path."""
        if self.char(pos) != '"':
            raise self.invalid(pos, "looking for beginning of object key string")
        key, after = self._string(pos + 1)
        frame.key_end = after
        path = join_path(frame.path, key)
        first = frame.seen.setdefault(key, pos)
        if first != pos:
            if key not in frame.reported:
                frame.reported.add(key)
                self.duplicates.append((path, *self.line_col(first)))
            self.duplicates.append((path, *self.line_col(pos)))
        self.positions[path] = self.line_col(pos)
        frame.key = key
        after = self.ws(after)
        if self.char(after) != ":":
            raise self.invalid(after, "after object key")
        return after + 1, path

    def _scalar(self, pos: int, char: str) -> tuple[Any, int]:
        if char == '"':
            return self._string(pos + 1)
        if char == "-" or "0" <= char <= "9":
            return self._number(pos)
        for word, value in (("true", True), ("false", False), ("null", None)):
            if char == word[0]:
                for i, expected in enumerate(word[1:], start=pos + 1):
                    if self.char(i) != expected:
                        raise self.invalid(
                            i, f"in literal {word} (expecting {quote_char(expected)})"
                        )
                return value, pos + len(word)
        raise self.invalid(pos, "looking for beginning of value")

    def _number(self, pos: int) -> tuple[Any, int]:
        text = self.text
        match = _NUMBER.match(text, pos, self.end)
        if match is None:  # a lone "-"
            raise self.invalid(pos + 1, "in numeric literal")
        end = match.end()
        nxt = text[end] if end < self.end else ""
        if nxt == "." and match.group(1) is None:
            raise self.invalid(end + 1, "after decimal point in numeric literal")
        if nxt in ("e", "E") and match.group(2) is None:
            bad = end + 1
            if bad < self.end and text[bad] in "+-":
                bad += 1
            raise self.invalid(bad, "in exponent of numeric literal")
        literal = match.group()
        if match.group(1) or match.group(2):
            return float(literal), end  # 1e999 -> inf; validation reports it
        if len(literal) > _MAX_INT_DIGITS:
            return (float("-inf") if literal[0] == "-" else float("inf")), end
        return int(literal), end

    def _string(self, pos: int) -> tuple[str, int]:
        """Decode a string whose opening quote is just before pos."""
        text, chunks = self.text, []
        while True:
            match = _STR_CHUNK.match(text, pos, self.end)
            chunks.append(match.group())
            pos = match.end()
            char = self.char(pos)
            if char == '"':
                return "".join(chunks), pos + 1
            if char != "\\":
                raise self.invalid(pos, "in string literal")
            escape = self.char(pos + 1)
            if escape in _ESCAPES:
                chunks.append(_ESCAPES[escape])
                pos += 2
            elif escape == "u":
                code, pos = self._hex4(pos + 2)
                if 0xD800 <= code < 0xDC00 and text.startswith("\\u", pos):
                    low, after = self._hex4(pos + 2)
                    if 0xDC00 <= low < 0xE000:
                        code, pos = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00), after
                # Go turns unpaired surrogates into U+FFFD; keeping them would break UTF-8 writes.
                chunks.append("\ufffd" if 0xD800 <= code < 0xE000 else chr(code))
            else:
                raise self.invalid(pos + 1, "in string escape code")

    def _hex4(self, pos: int) -> tuple[int, int]:
        for i in range(pos, pos + 4):
            if self.char(i) not in _HEX:
                raise self.invalid(i, "in \\u hexadecimal character escape")
        return int(self.text[pos : pos + 4], 16), pos + 4

"""What systemd itself makes of an `EnvironmentFile=`, an `Environment=` line and `ExecStart=`.

On a systemd host /etc/default/docker is not sourced by a shell: systemd's own parser reads it
(src/basic/env-file.c, parse_env_file_internal) and never expands `$VAR`, so Debian's idiom
`DOCKER_OPTS="$DOCKER_OPTS --registry-mirror …"` hands dockerd the literal word `$DOCKER_OPTS`.
The rules here follow systemd's source state machine by state; the integration tests compare
them with what a real systemd passes to a process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WHITESPACE = " \t\n\r"
NEWLINE = "\n\r"
COMMENTS = "#;"
# SHELL_NEED_ESCAPE: inside double quotes a backslash drops only before these (and newline).
SHELL_NEED_ESCAPE = '"\\`$'
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# v254 stopped a comment ending in "\" from swallowing the next line (env-file.c COMMENT_ESCAPE).
COMMENT_CONTINUES_BEFORE = 254


class EnvFileError(Exception):
    """systemd refuses the whole file (the unit then fails to start); `.message` is one line."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Assignment:
    key: str
    value: str
    line: int  # the line (1-based) the name starts on, for messages
    valid: bool  # False: systemd drops it from the environment (not a valid name)


def name_is_valid(name: str) -> bool:
    """env_name_is_valid: bash's character set, not starting with a digit."""
    return bool(_NAME.fullmatch(name))


def parse_assignments(data: str | bytes, systemd_version: int = 252) -> list[Assignment]:
    """Every assignment parse_env_file_internal pushes, in order, duplicates included."""
    if isinstance(data, bytes):
        data = _decode(data)
    # read_full_file hands over a C string: the text ends at the first NUL.
    data = data.split("\x00", 1)[0]
    out: list[Assignment] = []
    state, key, value = "PRE_KEY", [], None
    key_ws = value_ws = None  # where trailing whitespace starts, as systemd tracks it
    comment_eats_newline = systemd_version < COMMENT_CONTINUES_BEFORE

    start = 0

    def push() -> None:
        k = "".join(key[:key_ws] if key_ws is not None else key)
        v = "".join(value) if value is not None else ""
        out.append(Assignment(k, v, data.count("\n", 0, start) + 1, name_is_valid(k)))

    for pos, c in enumerate(data):
        if state == "PRE_KEY":
            if c in COMMENTS:
                state = "COMMENT"
            elif c not in WHITESPACE:
                state, key, key_ws, start = "KEY", [c], None, pos
        elif state == "KEY":
            if c in NEWLINE:
                state = "PRE_KEY"
                key = []
            elif c == "=":
                state, value, value_ws = "PRE_VALUE", None, None
            else:
                if c not in WHITESPACE:
                    key_ws = None
                elif key_ws is None:
                    key_ws = len(key)
                key.append(c)
        elif state == "PRE_VALUE":
            if c in NEWLINE:
                push()
                state, key, value = "PRE_KEY", [], None
            elif c == "'":
                state = "SINGLE"
            elif c == '"':
                state = "DOUBLE"
            elif c == "\\":
                state = "VALUE_ESCAPE"
            elif c not in WHITESPACE:
                state = "VALUE"
                value = (value or []) + [c]
        elif state == "VALUE":
            if c in NEWLINE:
                if value is not None and value_ws is not None:
                    value = value[:value_ws]
                push()
                state, key, value = "PRE_KEY", [], None
            elif c == "\\":
                state, value_ws = "VALUE_ESCAPE", None
            else:
                if c not in WHITESPACE:
                    value_ws = None
                elif value_ws is None:
                    value_ws = len(value or [])
                value = (value or []) + [c]
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            if c not in NEWLINE:  # an escaped newline is a line continuation, eaten whole
                value = (value or []) + [c]
        elif state == "SINGLE":
            if c == "'":
                state = "PRE_VALUE"
            else:
                value = (value or []) + [c]
        elif state == "DOUBLE":
            if c == '"':
                state = "PRE_VALUE"
            elif c == "\\":
                state = "DOUBLE_ESCAPE"
            else:
                value = (value or []) + [c]
        elif state == "DOUBLE_ESCAPE":
            state = "DOUBLE"
            if c in SHELL_NEED_ESCAPE:
                value = (value or []) + [c]
            elif c != "\n":  # like the shell, other escapes keep their backslash
                value = (value or []) + ["\\", c]
        elif state == "COMMENT":
            if c == "\\":
                state = "COMMENT_ESCAPE"
            elif c in NEWLINE:
                state = "PRE_KEY"
        elif state == "COMMENT_ESCAPE":
            state = "PRE_KEY" if c in NEWLINE and not comment_eats_newline else "COMMENT"
    if state in ("PRE_VALUE", "VALUE", "VALUE_ESCAPE", "SINGLE", "DOUBLE", "DOUBLE_ESCAPE"):
        if state == "VALUE" and value is not None and value_ws is not None:
            value = value[:value_ws]
        push()
    return out


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise EnvFileError(f"line {line}: invalid UTF-8; systemd refuses the file", line) from None


def parse_environment_file(data: str | bytes, systemd_version: int = 252) -> dict[str, str]:
    """The variables a service gets from `EnvironmentFile=`: the last of each name wins and
    assignments whose name is not valid are dropped (strv_env_clean at exec time)."""
    env: dict[str, str] = {}
    for item in parse_assignments(data, systemd_version):
        if item.valid:
            env.pop(item.key, None)
            env[item.key] = item.value
    return env


def extract_words(text: str, cunescape: bool = False) -> list[str]:
    """extract_first_word over WHITESPACE with EXTRACT_UNQUOTE|EXTRACT_RELAX, repeated: quotes
    group, a backslash takes the next character literally, an unfinished quote is accepted as
    written so far, and a trailing backslash is kept only in unit text (see below).
    `cunescape`: C escapes as in unit files."""
    words: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in WHITESPACE:
            i += 1
        if i >= n:
            return words
        word: list[str] = []
        quote = ""
        while i < n:
            c = text[i]
            if c == "\\":
                if i + 1 >= n:
                    # RELAX ends the word there. Unit text also has UNESCAPE_RELAX, which keeps
                    # the backslash; a $VAR's value is split without it and loses it ("\\" -> "").
                    if cunescape:
                        word.append("\\")
                    i += 1
                    break
                if cunescape:
                    ch, used = _cunescape(text, i + 1)
                    word.append(ch)
                    i += 1 + used
                else:
                    word.append(text[i + 1])
                    i += 2
                continue
            if quote:
                if c == quote:
                    quote = ""
                else:
                    word.append(c)
            elif c in "'\"":
                quote = c
            elif c in WHITESPACE:
                break
            else:
                word.append(c)
            i += 1
        words.append("".join(word))


_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                   "\\": "\\", '"': '"', "'": "'", "s": " "}  # fmt: skip


def _cunescape(text: str, i: int) -> tuple[str, int]:
    """cunescape_one, for the escapes a unit file uses; anything else keeps its character."""
    c = text[i]
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], 1
    if c == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 1 : i + 3]):
        return chr(int(text[i + 1 : i + 3], 16)), 3
    if re.fullmatch(r"[0-7]{3}", text[i : i + 3]):
        return chr(int(text[i : i + 3], 8)), 3
    return c, 1


def expand_specifiers(text: str, specifiers: dict[str, str] | None = None) -> str:
    """Unit-file specifiers: "%%" is "%"; others come from `specifiers` (e.g. {"n": unit})."""
    known = {"%": "%", **(specifiers or {})}
    out, i = [], 0
    while i < len(text):
        if text[i] == "%" and i + 1 < len(text) and text[i + 1] in known:
            out.append(known[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_environment_line(text: str, specifiers: dict[str, str] | None = None) -> dict[str, str]:
    """One `Environment=` value (config_parse_environ): quoted words, each `NAME=value`;
    words that are not valid assignments are ignored, as systemd logs and ignores them."""
    env: dict[str, str] = {}
    for word in extract_words(text, cunescape=True):
        name, sep, value = expand_specifiers(word, specifiers).partition("=")
        if sep and name_is_valid(name):
            env.pop(name, None)
            env[name] = value
    return env


EXEC_PREFIXES = "@-:+!"


def exec_start_argv(text: str, specifiers: dict[str, str] | None = None) -> list[str]:
    """The words of one `ExecStart=` command as the unit parser stores them (prefixes dropped)."""
    text = text.lstrip(WHITESPACE)
    while text and text[0] in EXEC_PREFIXES:
        text = text[1:]
    return [expand_specifiers(w, specifiers) for w in extract_words(text, cunescape=True)]


def _replace_env(word: str, env: dict[str, str]) -> str:
    """replace_env with no flags: `${NAME}` is replaced, `$$` is `$`, everything else stays."""
    out, i, n = [], 0, len(word)
    while i < n:
        if word[i] == "$" and i + 1 < n and word[i + 1] == "$":
            out.append("$")
            i += 2
        elif word[i] == "$" and i + 1 < n and word[i + 1] == "{":
            end = i + 2
            while end < n and word[end] not in "}:":
                end += 1
            if end >= n or word[end] == ":":  # unfinished or ${A:-b}: no replacement
                out.append(word[i : end + 1])
                i = end + 1
                continue
            out.append(env.get(word[i + 2 : end], ""))
            i = end + 1
        else:
            out.append(word[i])
            i += 1
    return "".join(out)


def expand_argv(argv: list[str], env: dict[str, str]) -> list[str]:
    """replace_env_argv: a word that is exactly `$NAME` becomes the value split into words
    (quotes honoured, none when unset); `${NAME}` inside a word is replaced as one piece."""
    out: list[str] = []
    for word in argv:
        if word.startswith("$") and word[1:2] not in ("{", "$"):
            value = env.get(word[1:]) if name_is_valid(word[1:]) else None
            if value is not None:
                out.extend(extract_words(value))
            continue
        out.append(_replace_env(word, env))
    return out


def expand_exec_start(
    argv_text: str, env: dict[str, str], specifiers: dict[str, str] | None = None
) -> list[str]:
    """The argv a service's process really gets for `ExecStart=argv_text` in environment `env`."""
    return expand_argv(exec_start_argv(argv_text, specifiers), env)

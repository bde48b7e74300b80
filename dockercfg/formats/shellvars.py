"""POSIX sh assignments: the one reader of files a shell sources (/etc/default/docker,
/etc/sysconfig/docker), shared by the DOCKER_OPTS target, detection and the sysvinit service.

Just enough of the sh grammar to find simple commands, their words (after quote removal, each
character with the raw span it came from) and the assignments among them; expansions are kept as
opaque characters naming what they read, never evaluated. `sh -n` is asked as a second opinion:
a file the shell itself cannot parse is never edited.
"""

from __future__ import annotations

import re
from collections import namedtuple
from dataclasses import dataclass
from pathlib import Path

from dockercfg.errors import EnvironmentProblem

SH = "/bin/sh"  # what init scripts source the file with: `sh -n` must accept it, before and after
SH_TIMEOUT = 5.0

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PARAM = re.compile(
    r"#?([A-Za-z_]\w*|[0-9]+|[@*#?$!-])|([A-Za-z_]\w*|[0-9]+|[@*#?$!-])(:?[-=+?]|##?|%%?).*", re.S
)
IFS = " \t\n"  # the default IFS: "\r" is not a separator, so CRLF files glue it to a word
BLANKS = re.compile(r"[ \t\n]+")
DELIMS = " \t\n;&|()<>"
OPEN, CLOSE = {"if", "while", "until", "for", "case", "{"}, {"fi", "done", "esac", "}"}
KEYWORDS = OPEN | CLOSE | {"then", "do", "else", "elif", "!"}
STOPS = {"exit", "return", "exec", "set", "shift", ".", "source", "eval"}  # may end sourcing
DECLARE = {"export": ("-p",), "readonly": ("-p",), "unset": ("-v", "-f")}  # with options
SPECIAL = STOPS | {":", "times", "trap", "export", "readonly", "unset"}
HARMLESS = {":", "true", "\r"}  # "\r": a blank line of a CRLF file (sh: command not found)

Word = namedtuple("Word", "chars start end quoted")  # quoted: (quote, content start, end)
Assign = namedtuple("Assign", "name value vs ve quoted")  # vs, ve: raw span of the value


class ShSyntaxError(Exception):
    pass


@dataclass(eq=False)
class Ch:
    """One character after quote removal, with the raw span it came from."""

    ch: str  # for an expansion: its raw text
    start: int
    end: int
    ctx: str = ""  # quote context: "" unquoted, "'" or '"'
    opaque: str = ""  # an expansion that is not evaluated (its description)
    ref: str = ""  # the variable a $NAME / ${NAME} reads
    owner: int = -1  # raw offset of the value of the assignment it belongs to
    idx: int = -1  # its position in that value


class Lexer:
    """Just enough of the POSIX sh grammar to find simple commands and their words."""

    def __init__(self, text: str) -> None:
        self.t, self.i, self.parens, self.risky = text, 0, False, []

    def commands(self) -> list[tuple[list[Word], str]]:
        """Simple commands, each with the operators around it ("|", "&&", "<"...: not plain)."""
        t, cmds, words, pending, prev, redirect = self.t, [], [], "", "\n", ""
        while self.i < len(t):
            c = t[self.i]
            if c in " \t" or t.startswith("\\\n", self.i):
                self.i += 1 if c != "\\" else 2
            elif c == "#":
                self.i = t.find("\n", self.i) % (len(t) + 1)
            elif c in "<>":  # a redirection: the next word is its target, not an argument
                heredoc = t.startswith("<<", self.i)  # its body is data, not commands
                self.risky.append("a here-document" if heredoc else "a redirection that may fail")
                self.i += 1 + (t[self.i + 1 : self.i + 2] in tuple("<>&|"))
                redirect, prev = c, c
            elif c in DELIMS:
                op = t[self.i : self.i + 2] if t[self.i : self.i + 2] in ("&&", "||", ";;") else c
                self.i += len(op)
                self.parens |= op in "()"
                empty = op not in "\n()" and not (words or redirect) and prev != ")"
                if empty or prev in ("<", ">") or op == ";;" and not self.parens:
                    raise ShSyntaxError(
                        f"syntax error: {op!r} unexpected", self.i - len(op)
                    )  # sh stops
                if words:
                    cmds.append((words, pending + redirect + ("" if op in "\n;" else op)))
                if words or op != "\n" or pending not in ("&&", "||", "|"):  # "a &&\n b"
                    pending = "" if op in "\n;" else op
                words, prev, redirect = [], op, ""
            else:
                word = self.word()
                words += [] if prev in ("<", ">") else [word]
                prev = ""
        if not words and pending in ("&&", "||", "|") or prev in ("<", ">"):
            raise ShSyntaxError("syntax error: end of file unexpected", len(t))
        return cmds + [(words, pending + redirect)] if words else cmds

    def word(self) -> Word:
        t, start, chars, quoted = self.t, self.i, [], []
        while self.i < len(t) and t[self.i] not in DELIMS:
            i, q = self.i, t[self.i]
            if q == "'":
                end = t.find("'", i + 1)
                if end < 0:
                    raise ShSyntaxError("unterminated single quote", i)
                chars += [Ch(t[k], k, k + 1, "'") for k in range(i + 1, end)]
                self.i = end
            elif q == '"':
                self.i += 1
                while self.i < len(t) and t[self.i] != '"':
                    chars += self.char('"')
                if self.i >= len(t):
                    raise ShSyntaxError("unterminated double quote", i)
            else:
                chars += self.char("")
                continue
            quoted.append((q, i + 1, self.i))
            self.i += 1
        return Word(chars, start, self.i, quoted)

    def char(self, ctx: str) -> list[Ch]:
        t, i = self.t, self.i
        if t[i] == "\\" and i + 1 < len(t) and (ctx == "" or t[i + 1] in '$`"\\\n'):
            self.i += 2
            return [] if t[i + 1] == "\n" else [Ch(t[i + 1], i, i + 2, ctx)]
        end, what, name = self.expansion(i) if t[i] in "$`" else (0, "", "")
        self.i = end or i + 1
        return [Ch(t[i:end], i, end, ctx, what, name) if end else Ch(t[i], i, i + 1, ctx)]

    def expansion(self, i: int) -> tuple[int, str, str]:
        """(end, description, variable read) of the expansion at i; end 0: a literal '$'."""
        t, nxt = self.t, self.t[i + 1 : i + 2]
        if t[i] == "`":
            j = i + 1
            while j < len(t) and t[j] != "`":
                j += 2 if t[j] == "\\" else 1
            if j >= len(t):
                raise ShSyntaxError("unterminated backquote", i)
            return self.inner(i, i + 1, j + 1), "`...`", ""
        if nxt == "(":
            if t.startswith("((", i + 1):  # division by zero or a bad expression stops sh
                self.risky.append("$((...))")
            return self.inner(i, i + 2, self.closing(i + 2, "(", ")")), "$(...)", ""
        if nxt == "{":
            end = self.closing(i + 2, "{", "}")
            inner = t[i + 2 : end - 1]
            if not PARAM.fullmatch(inner):  # sh stops at it when it runs
                raise ShSyntaxError("bad substitution", i)
            if re.fullmatch(r"(\w+|[@*#?$!-]):?\?.*", inner, re.S):  # unset: sh stops
                self.risky.append(t[i:end][:40])
            return end, t[i:end][:40], inner if NAME.fullmatch(inner) else ""
        name = NAME.match(t, i + 1)
        if name:
            return name.end(), "$" + name.group(), name.group()
        return (i + 2, "$" + nxt, "") if nxt and nxt in "0123456789@*#?$!-" else (0, "", "")

    def inner(self, at: int, start: int, end: int) -> int:
        """A syntax error inside a command substitution stops sh too: lex it as well."""
        try:
            Lexer(self.t[start : end - 1]).commands()
        except ShSyntaxError as err:
            raise ShSyntaxError(err.args[0], at) from None
        return end

    def closing(self, j: int, open_: str, close: str) -> int:
        t, depth, start = self.t, 1, j
        while j < len(t):
            if t[j] in "'\"\\":  # skip a quoted string or an escaped character
                j = (t.find(t[j], j + 1) % (len(t) + 1)) + 1 if t[j] != "\\" else j + 2
                continue
            depth += (t[j] == open_) - (t[j] == close)
            if depth == 0:
                return j + 1
            j += 1
        raise ShSyntaxError(f"unterminated ${open_}", start - 2)


def literal(text: str, start: int, end: int) -> str | None:
    """The text as written if it is plain (no quotes, escapes, expansions): a keyword or a name."""
    raw = text[start:end].replace("\\\n", "")
    return None if not raw or any(c in raw for c in "'\"\\$`") else raw


def assignment(text: str, word: Word) -> Assign | None:
    eq = next((k for k, c in enumerate(word.chars) if c.ch == "=" and not c.opaque), None)
    # Only an unquoted, unescaped "=" makes an assignment: `NAME\=x` and `NAME"="x` are commands.
    plain = eq and word.chars[eq].ctx == "" and text[word.chars[eq].start] == "="
    name = literal(text, word.start, word.chars[eq].start) if plain else None
    if not NAME.fullmatch(name or "-"):
        return None
    vs, value = word.chars[eq].end, word.chars[eq + 1 :]
    for k, c in enumerate(value):
        c.owner, c.idx = vs, k
        if c.ch == "~" and c.ctx == "" and (k == 0 or value[k - 1].ch in ":="):
            c.opaque = "~"  # tilde expansion in an assignment
    return Assign(name, value, vs, word.end, [q for q in word.quoted if q[1] >= vs])


def is_cr(text: str, c: Ch) -> bool:
    """An unquoted carriage return ending an assignment line (a CRLF line ending)."""
    return c.ch == "\r" and c.ctx == "" and c.owner >= 0 and text[c.end : c.end + 1] in ("\n", "")


def sh_complaint(text: str) -> str | None:
    """What `/bin/sh -n` (dash on Debian) says about the text; None when it parses, or when
    /bin/sh is missing or cannot be run (the lexer's own checks still apply then)."""
    import os
    import subprocess

    if not os.path.exists(SH):
        return None
    try:
        done = subprocess.run(
            [SH, "-n"],
            input=text.encode("utf-8", "surrogateescape"),
            capture_output=True,
            timeout=SH_TIMEOUT,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
        )
    except subprocess.TimeoutExpired:
        return f"`{SH} -n` gave no answer within {SH_TIMEOUT:g} s"
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    if done.returncode == 0:
        return None
    said = done.stderr.decode("utf-8", "replace").strip().splitlines()
    shown = "".join(ch if ch.isprintable() else "?" for ch in (said[0] if said else ""))[:200]
    return shown or f"`{SH} -n` exited with status {done.returncode}"


def require_sh_accepts(path: Path, text: str, which: str) -> None:
    complaint = sh_complaint(text)
    if complaint is not None:
        raise EnvironmentProblem(
            f"{path}: {SH} cannot read {which}file ({complaint}); refusing to edit a file the"
            " shell cannot read"
        )


def unreadable(path: Path, text: str, err: ShSyntaxError) -> EnvironmentProblem:
    line = text.count("\n", 0, err.args[1]) + 1
    return EnvironmentProblem(
        f"{path}:{line}: {err.args[0]}; refusing to edit a file the shell cannot read"
    )

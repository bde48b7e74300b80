"""DOCKER_OPTS / OPTIONS: dockerd flags in a file that a root shell sources.

Debian/Ubuntu: /etc/default/docker, DOCKER_OPTS (sysvinit, upstart, Debian's docker.io unit). RHEL:
/etc/sysconfig/docker, OPTIONS plus INSECURE_REGISTRY/ADD_REGISTRY/BLOCK_REGISTRY (`other_args` in
very old ones). Consumers run `dockerd $DOCKER_OPTS` unquoted: the value is split on blanks and
globbed, and each resulting word is one argument. Reading is the shared POSIX-sh evaluator
(formats/sh_assign.py): what it cannot prove static ($OTHER, $(...), backticks, ~, * and ? globs,
assignments under if/&&/functions, IFS) makes every edit refused: it may expand to registry flags
itself, so no edit could be proved. `[` only warns: IPv6 registries need brackets.
Edits touch only the flag occurrences (or insert next to them, or at the end of the effective
assignment's value, inside its quotes), plus the "\r" that CRLF line endings glue to an assignment
(sh passes it to dockerd). Only values passing the model and SAFE_WORD are written, and the result
is re-parsed: it must give exactly the planned words. RHEL: insecure registries are edited in
INSECURE_REGISTRY when it is assigned (its purpose), else in OPTIONS.
"""

from __future__ import annotations

import re
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dockercfg.errors import EnvironmentProblem
from dockercfg.formats import sh_assign
from dockercfg.formats import shellvars as sv
from dockercfg.problems import ERROR, WARNING, Problem
from dockercfg.targets.owned import INSECURE_KEY, MIRRORS_KEY

if TYPE_CHECKING:
    from dockercfg.hostmodel import Host

FLAGS = {INSECURE_KEY: "--insecure-registry", MIRRORS_KEY: "--registry-mirror"}
_BY_FLAG = {flag: key for key, flag in FLAGS.items()}
_WRONG = {"--insecure-registries": INSECURE_KEY, "--registry-mirrors": MIRRORS_KEY}
# RHEL docker.service: ExecStart=... $OPTIONS ... $ADD_REGISTRY $BLOCK_REGISTRY $INSECURE_REGISTRY
RHEL_EXTRA = ("ADD_REGISTRY", "BLOCK_REGISTRY", "INSECURE_REGISTRY")
SAFE_WORD = re.compile(r"[A-Za-z0-9._:/\[\]@%+=,-]+")
# Everything an edit may write: safe words, blanks, our own quotes, and a new `NAME="..."` line.
_RAW_OK = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/[]@%+=,-_ '\"\n")
_CR_NOTE = (
    "removed the carriage return (CRLF) ending the edited assignment: sh passed it to dockerd"
)

# One change, twice: on the file text (start, end, raw) and on the shell's view (fs, fe, text).
_Edit = namedtuple("_Edit", "start end raw fs fe text")
# A registry flag: word indexes of flag and value; eq: len("--flag=") if one word, -1: no value
_Occ = namedtuple("_Occ", "key wrong flag val value eq")


@dataclass
class DockerOpts:
    """A parsed shell variable file: the flags dockerd gets, plus what is needed to edit them."""

    path: Path
    text: str
    variable: str = "DOCKER_OPTS"
    value: dict = field(default_factory=dict)  # {"insecure-registries": [...], ...}: flags set
    flags: list[str] = field(default_factory=list)  # every word dockerd gets, in order
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    _chains: dict = field(default_factory=dict, repr=False)  # name -> its effective _Assigns
    _bounds: dict = field(default_factory=dict, repr=False)  # name -> (start, end) in _flat
    _flat: list = field(
        default_factory=list, repr=False
    )  # the shellvars.Ch of all variables, joined
    _words: list = field(default_factory=list, repr=False)  # (start, end) in _flat
    _occs: list = field(default_factory=list, repr=False)
    _unsafe: list = field(default_factory=list, repr=False)  # why editing is refused
    _sh_checked: bool = field(default=False, repr=False)  # `sh -n` accepted the text

    def get_list(self, key: str) -> list[str] | None:
        """The key's values from its flags, in order, or None when no flag sets it."""
        return list(self.value[key]) if key in self.value else None

    def render(self) -> bytes:
        return self.text.encode("utf-8", "surrogateescape")

    def word_lines(self) -> list[int]:
        """The line of the file each word of `flags` starts on (for `file:line` in messages)."""
        return [self.text.count("\n", 0, self._flat[i].start) + 1 for i, _ in self._words]

    def with_list(self, key: str, items: list[str]) -> DockerOpts:
        """A new document whose flags give `key` exactly `items` (no flag at all when empty)."""
        self._require_editable()
        if self._crs():
            return self._apply(self._crs(), [_CR_NOTE]).with_list(key, items)
        import difflib

        items, edits = list(items), []
        occs = [o for o in self._occs if o.key == key and not o.wrong]
        ops = difflib.SequenceMatcher(None, [o.value for o in occs], items, autojunk=False)
        for tag, i1, i2, j1, j2 in ops.get_opcodes():
            common = min(i2 - i1, j2 - j1) if tag != "equal" else 0
            for k in range(common):
                edits.append(self._set_value(occs[i1 + k], self._checked(key, items[j1 + k])))
            edits += [self._delete(occ) for occ in occs[i1 + common : i2] if tag != "equal"]
            new = [self._checked(key, v) for v in items[j1 + common : j2] if tag != "equal"]
            text = " ".join(f"{FLAGS[key]} {v}" for v in new)
            prev = occs[i1 + common - 1] if i1 + common else None
            target = self._target(key)
            if new and (
                not occs or prev is occs[-1] and self._words[prev.val][1] <= self._bounds[target][1]
            ):
                edits.append(self._append(key, target, text, edits))  # at the end of the value
            elif new and prev:  # right after the previous flag: keeps the order
                edits.append(self._insert(self._words[prev.val][1] - 1, " " + text))
            elif new:
                edits.append(self._insert(self._words[occs[0].flag][0], text + " ", before=True))
        new_doc = self._apply(edits, [_CR_NOTE] if _CR_NOTE in self.warnings else [])
        if new_doc.get_list(key) == (items or None):
            return new_doc
        raise self._refuse("a form whose edit did not give the intended values")

    def fix_common_mistakes(self) -> DockerOpts:
        """Rewrite --insecure-registries=a,b, --registry-mirrors, comma lists as repeated flags."""
        self._require_editable()
        if self._crs():
            return self._apply(self._crs(), [_CR_NOTE]).fix_common_mistakes()
        edits, notes = [], [_CR_NOTE] if _CR_NOTE in self.warnings else []
        for occ in (o for o in self._occs if o.wrong or "," in o.value):
            try:
                values = [self._checked(occ.key, v) for v in occ.value.split(",") if v]
            except EnvironmentProblem as err:
                notes.append(f"not fixed: {err.message}")
                continue
            text = " ".join(f"{FLAGS[occ.key]} {v}" for v in values)
            first, last = self._words[occ.flag][0], self._words[occ.val][1]
            edits.append(self._replace(first, last, text) if text else self._delete(occ))
        return self._apply(edits, notes)

    # -- editing helpers ----------------------------------------------------------------------

    def _refuse(self, what: str) -> EnvironmentProblem:
        return EnvironmentProblem(
            f"{self.path}: {self.variable} uses {what} which dockercfg will not rewrite;"
            " edit it by hand"
        )

    def _require_editable(self) -> None:
        if self._unsafe:
            raise self._refuse(self._unsafe[0])
        if not self._sh_checked:
            sv.require_sh_accepts(self.path, self.text, "")
            self._sh_checked = True

    def _checked(self, key: str, value: str) -> str:
        """Only values the model accepts and that are inert in every quoting context are written."""
        shown = f"{self.path}: refusing to write {value[:60]!r}"
        if not SAFE_WORD.fullmatch(value):
            raise EnvironmentProblem(
                f"{shown}: a root shell sources this file; only letters, digits and"
                " . _ : / [ ] @ % + = , - are written into it"
            )
        try:
            from dockercfg import model
        except ImportError:  # the character check above still holds
            return value
        try:
            (model.normalize_insecure if key == INSECURE_KEY else model.normalize_mirror)(value)
        except model.InvalidValue as err:
            raise EnvironmentProblem(f"{shown}: {err.message}") from None
        return value

    def _target(self, key: str) -> str:
        extra = "INSECURE_REGISTRY"
        return extra if key == INSECURE_KEY and self._chains.get(extra) else self.variable

    def _replace(self, i: int, j: int, text: str) -> _Edit:
        """Replace _flat[i:j]: consecutive characters of one assignment, in one quoting context."""
        chars = self._flat[i:j]
        first = chars[0]
        same = all(
            c.owner == first.owner >= 0 and c.idx == first.idx + n for n, c in enumerate(chars)
        )
        if not same or first.ctx != chars[-1].ctx:
            raise self._refuse("quoting around a registry flag")
        return _Edit(first.start, chars[-1].end, _quote(text, first.ctx), i, j, text)

    def _insert(self, k: int, text: str, before: bool = False) -> _Edit:
        c, at = self._flat[k], k + (not before)
        return _Edit(*[c.start if before else c.end] * 2, _quote(text, c.ctx), at, at, text)

    def _set_value(self, occ: _Occ, value: str) -> _Edit:
        start, end = self._words[occ.val]
        if occ.eq < 0:  # a flag without a value at the very end: give it one
            return self._insert(end - 1, " " + value)
        if occ.eq and start + occ.eq == end:  # "--flag=": nothing to replace
            return self._insert(end - 1, value)
        return self._replace(start + occ.eq, end, value)

    def _delete(self, occ: _Occ) -> _Edit:
        """Drop the flag and its value, with the blanks on one side if they are in the same text."""
        first, last = before, after = self._words[occ.flag][0], self._words[occ.val][1]
        while before > 0 and self._flat[before - 1].ch in sv.IFS:
            before -= 1
        while after < len(self._flat) and self._flat[after].ch in sv.IFS:
            after += 1
        for i, j in ([(before, last)] if before < first else []) + [(first, after), (first, last)]:
            try:
                return self._replace(i, j, "")
            except EnvironmentProblem:
                continue
        raise self._refuse("quoting around a registry flag")

    def _append(self, key: str, name: str, text: str, others: list[_Edit]) -> _Edit:
        """Add words at the end of the effective assignment's value, inside its quotes."""
        s0, d = self._bounds[name]
        for o in self._occs:  # appending after it would make the new flag its value
            outside = o.eq < 0 and o.key != key or o.eq == 0 and self._words[o.val][0] >= d
            if outside and s0 <= self._words[o.flag][0] < d:
                raise EnvironmentProblem(
                    f"{self.path}: {name} ends with {self.flags[o.flag]} without a value"
                    " (dockerd will not start); fix that first"
                )
        if not self._chains[name]:  # no assignment: a new line at the end of the file
            if (len(self.text) - len(self.text.rstrip("\\"))) % 2:  # "\\\n" would join lines
                raise EnvironmentProblem(f"{self.path} ends with a backslash: add a newline first")
            nl = "" if self.text.endswith("\n") or not self.text else "\n"
            nl += "\n" if self.text.endswith(("\\", "\\\n")) else ""  # not a continuation
            end = len(self.text)
            return _Edit(end, end, f'{nl}{name}="{text}"\n', s0, s0, text + " ")
        a = self._chains[name][-1]
        body = (" " if d > s0 and self._flat[d - 1].ch not in sv.IFS else "") + text
        if a.quoted and a.quoted[-1][2] == a.ve - 1:
            return _Edit(a.ve - 1, a.ve - 1, body, d, d, body)
        raw = self.text[a.vs : a.ve]
        if SAFE_WORD.fullmatch(raw) and not any(a.vs <= e.start <= a.ve for e in others):
            return _Edit(a.vs, a.ve, f"'{raw}{body}'", d, d, body)  # plain value: quote it whole
        return _Edit(a.ve, a.ve, f"'{body}'", d, d, body)

    def _crs(self) -> list[_Edit]:
        """Remove the "\r" that CRLF line endings glue to assignments."""
        crs = [(k, c) for k, c in enumerate(self._flat) if sv.is_cr(self.text, c)]
        return [_Edit(c.start, c.end, "", k, k + 1, "") for k, c in crs]

    def _apply(self, edits: list[_Edit], notes: list[str]) -> DockerOpts:
        """Write the edits, then prove the result: the shell must see exactly the planned words."""
        edits = sorted(edits, key=lambda e: (e.start, e.end))
        for k in range(len(edits) - 1, 0, -1):  # two deletions may share the blank between them
            a, b = edits[k - 1], edits[k]
            if a.end > b.start and not (a.raw or b.raw or a.text or b.text):
                edits[k - 1 : k + 1] = [a._replace(end=max(a.end, b.end), fe=max(a.fe, b.fe))]
        if any(a.end > b.start for a, b in zip(edits, edits[1:])):
            raise self._refuse("overlapping flags")
        text, chars = self.text, [c.ch for c in self._flat]
        for e in reversed(edits):
            if not set(e.raw) <= _RAW_OK or not all(map(SAFE_WORD.fullmatch, e.text.split())):
                raise EnvironmentProblem(f"{self.path}: refusing to write {e.raw[:60]!r}")
            text = text[: e.start] + e.raw + text[e.end :]
        for e in reversed(sorted(edits, key=lambda e: (e.fs, e.fe))):  # ties: as above
            chars[e.fs : e.fe] = [e.text]
        planned = [w for w in sv.BLANKS.split("".join(chars)) if w]
        new = parse(self.path, text.encode("utf-8", "surrogateescape"), self.variable)
        if new.flags != planned or new._unsafe:
            raise self._refuse("a form that did not survive the self-check")
        if text != self.text:
            sv.require_sh_accepts(self.path, text, "the edited ")
        new._sh_checked = True
        new.warnings += notes
        return new


class DockerOptsTarget:
    """DOCKER_OPTS / OPTIONS: flags that dockerd reads only when it starts; the daemon.json it
    also reads is /etc/docker/daemon.json (or the flags' --config-file)."""

    holds_flags = True
    json_shown = "/etc/docker/daemon.json"

    def __init__(self, host: Host) -> None:
        self.host, self.name = host, host.target

    def read(self, data: bytes, path: Path | None = None) -> DockerOpts:
        return parse(path or self.host.config_path, data, self.host.variable or "DOCKER_OPTS")

    def settings(self, doc: DockerOpts) -> tuple[dict, list[str], str]:
        from dockercfg import safefile
        from dockercfg.targets.daemon_json import parse as parse_json

        json_path, value = self.host.daemon_json, {}
        data = safefile.read_bytes(json_path) if json_path is not None else None
        if json_path is not None and data:
            value = parse_json(json_path, data).value
        return value, ["dockerd", *doc.flags], f"{self.host.variable} in {self.host.shown_path}"

    def file_problems(self, data: bytes, shown: str) -> list[Problem]:
        return []  # the flags' problems are the document's, found as it is read

    def dockerd_problem(self, data: bytes, shown: str | None = None) -> Problem | None:
        return None  # `dockerd --validate` checks a daemon.json, not flags


def _quote(text: str, ctx: str) -> str:
    return f"'{text}'" if ctx == "" and " " in text else text


def parse(path: Path, data: bytes, variable: str = "DOCKER_OPTS") -> DockerOpts:
    """Parse the file; `variable` is DOCKER_OPTS (Debian), OPTIONS (RHEL) or other_args (old)."""
    names = [variable] + (list(RHEL_EXTRA) if variable == "OPTIONS" else [])
    env = sh_assign.evaluate(path, data, names)
    doc = DockerOpts(path=path, text=env.text, variable=variable)
    doc._chains, doc._bounds, doc._flat, doc._words = env.chains, env.bounds, env.flat, env.fields
    doc.flags, doc._unsafe, doc.warnings = env.words, env.unsafe, env.warnings
    _scan_flags(doc)
    return doc


def _scan_flags(doc: DockerOpts) -> None:
    """Find the registry flags and the common mistakes among the words dockerd gets."""
    words = doc.flags

    def problem(code: str, k: int, message: str, hint: str, severity: str = ERROR) -> None:
        pos = doc._flat[doc._words[k][0]].start
        where = f"{doc.path}:{doc.text.count(chr(10), 0, pos) + 1}"
        doc.problems.append(Problem(code, where, message, severity, hint))

    def text_of(k: int) -> str:  # the word without a CRLF's "\r", which any edit removes
        i, j = doc._words[k]
        return words[k][:-1] if sv.is_cr(doc.text, doc._flat[j - 1]) else words[k]

    for k, word in enumerate(words):
        if "\r" in word:
            problem("crlf", k, f"dockerd gets {word!r}: CRLF line ending", "use LF line endings")
        elif any(q in word for q in "'\"\\"):
            problem("literal-quote", k, f"{word} reaches dockerd with its quotes", "", WARNING)
    k = 0
    while k < len(words):
        name, eq, value = text_of(k).partition("=")
        key, wrong, val = _BY_FLAG.get(name) or _WRONG.get(name), name in _WRONG, k + (not eq)
        dangling = key and val == len(words) or wrong and not eq and words[val].startswith("-")
        if dangling:
            if not wrong:
                problem("missing-value", k, f"flag needs an argument: {name}", f"{name} VALUE")
            val = k
        elif key and not eq:
            value = text_of(val)
        if key:
            doc._occs.append(
                _Occ(key, wrong, k, val, value, -1 if dangling else eq and len(name) + 1 or 0)
            )
            fixed = " ".join(f"{FLAGS[key]} {v}" for v in value.split(",") if v) or FLAGS[key]
            if wrong:
                problem("unknown-flag", k, f"unknown flag: {name}", f"use {fixed}")
            elif "," in value:
                msg = f"dockerd does not split {name} on commas: {value} is one value"
                problem("comma-list", k, msg, f"repeat the flag: {fixed}")
            elif not dangling and not any(c.opaque for c in doc._flat[slice(*doc._words[val])]):
                doc.value.setdefault(key, []).append(value)
        k = val + 1 if key else k + 1

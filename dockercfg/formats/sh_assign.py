"""What sourcing a file leaves in some variables: the one POSIX-sh assignment evaluator.

Every reader of a file a shell sources (/etc/default/docker, /etc/sysconfig/docker) goes through
`evaluate`: the DOCKER_OPTS/OPTIONS target, detection (hostfacts) and the sysvinit service's
settings, so they all see the same words. It follows sh where the result is static (quotes,
backslashes, continuations, comments, `export`, last assignment wins, `X="$X ..."` accumulates,
`unset`) and records everything else ($OTHER, $(...), backticks, ~, globs, assignments under
if/&&/functions, IFS, readonly, commands that may stop sourcing) as a reason the value cannot be
proved. The lexer is formats/shellvars.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dockercfg.formats import shellvars as sv


@dataclass
class Sourced:
    """The variables' values after sourcing, joined like an unquoted `$A $B` and split into
    fields; each character keeps the raw span it came from, so an editor can rewrite it."""

    path: Path
    text: str
    names: list[str]
    chains: dict = field(default_factory=dict)  # name -> its effective sv.Assigns
    bounds: dict = field(default_factory=dict)  # name -> (start, end) in flat
    flat: list = field(default_factory=list)  # the sv.Ch of all the variables, joined
    fields: list = field(default_factory=list)  # (start, end) in flat: one word dockerd gets
    words: list[str] = field(default_factory=list)  # the text of each field
    unsafe: list[str] = field(default_factory=list)  # why the value cannot be proved
    warnings: list[str] = field(default_factory=list)


def evaluate(path: Path, data: bytes, names: list[str]) -> Sourced:
    """Evaluate the file's assignments to `names`; an unparsable file raises EnvironmentProblem
    (`file:line: message`)."""
    text = data.decode("utf-8", "surrogateescape")
    out = Sourced(path=path, text=text, names=list(names))
    lexer = sv.Lexer(text)
    try:
        cmds = lexer.commands()
    except sv.ShSyntaxError as err:
        raise sv.unreadable(path, text, err) from None
    variable = names[0]
    out.chains = {n: [] for n in names}
    flats: dict[str, list[sv.Ch]] = {n: [] for n in names}
    conditional: set[int] = set()
    depth = 0
    out.unsafe += lexer.risky + ["parentheses (a subshell, function or case)"] * lexer.parens
    for words, ops in cmds:
        while words and sv.literal(text, *words[0][1:3]) in sv.KEYWORDS:
            head, at = sv.literal(text, *words[0][1:3]), words[0].start
            depth, words = depth + (head in sv.OPEN) - (head in sv.CLOSE), words[1:]
            if depth < 0:
                raise sv.unreadable(
                    path, text, sv.ShSyntaxError(f"syntax error: {head!r} unexpected", at)
                )
        if not words:
            continue
        where = f"{path}:{text.count(chr(10), 0, words[0].start) + 1}"
        head = sv.literal(text, *words[0][1:3])
        declare = head in sv.DECLARE
        found = [sv.assignment(text, w) for w in words[declare:]]
        given = [sv.literal(text, *w[1:3]) or "" for w in words[1:]]
        bad = [n for a, n in zip(found, given) if not (a or sv.NAME.fullmatch(n))]
        if declare and set(bad) - set(sv.DECLARE[head]):  # sh stops at a bad name or option
            raise sv.unreadable(
                path, text, sv.ShSyntaxError(f"{head}: bad variable name", words[0].start)
            )
        ours = set(flats) & {a.name for a in found if a}  # assigned here
        if head == "readonly" and ours | (set(flats) & set(given)):
            out.unsafe.append(f"readonly, which makes later assignments stop the shell ({where})")
        if head == "unset" and "-f" not in given:  # -f: functions
            for n in filter(flats.__contains__, given):
                flats[n], out.chains[n] = [], []
        if head == "unset":
            found = []
        elif not declare and None in found:  # a command, perhaps with assignments in front
            command = sv.literal(text, *words[found.index(None)][1:3])
            if ours:  # sh keeps assignments in front of special builtins only
                out.unsafe.append(f"an assignment in front of a command ({where})")
            if command in sv.STOPS or command is None:  # None: quoted or expanded, any command
                out.unsafe.append(
                    f"`{command or '...'}`, which can change or stop the shell ({where})"
                )
            if head not in sv.HARMLESS:
                shown = text[words[0].start : words[-1].end].split("\n")[0][:40]
                out.warnings.append(f"{where} runs `{shown}`: it may change {variable} unseen")
            keep = command in sv.SPECIAL or command is None  # None: may expand to no command at all
            found = found[: found.index(None)] if keep else []
        for a in filter(None, found):
            if a.name == "IFS":
                out.unsafe.append(f"a changed IFS ({where})")
            if a.name not in flats:
                continue
            if depth > 0 or ops:
                conditional.add(a.vs)
            value = [d for c in a.value for d in (flats[a.name] if c.ref == a.name else [c])]
            self_ref = any(c.ref == a.name for c in a.value)
            out.chains[a.name] = out.chains[a.name] + [a] if self_ref else [a]
            flats[a.name] = value
            note = f"{path}: {a.name} refers to itself: systemd's EnvironmentFile= cannot expand it"
            out.warnings += [note] if self_ref and note not in out.warnings else []
    for n in names:
        out.flat += [sv.Ch(" ", -1, -1)] if n != variable else []  # "$OPTIONS $INSECURE_REGISTRY"
        out.bounds[n] = (len(out.flat), len(out.flat) + len(flats[n]))
        out.flat += flats[n]
        if any(a.vs in conditional for a in out.chains[n]):
            out.unsafe.append(f"a conditional assignment to {n}")
    _split_fields(out)
    return out


def _split_fields(out: Sourced) -> None:
    """Split like an unquoted expansion (default IFS); an expansion or glob in a word means the
    shell, not the text, decides it."""
    start = None
    for k, c in enumerate(out.flat + [sv.Ch(" ", -1, -1)]):
        if c.ch in sv.IFS and not c.opaque and start is not None:
            out.fields.append((start, k))
        start = None if c.ch in sv.IFS and not c.opaque else k if start is None else start
    out.words = ["".join(c.ch for c in out.flat[i:j]) for i, j in out.fields]
    for (i, j), word in zip(out.fields, out.words):
        opaque = [c.opaque for c in out.flat[i:j] if c.opaque]
        if opaque:
            out.unsafe.append(opaque[0])
            out.warnings.append(f"{out.path}: {word[:40]} cannot be read without running it")
        elif "*" in word or "?" in word:
            out.unsafe.append(f"a glob pattern ({word[:40]})")
        elif "[" in word:
            out.warnings.append(f"{word[:60]} is a glob: a matching file would replace it")


def words(path: Path, data: bytes, name: str) -> list[str]:
    """The words an unquoted `$name` gives after sourcing the file (EnvironmentProblem when the
    shell cannot parse it)."""
    return evaluate(path, data, [name]).words

"""The sh lexer that finds the words of /etc/default/docker, judged by the real /bin/sh (dash):
what sh -n accepts, the lexer reads; where sh -n stops, the lexer stops at the same place."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support import unavailable

from dockercfg.errors import EnvironmentProblem
from dockercfg.formats import shellvars as sv
from dockercfg.formats.shellvars import Lexer, ShSyntaxError
from dockercfg.targets.docker_opts import INSECURE_KEY, parse

SH_READS = [
    'X=$(echo ")")\n',
    "X=$(echo ')')\n",
    "X=$(echo \\))\n",
    "X=$( (echo a) )\n",
    "X=${A}\n",
    'X=${A:-"}"}\n',
    "X=${A:-'}'}\n",
    "X=`echo a`\n",
    "X=`echo \\`a\\``\n",
    "X=$(echo $(echo a))\n",
    "X=$((1+2))\n",
    'X="$(echo ")")"\n',
    "X=${A:-${B}}\n",
    "X=${#A}\n",
    "X=$1$@$-$$\n",
]
# (text, the lexer's message, the offset of the "$" or "`" that starts what is not closed)
SH_STOPS = [
    ("X=$(echo a\n", "unterminated $(", 2),
    ("X=${A\n", "unterminated ${", 2),
    ('X=$(echo "a\n', "unterminated $(", 2),
    ("X=`echo a\n", "unterminated backquote", 2),
    ("X=$(echo $(echo a)\n", "unterminated $(", 2),
    ("X=$(echo 'a\n", "unterminated $(", 2),
    ('X=$(echo ")\n', "unterminated $(", 2),
    ("X=${A:-${B}\n", "unterminated ${", 2),
    ("X=$(echo ()\n", "unterminated $(", 2),
    ("Y=1\nX=$(echo a\n", "unterminated $(", 6),
]


def sh_accepts(text: str) -> bool:
    if not Path("/bin/sh").exists():
        unavailable("no /bin/sh")
    return (
        subprocess.run(["/bin/sh", "-n"], input=text.encode(), capture_output=True).returncode == 0
    )


@pytest.mark.parametrize("text", SH_READS)
def test_what_sh_reads_the_lexer_reads(text):
    assert sh_accepts(text)
    Lexer(text).commands()
    assert parse(Path("/etc/default/docker"), text.encode()).flags == []


@pytest.mark.parametrize(("text", "message", "at"), SH_STOPS)
def test_where_sh_stops_the_lexer_stops(text, message, at):
    assert not sh_accepts(text)
    with pytest.raises(ShSyntaxError) as info:
        Lexer(text).commands()
    assert info.value.args == (message, at)


def test_the_refusal_names_the_line():
    path = Path("/etc/default/docker")
    text = "Y=1\nZ=2\nDOCKER_OPTS=$(echo a\n"
    with pytest.raises(EnvironmentProblem) as info:
        parse(path, text.encode()).with_list(INSECURE_KEY, ["a:5000"])
    assert info.value.message == (
        f"{path}:3: unterminated $(; refusing to edit a file the shell cannot read"
    )


P = Path("/etc/default/docker")
REFUSED = "which dockercfg will not rewrite; edit it by hand"


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ('DOCKER_OPTS="`echo x` --debug"\n', "`...`"),
        ('DOCKER_OPTS="`echo \\`x\\``"\n', "`...`"),
        ('DOCKER_OPTS="$(echo x) --debug"\n', "$(...)"),
        ('DOCKER_OPTS="$1 --debug"\n', "$1"),
        ('DOCKER_OPTS="$@"\n', "$@"),
        ('DOCKER_OPTS="${A} --debug"\n', "${A}"),
        ('DOCKER_OPTS="$A"\n', "$A"),
        ('DOCKER_OPTS="${A:?x}"\n', "${A:?x}"),
        ('DOCKER_OPTS="${A-b}"\n', "${A-b}"),
        ('DOCKER_OPTS="${' + "A" * 50 + '}"\n', "${" + "A" * 38),  # shown cut at 40
        ("X=~\nDOCKER_OPTS=a:~/x\n", "~"),
        ("DOCKER_OPTS=~/x\n", "~"),
    ],
)
def test_expansions_are_named_and_refused(text, what):
    with pytest.raises(EnvironmentProblem) as info:
        parse(P, text.encode()).with_list(INSECURE_KEY, ["a:1"])
    assert info.value.message == f"{P}: DOCKER_OPTS uses {what} {REFUSED}"


@pytest.mark.parametrize("text", ['DOCKER_OPTS="$"\n', 'DOCKER_OPTS="a$ b"\n', "DOCKER_OPTS=a~b\n"])
def test_a_literal_dollar_or_tilde_is_plain_text(text):
    # sh leaves "$" before a blank or the end, and "~" inside a word, as they are.
    new = parse(P, text.encode()).with_list(INSECURE_KEY, ["a:1"])
    assert new.flags[-2:] == ["--insecure-registry", "a:1"]


def test_a_bad_substitution_is_where_sh_stops():
    with pytest.raises(EnvironmentProblem) as info:
        parse(P, b'\nDOCKER_OPTS="${%}"\n').with_list(INSECURE_KEY, ["a:1"])
    assert info.value.message == (
        f"{P}:2: bad substitution; refusing to edit a file the shell cannot read"
    )
    with pytest.raises(ShSyntaxError) as err:
        Lexer('X="$(echo ${%})"\n').commands()
    assert err.value.args == ("bad substitution", 3)  # reported at the "$(" it is inside


def fake_sh(tmp_path: Path, body: str) -> str:
    """A stand-in for /bin/sh that answers as told: only to check how an answer is reported."""
    script = tmp_path / "sh"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return str(script)


def test_what_sh_says_is_its_first_line(monkeypatch, tmp_path):
    if not Path("/bin/sh").exists():
        unavailable("no /bin/sh")
    assert (
        sv.sh_complaint("if\n")
        == '/bin/sh: 2: Syntax error: end of file unexpected (expecting "then")'
    )
    # Bytes that are not UTF-8 reach sh as they are (surrogateescape), and it still complains.
    assert sv.sh_complaint("if \udcff\n") is not None
    assert sv.sh_complaint("A=1\n") is None
    with pytest.raises(EnvironmentProblem) as info:
        sv.require_sh_accepts(P, "if\n", "the edited ")
    assert info.value.message == (
        f"{P}: /bin/sh cannot read the edited file (/bin/sh: 2: Syntax error: end of file"
        ' unexpected (expecting "then")); refusing to edit a file the shell cannot read'
    )
    monkeypatch.setattr(sv, "SH", fake_sh(tmp_path, "printf 'bad\\001%0250d\\n' 0 >&2; exit 1"))
    assert sv.sh_complaint("x") == "bad?" + "0" * 196
    monkeypatch.setattr(sv, "SH", fake_sh(tmp_path, "exit 2"))
    assert sv.sh_complaint("x") == f"`{sv.SH} -n` exited with status 2"
    monkeypatch.setattr(sv, "SH", fake_sh(tmp_path, "sleep 5"))
    monkeypatch.setattr(sv, "SH_TIMEOUT", 0.3)
    assert sv.sh_complaint("x") == f"`{sv.SH} -n` gave no answer within 0.3 s"
    monkeypatch.setattr(sv, "SH", str(tmp_path / "missing"))
    assert sv.sh_complaint("if\n") is None


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("read\\\nonly DOCKER_OPTS='--debug'\n",
         "readonly, which makes later assignments stop the shell (/etc/default/docker:1)"),
        ("DOCKER_OPTS='--debug'\nex\\\nit 0\n",
         "`exit`, which can change or stop the shell (/etc/default/docker:2)"),
    ],
)  # fmt: skip
def test_a_keyword_split_by_a_line_continuation_is_still_the_keyword(text, what):
    # sh removes backslash-newline before it reads words: "read\<newline>only" is readonly.
    with pytest.raises(EnvironmentProblem) as info:
        parse(P, text.encode()).with_list(INSECURE_KEY, ["a:1"])
    assert info.value.message == f"{P}: DOCKER_OPTS uses {what} {REFUSED}"


def test_a_name_split_by_a_line_continuation_is_still_the_variable():
    from test_docker_opts import sh_words

    text = "DOC\\\nKER_OPTS='--debug'\n"
    out = parse(P, text.encode()).with_list(INSECURE_KEY, ["a:1"]).render().decode()
    assert out == "DOC\\\nKER_OPTS='--debug --insecure-registry a:1'\n"
    assert sh_words(out) == ["--debug", "--insecure-registry", "a:1"]


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ("DOCKER_OPTS=--debug\r\n", "DOCKER_OPTS='--debug --insecure-registry a:1'\n"),
        ("DOCKER_OPTS='--debug'\r\nA=1\r\n",
         "DOCKER_OPTS='--debug --insecure-registry a:1'\nA=1\r\n"),
    ],
)  # fmt: skip
def test_the_crlf_of_the_first_assignment_goes_with_the_edit(text, out):
    from test_docker_opts import sh_words

    doc = parse(P, text.encode())
    assert doc.flags == sh_words(text) == ["--debug\r"]  # what sh hands dockerd from CRLF
    assert doc.with_list(INSECURE_KEY, ["a:1"]).render().decode() == out


def lexed(text: str) -> list[tuple[list[str], str]]:
    """Each simple command as its words after quote removal, with the operators around it."""
    return [
        (["".join(c.ch for c in w.chars) for w in words], op)
        for words, op in Lexer(text).commands()
    ]


def sh_argv(words: str) -> list[str]:
    """The arguments sh passes a command written with these words (after quote removal)."""
    if not Path("/bin/sh").exists():
        unavailable("no /bin/sh")
    out = subprocess.run(
        ["/bin/sh", "-c", 'printf "%s\\0" ' + words],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        check=True,
    ).stdout
    return out.decode().split("\0")[:-1]


def only_word(text: str):
    [(words, op)] = Lexer(text).commands()
    assert (len(words), op) == (1, "")
    return words[0]


def spelled(word) -> list[tuple]:
    return [(c.ch, c.start, c.end, c.ctx, c.opaque, c.ref) for c in word.chars]


@pytest.mark.parametrize(
    ("text", "commands"),
    [
        ("a\n", [(["a"], "")]),
        ("aXb c\n", [(["aXb", "c"], "")]),
        ("a \\\nbc\n", [(["a", "bc"], "")]),
        ("a >f b\n", [(["a", "b"], ">")]),
        ("a <f b\n", [(["a", "b"], "<")]),
        ("a >X b\n", [(["a", "b"], ">")]),
        ("a >>f b\n", [(["a", "b"], ">")]),
        ("a | b\n", [(["a"], "|"), (["b"], "|")]),
        ("a || b\n", [(["a"], "||"), (["b"], "||")]),
        ("a && b\n", [(["a"], "&&"), (["b"], "&&")]),
        ("a ||\nb\n", [(["a"], "||"), (["b"], "||")]),
        ("a |\nb\n", [(["a"], "|"), (["b"], "|")]),
        ("a &&\nb\n", [(["a"], "&&"), (["b"], "&&")]),
        ("a &\nb\n", [(["a"], "&"), (["b"], "")]),
        ("a; b\n", [(["a"], ""), (["b"], "")]),
        ("(a); b\n", [(["a"], "()"), (["b"], "")]),
        ("case x in a) b;; esac\n",
         [(["case", "x", "in", "a"], ")"), (["b"], ");;"), (["esac"], ";;")]),
        ("# a\nb # c\n", [(["b"], "")]),
        ("b # c", [(["b"], "")]),
    ],
)  # fmt: skip
def test_simple_commands_and_the_operators_around_them(text, commands):
    assert sh_accepts(text)
    assert lexed(text) == commands


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("; a\n", ("syntax error: ';' unexpected", 0)),
        ("a && && b\n", ("syntax error: '&&' unexpected", 5)),
        ("a < ;\n", ("syntax error: ';' unexpected", 4)),
        ("a > ;\n", ("syntax error: ';' unexpected", 4)),
        ("a ;; b\n", ("syntax error: ';;' unexpected", 2)),
        ("a ||", ("syntax error: end of file unexpected", 4)),
        ("a |\n", ("syntax error: end of file unexpected", 4)),
        ("a &&\n\n", ("syntax error: end of file unexpected", 6)),
        ("a <", ("syntax error: end of file unexpected", 3)),
        ("a >", ("syntax error: end of file unexpected", 3)),
        ("a 'b\n", ("unterminated single quote", 2)),
        ('a "b\n', ("unterminated double quote", 2)),
        ("a b'c\n", ("unterminated single quote", 3)),
        ("X=`;`\n", ("syntax error: ';' unexpected", 2)),
        ("X=$(;)\n", ("syntax error: ';' unexpected", 2)),
        ('X=${A:-"}', ("unterminated ${", 2)),
        ("X=$(echo ')", ("unterminated $(", 2)),
    ],
)
def test_where_sh_finds_a_syntax_error_the_lexer_does(text, args):
    assert not sh_accepts(text)
    with pytest.raises(ShSyntaxError) as info:
        Lexer(text).commands()
    assert info.value.args == args


def test_quotes_are_removed_and_each_character_keeps_its_span_and_quote():
    text = "a'b'\"c\"\n"
    word = only_word(text)
    assert (word.start, word.end, word.quoted) == (0, 7, [("'", 2, 3), ('"', 5, 6)])
    assert spelled(word) == [
        ("a", 0, 1, "", "", ""),
        ("b", 2, 3, "'", "", ""),
        ("c", 5, 6, '"', "", ""),
    ]
    assert sh_argv(text) == ["abc"]


def test_a_backslash_quotes_one_character_and_in_double_quotes_only_a_special_one():
    text = 'a\\b"\\$\\X"\n'
    word = only_word(text)
    assert (word.start, word.end, word.quoted) == (0, 9, [('"', 4, 8)])
    assert spelled(word) == [
        ("a", 0, 1, "", "", ""),
        ("b", 1, 3, "", "", ""),
        ("$", 4, 6, '"', "", ""),
        ("\\", 6, 7, '"', "", ""),
        ("X", 7, 8, '"', "", ""),
    ]
    assert sh_argv(text) == ["ab$\\X"]


def test_expansions_are_one_opaque_character_naming_the_variable_they_read():
    text = 'Xa$A"${B}"$(c)`d`$1${C-x}\n'
    assert sh_accepts(text)
    word = only_word(text)
    assert (word.start, word.end, word.quoted) == (0, 25, [('"', 5, 9)])
    assert spelled(word) == [
        ("X", 0, 1, "", "", ""),
        ("a", 1, 2, "", "", ""),
        ("$A", 2, 4, "", "$A", "A"),
        ("${B}", 5, 9, '"', "${B}", "B"),
        ("$(c)", 10, 14, "", "$(...)", ""),
        ("`d`", 14, 17, "", "`...`", ""),
        ("$1", 17, 19, "", "$1", ""),
        ("${C-x}", 19, 25, "", "${C-x}", ""),
    ]


@pytest.mark.parametrize(
    ("text", "chars"),
    [
        ("X=``\n", [("X", 0, 1, "", "", ""), ("=", 1, 2, "", "", ""),
                    ("``", 2, 4, "", "`...`", "")]),
        ("X=${A:-''}\n", [("X", 0, 1, "", "", ""), ("=", 1, 2, "", "", ""),
                          ("${A:-''}", 2, 10, "", "${A:-''}", "")]),
        ('X=$(echo "")\n', [("X", 0, 1, "", "", ""), ("=", 1, 2, "", "", ""),
                            ('$(echo "")', 2, 12, "", "$(...)", "")]),
    ],
)  # fmt: skip
def test_an_empty_quote_inside_an_expansion_does_not_end_it(text, chars):
    assert sh_accepts(text)
    word = only_word(text)
    assert spelled(word) == chars


@pytest.mark.parametrize(
    ("text", "risky"),
    [
        ("a >f\n", ["a redirection that may fail"]),
        ("a >>f\n", ["a redirection that may fail"]),
        ("a 2>&1\n", ["a redirection that may fail"]),
        ("a <f >g\n", ["a redirection that may fail", "a redirection that may fail"]),
        ("cat <<E\nx\nE\n", ["a here-document"]),
        ("X=$((1/0))\n", ["$((...))"]),
        ("X=${A?a\nb}\n", ["${A?a\nb}"]),
        ("X=${A:?" + "x" * 50 + "}\n", ["${A:?" + "x" * 35]),
        ("X=${A:-x} ${A}\n", []),
    ],
)
def test_what_can_stop_the_shell_is_noted(text, risky):
    assert sh_accepts(text)
    lexer = Lexer(text)
    lexer.commands()
    assert lexer.risky == risky


def test_a_tilde_is_expanded_at_the_start_of_a_value_and_after_a_colon():
    text = "A=X~:~\n"
    word = only_word(text)
    found = sv.assignment(text, word)
    assert (found.name, found.vs, found.ve, found.quoted) == ("A", 2, 6, [])
    assert [(c.ch, c.opaque, c.owner, c.idx) for c in found.value] == [
        ("X", "", 2, 0),
        ("~", "", 2, 1),
        (":", "", 2, 2),
        ("~", "~", 2, 3),
    ]
    if not Path("/bin/sh").exists():
        unavailable("no /bin/sh")
    said = subprocess.run(
        ["/bin/sh", "-c", text + 'printf %s "$A"'],
        env={"PATH": "/usr/bin:/bin", "HOME": "/h"},
        capture_output=True,
    ).stdout
    assert said == b"X~:/h"


def test_a_carriage_return_ends_a_line_only_before_a_newline_or_the_end():
    text = "A=a\rb\nB=c\r"
    cmds = Lexer(text).commands()
    assert [[c.ch for c in words[0].chars] for words, _ in cmds] == [
        ["A", "=", "a", "\r", "b"],
        ["B", "=", "c", "\r"],
    ]
    first = sv.assignment(text, cmds[0][0][0])
    last = sv.assignment(text, cmds[1][0][0])
    assert [sv.is_cr(text, c) for c in first.value] == [False, False, False]
    assert [sv.is_cr(text, c) for c in last.value] == [False, True]


def test_sh_n_runs_with_a_fixed_path_in_the_c_locale_and_bytes_not_utf8_are_replaced(
    monkeypatch, tmp_path
):
    body = 'printf \'%s %s \\377\\n\' "$PATH" "$LC_ALL" >&2; exit 1'
    monkeypatch.setattr(sv, "SH", fake_sh(tmp_path, body))
    assert sv.sh_complaint("x") == "/usr/bin:/bin C \ufffd"

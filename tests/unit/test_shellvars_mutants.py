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

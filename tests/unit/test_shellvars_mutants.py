"""The sh lexer that finds the words of /etc/default/docker, judged by the real /bin/sh (dash):
what sh -n accepts, the lexer reads; where sh -n stops, the lexer stops at the same place."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support import unavailable

from dockercfg.errors import EnvironmentProblem
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

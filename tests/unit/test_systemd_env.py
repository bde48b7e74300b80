"""systemd's EnvironmentFile=, Environment= and ExecStart= rules (src/basic/env-file.c,
env-util.c replace_env_argv, load-fragment.c); the live comparison is in
tests/integration/test_env_readers.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockercfg.formats.systemd_env import (
    EnvFileError,
    expand_argv,
    expand_exec_start,
    parse_assignments,
    parse_environment_file,
    parse_environment_line,
)


@pytest.mark.parametrize(
    "text, env",
    [
        ('DOCKER_OPTS="$DOCKER_OPTS --registry-mirror https://m"\n',
         {"DOCKER_OPTS": "$DOCKER_OPTS --registry-mirror https://m"}),  # never expanded
        ("A=1\nA=2\n", {"A": "2"}),
        ("  A = b c  \n", {"A": "b c"}),  # key and value trimmed
        ("A=a \"b\"\n", {"A": 'a "b"'}),  # quotes count only at the start of the value
        ("A=\"x\" 'y' z\n", {"A": "xyz"}),
        ("A=a\\\n  b\n", {"A": "a  b"}),  # continuation: the newline goes, the indent stays
        ('A="a\\$b\\n\\"c"\n', {"A": 'a$b\\n"c'}),  # only " \\ ` $ lose their backslash
        ("A='a\\b'\n", {"A": "a\\b"}),
        ("#A=1\n;B=2\nC=3", {"C": "3"}),
        ("export A=1\n1X=2\nA-B=3\n", {}),  # not valid names: dropped at exec time
        ("A\nB=\n", {"B": ""}),  # no "=": ignored
        ('A="open\nB=2\n', {"A": "open\nB=2\n"}),
        ("A=1\x00B=2\n", {"A": "1"}),  # a C string: ends at NUL
        ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
    ],
)  # fmt: skip
def test_environment_file(text, env):
    assert parse_environment_file(text) == env


def test_a_comment_ending_in_backslash_continues_before_254():
    text = "# note \\\nA=1\nB=2\n"
    assert parse_environment_file(text, 252) == {"B": "2"}
    assert parse_environment_file(text, 254) == {"A": "1", "B": "2"}


def test_invalid_utf8_refuses_the_file_with_its_line():
    with pytest.raises(EnvFileError) as info:
        parse_environment_file(b"A=1\nB=\xff\n")
    assert info.value.line == 2 and "UTF-8" in info.value.message


def test_positions_for_messages():
    items = parse_assignments("# c\nA=1\n\nB=x\\\ny\n")
    assert [(i.key, i.value, i.line) for i in items] == [("A", "1", 2), ("B", "xy", 4)]


def test_environment_line():
    assert parse_environment_line('"A=b c" D=e F=%%x bad') == {"A": "b c", "D": "e", "F": "%x"}
    assert parse_environment_line("A=%n", {"n": "docker.service"}) == {"A": "docker.service"}


@pytest.mark.parametrize(
    "argv_text, env, argv",
    [
        ("/usr/sbin/dockerd -H fd:// $DOCKER_OPTS", {"DOCKER_OPTS": "--a 'b c' --d"},
         ["/usr/sbin/dockerd", "-H", "fd://", "--a", "b c", "--d"]),
        ("-/bin/d ${DOCKER_OPTS}", {"DOCKER_OPTS": "--a b"}, ["/bin/d", "--a b"]),
        ("/bin/d $DOCKER_OPTS", {}, ["/bin/d"]),  # unset: the word goes
        ("/bin/d $DOCKER_OPTS", {"DOCKER_OPTS": "$DOCKER_OPTS --x"},
         ["/bin/d", "$DOCKER_OPTS", "--x"]),
        ("/bin/d x$A ${A}y $$A ${A:-z} ${A", {"A": "1"},
         ["/bin/d", "x$A", "1y", "$A", "${A:-z}", "${A"]),
        ('/bin/d "a b" \\x41', {}, ["/bin/d", "a b", "A"]),
    ],
)  # fmt: skip
def test_exec_start(argv_text, env, argv):
    assert expand_exec_start(argv_text, env) == argv


@given(st.text())
def test_any_text_gives_valid_names_only(text):
    env = parse_environment_file(text)
    assert all(k and not k[0].isdigit() and k.replace("_", "a").isalnum() for k in env)
    expand_argv(["$" + k for k in env] + ["${" + k + "}" for k in env], env)

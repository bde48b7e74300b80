"""DOCKER_OPTS / OPTIONS files: the parser agrees with the real /bin/sh, edits touch only their
region, and nothing unsafe is ever written into a file that a root shell sources."""

from __future__ import annotations

import difflib
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import unavailable

from dockercfg import model
from dockercfg.errors import EnvironmentProblem
from dockercfg.targets.docker_opts import INSECURE_KEY, MIRRORS_KEY, SAFE_WORD, DockerOpts, parse

P = Path("/etc/default/docker")
RHEL = Path("/etc/sysconfig/docker")
RHEL_VARS = "$OPTIONS $ADD_REGISTRY $BLOCK_REGISTRY $INSECURE_REGISTRY"
REFUSED = "which dockercfg will not rewrite; edit it by hand"
# Written text may only contain safe words, blanks, our own quotes and a new NAME="..." line.
WRITABLE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/[]@%+=,-_ '\"\n")

# /etc/default/docker as shipped by Debian 12's docker.io (a copy: the real file is not touched).
DEBIAN_DEFAULT = (
    "# Here in Debian, this file is sourced by:\n"
    "#   - /etc/init.d/docker (sysvinit)\n"
    "#   - /etc/init/docker (upstart)\n"
    "#   - systemd's docker.service\n"
    "\n"
    "# Use of this file for configuring your Docker daemon is discouraged.\n"
    "\n"
    '# The recommended alternative is "/etc/docker/daemon.json", as described in:\n'
    "#   https://docs.docker.com/engine/reference/commandline/dockerd/#daemon-configuration-file\n"
    "\n"
    "# If that does not suit your needs, try a systemd drop-in file, as described in:\n"
    "#   https://docs.docker.com/config/daemon/systemd/\n"
)

# RHEL 7 docker 1.13 /etc/sysconfig/docker, abridged.
RHEL_SYSCONFIG = (
    "# /etc/sysconfig/docker\n"
    "\n"
    "# Modify these options if you want to change the way the docker daemon runs\n"
    "OPTIONS='--selinux-enabled --log-driver=journald --signature-verification=false'\n"
    'if [ -z "${DOCKER_CERT_PATH}" ]; then\n'
    "    DOCKER_CERT_PATH=/etc/docker\n"
    "fi\n"
    "\n"
    "# If you want to add your own registry to be used for docker search and docker\n"
    "# pull use the ADD_REGISTRY option to list a set of registries, each prepended\n"
    "# with --add-registry flag.\n"
    "ADD_REGISTRY='--add-registry registry.access.redhat.com'\n"
    "\n"
    "# INSECURE_REGISTRY='--insecure-registry'\n"
)


def sh_words(text: str, variables: str = "$DOCKER_OPTS") -> list[str]:
    """What dockerd would get: the real /bin/sh sources a temp copy and expands the variables
    unquoted, like `printf "%s\\n" $DOCKER_OPTS` (NUL-separated so a "\\r" or "\\n" shows)."""
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as cwd:
        path = Path(tmp, "docker")  # cwd stays empty: globs match nothing
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        script = f'. "$1" >/dev/null; for w in {variables}; do printf "%s\\0" "$w"; done'
        out = subprocess.run(
            ["/bin/sh", "-c", script, "sh", str(path)],
            cwd=cwd,
            env={"PATH": "/usr/bin:/bin"},
            capture_output=True,
            timeout=10,
            check=False,
        ).stdout
    return out.decode("utf-8", "surrogateescape").split("\0")[:-1]


def nothing_unsafe_added(before: str, after: str) -> bool:
    """Every character outside WRITABLE in `after` is one of `before`'s, in the same order."""
    kept = iter(c for c in before if c not in WRITABLE)
    return all(c in kept for c in after if c not in WRITABLE)


def sh_parses(text: str) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "f").write_bytes(text.encode("utf-8", "surrogateescape"))
        return (
            subprocess.run(["/bin/sh", "-n", str(Path(tmp, "f"))], capture_output=True).returncode
            == 0
        )


def writable(key: str, value: str) -> bool:
    try:
        (model.normalize_insecure if key == INSECURE_KEY else model.normalize_mirror)(value)
    except model.InvalidValue:
        return False
    return bool(SAFE_WORD.fullmatch(value))


def lines(text: str) -> list[str]:
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def touched(before: str, after: str) -> set[int]:
    """0-based numbers of the lines of `before` that the edit changed (or inserted before)."""
    matcher = difflib.SequenceMatcher(None, lines(before), lines(after), autojunk=False)
    out: set[int] = set()
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag != "equal":
            out |= set(range(i1, i2)) or {i1}
    return out


def edit(text: str, key: str, items: list[str], variable: str = "DOCKER_OPTS") -> DockerOpts:
    doc = parse(P, text.encode(), variable)
    new = doc.with_list(key, items)
    assert isinstance(new, DockerOpts)
    return new


def check_edit(text, key, items, region, *, variable="DOCKER_OPTS", names="$DOCKER_OPTS"):
    """Edit, then prove: only `region` lines changed, the shell agrees, the key is exactly set."""
    new = edit(text, key, items, variable)
    out = new.render().decode()
    assert touched(text, out) <= set(region), (text, out)
    assert sh_words(out, names) == new.flags
    assert new.get_list(key) == (items or None)
    assert parse(P, new.render(), variable).flags == new.flags
    return out


# -- reading --------------------------------------------------------------------------------------


def test_debian_default_file_has_no_flags_and_gets_a_new_assignment_at_the_end():
    doc = parse(P, DEBIAN_DEFAULT.encode())
    assert (doc.value, doc.flags, doc.problems, doc.warnings) == ({}, [], [], [])
    assert doc.get_list(INSECURE_KEY) is None and doc.render() == DEBIAN_DEFAULT.encode()
    out = check_edit(DEBIAN_DEFAULT, INSECURE_KEY, ["192.168.199.100:5000"], {12})
    assert out == DEBIAN_DEFAULT + 'DOCKER_OPTS="--insecure-registry 192.168.199.100:5000"\n'
    assert sh_words(out) == ["--insecure-registry", "192.168.199.100:5000"]


@pytest.mark.parametrize("text", ["", "\n", "# only\n# comments", "#DOCKER_OPTS='--debug'\n"])
def test_empty_and_comment_only_files(text):
    doc = parse(P, text.encode())
    assert doc.flags == [] and doc.value == {} and sh_words(text) == []
    out = edit(text, INSECURE_KEY, ["a:5000"]).render().decode()
    assert out.startswith(text) and out.endswith('DOCKER_OPTS="--insecure-registry a:5000"\n')
    assert sh_words(out) == ["--insecure-registry", "a:5000"]
    assert edit(text, INSECURE_KEY, []).render().decode() == text  # nothing to remove


@pytest.mark.parametrize(
    "text, words",
    [
        (
            'DOCKER_OPTS="--debug  --insecure-registry a:5000"\n',
            ["--debug", "--insecure-registry", "a:5000"],
        ),
        ("DOCKER_OPTS='--insecure-registry=a:5000'", ["--insecure-registry=a:5000"]),
        ("DOCKER_OPTS=--insecure-registry=a:5000\n", ["--insecure-registry=a:5000"]),
        ('export DOCKER_OPTS="--debug" # --insecure-registry x\n', ["--debug"]),
        ("DOCKER_OPTS=a#b\n", ["a#b"]),
        ('DOCKER_OPTS="--a"\nDOCKER_OPTS="--b"\n', ["--b"]),
        ('DOCKER_OPTS="--a"; DOCKER_OPTS="$DOCKER_OPTS --b"\n', ["--a", "--b"]),
        ('DOCKER_OPTS="${DOCKER_OPTS} --b"\n', ["--b"]),
        ("DOCKER_OPTS=--a\\ --b\\\n--c\n", ["--a", "--b--c"]),
        ('DOCKER_OPTS="--a \\\n  --b"\n', ["--a", "--b"]),
        ('DOCKER_OPTS="--a\n  --b"\n', ["--a", "--b"]),
        ("DOCKER_OPTS='--a \\\n--b'\n", ["--a", "\\", "--b"]),
        ('DOCKER_OPTS="a\\"b \\$c \\\\ \\x"\n', ['a"b', "$c", "\\", "\\x"]),
        ("DOCKER_OPTS=\"x\"'y'z\n", ["xyz"]),
        ('DOCKER_OPTS="--a"\r\n', ["--a\r"]),
        ("DOCKER_OPTS='--a'; unset DOCKER_OPTS\n", []),
        ("FOO=1 DOCKER_OPTS=--a BAR=2\n", ["--a"]),
        ("readonly DOCKER_OPTS=--a\n", ["--a"]),
        ("unset -f DOCKER_OPTS\nDOCKER_OPTS=--a; unset -v FOO\n", ["--a"]),
        ("DOCKER_OPTS=--a :\n", ["--a"]),  # kept: `:` is a special builtin
        ("DOCKER_OPTS=--a true\n", []),  # not kept for other commands
    ],
)
def test_reading_agrees_with_the_shell(text, words):
    assert sh_words(text) == words
    assert parse(P, text.encode()).flags == words


def test_flag_forms_repeats_and_both_keys():
    text = (
        'DOCKER_OPTS="--insecure-registry a:5000 --insecure-registry=b:5000 -H fd://'
        ' --registry-mirror https://m.test/ --registry-mirror=https://n.test/"\n'
    )
    doc = parse(P, text.encode())
    assert doc.get_list(INSECURE_KEY) == ["a:5000", "b:5000"]
    assert doc.get_list(MIRRORS_KEY) == ["https://m.test/", "https://n.test/"]
    assert doc.value == {INSECURE_KEY: ["a:5000", "b:5000"], MIRRORS_KEY: doc.get_list(MIRRORS_KEY)}
    assert doc.flags[3:5] == ["-H", "fd://"] and doc.problems == []


@pytest.mark.parametrize(
    "text",
    [
        'DOCKER_OPTS="--a\n',
        "DOCKER_OPTS='--a",
        "X=$(echo",
        "X=`echo",
        "X=$(;)\n",
        "; DOCKER_OPTS=--a\n",
        "true;;\n",
        "true &&\n",
        "fi\nDOCKER_OPTS=--a\n",
        "X=${}\n",
        "export -x DOCKER_OPTS=--a\n",
        "export 1x\n",
    ],
)
def test_what_sh_cannot_run_is_an_environment_problem(text):
    """sh stops at these (syntax errors, errors of special builtins): so does the parser."""
    with pytest.raises(EnvironmentProblem, match="shell cannot read"):
        parse(P, text.encode())
    assert sh_words(text, "reached") == []  # sh gave up on the file too


# -- editing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        ('DOCKER_OPTS="--debug"\n', 'DOCKER_OPTS="--debug --insecure-registry b:5000"\n'),
        ("DOCKER_OPTS='--debug'\n", "DOCKER_OPTS='--debug --insecure-registry b:5000'\n"),
        ("DOCKER_OPTS=--debug\n", "DOCKER_OPTS='--debug --insecure-registry b:5000'\n"),
        ('DOCKER_OPTS=""\n', 'DOCKER_OPTS="--insecure-registry b:5000"\n'),
        ("DOCKER_OPTS=\n", "DOCKER_OPTS='--insecure-registry b:5000'\n"),
        (
            'export DOCKER_OPTS="--debug "  # keep\n',
            'export DOCKER_OPTS="--debug --insecure-registry b:5000"  # keep\n',
        ),
        ("DOCKER_OPTS=--label\\ a=b\n", "DOCKER_OPTS=--label\\ a=b' --insecure-registry b:5000'\n"),
        ('DOCKER_OPTS="--debug"', 'DOCKER_OPTS="--debug --insecure-registry b:5000"'),
    ],
)
def test_add_goes_inside_the_quotes_of_the_effective_assignment(line, expected):
    text = "# before\n" + line + ("# after\n" if line.endswith("\n") else "")
    out = check_edit(text, INSECURE_KEY, ["b:5000"], {1})
    assert out == text.replace(line, expected)


def test_replace_in_place_keeps_the_form_and_every_other_word():
    text = "A=1\nDOCKER_OPTS='-H fd:// --insecure-registry=a:5000 --debug' # c\nB=2\n"
    out = check_edit(text, INSECURE_KEY, ["b:5000"], {1})
    assert out == text.replace("=a:5000", "=b:5000")
    out = check_edit(text.replace("=a", " a"), INSECURE_KEY, ["b:5000"], {1})
    assert out == text.replace("=a:5000", " b:5000")


@pytest.mark.parametrize(
    "value, items, expected",
    [
        ("--insecure-registry a --debug", [], "--debug"),
        ("--debug --insecure-registry a", [], "--debug"),
        ("--insecure-registry a", [], ""),
        (
            "--insecure-registry a --debug --insecure-registry=b -D",
            ["b"],
            "--debug --insecure-registry=b -D",
        ),
        (
            "--insecure-registry a --insecure-registry b",
            ["a", "c", "b"],
            "--insecure-registry a --insecure-registry c --insecure-registry b",
        ),
        ("--insecure-registry b", ["a", "b"], "--insecure-registry a --insecure-registry b"),
        ("--insecure-registry a --insecure-registry a", ["a"], "--insecure-registry a"),
    ],
)
def test_remove_and_reorder_touch_only_the_flags(value, items, expected):
    text = f'# x\nDOCKER_OPTS="{value}"\n# y\n'
    out = check_edit(text, INSECURE_KEY, items, {1})
    assert out == f'# x\nDOCKER_OPTS="{expected}"\n# y\n'


def test_several_assignments_only_the_last_is_edited():
    text = (
        "DOCKER_OPTS='--insecure-registry old:5000'\n#DOCKER_OPTS=\"--x\"\nDOCKER_OPTS='--debug'\n"
    )
    doc = parse(P, text.encode())
    assert doc.get_list(INSECURE_KEY) is None
    out = check_edit(text, INSECURE_KEY, ["new:5000"], {2})
    assert out.endswith("DOCKER_OPTS='--debug --insecure-registry new:5000'\n")


def test_self_referencing_appends_accumulate_and_are_edited_where_they_are():
    text = (
        'DOCKER_OPTS="--debug"\n'
        'DOCKER_OPTS="$DOCKER_OPTS --insecure-registry a:5000"\n'
        "# comment\n"
        'DOCKER_OPTS="$DOCKER_OPTS --insecure-registry b:5000"\n'
    )
    doc = parse(P, text.encode())
    assert doc.get_list(INSECURE_KEY) == ["a:5000", "b:5000"]
    assert any("refers to itself" in w for w in doc.warnings)
    out = check_edit(text, INSECURE_KEY, ["b:5000"], {1})
    assert lines(out)[1] == 'DOCKER_OPTS="$DOCKER_OPTS"\n'
    out = check_edit(text, INSECURE_KEY, ["a:5000", "b:5000", "c:5000"], {3})
    assert (
        lines(out)[3]
        == 'DOCKER_OPTS="$DOCKER_OPTS --insecure-registry b:5000 --insecure-registry c:5000"\n'
    )
    assert sh_words(out)[-2:] == ["--insecure-registry", "c:5000"]


def test_continuation_lines_are_kept():
    text = 'DOCKER_OPTS="--debug \\\n  --insecure-registry a:5000 \\\n  -H fd://"\nX=1\n'
    out = check_edit(text, INSECURE_KEY, ["b:5000"], {1})
    assert out == text.replace("a:5000", "b:5000")
    out = check_edit(text, INSECURE_KEY, [], {0, 1, 2})
    assert out == 'DOCKER_OPTS="--debug \\\n  -H fd://"\nX=1\n'


def test_crlf_file_reads_like_the_shell_and_edits_drop_only_the_glued_carriage_return():
    text = '# c\r\n\r\nDOCKER_OPTS="--insecure-registry a:5000"\r\nX=1\r\n'
    doc = parse(P, text.encode())
    assert sh_words(text) == doc.flags == ["--insecure-registry", "a:5000\r"]
    assert doc.get_list(INSECURE_KEY) == ["a:5000"]  # the "\r" is a line ending, reported:
    assert [p.code for p in doc.problems] == ["crlf"]
    out = check_edit(text, INSECURE_KEY, ["a:5000", "b:5000"], {2})
    assert lines(out)[2] == 'DOCKER_OPTS="--insecure-registry a:5000 --insecure-registry b:5000"\n'
    assert sh_words(out) == ["--insecure-registry", "a:5000", "--insecure-registry", "b:5000"]
    assert any("carriage return" in w for w in edit(text, INSECURE_KEY, []).warnings)


def test_mirrors_use_their_own_flag_and_keep_their_order():
    text = 'DOCKER_OPTS="--registry-mirror https://a.test/ --registry-mirror https://c.test/"\n'
    out = check_edit(
        text, MIRRORS_KEY, ["https://a.test/", "https://b.test/", "https://c.test/"], {0}
    )
    assert sh_words(out)[1::2] == ["https://a.test/", "https://b.test/", "https://c.test/"]


def test_unchanged_list_gives_the_same_bytes():
    text = "DOCKER_OPTS='--insecure-registry a:5000' # x\n"
    assert edit(text, INSECURE_KEY, ["a:5000"]).render() == text.encode()


# -- what is refused ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, what",
    [
        ('DOCKER_OPTS="$(cat /etc/extra) --insecure-registry a:5000"\n', "$(...)"),
        ('DOCKER_OPTS="`cat /etc/extra` --insecure-registry a:5000"\n', "`...`"),
        ('DOCKER_OPTS="$EXTRA --insecure-registry a:5000"\n', "$EXTRA"),
        ('DOCKER_OPTS="${EXTRA:-} --insecure-registry a:5000"\n', "${EXTRA:-}"),
        ('DOCKER_OPTS="--label=* --insecure-registry a:5000"\n', "a glob pattern"),
        ("DOCKER_OPTS=~/x' --insecure-registry a:5000'\n", "~"),
        ('[ -f /x ] && DOCKER_OPTS="--insecure-registry a:5000"\n', "a conditional assignment"),
        (
            'if true; then\n  DOCKER_OPTS="--insecure-registry a:5000"\nfi\n',
            "a conditional assignment",
        ),
        ('f() { DOCKER_OPTS="--insecure-registry a:5000"; }\n', "parentheses"),
        ("DOCKER_OPTS='--insecure-registry a:5000' :\n", "an assignment in front of a command"),
        ("IFS=,\nDOCKER_OPTS='--insecure-registry a:5000'\n", "a changed IFS"),
        (". /etc/default/docker.local\nDOCKER_OPTS='--insecure-registry a:5000'\n", "`.`"),
        ("DOCKER_OPTS='--insecure-registry a:5000'\nexit 0\n", "`exit`"),
        ("readonly DOCKER_OPTS='--insecure-registry a:5000'\n", "readonly"),
        (
            "cat <<EOF\nDOCKER_OPTS=x\nEOF\nDOCKER_OPTS='--insecure-registry a:5000'\n",
            "a here-document",
        ),
        ('X=$((1/0))\nDOCKER_OPTS="--insecure-registry a:5000"\n', "$((...))"),
        ('X=${Y?unset}\nDOCKER_OPTS="--insecure-registry a:5000"\n', "${Y?unset}"),
        ('"true"\nDOCKER_OPTS="--insecure-registry a:5000"\n', "`...`, which can change"),
    ],
)
def test_what_cannot_be_evaluated_is_read_but_never_rewritten(text, what):
    doc = parse(P, text.encode())
    assert "a:5000" in doc.flags
    with pytest.raises(EnvironmentProblem) as err:
        doc.with_list(INSECURE_KEY, ["b:5000"])
    assert f"DOCKER_OPTS uses {what}" in err.value.message and REFUSED in err.value.message
    with pytest.raises(EnvironmentProblem):
        doc.fix_common_mistakes()


def test_the_brief_s_message_for_command_substitution():
    doc = parse(P, b'DOCKER_OPTS="$(cat /etc/x)"\n')
    with pytest.raises(EnvironmentProblem) as err:
        doc.with_list(INSECURE_KEY, ["a:5000"])
    assert err.value.message == (
        f"{P}: DOCKER_OPTS uses $(...) which dockercfg will not rewrite; edit it by hand"
    )


def test_unsafe_parts_that_are_overwritten_later_do_not_block_edits():
    text = 'DOCKER_OPTS="$(cat /x)"\nDOCKER_OPTS="--debug"\nFOO=$(date)\n'
    check_edit(text, INSECURE_KEY, ["a:5000"], {1})


def test_a_flag_left_without_a_value_blocks_appending_after_it():
    doc = parse(P, b'DOCKER_OPTS="--debug --registry-mirror"\n')
    assert [p.code for p in doc.problems] == ["missing-value"]
    with pytest.raises(EnvironmentProblem, match="ends with --registry-mirror without a value"):
        doc.with_list(INSECURE_KEY, ["a:5000"])
    out = check_edit(doc.text, MIRRORS_KEY, ["https://m.test/"], {0})  # its own key: filled
    assert out == 'DOCKER_OPTS="--debug --registry-mirror https://m.test/"\n'


def test_a_file_ending_in_a_backslash_gets_no_new_line_glued_to_it():
    with pytest.raises(EnvironmentProblem, match="ends with a backslash"):
        parse(P, b"# x\nFOO=a\\").with_list(INSECURE_KEY, ["a:5000"])
    out = check_edit("FOO=a\\\n", INSECURE_KEY, ["a:5000"], {1})  # a continuation at EOF
    assert sh_words(out) == ["--insecure-registry", "a:5000"]


def test_same_interface_as_daemon_json_and_the_input_is_never_changed():
    doc = parse(P, b"DOCKER_OPTS='--debug'\n")  # parse(path, data) like daemon_json.parse
    new = doc.with_list(INSECURE_KEY, ["a:5000"])
    assert doc.text == "DOCKER_OPTS='--debug'\n" and doc.render() == doc.text.encode()
    assert (
        new.text == new.render().decode()
        and new.warnings == []
        and new.value == {INSECURE_KEY: ["a:5000"]}
    )


def test_commands_in_the_file_are_warned_about():
    doc = parse(P, b". /etc/default/docker.local\nDOCKER_OPTS=--debug\n")
    assert any("docker.local" in w for w in doc.warnings)


METACHARACTER_VALUES = [
    "a;b", "a&b", "a|b", "a<b", "a>b", "(a)", "$(id)", "${HOME}", "$HOME", "`id`", "a b",
    "a\tb", "a\nb", "a'b", 'a"b', "a\\b", "a\0b", "~root", "a*", "a?", "#a", "a:5000\r",
]  # fmt: skip


@pytest.mark.parametrize("value", METACHARACTER_VALUES)
@pytest.mark.parametrize("quote", ['"', "'", ""])
def test_values_with_shell_metacharacters_are_refused(value, quote):
    doc = parse(P, f"DOCKER_OPTS={quote}--debug{quote}\n".encode())
    for key in (INSECURE_KEY, MIRRORS_KEY):
        for items in ([value], ["ok:5000", value]):
            with pytest.raises(EnvironmentProblem, match="refusing to write"):
                doc.with_list(key, items)


@pytest.mark.parametrize("value", ["-a:5000", "a:99999", "http://", "a:5000/x"])
def test_values_the_model_rejects_are_refused(value):
    with pytest.raises(EnvironmentProblem, match="refusing to write"):
        parse(P, b"").with_list(INSECURE_KEY, [value])


# -- common mistakes ------------------------------------------------------------------------------


def test_common_mistakes_are_problems_with_a_fix():
    text = (
        "DOCKER_OPTS='--insecure-registries=a:5000,b:5000 --registry-mirrors https://m.test/"
        " --insecure-registry c:5000,d:5000 --debug --registry-mirror'\n"
    )
    doc = parse(P, text.encode())
    codes = [(p.code, p.severity) for p in doc.problems]
    assert codes == [
        ("unknown-flag", "error"),
        ("unknown-flag", "error"),
        ("comma-list", "error"),
        ("missing-value", "error"),
    ]
    assert "--insecure-registry a:5000 --insecure-registry b:5000" in doc.problems[0].hint
    assert doc.problems[1].message == "unknown flag: --registry-mirrors"
    assert doc.get_list(INSECURE_KEY) is None
    fixed = doc.fix_common_mistakes()
    assert fixed.render().decode() == (
        "DOCKER_OPTS='--insecure-registry a:5000 --insecure-registry b:5000 --registry-mirror"
        " https://m.test/ --insecure-registry c:5000 --insecure-registry d:5000 --debug"
        " --registry-mirror'\n"
    )
    assert sh_words(fixed.render().decode()) == fixed.flags
    assert fixed.get_list(INSECURE_KEY) == ["a:5000", "b:5000", "c:5000", "d:5000"]
    assert [p.code for p in fixed.problems] == ["missing-value"]


def test_fix_leaves_values_it_cannot_write_and_says_so():
    doc = parse(P, b'DOCKER_OPTS="--insecure-registries=a:5000,-bad- --debug"\n')
    fixed = doc.fix_common_mistakes()
    assert fixed.render() == doc.render() and any("not fixed" in w for w in fixed.warnings)


def test_literal_quotes_inside_the_value_are_reported():
    text = "DOCKER_OPTS=\"--insecure-registry 'a:5000'\"\n"
    doc = parse(P, text.encode())
    assert sh_words(text) == doc.flags == ["--insecure-registry", "'a:5000'"]
    assert [p.code for p in doc.problems] == ["literal-quote"]


# -- RHEL /etc/sysconfig/docker -------------------------------------------------------------------


def test_rhel_insecure_registry_variable_is_read_and_edited_when_assigned():
    text = RHEL_SYSCONFIG.replace("# INSECURE_REGISTRY=", "INSECURE_REGISTRY=")
    doc = parse(RHEL, text.encode(), "OPTIONS")
    assert doc.flags == sh_words(text, RHEL_VARS)
    assert doc.get_list(INSECURE_KEY) is None  # the template's flag has no value yet
    assert [p.code for p in doc.problems] == ["missing-value"]
    n = len(lines(text)) - 1
    out = check_edit(
        text, INSECURE_KEY, ["reg.test:5000"], {n}, variable="OPTIONS", names=RHEL_VARS
    )
    assert lines(out)[n] == "INSECURE_REGISTRY='--insecure-registry reg.test:5000'\n"


def test_rhel_without_insecure_registry_edits_options():
    doc = parse(RHEL, RHEL_SYSCONFIG.encode(), "OPTIONS")
    assert "--add-registry" in doc.flags and doc.get_list(INSECURE_KEY) is None
    out = check_edit(
        RHEL_SYSCONFIG, INSECURE_KEY, ["reg.test:5000"], {3}, variable="OPTIONS", names=RHEL_VARS
    )
    assert lines(out)[3].endswith(" --insecure-registry reg.test:5000'\n")
    out = check_edit(out, INSECURE_KEY, [], {3}, variable="OPTIONS", names=RHEL_VARS)
    assert out == RHEL_SYSCONFIG


def test_rhel_flags_from_both_variables_count():
    text = "OPTIONS='--insecure-registry a:5000'\nINSECURE_REGISTRY='--insecure-registry b:5000'\n"
    doc = parse(RHEL, text.encode(), "OPTIONS")
    assert doc.get_list(INSECURE_KEY) == ["a:5000", "b:5000"]
    out = check_edit(
        text, INSECURE_KEY, ["b:5000", "c:5000"], {0, 1}, variable="OPTIONS", names=RHEL_VARS
    )
    assert (
        out
        == "OPTIONS=''\nINSECURE_REGISTRY='--insecure-registry b:5000 --insecure-registry c:5000'\n"
    )


def test_very_old_other_args():
    text = 'other_args="-H unix:///var/run/docker.sock"\n'
    out = check_edit(
        text, INSECURE_KEY, ["a:5000"], {0}, variable="other_args", names="$other_args"
    )
    assert out == 'other_args="-H unix:///var/run/docker.sock --insecure-registry a:5000"\n'


# -- properties -----------------------------------------------------------------------------------

SAFE_FRAGMENTS = [
    "--debug", "--insecure-registry a:5000", "--insecure-registry=b.test:5000",
    "--registry-mirror https://m.test/", "-H fd://", "--insecure-registry 10.0.0.0/8",
    "--insecure-registry [::1]:5000", "--insecure-registries=c:5000,d:5000", "--label=a;b",
    "--insecure-registry", "'x'", "a&&b", "x|y", "(z)",
]  # fmt: skip
UNSAFE_FRAGMENTS = ["$EXTRA", "${EXTRA:-y}", "$(echo --debug)", "`echo --x`", "--l=*", "a?b", "$1"]
ITEMS = ["a:5000", "b.test:5000", "10.1.0.0/16", "[::1]:5000", "c:5000"]


@st.composite
def files(draw, names=("DOCKER_OPTS",)):
    out, dynamic = [], False
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(names))
        kind = draw(st.sampled_from(["assign", "assign", "self", "comment", "blank", "other"]))
        if kind == "comment":
            out.append("#DOCKER_OPTS='--insecure-registry z:1'")
        elif kind == "blank":
            out.append("")
        elif kind == "other":
            out.append("FOO=" + draw(st.sampled_from(["1", "'$(x)'", '"a b"'])))
        else:
            pool = SAFE_FRAGMENTS + (UNSAFE_FRAGMENTS if draw(st.booleans()) else [])
            frags = draw(st.lists(st.sampled_from(pool), max_size=4))
            dynamic |= any(f in UNSAFE_FRAGMENTS for f in frags)
            quote = draw(st.sampled_from(['"', "'", ""]))
            if quote == "":
                frags = [re.sub(r"([ ;&|()'])", r"\\\1", f) for f in frags]
            if kind == "self" and quote != "'":
                frags.insert(draw(st.sampled_from([0, len(frags)])), "$" + name)
            seps = [" ", "  \\\n  ", "\n"] if quote else ["\\ ", "\\ \\\n"]
            sep = draw(st.sampled_from(seps))
            prefix = draw(st.sampled_from(["", "export "]))
            tail = draw(st.sampled_from(["", " # note", "; BAR=1"]))
            out.append(f"{prefix}{name}={quote}{sep.join(frags)}{quote}{tail}")
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(out) + draw(st.sampled_from([newline, ""]))
    return text, dynamic


VALUE_LISTS = st.lists(st.sampled_from(ITEMS), max_size=3) | st.lists(
    st.sampled_from(ITEMS + METACHARACTER_VALUES), min_size=1, max_size=2
)
LAYOUTS = [
    ("DOCKER_OPTS", ("DOCKER_OPTS",), "$DOCKER_OPTS"),
    ("OPTIONS", ("OPTIONS", "INSECURE_REGISTRY"), RHEL_VARS),
]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(), st.sampled_from(LAYOUTS), st.sampled_from([INSECURE_KEY, MIRRORS_KEY]), VALUE_LISTS
)
def test_any_file_either_gets_a_proven_safe_edit_or_an_environment_problem(
    data, layout, key, items
):
    variable, names, expansion = layout
    text, dynamic = data.draw(files(names))
    if key == MIRRORS_KEY:
        items = [f"https://{v}/" if v in ITEMS else v for v in items]
    try:
        doc = parse(P, text.encode(), variable)
    except EnvironmentProblem:
        return
    if not dynamic:
        assert doc.flags == sh_words(text, expansion), text
    try:
        new = doc.with_list(key, items)
    except EnvironmentProblem as err:
        # Static files with writable values are only refused when a flag and its value sit in
        # different quotes (rewriting that would mean re-quoting the user's own words).
        expected = dynamic or not all(writable(key, v) for v in items)
        known = ("quoting around a registry flag", "without a value")
        assert expected or any(k in err.message for k in known), (text, err.message)
        event(err.message.split(" uses ")[-1] if " uses " in err.message else "unwritable")
        return
    event("edited")
    out = new.render().decode()
    assert all(SAFE_WORD.fullmatch(v) for v in items)
    assert nothing_unsafe_added(text, out), (text, out)
    assert sh_words(out, expansion) == new.flags, (text, out)
    assert new.get_list(key) == (items or None)
    other = MIRRORS_KEY if key == INSECURE_KEY else INSECURE_KEY
    if "\r" not in text:  # else edits also drop the CRLF carriage returns glued to values
        assert new.get_list(other) == doc.get_list(other)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="DOCKER_OPTS= \"'\\$`(){};&|#*~\n\rab-:", max_size=40))
def test_arbitrary_text_never_crashes_and_never_writes_unsafely(text):
    try:
        new = parse(P, text.encode()).with_list(INSECURE_KEY, ["a:5000"])
    except EnvironmentProblem:
        return
    out = new.render().decode()
    assert nothing_unsafe_added(text, out), (text, out)
    assert new.get_list(INSECURE_KEY) == ["a:5000"]
    if sh_parses(text):  # else sh stops at its syntax error, whatever the file says after it
        assert sh_words(out) == new.flags, (text, out)


@pytest.mark.parametrize(
    "text", ["DOCKER_OPTS\\='--dns 8.8.8.8'\n", "DOCKER_OPTS'='--dns\n", 'DOCKER_OPTS"="--dns\n']
)
def test_only_an_unquoted_unescaped_equals_sign_makes_an_assignment(text):
    doc = parse(P, text.encode())
    assert doc.flags == []
    with pytest.raises(EnvironmentProblem):
        doc.with_list(INSECURE_KEY, ["a:5000"])


def test_a_file_sh_n_refuses_is_not_edited():
    if not Path("/bin/sh").exists():
        unavailable("no /bin/sh")
    doc = parse(P, b"!\n")  # bash accepts a lone "!", dash does not
    if subprocess.run(["/bin/sh", "-n"], input=b"!\n", capture_output=True).returncode == 0:
        unavailable("this /bin/sh accepts a lone '!' (dash does not)")
    with pytest.raises(EnvironmentProblem, match="/bin/sh cannot read file"):
        doc.with_list(INSECURE_KEY, ["a:5000"])


def test_without_bin_sh_the_check_is_skipped(monkeypatch):
    from dockercfg.formats import shellvars

    monkeypatch.setattr(shellvars, "SH", "/nonexistent/sh")
    new = parse(P, b"!\n").with_list(INSECURE_KEY, ["a:5000"])
    assert new.get_list(INSECURE_KEY) == ["a:5000"]

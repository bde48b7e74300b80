"""The safe-word checks that keep shell syntax out of /etc/default/docker, each on its own, and
what the real /bin/sh makes of what is written (the independent oracle: sh_words)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_docker_opts import sh_words

from dockercfg.errors import EnvironmentProblem
from dockercfg.targets import docker_opts
from dockercfg.targets.docker_opts import INSECURE_KEY, MIRRORS_KEY, parse

P = Path("/etc/default/docker")
SHELL_ONLY = "a root shell sources this file; only letters, digits and . _ : / [ ] @ % + = , - are"


def edit(text: str, key: str, values: list[str]):
    return parse(P, text.encode(), "DOCKER_OPTS").with_list(key, values)


# Values moby accepts as mirrors that a shell would expand or split ("~" starts a tilde expansion
# at the start of a word or after ":" in an assignment; the model's mirror set allows it).
@pytest.mark.parametrize(
    "value", ["https://m.test/~x/", "https://m.test/~/", "https://m.test/a~b/"]
)
def test_the_value_check_refuses_what_the_model_allows(value):
    with pytest.raises(EnvironmentProblem) as info:
        edit("", MIRRORS_KEY, [value])
    assert info.value.message == (f"{P}: refusing to write {value!r}: {SHELL_ONLY} written into it")


def test_the_write_check_still_refuses_when_a_value_slips_past(monkeypatch):
    # Second line of defence: with the per-value check gone, the edit itself is refused.
    monkeypatch.setattr(docker_opts.DockerOpts, "_checked", lambda self, key, value: value)
    with pytest.raises(EnvironmentProblem) as info:
        edit("", MIRRORS_KEY, ["https://m.test/~x/"])
    assert info.value.message.startswith(f"{P}: refusing to write ")


def test_an_unsafe_plain_value_is_not_requoted_whole():
    # A plain assignment whose value is not a safe word is appended to, never requoted whole
    # (quoting "\\ " would keep the backslash): the value's own words stay what sh made of them.
    # Unquoted $DOCKER_OPTS is split on blanks, so the escaped blank splits too.
    text = "DOCKER_OPTS=--debug\\ x\n"
    out = edit(text, INSECURE_KEY, ["a.test:5000"]).render().decode()
    assert out == "DOCKER_OPTS=--debug\\ x' --insecure-registry a.test:5000'\n"
    assert sh_words(out) == ["--debug", "x", "--insecure-registry", "a.test:5000"]
    plain = "DOCKER_OPTS=--debug\n"
    out = edit(plain, INSECURE_KEY, ["a.test:5000"]).render().decode()
    assert out == "DOCKER_OPTS='--debug --insecure-registry a.test:5000'\n"
    assert sh_words(out) == ["--debug", "--insecure-registry", "a.test:5000"]


PORTS = st.one_of(st.integers(0, 70000), st.sampled_from([0, 65535, 65536]))


@given(
    st.lists(
        st.one_of(
            st.builds("reg{}.test:{}".format, st.integers(0, 9), PORTS),
            st.sampled_from(["[::1]:5000", "10.0.0.0/8", "fd00::/8", "a-b.test", "-a.test",
                             "a-.test", "bücher.test", "a" * 63 + ".test", "a" * 64 + ".test",
                             "10.0.0.0/33", "[fe80::1%eth0]:5000"]),
        ),
        max_size=4,
    )
)  # fmt: skip
def test_sh_sees_exactly_the_flags_for_the_values_written(values):
    # Independent of the code: the expected flags are the values moby's rules accept, in order,
    # without repeats; sh must expand the written file to exactly those words.
    def accepted(v: str) -> bool:
        port = v.rpartition(":")[2] if v.startswith("reg") else "0"
        return not (
            int(port) > 65535 or v in ("-a.test", "a-.test", "bücher.test", "10.0.0.0/33")
            or "%" in v
        )  # fmt: skip

    wanted = list(dict.fromkeys(v for v in values if accepted(v)))
    if len(wanted) != len([v for v in dict.fromkeys(values)]):
        with pytest.raises(EnvironmentProblem):
            edit("DOCKER_OPTS=--debug\n", INSECURE_KEY, list(dict.fromkeys(values)))
        return
    out = edit("DOCKER_OPTS=--debug\n", INSECURE_KEY, wanted).render().decode()
    expect = ["--debug"] + [w for v in wanted for w in ("--insecure-registry", v)]
    assert sh_words(out) == expect


# (file, what `fix` writes, the words sh then gives dockerd)
FIXES = [
    (
        'DOCKER_OPTS="--insecure-registry=a:1,b:2"\r\n',
        'DOCKER_OPTS="--insecure-registry a:1 --insecure-registry b:2"\n',
        ["--insecure-registry", "a:1", "--insecure-registry", "b:2"],
    ),
    (
        'DOCKER_OPTS="--insecure-registries=a:1,b:2 --debug"\n',
        'DOCKER_OPTS="--insecure-registry a:1 --insecure-registry b:2 --debug"\n',
        ["--insecure-registry", "a:1", "--insecure-registry", "b:2", "--debug"],
    ),
    ('DOCKER_OPTS="--insecure-registry=,"\n', 'DOCKER_OPTS=""\n', []),
    ('DOCKER_OPTS="--debug"\r\n', 'DOCKER_OPTS="--debug"\n', ["--debug"]),
    (
        'DOCKER_OPTS="--debug --insecure-registry=, --tls"\n',
        'DOCKER_OPTS="--debug --tls"\n',
        ["--debug", "--tls"],
    ),
    (
        'DOCKER_OPTS="--insecure-registry=a~b,c:1 --insecure-registry=x,y"\n',
        'DOCKER_OPTS="--insecure-registry=a~b,c:1 --insecure-registry x --insecure-registry y"\n',
        ["--insecure-registry=a~b,c:1", "--insecure-registry", "x", "--insecure-registry", "y"],
    ),
]
CR_NOTE = "removed the carriage return (CRLF) ending the edited assignment: sh passed it to dockerd"


@pytest.mark.parametrize(("text", "fixed", "words"), FIXES)
def test_fix_rewrites_into_repeated_flags(text, fixed, words):
    out = parse(P, text.encode(), "DOCKER_OPTS").fix_common_mistakes()
    assert out.render().decode() == fixed
    assert sh_words(fixed) == words
    notes = out.warnings
    assert (CR_NOTE in notes) == ("\r" in text)
    if "~" in text:
        assert f"not fixed: {P}: refusing to write 'a~b': {SHELL_ONLY} written into it" in notes
    else:
        assert not [n for n in notes if n.startswith("not fixed")]


# (file, after `add z:9` as the only insecure registry, the words sh then gives dockerd, after
# removing every insecure registry)
R = ["--insecure-registry", "z:9"]
EDITS = [
    ('DOCKER_OPTS="--insecure-registry="\n', 'DOCKER_OPTS="--insecure-registry=z:9"\n',
     ["--insecure-registry=z:9"], 'DOCKER_OPTS=""\n'),
    ('DOCKER_OPTS="--insecure-registry"\n', 'DOCKER_OPTS="--insecure-registry z:9"\n', R,
     'DOCKER_OPTS=""\n'),
    ("DOCKER_OPTS=--insecure-registry\\ a:1\n", "DOCKER_OPTS=--insecure-registry\\ z:9\n", R,
     "DOCKER_OPTS=\n"),
    ('DOCKER_OPTS="--insecure-registry a:1 --debug"\n',
     'DOCKER_OPTS="--insecure-registry z:9 --debug"\n', [*R, "--debug"],
     'DOCKER_OPTS="--debug"\n'),
    ('DOCKER_OPTS=" --insecure-registry a:1"\n', 'DOCKER_OPTS=" --insecure-registry z:9"\n', R,
     'DOCKER_OPTS=""\n'),
    ("DOCKER_OPTS='--insecure-registry '\"a:1\"\n", "DOCKER_OPTS='--insecure-registry '\"z:9\"\n",
     R, None),  # the flag and its value in two quotings: not removed
]  # fmt: skip


@pytest.mark.parametrize(("text", "replaced", "words", "emptied"), EDITS)
def test_values_are_replaced_and_removed_in_place(text, replaced, words, emptied):
    doc = parse(P, text.encode(), "DOCKER_OPTS")
    out = doc.with_list(INSECURE_KEY, ["z:9"]).render().decode()
    assert out == replaced
    assert sh_words(out) == words
    if emptied is None:
        with pytest.raises(EnvironmentProblem) as info:
            doc.with_list(INSECURE_KEY, [])
        assert info.value.message == (
            f"{P}: DOCKER_OPTS uses quoting around a registry flag which dockercfg will not"
            " rewrite; edit it by hand"
        )
        return
    out = doc.with_list(INSECURE_KEY, []).render().decode()
    assert out == emptied
    assert "--insecure-registry" not in " ".join(sh_words(out))


def test_the_target_reads_the_variable_and_the_daemon_json_beside_it(tmp_path):
    from types import SimpleNamespace

    from dockercfg.targets.docker_opts import DockerOptsTarget

    opts = tmp_path / "docker"
    daemon_json = tmp_path / "daemon.json"
    host = SimpleNamespace(target="sysconfig", config_path=opts, variable="OPTIONS",
                           daemon_json=daemon_json, shown_path="/etc/sysconfig/docker")  # fmt: skip
    target = DockerOptsTarget(host)
    assert (target.name, target.holds_flags, target.json_shown) == (
        "sysconfig",
        True,
        "/etc/docker/daemon.json",
    )
    doc = target.read(b"OPTIONS='--debug'\nDOCKER_OPTS='--tls'\n")
    assert (doc.path, doc.variable, doc.flags) == (opts, "OPTIONS", ["--debug"])
    assert target.read(b"OPTIONS=--tls\n", tmp_path / "other").path == tmp_path / "other"
    # No daemon.json yet, an empty one, then one with settings.
    assert target.settings(doc) == ({}, ["dockerd", "--debug"], "OPTIONS in /etc/sysconfig/docker")
    daemon_json.write_bytes(b"")
    assert target.settings(doc)[0] == {}
    daemon_json.write_bytes(b'{"debug": true}\n')
    assert target.settings(doc) == (
        {"debug": True},
        ["dockerd", "--debug"],
        "OPTIONS in /etc/sysconfig/docker",
    )
    host.daemon_json, host.variable = None, None
    assert target.settings(doc)[0] == {}
    assert target.read(b"DOCKER_OPTS=--tls\n").flags == ["--tls"]  # the default variable
    assert target.file_problems(b"x", "f") == [] and target.dockerd_problem(b"x") is None


THREE = (
    'DOCKER_OPTS="--debug --insecure-registry a:1 --insecure-registry b:2 --insecure-registry c:3'
    ' --tls"\n'
)


@pytest.mark.parametrize(
    ("text", "items", "out"),
    [
        (THREE, [], 'DOCKER_OPTS="--debug --tls"\n'),
        (THREE, ["b:2"], 'DOCKER_OPTS="--debug --insecure-registry b:2 --tls"\n'),
        (THREE, ["a:1", "c:3"],
         'DOCKER_OPTS="--debug --insecure-registry a:1 --insecure-registry c:3 --tls"\n'),
        (THREE, ["c:3", "a:1", "b:2"],
         'DOCKER_OPTS="--debug --insecure-registry c:3 --insecure-registry a:1'
         ' --insecure-registry b:2 --tls"\n'),
        (THREE, ["a:1", "b:2", "c:3", "d:4"],
         'DOCKER_OPTS="--debug --insecure-registry a:1 --insecure-registry b:2'
         ' --insecure-registry c:3 --tls --insecure-registry d:4"\n'),
        ('DOCKER_OPTS="--insecure-registry a:1 --insecure-registry b:2"\n', [],
         'DOCKER_OPTS=""\n'),
        ("DOCKER_OPTS=--debug\nDOCKER_OPTS=\"$DOCKER_OPTS --tls\"\n", ["a:1"],
         'DOCKER_OPTS=--debug\nDOCKER_OPTS="$DOCKER_OPTS --tls --insecure-registry a:1"\n'),
        ("A=1\n#\\\\", ["a:1"], 'A=1\n#\\\\\n\nDOCKER_OPTS="--insecure-registry a:1"\n'),
        ("A=1 \\\n", ["a:1"], 'A=1 \\\n\nDOCKER_OPTS="--insecure-registry a:1"\n'),
    ],
)  # fmt: skip
def test_several_flags_removed_kept_reordered_and_added(text, items, out):
    new = parse(P, text.encode(), "DOCKER_OPTS").with_list(INSECURE_KEY, items)
    assert new.render().decode() == out
    others = [w for w in sh_words(text) if w not in ("--insecure-registry", "a:1", "b:2", "c:3")]
    flags = [w for v in items for w in ("--insecure-registry", v)]
    assert sorted(sh_words(out)) == sorted(others + flags)  # every other word stays
    assert new.get_list(INSECURE_KEY) == (items or None)  # no flag left: no list


def test_word_lines_count_from_one():
    doc = parse(P, b"A=1\nDOCKER_OPTS='--debug\n --tls'\n", "DOCKER_OPTS")
    assert (doc.flags, doc.word_lines()) == (["--debug", "--tls"], [2, 3])


def test_a_flag_left_without_a_value_is_fixed_first():
    doc = parse(P, b'DOCKER_OPTS="--debug --insecure-registry"\n', "DOCKER_OPTS")
    with pytest.raises(EnvironmentProblem) as info:
        doc.with_list(MIRRORS_KEY, ["https://m.test/"])
    assert info.value.message == (
        f"{P}: DOCKER_OPTS ends with --insecure-registry without a value (dockerd will not"
        " start); fix that first"
    )


def test_a_trailing_backslash_outside_a_comment_is_refused():
    for text in (b"A=1\n\\", b"A=1\n\\\\\\"):
        with pytest.raises(EnvironmentProblem):
            parse(P, text, "DOCKER_OPTS").with_list(INSECURE_KEY, ["a:1"])


RHEL = Path("/etc/sysconfig/docker")
RHEL_TEXT = "OPTIONS='--selinux-enabled'\nINSECURE_REGISTRY='--insecure-registry a:1'\n"
RHEL_VARS = "$OPTIONS $INSECURE_REGISTRY"


def test_rhel_insecure_registries_go_where_rhel_keeps_them():
    doc = parse(RHEL, RHEL_TEXT.encode(), "OPTIONS")
    out = doc.with_list(INSECURE_KEY, ["a:1", "b:2"]).render().decode()
    assert out == (
        "OPTIONS='--selinux-enabled'\n"
        "INSECURE_REGISTRY='--insecure-registry a:1 --insecure-registry b:2'\n"
    )
    assert sh_words(out, RHEL_VARS) == ["--selinux-enabled", "--insecure-registry", "a:1",
                                        "--insecure-registry", "b:2"]  # fmt: skip
    out = doc.with_list(MIRRORS_KEY, ["https://m.test/"]).render().decode()
    assert out == (
        "OPTIONS='--selinux-enabled --registry-mirror https://m.test/'\n"
        "INSECURE_REGISTRY='--insecure-registry a:1'\n"
    )
    plain = parse(RHEL, b"OPTIONS='--selinux-enabled'\n", "OPTIONS")
    assert plain.with_list(INSECURE_KEY, ["b:2"]).render().decode() == (
        "OPTIONS='--selinux-enabled --insecure-registry b:2'\n"
    )


def test_an_unquoted_value_that_gains_a_blank_is_quoted():
    out = parse(P, b"DOCKER_OPTS=--insecure-registry=a:1,b:2\n").fix_common_mistakes()
    text = out.render().decode()
    assert text == "DOCKER_OPTS='--insecure-registry a:1 --insecure-registry b:2'\n"
    assert sh_words(text) == ["--insecure-registry", "a:1", "--insecure-registry", "b:2"]


def test_bytes_that_are_not_utf8_are_kept_as_they_are():
    out = parse(P, b"# caf\xe9\nDOCKER_OPTS=--debug\n").with_list(INSECURE_KEY, ["a:1"]).render()
    assert out == b"# caf\xe9\nDOCKER_OPTS='--debug --insecure-registry a:1'\n"


def test_a_refused_value_is_shown_cut_at_60_characters():
    value = "https://m.test/~" + "a" * 70 + "/"
    with pytest.raises(EnvironmentProblem) as info:
        edit("", MIRRORS_KEY, [value])
    assert info.value.message == (
        f"{P}: refusing to write {value[:60]!r}: {SHELL_ONLY} written into it"
    )


# -- what reading reports ---------------------------------------------------------------------

DEFAULT = "/etc/default/docker"
# (file, the registry values dockerd gets, the problems: code, where, message, severity, hint)
READ_PROBLEMS = [
    (
        '\n# x\nDOCKER_OPTS="--debug\n --insecure-registries=a:1,b:2\n --registry-mirror=h,i\n'
        ' --insecure-registry"\n# end\n',
        {},
        [
            ("unknown-flag", f"{DEFAULT}:4", "unknown flag: --insecure-registries", "error",
             "use --insecure-registry a:1 --insecure-registry b:2"),
            ("comma-list", f"{DEFAULT}:5",
             "dockerd does not split --registry-mirror on commas: h,i is one value", "error",
             "repeat the flag: --registry-mirror h --registry-mirror i"),
            ("missing-value", f"{DEFAULT}:6", "flag needs an argument: --insecure-registry",
             "error", "--insecure-registry VALUE"),
        ],
    ),
    (
        'A=1\nDOCKER_OPTS="--label=X --label=\\"x\\" --insecure-registries --debug"\r\n# end\n',
        {},
        [
            ("literal-quote", f"{DEFAULT}:2", '--label="x" reaches dockerd with its quotes',
             "warning", ""),
            ("crlf", f"{DEFAULT}:2", "dockerd gets '--debug\\r': CRLF line ending", "error",
             "use LF line endings"),
            ("unknown-flag", f"{DEFAULT}:2", "unknown flag: --insecure-registries", "error",
             "use --insecure-registry"),
        ],
    ),
    (
        "DOCKER_OPTS='--registry-mirrors'\n",
        {},
        [("unknown-flag", f"{DEFAULT}:1", "unknown flag: --registry-mirrors", "error",
          "use --registry-mirror")],
    ),
    (
        'DOCKER_OPTS="--registry-mirror --insecure-registry=x:1"\n',
        {MIRRORS_KEY: ["--insecure-registry=x:1"]},
        [],
    ),
    (
        'DOCKER_OPTS="--label=X --insecure-registry a:1"\nINSECURE_REGISTRY="--insecure-registry'
        ' b:2"\n',
        {INSECURE_KEY: ["a:1"]},
        [],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("text", "value", "problems"), READ_PROBLEMS)
def test_reading_reports_each_flag_problem_on_its_own_line(text, value, problems):
    doc = parse(P, text.encode(), "DOCKER_OPTS")
    assert doc.value == value
    found = [(p.code, p.path, p.message, p.severity, p.hint) for p in doc.problems]
    assert found == problems


def test_only_the_named_variable_is_read_outside_rhel():
    doc = parse(P, b'INSECURE_REGISTRY="--insecure-registry b:2"\nDOCKER_OPTS=--debug\n')
    assert (doc.flags, doc.get_list(INSECURE_KEY)) == (["--debug"], None)


def test_word_lines_count_a_leading_empty_line():
    doc = parse(P, b"\nDOCKER_OPTS='--debug\n --tls'\n", "DOCKER_OPTS")
    assert doc.word_lines() == [2, 3]


# -- where edits go -----------------------------------------------------------------------------

RHEL_PATH = Path("/etc/sysconfig/docker")
RHEL_ALL = "$OPTIONS $ADD_REGISTRY $BLOCK_REGISTRY $INSECURE_REGISTRY"
M1 = "https://m.test/"


def opts(variable: str, text: str):
    return parse(RHEL_PATH if variable == "OPTIONS" else P, text.encode(), variable)


# (variable, file, key, values, the file after the edit, the words sh then gives dockerd)
PLACED = [
    # a value kept as it is, though written in two quotings
    ("DOCKER_OPTS", "DOCKER_OPTS=\"--insecure-registry \"'a':1\n", INSECURE_KEY, ["a:1", "b:2"],
     "DOCKER_OPTS=\"--insecure-registry \"'a':1' --insecure-registry b:2'\n",
     ["--insecure-registry", "a:1", "--insecure-registry", "b:2"]),
    # two values replaced in place, in order
    ("DOCKER_OPTS", THREE, INSECURE_KEY, ["a:1", "x:1", "y:2"],
     'DOCKER_OPTS="--debug --insecure-registry a:1 --insecure-registry x:1 --insecure-registry y:2'
     ' --tls"\n',
     ["--debug", "--insecure-registry", "a:1", "--insecure-registry", "x:1",
      "--insecure-registry", "y:2", "--tls"]),
    # one replaced, one more after the last flag: at the end of the value
    ("DOCKER_OPTS", 'DOCKER_OPTS="--insecure-registry a:1 --insecure-registry b:2 --tls"\n',
     INSECURE_KEY, ["a:1", "x:1", "y:2"],
     'DOCKER_OPTS="--insecure-registry a:1 --insecure-registry x:1 --tls'
     ' --insecure-registry y:2"\n',
     ["--insecure-registry", "a:1", "--insecure-registry", "x:1", "--tls",
      "--insecure-registry", "y:2"]),
    # a plain value that ends with the last flag is quoted whole
    ("DOCKER_OPTS", "DOCKER_OPTS=--insecure-registry=a:1\n", INSECURE_KEY, ["a:1", "b:2"],
     "DOCKER_OPTS='--insecure-registry=a:1 --insecure-registry b:2'\n",
     ["--insecure-registry=a:1", "--insecure-registry", "b:2"]),
    # before the first flag, and after the last, around a plain value
    ("DOCKER_OPTS", "DOCKER_OPTS=--insecure-registry=a:1\n", INSECURE_KEY, ["x:1", "a:1", "y:2"],
     "DOCKER_OPTS='--insecure-registry x:1 '--insecure-registry=a:1' --insecure-registry y:2'\n",
     ["--insecure-registry", "x:1", "--insecure-registry=a:1", "--insecure-registry", "y:2"]),
    # a flag left without a value gets one, and the next flag follows it
    ("DOCKER_OPTS", 'DOCKER_OPTS="--debug --insecure-registry"\n', INSECURE_KEY, ["a:1", "b:2"],
     'DOCKER_OPTS="--debug --insecure-registry a:1 --insecure-registry b:2"\n',
     ["--debug", "--insecure-registry", "a:1", "--insecure-registry", "b:2"]),
    ("DOCKER_OPTS", "DOCKER_OPTS=--insecure-registry\n", INSECURE_KEY, ["a:1", "b:2"],
     "DOCKER_OPTS=--insecure-registry' a:1'' --insecure-registry b:2'\n",
     ["--insecure-registry", "a:1", "--insecure-registry", "b:2"]),
    # the other registry flag, with its value in either form, stays before the new one
    ("DOCKER_OPTS", f'DOCKER_OPTS="--registry-mirror {M1}"\n', INSECURE_KEY, ["b:2"],
     f'DOCKER_OPTS="--registry-mirror {M1} --insecure-registry b:2"\n',
     ["--registry-mirror", M1, "--insecure-registry", "b:2"]),
    ("DOCKER_OPTS", 'DOCKER_OPTS="--insecure-registries=a:1 --debug"\n', MIRRORS_KEY, [M1],
     f'DOCKER_OPTS="--insecure-registries=a:1 --debug --registry-mirror {M1}"\n',
     ["--insecure-registries=a:1", "--debug", "--registry-mirror", M1]),
    # RHEL: an assigned INSECURE_REGISTRY, even empty, takes the insecure registries
    ("OPTIONS", "OPTIONS='--selinux-enabled'\nINSECURE_REGISTRY=''\n", INSECURE_KEY, ["b:2"],
     "OPTIONS='--selinux-enabled'\nINSECURE_REGISTRY='--insecure-registry b:2'\n",
     ["--selinux-enabled", "--insecure-registry", "b:2"]),
    # RHEL: OPTIONS is edited, the variables after it keep their words
    ("OPTIONS", "OPTIONS=--selinux-enabled\nADD_REGISTRY='--add-registry r.test'\n", MIRRORS_KEY,
     [M1], f"OPTIONS='--selinux-enabled --registry-mirror {M1}'\n"
     "ADD_REGISTRY='--add-registry r.test'\n",
     ["--selinux-enabled", "--registry-mirror", M1, "--add-registry", "r.test"]),
    ("OPTIONS", "OPTIONS=--log-level\\ warn\nADD_REGISTRY='--add-registry r.test'\n",
     MIRRORS_KEY, [M1],
     f"OPTIONS=--log-level\\ warn' --registry-mirror {M1}'\nADD_REGISTRY='--add-registry r.test'\n",
     ["--log-level", "warn", "--registry-mirror", M1, "--add-registry", "r.test"]),
    ("OPTIONS", "OPTIONS='--debug'\r\nADD_REGISTRY='--add-registry r.test'\r\n", MIRRORS_KEY,
     [M1], f"OPTIONS='--debug --registry-mirror {M1}'\nADD_REGISTRY='--add-registry r.test'\n",
     ["--debug", "--registry-mirror", M1, "--add-registry", "r.test"]),
    # removals: flags side by side, at the start, with blanks around
    ("DOCKER_OPTS",
     'DOCKER_OPTS="--insecure-registry a:1 --insecure-registry b:2 --insecure-registry c:3"\n',
     INSECURE_KEY, [], 'DOCKER_OPTS=""\n', []),
    ("DOCKER_OPTS", 'DOCKER_OPTS="--insecure-registry a:1 --insecure-registry b:2 --debug"\n',
     INSECURE_KEY, [], 'DOCKER_OPTS=" --debug"\n', ["--debug"]),
    ("DOCKER_OPTS", 'DOCKER_OPTS="--insecure-registry a:1 "\n', INSECURE_KEY, [],
     'DOCKER_OPTS=""\n', []),
]  # fmt: skip


@pytest.mark.parametrize(("variable", "text", "key", "items", "out", "words"), PLACED)
def test_edits_land_next_to_the_flags_they_keep_in_order(variable, text, key, items, out, words):
    new = opts(variable, text).with_list(key, items)
    assert new.render().decode() == out
    assert sh_words(out, RHEL_ALL if variable == "OPTIONS" else "$DOCKER_OPTS") == words
    assert new.get_list(key) == (items or None)


def refused(what: str, variable: str = "DOCKER_OPTS", path: Path = P) -> str:
    return f"{path}: {variable} uses {what} which dockercfg will not rewrite; edit it by hand"


DOUBLED = 'DOCKER_OPTS="--insecure-registry a:1"\nDOCKER_OPTS="$DOCKER_OPTS $DOCKER_OPTS"\n'
# (variable, file, key, values, why the edit is refused)
REFUSED_EDITS = [
    # a value written in two quotings is not rewritten
    ("DOCKER_OPTS", "DOCKER_OPTS=\"--insecure-registry a:\"'1'\n", INSECURE_KEY, ["z:9"],
     refused("quoting around a registry flag")),
    # nor one whose characters come from two assignments
    ("DOCKER_OPTS",
     'DOCKER_OPTS="                    a"\nDOCKER_OPTS="--insecure-registry $DOCKER_OPTS:1"\n',
     INSECURE_KEY, ["z:9"], refused("quoting around a registry flag")),
    # one text that sh reads twice: one change would be two
    ("DOCKER_OPTS", DOUBLED, INSECURE_KEY, ["b:2"], refused("overlapping flags")),
    ("DOCKER_OPTS", DOUBLED, INSECURE_KEY, ["a:1"],
     refused("a form that did not survive the self-check")),
    # two removals side by side in the text, one from each reading
    ("DOCKER_OPTS",
     'DOCKER_OPTS=" --insecure-registry a:1 --insecure-registry b:2"\n'
     'DOCKER_OPTS="$DOCKER_OPTS $DOCKER_OPTS"\n', INSECURE_KEY, ["b:2", "a:1"],
     refused("a form that did not survive the self-check")),
    # a flag without a value would take the new flag as its value
    ("DOCKER_OPTS", 'DOCKER_OPTS="--insecure-registry"\n', MIRRORS_KEY, [M1],
     f"{P}: DOCKER_OPTS ends with --insecure-registry without a value (dockerd will not start);"
     " fix that first"),
    ("OPTIONS", "OPTIONS='--debug --registry-mirror'\nADD_REGISTRY='--add-registry r.test'\n",
     INSECURE_KEY, ["b:2"],
     f"{RHEL_PATH}: OPTIONS ends with --registry-mirror without a value (dockerd will not start);"
     " fix that first"),
    ("OPTIONS", "OPTIONS='--registry-mirror'\nINSECURE_REGISTRY=''\n", INSECURE_KEY, ["b:2"],
     refused("a form whose edit did not give the intended values", "OPTIONS", RHEL_PATH)),
    # a file sh cannot read is not edited
    ("DOCKER_OPTS", "DOCKER_OPTS=--debug\ndo\n", INSECURE_KEY, ["a:1"],
     f'{P}: /bin/sh cannot read file (/bin/sh: 2: Syntax error: "do" unexpected); refusing to'
     " edit a file the shell cannot read"),
]  # fmt: skip


@pytest.mark.parametrize(("variable", "text", "key", "items", "message"), REFUSED_EDITS)
def test_edits_that_cannot_be_proved_are_refused_with_the_reason(
    variable, text, key, items, message
):
    with pytest.raises(EnvironmentProblem) as info:
        opts(variable, text).with_list(key, items)
    assert info.value.message == message


def test_the_edited_document_keeps_its_path_and_reports_what_is_left():
    new = parse(P, b'A=1\nDOCKER_OPTS="--insecure-registries=a:1"\n').with_list(MIRRORS_KEY, [M1])
    assert new.path == P
    assert [(p.code, p.path, p.hint) for p in new.problems] == [
        ("unknown-flag", f"{DEFAULT}:2", "use --insecure-registry a:1")
    ]


def test_the_edited_document_warns_about_what_it_was_given():
    new = parse(P, b'DOCKER_OPTS="--debug"\n').with_list(INSECURE_KEY, ["[::1]:5000"])
    assert new.render() == b'DOCKER_OPTS="--debug --insecure-registry [::1]:5000"\n'
    assert new.warnings == ["[::1]:5000 is a glob: a matching file would replace it"]


@pytest.mark.parametrize(
    ("text", "value", "shown"),
    [
        # a quote is in the characters an edit may write, but not in a value
        ('DOCKER_OPTS="--debug"\n', "a'b", "\" --insecure-registry a'b\""),
        # what is shown of the refused text stops at 60 characters
        ("", "https://m.test/~" + "a" * 70,
         "'DOCKER_OPTS=\"--registry-mirror https://m.test/~aaaaaaaaaaaaa'"),
    ],
)  # fmt: skip
def test_the_write_check_names_the_text_it_refuses(monkeypatch, text, value, shown):
    monkeypatch.setattr(docker_opts.DockerOpts, "_checked", lambda self, key, value: value)
    key = MIRRORS_KEY if value.startswith("https:") else INSECURE_KEY
    with pytest.raises(EnvironmentProblem) as info:
        edit(text, key, [value])
    assert info.value.message == f"{P}: refusing to write {shown}"


def test_the_target_names_a_daemon_json_it_cannot_read(tmp_path):
    from types import SimpleNamespace

    from dockercfg.targets.docker_opts import DockerOptsTarget

    daemon_json = tmp_path / "daemon.json"
    daemon_json.write_bytes(b'{"debug": tru}\n')
    host = SimpleNamespace(target="default", config_path=P, variable="DOCKER_OPTS",
                           daemon_json=daemon_json, shown_path=DEFAULT)  # fmt: skip
    target = DockerOptsTarget(host)
    with pytest.raises(EnvironmentProblem) as info:
        target.settings(target.read(b"DOCKER_OPTS=--debug\n"))
    assert info.value.message == (
        f"{daemon_json}:1:14: invalid character '}}' in literal true (expecting 'e'); refusing to"
        " edit a file dockerd cannot read (fix it, or restore a backup)"
    )


def test_an_edit_the_shell_cannot_read_is_refused_naming_the_file(monkeypatch, tmp_path):
    # The lexer and the edit rules keep shell syntax out, and sh -n is asked once more about the
    # edited text: a stand-in sh that reads the file as it is but not with the new value in it.
    from test_shellvars_mutants import fake_sh

    from dockercfg.formats import shellvars

    sh = fake_sh(
        tmp_path, 'grep -q new.test && { echo "sh: 2: Syntax error" >&2; exit 2; }; exit 0'
    )
    monkeypatch.setattr(shellvars, "SH", sh)
    doc = parse(P, b'DOCKER_OPTS="--debug"\n')
    assert doc.with_list(INSECURE_KEY, []).render() == b'DOCKER_OPTS="--debug"\n'  # no edit
    with pytest.raises(EnvironmentProblem) as info:
        doc.with_list(INSECURE_KEY, ["new.test:5000"])
    assert info.value.message == (
        f"{P}: {sh} cannot read the edited file (sh: 2: Syntax error); refusing to edit a file"
        " the shell cannot read"
    )

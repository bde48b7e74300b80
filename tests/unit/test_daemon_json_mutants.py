"""daemon.json edits in place: the exact text written, and what a JSON decoder with Go's rules
(the last of duplicate keys wins; null means absent to moby's IsValueSet) reads back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from dockercfg.errors import EnvironmentProblem, UsageError
from dockercfg.targets.daemon_json import DaemonJsonTarget, parse

P = Path("/etc/docker/daemon.json")
K = "insecure-registries"
ZW = ["z:9", "w:8"]

# (file, get_list, with_list(K, ZW), with_list(K, []), without(K), without("debug"))
EDITS = [
    ("{}", None, '{\n  "insecure-registries": [\n    "z:9",\n    "w:8"\n  ]\n}\n',
     '{\n  "insecure-registries": []\n}\n', "{}", "{}"),
    ('{"debug": true}\n', None, '{"debug": true, "insecure-registries": ["z:9", "w:8"]}\n',
     '{"debug": true, "insecure-registries": []}\n', '{"debug": true}\n', "{}\n"),
    ('{\n  "debug": true,\n  "insecure-registries": ["a:1"]\n}\n', ["a:1"],
     '{\n  "debug": true,\n  "insecure-registries": ["z:9", "w:8"]\n}\n',
     '{\n  "debug": true,\n  "insecure-registries": []\n}\n', '{\n  "debug": true\n}\n',
     '{\n  "insecure-registries": ["a:1"]\n}\n'),
    ('{"insecure-registries": ["a:1"], "debug": true}', ["a:1"],
     '{"insecure-registries": ["z:9", "w:8"], "debug": true}',
     '{"insecure-registries": [], "debug": true}', '{"debug": true}',
     '{"insecure-registries": ["a:1"]}'),
    ('{\n\t"insecure-registries": [\n\t\t"a:1",\n\t\t"b:2"\n\t]\n}\n', ["a:1", "b:2"],
     '{\n\t"insecure-registries": [\n\t\t"z:9",\n\t\t"w:8"\n\t]\n}\n',
     '{\n\t"insecure-registries": []\n}\n', "{}\n",
     '{\n\t"insecure-registries": [\n\t\t"a:1",\n\t\t"b:2"\n\t]\n}\n'),
    ('{"insecure-registries": ["x"], "insecure-registries": ["y"]}', ["y"],
     '{"insecure-registries": ["z:9", "w:8"]}', '{"insecure-registries": []}', "{}",
     '{"insecure-registries": ["x"], "insecure-registries": ["y"]}'),
    ("", None, '{\n  "insecure-registries": [\n    "z:9",\n    "w:8"\n  ]\n}\n',
     '{\n  "insecure-registries": []\n}\n', "", ""),
    ('{"insecure-registries": null}', None, '{"insecure-registries": ["z:9", "w:8"]}',
     '{"insecure-registries": []}', "{}", '{"insecure-registries": null}'),
    ('{"a": 1, "insecure-registries": [], "b": 2}', [],
     '{"a": 1, "insecure-registries": ["z:9", "w:8"], "b": 2}',
     '{"a": 1, "insecure-registries": [], "b": 2}', '{"a": 1, "b": 2}',
     '{"a": 1, "insecure-registries": [], "b": 2}'),
]  # fmt: skip


@pytest.mark.parametrize(("text", "listed", "set_zw", "emptied", "dropped", "no_debug"), EDITS)
def test_edits_in_place(text, listed, set_zw, emptied, dropped, no_debug):
    doc = parse(P, text.encode())
    assert doc.get_list(K) == listed
    for got, want in [
        (doc.with_list(K, ZW), set_zw),
        (doc.with_list(K, []), emptied),
        (doc.without(K), dropped),
        (doc.without("debug"), no_debug),
    ]:
        assert got.render().decode() == want
    before = json.loads(text) if text else {}
    assert json.loads(set_zw) == {**before, K: ZW}
    assert K not in (json.loads(dropped) if dropped else {})


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        ('\ufeff{"debug": true}', f"{P} starts with a byte-order mark; it is dropped on write"),
        ('\f{"debug": true}\v', f"{P} has white space around the JSON object that dockerd before"
         " 23.0 rejects (not space, tab or newline); it is dropped on write"),
        ('{"insecure-registries": ["x"], "insecure-registries": ["y"], "insecure-registries": []}',
         f"{P}: insecure-registries is given 3 times and dockerd uses only the last one;"
         " dockercfg keeps only that one when it changes the key"),
    ],
)  # fmt: skip
def test_what_is_dropped_on_write_is_said(text, warning):
    doc = parse(P, text.encode())
    assert doc.warnings == [warning]
    assert doc.with_list(K, ["a:1"]).render().decode().startswith("{")


def test_a_list_that_is_not_strings_is_refused():
    for value, shown in [('"a"', '"a"'), ("[1]", "[1]"), ('["a", 2]', '["a", 2]')]:
        with pytest.raises(EnvironmentProblem) as info:
            parse(P, f'{{"insecure-registries": {value}}}'.encode()).get_list(K)
        assert info.value.message == (
            f"{P}: insecure-registries must be a list of strings, not {shown};"
            " fix it by hand first (see: dockercfg validate)"
        )


@pytest.mark.parametrize(
    ("text", "fixed", "note"),
    [
        ('{"registry-mirror": "https://m.test", "registry-mirrors": ["https://n.test/"]}',
         '{"registry-mirrors": ["https://n.test/", "https://m.test/"]}', "registry-mirror"),
        ('{"insecure-registry": ["http://a:1", "b:2"], "insecure-registries": ["a:1"]}',
         '{"insecure-registries": ["a:1", "b:2"]}', "insecure-registry"),
        ('{"debug": true, "registry-mirror": ["https://m.test/"]}',
         '{"debug": true, "registry-mirrors": ["https://m.test/"]}', "registry-mirror"),
        ('{"insecure-registry": ["a:1"], "insecure-registries": ["a:1"]}',
         '{"insecure-registries": ["a:1"]}', "insecure-registry"),
    ],
)  # fmt: skip
def test_fix_moves_the_ignored_singular_keys(text, fixed, note):
    doc = parse(P, text.encode())
    doc.warnings.append("earlier")
    out = doc.fix_common_mistakes()
    assert out.render().decode() == fixed
    plural = {"registry-mirror": "registry-mirrors", "insecure-registry": "insecure-registries"}
    assert out.warnings[0] == f'moved "{note}" (ignored by dockerd) into "{plural[note]}"'
    assert parse(P, b'{"debug": true}').fix_common_mistakes().warnings == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"insecure-registry": 5}',
         '"insecure-registry" is not a list of strings; fix it by hand'),
        ('{"registry-mirror": [1]}', '"registry-mirror" is not a list of strings; fix it by hand'),
        ('{"registry-mirror": "ftp://x"}',
         "\"registry-mirror\": invalid mirror: unsupported scheme \"ftp\" in \"ftp://x\": must use"
         " either 'https://' or 'http://'; fix it by hand"),
    ],
)  # fmt: skip
def test_fix_refuses_what_it_cannot_move(text, message):
    with pytest.raises(UsageError) as info:
        parse(P, text.encode()).fix_common_mistakes()
    assert info.value.message == message


def test_the_target(tmp_path):
    host = SimpleNamespace(target="daemon-json", shown_path=str(P), config_path=tmp_path / "d.json",
                           flag_sources=[SimpleNamespace(where="dockerd's unit", argv=["--debug"]),
                                         SimpleNamespace(where="unused", argv=[])],
                           flags=lambda: ["dockerd", "--debug"], dockerd_version=None)  # fmt: skip
    target = DaemonJsonTarget(host)
    assert (target.name, target.json_shown, target.holds_flags) == ("daemon-json", str(P), False)
    doc = target.read(b'{"debug": true}')
    assert doc.path == tmp_path / "d.json"
    assert target.read(b"{}", tmp_path / "x").path == tmp_path / "x"
    assert target.settings(doc) == ({"debug": True}, ["dockerd", "--debug"], "dockerd's unit")
    host.flag_sources = []
    assert target.settings(doc)[2] == "no flags"
    assert target.file_problems(b'{"debug": true}', "d.json") == []
    assert [p.path for p in target.file_problems(b'{"debgu": true}', "d.json")] != []


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ('{"a": [1, {"b": [2]}], "insecure-registries": ["x"]}',
         '{"a": [1, {"b": [2]}], "insecure-registries": ["z:9"]}'),
        ('{"a": "x,: ]}[{", "insecure-registries": ["x"]}',
         '{"a": "x,: ]}[{", "insecure-registries": ["z:9"]}'),
        ('{"a":1,"insecure-registries":["x"]}', '{"a":1,"insecure-registries":["z:9"]}'),
        ('{"a" : 1}', '{"a" : 1, "insecure-registries" : ["z:9"]}'),
        ("\n{ }\n", '\n{\n  "insecure-registries": [\n    "z:9"\n  ]\n}\n'),
        ("  {}", '  {\n  "insecure-registries": [\n    "z:9"\n  ]\n}\n'),
        ('{"a": 1,\n  "insecure-registries": null\n}\n',
         '{"a": 1,\n  "insecure-registries": [\n    "z:9"\n  ]\n}\n'),
        ('{\n"a": 1\n}', '{\n"a": 1,\n"insecure-registries": [\n  "z:9"\n]\n}'),
    ],
)  # fmt: skip
def test_the_list_is_written_in_the_file_s_own_style(text, out):
    doc = parse(P, text.encode())
    new = doc.with_list(K, ["z:9"])
    assert new.render().decode() == out
    assert new.path == P
    assert json.loads(out) == {**json.loads(text), K: ["z:9"]}


def test_removing_the_only_member_keeps_a_nested_object_out_of_the_way():
    doc = parse(P, b'{"a": {"b": 1}}')
    assert doc.without("a").render() == b"{}" and doc.without("a").path == P


def test_only_json_white_space_is_kept_around_the_object():
    doc = parse(P, b'\n\f {"a": 1}\v\n')
    assert doc.render() == b'\n {"a": 1}\n'


SHOWN_60 = "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,"  # 60 characters


def test_a_long_wrong_value_is_shown_cut_at_60_characters():
    value = [1] * 40  # json.dumps: "[1, 1, ...]", 118 characters
    with pytest.raises(EnvironmentProblem) as info:
        parse(P, json.dumps({K: value}).encode()).get_list(K)
    assert info.value.message == (
        f"{P}: insecure-registries must be a list of strings, not {SHOWN_60};"
        " fix it by hand first (see: dockercfg validate)"
    )


def test_fix_compares_insecure_registries_as_insecure_registries():
    doc = parse(P, b'{"insecure-registry": ["a:1"], "insecure-registries": ["http://a:1"]}')
    assert doc.fix_common_mistakes().render() == b'{"insecure-registries": ["http://a:1"]}'


def test_fix_keeps_the_file_s_own_warnings_after_its_notes():
    text = (
        '{"registry-mirror": "https://m.test", "insecure-registries": [],'
        ' "insecure-registries": []}'
    )
    assert parse(P, text.encode()).fix_common_mistakes().warnings == [
        'moved "registry-mirror" (ignored by dockerd) into "registry-mirrors"',
        f"{P}: insecure-registries is given 2 times and dockerd uses only the last one;"
        " dockercfg keeps only that one when it changes the key",
    ]


def test_every_flag_source_is_named():
    host = SimpleNamespace(target="daemon-json", shown_path=str(P), config_path=P,
                           flag_sources=[SimpleNamespace(where="the unit", argv=["--debug"]),
                                         SimpleNamespace(where="a drop-in", argv=["--tls"])],
                           flags=lambda: ["dockerd"], dockerd_version=None)  # fmt: skip
    doc = parse(P, b"{}")
    assert DaemonJsonTarget(host).settings(doc)[2] == "the unit; a drop-in"


NBSP_DUPS = '\u00a0{"insecure-registries": ["x"], "insecure-registries": ["y"]}'


@pytest.mark.parametrize(
    ("text", "rendered", "with_z"),
    [
        # Only white space: a fresh object, ending in one newline.
        (" \n", " \n", '{\n  "insecure-registries": [\n    "z:9"\n  ]\n}\n'),
        # "{}": the white space after it is the file's own and stays.
        ("{}\n\n", "{}\n\n", '{\n  "insecure-registries": [\n    "z:9"\n  ]\n}\n\n'),
        ('{"a": 1}\n\n', '{"a": 1}\n\n', '{"a": 1, "insecure-registries": ["z:9"]}\n\n'),
        # The key on the "{" line: its list's lines start at the margin.
        ('{"insecure-registries": [\n  "a"\n]}\n', '{"insecure-registries": [\n  "a"\n]}\n',
         '{"insecure-registries": [\n  "z:9"\n]}\n'),
        # An empty list in an object of one member a line gets a list of one item a line.
        ('{\n  "a": 1,\n  "insecure-registries": []\n}\n',
         '{\n  "a": 1,\n  "insecure-registries": []\n}\n',
         '{\n  "a": 1,\n  "insecure-registries": [\n    "z:9"\n  ]\n}\n'),
        # Go-only white space goes; the JSON white space among it stays, and every edit lands at
        # the offsets of the shortened text.
        ("\u00a0{}\n\u2028\n", "{}\n\n", '{\n  "insecure-registries": [\n    "z:9"\n  ]\n}\n\n'),
        (NBSP_DUPS, NBSP_DUPS[1:], '{"insecure-registries": ["z:9"]}'),
        ('\u00a0{"a": 1}', '{"a": 1}', '{"a": 1, "insecure-registries": ["z:9"]}'),
        ("\u00a0\n{\n  \"a\": 1\n}", '\n{\n  "a": 1\n}',
         '\n{\n  "a": 1,\n  "insecure-registries": [\n    "z:9"\n  ]\n}'),
    ],
)  # fmt: skip
def test_edges_of_the_object_and_of_the_file(text, rendered, with_z):
    doc = parse(P, text.encode())
    assert doc.render().decode() == rendered
    assert doc.with_list(K, ["z:9"]).render().decode() == with_z
    assert json.loads(with_z) == {**(json.loads(rendered) if rendered.strip() else {}), K: ["z:9"]}


def test_removals_land_at_the_offsets_of_the_shortened_text():
    doc = parse(P, '\u00a0{"a": 1, "insecure-registries": ["x"]}'.encode())
    assert doc.without(K).render() == b'{"a": 1}'
    assert doc.without("a").render() == b'{"insecure-registries": ["x"]}'
    assert parse(P, NBSP_DUPS.encode()).without(K).render() == b"{}"


def _target(version) -> DaemonJsonTarget:
    host = SimpleNamespace(target="daemon-json", shown_path=str(P), config_path=P, flag_sources=[],
                           flags=lambda: ["dockerd"], dockerd_version=version)  # fmt: skip
    return DaemonJsonTarget(host)


def test_the_file_is_judged_by_the_host_s_dockerd_version_and_named_as_shown():
    bom = b'\xef\xbb\xbf{"debug": true}'
    (old,) = _target((20, 10, 24)).file_problems(bom, "shown.json")
    (new,) = _target(None).file_problems(bom, "shown.json")  # unknown: the newest rules
    assert (old.path, old.is_error) == ("shown.json", True)
    assert old.message.startswith("dockerd 20.10") and "fails on a file" in old.message
    assert (new.path, new.is_error) == ("shown.json", False)
    assert (
        new.message == "the file starts with a byte-order mark, which dockerd before 23.0 rejects"
    )


@pytest.fixture
def dockerd26_on_path(tmp_path, monkeypatch) -> str:
    """Debian 13's real dockerd 26.1 as the `dockerd` on PATH."""
    from integration.hostsetup import DOCKERD_26
    from support import unavailable

    if not os.access(DOCKERD_26, os.X_OK):
        unavailable(f"{DOCKERD_26} is missing: run `tests/fetch-debian13 docker.io containerd`")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/dockerd").symlink_to(DOCKERD_26)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    return str(tmp_path / "bin/dockerd")


def test_the_installed_dockerd_checks_the_file_for_its_own_version(dockerd26_on_path):
    bad = b'{"max-concurrent-downloads": -1}\n'
    found = _target((26, 1, 5)).dockerd_problem(bad, "/etc/docker/daemon.json")
    assert found is not None and found.is_error, found
    assert "invalid max concurrent downloads: -1" in found.message, found
    assert found.hint == f"reported by {dockerd26_on_path} --validate"
    assert _target(None).dockerd_problem(bad) is not None  # its version is asked
    unknown = _target((26, 1, 5)).dockerd_problem(b'{"bogus": 1}', "/etc/docker/daemon.json")
    assert unknown is not None and "with file /etc/docker/daemon.json: " in unknown.message
    assert _target((26, 1, 5)).dockerd_problem(b'{"debug": true}\n', "x") is None
    # Judging for another dockerd (--docker-version 20.10): the installed one is not asked.
    assert _target((20, 10, 24)).dockerd_problem(bad, "/etc/docker/daemon.json") is None

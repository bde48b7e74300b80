"""daemon.json edits touch only the owned value; everything else stays byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockercfg.errors import EnvironmentProblem
from dockercfg.targets.daemon_json import INSECURE_KEY, MIRRORS_KEY, parse

P = Path("/etc/docker/daemon.json")


def edit(text: str, key: str, items: list[str]) -> str:
    return parse(P, text.encode()).with_list(key, items).render().decode()


def test_empty_file_reads_as_empty_object_and_gets_a_fresh_document():
    doc = parse(P, b"")
    assert doc.value == {}
    assert doc.get_list(INSECURE_KEY) is None
    out = edit("", INSECURE_KEY, ["a:5000"])
    assert out == '{\n  "insecure-registries": [\n    "a:5000"\n  ]\n}\n'


def test_whitespace_only_and_empty_object():
    assert json.loads(edit("  \n", INSECURE_KEY, ["a"])) == {INSECURE_KEY: ["a"]}
    assert edit("{}\n", INSECURE_KEY, ["a"]).endswith("}\n")
    assert json.loads(edit("{}", INSECURE_KEY, ["a"])) == {INSECURE_KEY: ["a"]}


def test_other_keys_keep_their_exact_text_and_order():
    text = (
        '{\n    "log-opts": {"max-size": "10m",   "max-file": "3"},\n'
        '    "debug": false,\n    "labels": ["a=1","b=2"]\n}\n'
    )
    out = edit(text, INSECURE_KEY, ["registry.test:5000"])
    assert out.startswith(text[: text.rindex("]") + 1])
    assert out == (
        text[: text.rindex("]") + 1]
        + ',\n    "insecure-registries": [\n        "registry.test:5000"\n    ]\n}\n'
    )
    assert list(json.loads(out)) == ["log-opts", "debug", "labels", INSECURE_KEY]


def test_existing_list_is_replaced_in_its_own_style():
    multi = '{\n  "insecure-registries": [\n    "a"\n  ],\n  "debug": true\n}\n'
    assert edit(multi, INSECURE_KEY, ["a", "b"]) == (
        '{\n  "insecure-registries": [\n    "a",\n    "b"\n  ],\n  "debug": true\n}\n'
    )
    inline = '{"insecure-registries": ["a"], "debug": true}'
    assert edit(inline, INSECURE_KEY, ["a", "b"]) == (
        '{"insecure-registries": ["a", "b"], "debug": true}'
    )


def test_last_entry_removed_writes_an_empty_list_not_a_missing_key():
    text = '{\n  "insecure-registries": [\n    "a"\n  ]\n}\n'
    assert edit(text, INSECURE_KEY, []) == '{\n  "insecure-registries": []\n}\n'


def test_compact_single_line_file_stays_single_line():
    out = edit('{"debug":true}', MIRRORS_KEY, ["https://m.example.com/"])
    assert out == '{"debug":true, "registry-mirrors":["https://m.example.com/"]}'


def test_tabs_crlf_and_no_trailing_newline_are_kept():
    text = '{\r\n\t"debug": true\r\n}'
    out = edit(text, INSECURE_KEY, ["a"])
    assert out == '{\r\n\t"debug": true,\r\n\t"insecure-registries": [\r\n\t\t"a"\r\n\t]\r\n}'


def test_bom_is_read_with_a_warning_and_never_written():
    doc = parse(P, b'\xef\xbb\xbf{"debug": true}\n')
    assert doc.had_bom and doc.warnings
    assert not doc.with_list(INSECURE_KEY, ["a"]).render().startswith(b"\xef\xbb\xbf")


def test_unicode_and_escapes_in_other_keys_survive():
    text = '{"labels": ["n\\u00e9=1", "x=\\"q\\""], "debug": true}'
    out = edit(text, INSECURE_KEY, ["a"])
    assert out.startswith('{"labels": ["n\\u00e9=1", "x=\\"q\\""], "debug": true')


def test_duplicate_key_edits_the_last_one_like_go_and_drops_the_ignored_ones():
    text = '{"insecure-registries": ["x"], "debug": true, "insecure-registries": ["y"]}'
    out = edit(text, INSECURE_KEY, ["z"])
    assert out == '{"debug": true, "insecure-registries": ["z"]}'


def test_unparsable_file_is_refused_with_line_and_column():
    with pytest.raises(EnvironmentProblem) as err:
        parse(P, b'{\n  "debug": tru\n}\n')
    assert "/etc/docker/daemon.json:2:" in err.value.message


def test_wrong_type_of_owned_key_is_refused():
    doc = parse(P, b'{"insecure-registries": "a:5000"}')
    with pytest.raises(EnvironmentProblem):
        doc.get_list(INSECURE_KEY)


def test_null_value_is_replaced():
    out = edit('{"registry-mirrors": null}', MIRRORS_KEY, ["https://m/"])
    assert json.loads(out) == {MIRRORS_KEY: ["https://m/"]}


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"a": 1, "registry-mirror": ["x"], "b": 2}\n', '{"a": 1, "b": 2}\n'),
        ('{\n  "registry-mirror": ["x"],\n  "b": 2\n}\n', '{\n  "b": 2\n}\n'),
        ('{\n  "b": 2,\n  "registry-mirror": ["x"]\n}\n', '{\n  "b": 2\n}\n'),
        ('{"registry-mirror": ["x"]}\n', "{}\n"),
    ],
)
def test_without_removes_the_member_and_its_comma(text, expected):
    assert parse(P, text.encode()).without("registry-mirror").text == expected

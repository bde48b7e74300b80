"""jsontext: dockerd's decoding rules, exact 1-based positions, duplicates, hostile input."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockercfg.jsontext import (
    MAX_DEPTH,
    JSONSyntaxError,
    ParsedConfig,
    format_path,
    parse_config,
    quote_char,
)


def error_of(data: bytes) -> JSONSyntaxError:
    with pytest.raises(JSONSyntaxError) as info:
        parse_config(data, "daemon.json")
    return info.value


@pytest.mark.parametrize(
    ("data", "line", "column", "message"),
    [
        (b'{"debug": tru', 1, 14, "unexpected end of JSON input"),
        (b'{"debug": trux}', 1, 14, "invalid character 'x' in literal true (expecting 'e')"),
        (b'{\n  "a": 1,\n  "b": nul}', 3, 11, "invalid character '}' in literal null"),
        (b'{\n  "a": 01\n}', 2, 9, "invalid character '1' after object key:value pair"),
        (b'{"a":1,}', 1, 8, "invalid character '}' looking for beginning of object key string"),
        (b'{"a" 1}', 1, 6, "invalid character '1' after object key"),
        (b'{"a": [1 2]}', 1, 10, "invalid character '2' after array element"),
        (b'{"a": [1,]}', 1, 10, "invalid character ']' looking for beginning of value"),
        (b'{"a":1} x', 1, 9, "invalid character 'x' after top-level value"),
        (b'{"a":1}{"b":2}', 1, 8, "invalid character '{' after top-level value"),
        (b'{"a": NaN}', 1, 7, "invalid character 'N' looking for beginning of value"),
        (b'{"a": Infinity}', 1, 7, "invalid character 'I' looking for beginning of value"),
        (b'{"a": -Infinity}', 1, 8, "invalid character 'I' in numeric literal"),
        (b'{"a": 1.}', 1, 9, "invalid character '}' after decimal point in numeric literal"),
        (b'{"a": 1e+}', 1, 10, "invalid character '}' in exponent of numeric literal"),
        (b'{"a": -}', 1, 8, "invalid character '}' in numeric literal"),
        (b'{"a": "x\ty"}', 1, 9, "invalid character '\\t' in string literal"),
        (b'{"a": "\\x"}', 1, 9, "invalid character 'x' in string escape code"),
        (b'{"a": "\\u12g4"}', 1, 12, "invalid character 'g' in \\u hexadecimal character escape"),
        (b"{'a': 1}", 1, 2, "invalid character '\\'' looking for beginning of object key string"),
        (b'{"a": "\n"}', 1, 8, "invalid character '\\n' in string literal"),
        (b'{\r\n\t"a": ]', 2, 7, "invalid character ']' looking for beginning of value"),
        (b'{"a": "caf\xc3\xa9", "b": x}', 1, 20, "invalid character 'x' looking for beginning"),
        (b"{", 1, 2, "unexpected end of JSON input"),
        (b"\x00", 1, 1, "invalid character '\\x00' looking for beginning of value"),
    ],
)
def test_syntax_errors_have_go_messages_and_exact_positions(data, line, column, message):
    err = error_of(data)
    assert (err.line, err.column) == (line, column)
    assert err.message.startswith(message)
    assert str(err) == f"daemon.json:{line}:{column}: {err.message}"


@pytest.mark.parametrize(
    ("data", "kind"),
    [(b"[1]", "an array"), (b'"x"', "a string"), (b"3", "a number"), (b"null", "null")],
)
def test_top_level_must_be_an_object(data, kind):
    err = error_of(b"  \n " + data)
    assert (err.line, err.column) == (2, 2)
    assert err.message == f"top-level value must be a JSON object, not {kind}"


def test_invalid_utf8_reports_byte_offset_as_line_and_column():
    err = error_of(b'{\n  "a": "caf\xc3\xa9 \xff"}')
    assert (err.line, err.column) == (2, 14)
    assert err.message == "invalid UTF-8 at byte offset 16"


@pytest.mark.parametrize("data", [b"", b"   ", b"\n\t\r\n", b"\x0b\x0c \xc2\xa0"])
def test_empty_or_white_space_only_is_an_empty_object(data):
    parsed = parse_config(data, "f")
    assert parsed == ParsedConfig({}, had_bom=False, was_empty=True, text=data.decode())


def test_utf8_bom_is_stripped_and_reported():
    parsed = parse_config(b'\xef\xbb\xbf{"debug": true}', "f")
    assert parsed.value == {"debug": True}
    assert parsed.had_bom and not parsed.was_empty
    assert parsed.text == '{"debug": true}'
    assert parse_config(b"\xef\xbb\xbf", "f").was_empty


@pytest.mark.parametrize(("bom", "codec"), [(b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")])
def test_utf16_with_bom_is_decoded_like_dockerd_23(bom, codec):
    parsed = parse_config(bom + '{"labels": ["ü=1"]}'.encode(codec), "f")
    assert parsed.value == {"labels": ["ü=1"]}
    assert parsed.had_bom and parsed.encoding == codec


def test_bom_does_not_shift_columns():
    err = error_of(b'\xef\xbb\xbf{"a": x}')
    assert (err.line, err.column) == (1, 7)


def test_duplicates_are_recorded_at_every_depth_with_positions():
    text = b"""{
  "debug": true,
  "log-opts": {"max-size": "1m", "max-size": "2m"},
  "runtimes": {"a": {"runtimeArgs": [], "path": "x", "path": "y"}},
  "pools": [{"base": "a", "base": "b"}],
  "debug": false,
  "debug": true
}"""
    parsed = parse_config(text, "f")
    assert parsed.duplicates == [
        ("log-opts.max-size", 3, 16),
        ("log-opts.max-size", 3, 34),
        ("runtimes.a.path", 4, 41),
        ("runtimes.a.path", 4, 54),
        ("pools[0].base", 5, 14),
        ("pools[0].base", 5, 27),
        ("debug", 2, 3),
        ("debug", 6, 3),
        ("debug", 7, 3),
    ]
    # Go keeps the last value, as does this decoder.
    assert parsed.value["debug"] is True
    assert parsed.value["log-opts"] == {"max-size": "2m"}
    assert parsed.value["runtimes"]["a"]["path"] == "y"
    assert parsed.value["pools"] == [{"base": "b"}]


def test_same_key_in_different_objects_is_no_duplicate():
    parsed = parse_config(b'{"a": {"x": 1}, "b": {"x": 1}, "c": [{"x": 1}, {"x": 2}]}', "f")
    assert parsed.duplicates == []


def test_positions_of_keys_and_array_elements():
    parsed = parse_config(b'{\n  "insecure-registries": [\n    "a",\n    "b"\n  ]\n}', "f")
    assert parsed.positions["insecure-registries"] == (2, 3)
    assert parsed.positions["insecure-registries[0]"] == (3, 5)
    assert parsed.positions["insecure-registries[1]"] == (4, 5)


def test_values_match_the_stdlib_for_ordinary_json():
    text = (
        '{"a": [1, -2, 3.5, 1e3, true, false, null, "\\u00e9\\n\\"\\/"], "b": {"c": {}}, "d": []}'
    )
    assert parse_config(text.encode(), "f").value == json.loads(text)


def test_surrogates_pair_up_or_become_replacement_characters():
    parsed = parse_config(b'{"a": "\\ud83d\\ude00", "b": "\\ud800x", "c": "\\udc00"}', "f")
    assert parsed.value == {"a": "\U0001f600", "b": "\ufffdx", "c": "\ufffd"}
    parsed.text.encode("utf-8")  # always encodable


def test_huge_numbers_do_not_crash_and_become_infinite():
    big = b"1" + b"0" * 5000
    parsed = parse_config(b'{"a": 1e999, "b": -1e999, "c": ' + big + b', "d": -' + big + b"}", "f")
    assert parsed.value["a"] == math.inf and parsed.value["b"] == -math.inf
    assert parsed.value["c"] == math.inf and parsed.value["d"] == -math.inf
    exact = parse_config(b'{"e": 123456789012345678901234567890}', "f").value["e"]
    assert exact == 123456789012345678901234567890


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deep_nesting_is_a_syntax_error_not_a_recursion_error(opener):
    err = error_of(b'{"a":' + opener * 100_000)
    assert err.message == f"nesting deeper than {MAX_DEPTH} levels is not supported"
    # The top-level object is level 1; the first container past the limit is reported.
    assert (err.line, err.column) == (1, 6 + (MAX_DEPTH - 1) * len(opener))


def test_nesting_up_to_the_limit_is_fine():
    depth = MAX_DEPTH - 1
    parsed = parse_config(b'{"a":' + b"[" * depth + b"]" * depth + b"}", "f")
    item, levels = parsed.value["a"], 1
    while item:
        item, levels = item[0], levels + 1
    assert levels == depth


def test_format_path_and_quote_char():
    assert format_path(["insecure-registries", 2]) == "insecure-registries[2]"
    assert format_path(["log-opts", "max-size"]) == "log-opts.max-size"
    assert format_path(["log-opts", "a.b"]) == 'log-opts["a.b"]'
    assert format_path([]) == ""
    assert quote_char("'") == "'\\''" and quote_char('"') == "'\"'" and quote_char("\n") == "'\\n'"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_parse_or_raise_only_syntax_errors(data):
    try:
        parsed = parse_config(data, "f")
    except JSONSyntaxError as err:
        assert err.line >= 1 and err.column >= 1
    else:
        assert isinstance(parsed.value, dict)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=5), st.sampled_from([None, 0, 2]))
def test_round_trips_anything_json_dumps_writes(value, indent):
    text = json.dumps(value, indent=indent, ensure_ascii=indent is None)
    parsed = parse_config(text.encode(), "f")
    assert parsed.value == json.loads(text)
    assert parsed.duplicates == []

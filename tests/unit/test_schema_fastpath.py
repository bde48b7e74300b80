"""dockercfg.schema's fast path: it answers "no type error" only where jsonschema agrees.

schema_problems() skips jsonschema (and its ~60 ms import) when fast_ok() accepts a document.
These tests check that this never changes a result: fast_ok(doc) implies jsonschema finds nothing,
and schema_problems() gives the same problems with and without the fast path.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dockercfg import schema
from dockercfg.schema import _compile, _fast_plan, fast_ok, load_schema, schema_problems
from dockercfg.validate import validate_bytes

PROPERTIES: dict[str, Any] = load_schema()["properties"]
KEYS = sorted(PROPERTIES)
GOOD_DOC = {
    "insecure-registries": ["r.test:5000"],
    "registry-mirrors": ["https://m.example.com/"],
    "debug": True,
    "log-opts": {"max-size": "10m"},
}


@contextmanager
def fast_path(enabled: bool):
    old = schema.FAST_PATH
    schema.FAST_PATH = enabled
    try:
        yield
    finally:
        schema.FAST_PATH = old


def jsonschema_errors(value: Any) -> list[Any]:
    return list(schema.schema_validator().iter_errors(value))


# Values --------------------------------------------------------------------------------------

BIG = st.sampled_from([2**31, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**30, 2**1100, -(2**1100)])
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | BIG
    | st.floats()  # nan, inf, 3.0 ...
    | st.sampled_from([0.0, 1.0, -1.0, 3.0, 1e300, 1e999, 0, 1])
    | st.text(max_size=12)
    | st.sampled_from(["", "true", "false", "10", "r.test:5000"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
# Every JSON type equally likely (json_values mostly gives nested containers): for near misses.
any_type = st.one_of(
    st.none(),
    st.booleans(),
    st.integers() | BIG,
    st.floats() | st.sampled_from([0.0, 3.0, -1.0, 1e300, 1e999]),
    st.text(max_size=12) | st.sampled_from(["", "true", "false", "10", "r.test:5000"]),
    st.lists(json_values, max_size=3),
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)


def shaped(sub: Any, *, exact: bool) -> st.SearchStrategy[Any]:
    """Values that fit the subschema `sub`; unless `exact`, any part may be of any type instead."""
    if sub is True or sub == {}:
        return json_values
    strategy = _shaped(sub, exact=exact)
    return strategy if exact else st.one_of(strategy, strategy, any_type)


def _shaped(sub: dict[str, Any], *, exact: bool) -> st.SearchStrategy[Any]:
    if "enum" in sub:
        return st.sampled_from(sub["enum"])
    kind = sub.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "string":
        return st.text(min_size=sub.get("minLength", 0), max_size=sub.get("maxLength", 12))
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers() | BIG
    if kind == "number":
        return st.integers() | st.floats()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(shaped(sub.get("items", True), exact=exact), max_size=4)
    if kind == "object":
        props = sub.get("properties", {})
        fixed = st.fixed_dictionaries(
            {}, optional={name: shaped(s, exact=exact) for name, s in props.items()}
        )
        additional = sub.get("additionalProperties", True)
        if additional is False:
            return fixed
        names = st.text(max_size=8).filter(lambda name: name not in props)
        more = st.dictionaries(names, shaped(additional, exact=exact), max_size=3)
        return st.builds(lambda a, b: {**b, **a}, fixed, more)
    return json_values  # a schema this generator does not know: anything


def fitting_documents(max_size: int = 6) -> st.SearchStrategy[dict[str, Any]]:
    """A random subset of the schema's keys, each with a value that fits the key's schema."""

    def with_values(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries({key: shaped(PROPERTIES[key], exact=True) for key in keys})

    return st.lists(st.sampled_from(KEYS), max_size=max_size, unique=True).flatmap(with_values)


@st.composite
def near_misses(draw: Any) -> dict[str, Any]:
    """A fitting document in which one key's value may have parts of any type."""
    doc = draw(fitting_documents(max_size=5))
    key = draw(st.sampled_from(KEYS))
    doc[key] = draw(any_type | shaped(PROPERTIES[key], exact=False))
    return doc


def documents() -> st.SearchStrategy[dict[str, Any]]:
    """Fitting documents, near misses, and real keys with values of random JSON types.

    Keys no dockerd has join some: the schema allows them (dockercfg reports unknown keys itself).
    """
    unknown = st.dictionaries(st.text(max_size=10), json_values, max_size=2)
    with_unknown = st.builds(lambda a, b: {**b, **a}, fitting_documents(), unknown)
    random = st.dictionaries(st.sampled_from(KEYS), any_type | json_values, max_size=6)
    return st.one_of(fitting_documents(), near_misses(), near_misses(), with_unknown, random)


# Agreement with jsonschema -------------------------------------------------------------------

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(documents())
def test_fast_ok_implies_jsonschema_finds_nothing(doc):
    ok = fast_ok(doc)
    event(f"fast_ok={ok}")
    if ok:
        assert jsonschema_errors(doc) == []


@SETTINGS
@given(documents())
def test_schema_problems_are_the_same_with_and_without_the_fast_path(doc):
    with fast_path(False):
        slow = schema_problems(doc)
    with fast_path(True):
        fast = schema_problems(doc)
    event(f"problems={bool(slow)}")
    assert fast == slow


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fitting_documents())
def test_documents_that_fit_the_schema_take_the_fast_path(doc):
    # Every key of this schema is inside the subset, so a fitting document never needs jsonschema.
    assert jsonschema_errors(doc) == []
    assert fast_ok(doc)


# Each top-level key with values of every JSON type, and the edge cases of each.
PROBES = [
    None, True, False, 0, 1, -1, 2**63, 2**64, 2**1100, -(2**1100), 0.0, 1.0, 3.0, 1.5, -0.0,
    1e300, math.inf, -math.inf, math.nan, "", "x", "true", "false", "10", [], [""], ["x"], [1],
    [1.0], [True], [None], [[]], [{}], [{"base": "10.0.0.0/8", "size": 24}], [{"size": 1.0}],
    {}, {"a": "b"}, {"a": ""}, {"a": 1}, {"a": True}, {"a": None}, {"a": {"b": "c"}},
    {"a": {"b": 1}}, {"a": []}, {"a": {}}, {"enable": True}, {"enable": "true"},
    {"http-proxy": "http://p:3128"}, {"http-proxy": 1}, {"a": {"Name": "nofile", "Hard": 1}},
    {"a": {"Hard": 1.0}}, {"a": {"path": "/bin/runc", "runtimeArgs": ["x"]}},
    {"a": {"runtimeArgs": [1]}}, {"gc": {}}, {"gc": []},
]  # fmt: skip


@pytest.mark.parametrize("key", KEYS)
def test_every_key_with_values_of_every_type(key):
    for probe in PROBES:
        doc = {key: probe}
        if fast_ok(doc):
            assert jsonschema_errors(doc) == [], doc
        with fast_path(False):
            slow = schema_problems(doc)
        assert schema_problems(doc) == slow, doc


def test_every_key_of_the_schema_is_inside_the_subset():
    _root, per_key, _extra = _fast_plan()
    assert set(per_key) == set(KEYS)
    assert [key for key, check in per_key.items() if check is None] == []


@pytest.mark.parametrize(
    ("doc", "ok"),
    [
        (GOOD_DOC, True),
        ({}, True),
        ({"no-such-key": {"x": [1, None]}}, True),  # top-level additionalProperties: true
        ({"debug": "yes"}, False),
        ({"debug": 1}, False),
        ({"max-concurrent-downloads": 3}, True),
        ({"max-concurrent-downloads": 3.0}, False),  # Go's integer, as schema_validator says
        ({"max-concurrent-downloads": True}, False),
        ({"max-concurrent-downloads": 2**1100}, True),  # jsonschema agrees; range is elsewhere
        ({"insecure-registries": ["a", 5]}, False),
        ({"insecure-registries": []}, True),
        ({"log-opts": {"max-size": 10}}, False),
        ({"default-shm-size": ""}, False),  # minLength: 1
        ({"default-shm-size": "64M"}, True),
        ({"nri-opts": {"enable": True}}, True),
        ({"nri-opts": {"enable": True, "bogus": 1}}, False),  # additionalProperties: false
        ({"proxies": {"http-proxy": "http://p:3128", "other": [1]}}, True),
        ({"proxies": {"http-proxy": 3128}}, False),
    ],
)
def test_fast_ok_examples(doc, ok):
    assert fast_ok(doc) is ok
    if ok:
        assert jsonschema_errors(doc) == []
    else:
        with fast_path(False):
            slow = schema_problems(doc)
        assert schema_problems(doc) == slow


# The interpreter on schemas other than daemon.schema.json ------------------------------------


@pytest.mark.parametrize(
    "sub",
    [
        {"type": "string", "pattern": "^a"},
        {"type": "integer", "minimum": 1},
        {"type": "string", "format": "uri"},
        {"$ref": "#/$defs/x"},
        {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        {"type": "array", "items": [{"type": "string"}]},
        {"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "integer"}},
        {"type": "object", "patternProperties": {"^a": {"type": "string"}}},
        {"type": "object", "required": ["a"]},
        {"type": "object", "properties": {"a": {"type": "string", "const": "x"}}},
        {"type": "array", "items": {"type": "string", "pattern": "x"}},
        {"type": "unknown-type"},
        {"enum": [1.5]},
        {"enum": [[1]]},
        {"minLength": True},
        False,
    ],
)
def test_keywords_outside_the_subset_are_refused(sub):
    assert _compile(sub) is None


def test_a_key_outside_the_subset_sends_only_its_documents_to_jsonschema(monkeypatch):
    changed = json.loads(json.dumps(load_schema()))
    changed["properties"]["debug"]["pattern"] = "^x"
    monkeypatch.setattr(schema, "load_schema", lambda: changed)
    _fast_plan.cache_clear()
    try:
        assert not fast_ok({"debug": True})
        assert fast_ok({"ipv6": True})
        changed["$schema"] = "http://json-schema.org/draft-04/schema#"
        _fast_plan.cache_clear()
        assert not fast_ok({"ipv6": True})  # an unknown dialect: no fast path at all
    finally:
        _fast_plan.cache_clear()


def _jsonschema_valid(sub: Any, value: Any) -> bool:
    from jsonschema import validators

    base = validators.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema"})
    checker = base.TYPE_CHECKER.redefine("integer", lambda _c, v: schema._go_integer(v))
    return validators.extend(base, type_checker=checker)(sub).is_valid(value)


TYPES = st.sampled_from(["string", "boolean", "integer", "number", "null", "array", "object"])
subset_schemas = st.recursive(
    st.one_of(
        st.builds(lambda t: {"type": t}, TYPES),
        st.builds(lambda ts: {"type": ts}, st.lists(TYPES, max_size=3)),
        st.builds(
            lambda e: {"enum": e},
            st.lists(st.none() | st.booleans() | st.integers(-2, 2) | st.text(max_size=2)),
        ),
        st.builds(lambda n: {"minLength": n}, st.integers(0, 3)),
        st.builds(lambda n: {"type": "string", "maxLength": n}, st.integers(0, 3)),
        st.just(True),
        st.just({}),
    ),
    lambda inner: st.one_of(
        st.builds(lambda s: {"type": "array", "items": s}, inner),
        st.builds(lambda s: {"items": s}, inner),
        st.builds(
            lambda p, a: {"type": "object", "properties": p, "additionalProperties": a},
            st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
            st.booleans() | inner,
        ),
        st.builds(lambda a: {"additionalProperties": a}, st.booleans() | inner),
    ),
    max_leaves=8,
)
small_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-2, 2) | st.just(2**64),
        st.sampled_from([0.0, 1.0, -1.5, 1e999]),
        st.text(alphabet="ab", max_size=4),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abcd"), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subset_schemas, small_values)
def test_compiled_checks_are_never_more_lenient_than_jsonschema(sub, value):
    check = _compile(sub)
    assert check is not None  # everything generated here is inside the subset
    ok = check(value)
    event(f"ok={ok}")
    if ok:
        assert _jsonschema_valid(sub, value), (sub, value)


@pytest.mark.parametrize(
    "sub",
    [
        *({"type": name} for name in sorted(schema._FAST_TYPES)),
        {"type": ["string", "null"]},
        {"type": []},
        {"enum": ["a", 0, 1, True, False, None]},
        {"enum": [0, 1, "a"]},  # not True, not False
        {"minLength": 1},
        {"type": "string", "maxLength": 1},
        {"type": "array", "items": {"type": "integer"}},
        {"items": {"minLength": 2}},
        {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
        {"properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "boolean"}},
        {"additionalProperties": {"type": "object", "additionalProperties": False}},
        {"type": "object", "x-anything": 1, "description": "annotations only"},
    ],
)
def test_compiled_checks_against_jsonschema_on_fixed_values(sub):
    check = _compile(sub)
    assert check is not None
    values = [*PROBES, "ab", "abc", [2, 3], [2, 3.0], ["ab"], {"a": "x", "b": True}, {"b": 1}]
    for value in values:
        if check(value):
            assert _jsonschema_valid(sub, value), (sub, value)


def test_enum_matches_exact_types_only():
    check = _compile({"enum": ["a", 1, True, None]})
    assert [check(v) for v in ["a", 1, True, None]] == [True] * 4
    assert [check(v) for v in ["b", 1.0, False, 0, 2, [], {}]] == [False] * 7


# No jsonschema import on the fast path -------------------------------------------------------

PROBE = """
import json, sys
from dockercfg.validate import validate_bytes
problems = validate_bytes(sys.argv[1].encode(), source="daemon.json", version=(20, 10, 24))
print(json.dumps({"jsonschema": "jsonschema" in sys.modules,
                  "problems": [p.to_json() for p in problems]}))
"""


def probe(doc: dict[str, Any]) -> dict[str, Any]:
    argv = [sys.executable, "-c", PROBE, json.dumps(doc)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def slow_problems(doc: dict[str, Any]) -> list[dict[str, Any]]:
    with fast_path(False):
        problems = validate_bytes(
            json.dumps(doc).encode(), source="daemon.json", version=(20, 10, 24)
        )
    return [p.to_json() for p in problems]


def test_a_valid_config_is_checked_without_importing_jsonschema():
    result = probe(GOOD_DOC)
    assert result["jsonschema"] is False
    assert result["problems"] == slow_problems(GOOD_DOC)
    assert [p for p in result["problems"] if p["severity"] == "error"] == []


def test_a_wrong_type_imports_jsonschema_and_reports_as_before():
    doc = {"debug": "yes"}
    result = probe(doc)
    assert result["jsonschema"] is True
    assert result["problems"] == slow_problems(doc)
    assert result["problems"] == [
        {
            "code": "type",
            "path": "debug",
            "message": "wrong type: expected true or false, got a string",
            "severity": "error",
            "hint": None,
        }
    ]


def test_the_validate_command_does_not_import_jsonschema(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(GOOD_DOC))
    argv = [sys.executable, "-X", "importtime", "-m", "dockercfg", "validate", str(path)]
    argv += ["--docker-version", "20.10.24"]
    out = subprocess.run(argv, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "dockercfg.schema" in out.stderr  # importtime did report the imports
    assert "jsonschema" not in out.stderr

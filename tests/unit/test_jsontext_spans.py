"""The top-level members' text spans jsontext reports (daemon.json is edited in place by them),
judged by the stdlib's json module on the cut-out text, not by jsontext itself."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from dockercfg.jsontext import parse_config

scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
spaces = st.sampled_from(["", " ", "\n", "\t", "\r\n  "])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=6), values, spaces, spaces, spaces), max_size=5), spaces)
def test_each_member_span_cuts_out_its_key_and_value(members, pad):
    body = ",".join(
        f"{a}{json.dumps(k, ensure_ascii=False)}{b}:{c}{json.dumps(v, ensure_ascii=False)}{a}"
        for k, v, a, b, c in members
    )
    text = f"{pad}{{{pad}{body}{pad}}}{pad}"
    parsed = parse_config(text.encode(), "daemon.json")
    assert [m[0] for m in parsed.members] == [k for k, *_ in members]
    for (key, ks, ke, vs, ve), (k, v, *_) in zip(parsed.members, members):
        assert json.loads(text[ks:ke]) == key == k
        assert json.loads(text[vs:ve]) == v
        assert text[ke:vs].strip() == ":"
    assert parsed.close_brace == text.rstrip().rindex("}")


def test_an_empty_object_and_an_empty_file():
    assert (
        parse_config(b" { } ", "f").members == [] and parse_config(b" { } ", "f").close_brace == 3
    )
    assert parse_config(b"", "f").close_brace == -1

"""Whether an add, remove or set changes a list is decided on normalised entries: a hand-written
entry in another spelling of the same registry is that registry (dockerd normalises both)."""

from __future__ import annotations

import pytest

from dockercfg.dockerd_checks import changed_list
from dockercfg.ops import set_list
from dockercfg.targets.daemon_json import INSECURE_KEY, MIRRORS_KEY

# (key, what the file holds, the normalised command-line value of the same registry). Not a case
# change of a mirror's scheme: ValidateMirror keeps the text as written, only the "/" is added.
SPELLINGS = [
    (MIRRORS_KEY, "https://m.test", "https://m.test/"),
    (INSECURE_KEY, "http://a.test:5000", "a.test:5000"),
    (INSECURE_KEY, "https://a.test:5000", "a.test:5000"),
    (INSECURE_KEY, "10.1.2.3/8", "10.0.0.0/8"),
    (INSECURE_KEY, "::ffff:10.1.0.0/112", "10.1.0.0/16"),
]


@pytest.mark.parametrize(("key", "in_file", "given"), SPELLINGS)
def test_adding_another_spelling_is_a_no_op(key, in_file, given):
    assert changed_list([in_file], True, [given], key) is None


@pytest.mark.parametrize(("key", "in_file", "given"), SPELLINGS)
def test_removing_matches_another_spelling(key, in_file, given):
    assert changed_list(["keep.test:1", in_file], False, [given], key) == ["keep.test:1"]


@pytest.mark.parametrize(("key", "in_file", "given"), SPELLINGS)
def test_set_to_the_same_registries_is_a_no_op(key, in_file, given):
    assert set_list([in_file], [given], key) is None
    assert set_list([in_file], [given, "b.test:1"], key) == [given, "b.test:1"]


def test_add_keeps_the_file_s_spelling_and_appends_only_new_values():
    assert changed_list(["http://a.test:5000"], True, ["a.test:5000", "b.test"], INSECURE_KEY) == [
        "http://a.test:5000",
        "b.test",
    ]
    assert changed_list(None, True, ["b.test"], INSECURE_KEY) == ["b.test"]
    assert changed_list(None, True, [], INSECURE_KEY) == []  # the key is written, empty
    assert changed_list(None, False, ["b.test"], INSECURE_KEY) is None
    assert changed_list(["a.test"], False, ["b.test"], INSECURE_KEY) is None
    assert set_list(None, [], INSECURE_KEY) is None  # absent already means empty

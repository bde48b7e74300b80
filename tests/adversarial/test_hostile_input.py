"""Hostile input, generated: registry addresses, mirror URLs and daemon.json files (random JSON,
deep nesting, huge strings, NUL bytes, invalid UTF-8, byte-order marks, duplicate keys, 1e999,
Unicode white space, truncation ...), through the library and through the CLI.

The promises: never a traceback (exit codes 0-3 only), nothing written unless the result passes
dockercfg's own validator and dockerd's own decoder, the other keys' values untouched, and only
shell-inert characters in registry values (a sourced DOCKER_OPTS file may receive them).

The expectations come from outside the code under test: which values dockerd takes and which of
them are one entry from a table of dockerd's rules (dockerd_rules.py); what a DOCKER_OPTS file
means from /bin/sh itself; whether dockerd takes a file from the installed dockerd. A change
that was due must have happened (an add of a value dockerd takes and the file lacks, a remove of
one it has), and a value dockerd refuses must be refused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import dockerd_rules as rules
import pytest
from adv_support import (
    EXIT_CODES,
    cli,
    make_root,
    no_traceback,
    one_json,
    require_root,
    run_main,
    shown,
    temp_files,
    unavailable,
)
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from dockercfg import model
from dockercfg.errors import DockercfgError
from dockercfg.jsontext import JSONSyntaxError, parse_config
from dockercfg.targets import daemon_json
from dockercfg.validate import validate_bytes, validate_config
from dockercfg.versions import NEWEST, parse_version

DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
SAFE = re.compile(r"[A-Za-z0-9.:\[\]/%_~-]+")
VERSIONS = ["20.10.24", "23.0.0", "24.0.7", "25.0.0", "28.3.0"]
OWNED = ("insecure-registries", "registry-mirrors")

FAST = settings(
    max_examples=1000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CLI = settings(FAST, max_examples=300)
ORACLE = settings(FAST, max_examples=150)


@pytest.fixture(autouse=True, scope="module")
def no_dockerd_on_path():
    """In-process runs would start `dockerd --version|--validate` for every example (Debian's
    20.10 has no --validate anyway); test_dockerd_itself_accepts_every_file_we_write asks the
    installed dockerd directly instead."""
    saved = os.environ.get("PATH", "")
    empty = tempfile.mkdtemp(prefix="dcfg-nopath-")
    os.environ["PATH"] = empty
    try:
        yield
    finally:
        os.environ["PATH"] = saved
        os.rmdir(empty)


# Strategies -------------------------------------------------------------------------------------

VALID_INSECURE = [
    "registry.test:5000", "10.0.0.0/8", "192.168.1.7:5000", "[::1]:5000", "fd00::/8",
    "::ffff:10.0.0.0/104", "http://plain.test", "HTTPS://Upper.Test:443", "localhost:5000",
    "a.b-c.d:65535", "docker.io", "0.0.0.0/0", "xn--bcher-kva.test",
]  # fmt: skip
VALID_MIRRORS = [
    "https://mirror.example.com", "http://10.0.0.1:5000/", "https://m.test/path/sub",
    "HTTP://M.TEST", "https://[fd00::1]:443", "http://m.test:00080", "https://m.test/%41",
    "https://m.test/~x/",
]  # fmt: skip
TRICKY = [
    "$(touch /tmp/dockercfg-pwned)", "`id`", "a.test;reboot", "a.test b.test", "a.test\nb.test",
    "a.test\x00", "'a.test'", '"a.test"', "a.test\\", "\u00a0a.test", "a.test\u200b",
    "\uff11\uff12\uff17.0.0.1", "x.test:+5000", "x.test:-1", "x.test:99999", "x.test:",
    "x.test:0x50", "[::1]", "::1", "[::1%eth0]:5000", "fe80::1%eth0/64", "10.0.0.1/08",
    "10.0.0.1/33", "1.2.3.4/ 8", "-x.test", "x.test-", "--json", "--root=/", "..", "/",
    "http://", "https://user:pw@x.test", "http://x.test/p?q=1", "http://x.test/#f", "http://x.test?",
    "ftp://x.test", "unix:///var/run/docker.sock", "file:///etc/shadow", "http://x.test\\@y",
    "http://x.test:99999", "http://%zz.test", "http://x.test/%0a", "http://x.test/$(id)",
    "http://[::1", "http://x_y.test", "http://x.test:0", "https://" + "a" * 300 + ".test",
    "a" * 5000, "é.test", "xn--.test", "x..test", ".x.test", "x.test.", "*.test", "%", "",
    " ", "\t", "\u2028", "\ud800", "\x7f", "http://x.test\x7f",
]  # fmt: skip
SHELL_BITS = ["$", "`", ";", "|", "&", "'", '"', " ", "\n", "\\", "(", ")", "<", ">", "*", "!"]

valid_values = st.sampled_from(VALID_INSECURE + VALID_MIRRORS)
registry_values = st.one_of(
    st.sampled_from(VALID_INSECURE + VALID_MIRRORS + TRICKY),
    st.text(max_size=40),
    st.from_regex(r"\A(https?://)?[a-zA-Z0-9.\-\[\]:%/_~]{0,30}\Z"),
    st.from_regex(r"\A([0-9]{1,3}\.){3}[0-9]{1,3}(/[0-9]{1,3})?(:[0-9]{1,6})?\Z"),
    st.from_regex(r"\A\[?[0-9a-fA-F:]{2,30}\]?(/[0-9]{1,3}|:[0-9]{1,5})?\Z"),
    st.builds(
        lambda a, b, c: a[:c] + b + a[c:],
        st.sampled_from(VALID_INSECURE + VALID_MIRRORS),
        st.sampled_from(SHELL_BITS),
        st.integers(0, 30),
    ),
)

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Keys with well-typed values, so that many files are valid and the write path is exercised.
typed_members = st.one_of(
    st.tuples(st.sampled_from(OWNED), st.lists(st.sampled_from(VALID_INSECURE), max_size=4)),
    st.tuples(st.just("registry-mirrors"), st.lists(st.sampled_from(VALID_MIRRORS), max_size=3)),
    st.tuples(st.sampled_from(OWNED), st.lists(registry_values, max_size=3)),
    st.tuples(st.sampled_from(OWNED), json_values),
    st.tuples(st.just("debug"), st.booleans()),
    # Values dockerd refuses although their type is right have a test of their own
    # (test_values_dockerd_refuses_are_refused); here they are always good.
    st.tuples(st.just("log-level"), st.sampled_from(["debug", "info", "warn"])),
    st.tuples(st.just("max-concurrent-downloads"), st.integers(0, 10)),
    st.tuples(st.just("labels"), st.lists(st.text(max_size=9).map("k=".__add__), max_size=3)),
    st.tuples(st.just("log-opts"), st.dictionaries(st.sampled_from(["max-size", "x"]),
                                                   st.text(max_size=5), max_size=2)),
    st.tuples(st.just("proxies"), st.fixed_dictionaries({"http-proxy": st.text(max_size=10)})),
    st.tuples(st.sampled_from(["insecure-registry", "registry-mirror", "graph", "hosts"]),
              json_values),
    st.tuples(st.text(max_size=10), json_values),
)  # fmt: skip
configs = st.lists(typed_members, max_size=5).map(dict)

GO_SPACE = ["\u00a0", "\u2028", "\u2029", "\x85", "\v", "\f", "\u3000", "\u1680", " ", "\t"]


@st.composite
def daemon_json_bytes(draw) -> bytes:
    """A daemon.json as hostile as hypothesis can make it, usually close to a real one."""
    shape = draw(st.sampled_from(["json"] * 6 + ["special"]))
    if shape == "special":
        return draw(
            st.sampled_from(
                [b"", b"   \n", b"null", b"[]", b'"x"', b"0", b"{", b"}", b"{}", b"\xef\xbb\xbf",
                 b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b"{,}", b'{"a":1,}', b"{'a': 1}",
                 b'{"debug": NaN}', b'{"debug": Infinity}', b"// c\n{}", b"/* c */{}",
                 b'{"insecure-registries": ["a.test"]}garbage', b"\x00{}", b"{}\x00",
                 b'{"insecure\\u002dregistries": ["x.test"]}', b'{"labels": ["a=\\ud800"]}',
                 b'{"x": 1e999}', b'{"max-concurrent-downloads": 1e999}',
                 b'{"max-concurrent-downloads": ' + b"9" * 5000 + b"}",
                 b'{"insecure-registries": [], "insecure-registries": ["dup.test"]}',
                 b'{"debug": true, "debug": false}',
                 b'{"log-opts": ' + b"[" * 511 + b"]" * 511 + b"}",
                 b'{"log-opts": ' + b"[" * 520 + b"]" * 520 + b"}",
                 b'{"log-opts": ' + b'{"a": ' * 300 + b"1" + b"}" * 300 + b"}",
                 b'{"labels": ["x=' + b"x" * 50_000 + b'"]}',
                 b'{"' + b"k" * 20_000 + b'": 1}']
            )
        )  # fmt: skip
    doc = draw(configs)
    text = json.dumps(
        doc,
        indent=draw(st.sampled_from([None, 0, 2, 4, "\t"])),
        separators=draw(st.sampled_from([None, (",", ":"), (", ", ": "), (" ,", " :  ")])),
        ensure_ascii=draw(st.booleans()),
    )
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    text += draw(st.sampled_from(["", "\n", "\n\n", " "]))
    for _ in range(draw(st.integers(0, 2))):
        text = draw(st.sampled_from(TEXT_MUTATIONS))(draw, text)
    data = text.encode("utf-8", "surrogatepass")
    for _ in range(draw(st.integers(0, 1))):
        data = draw(st.sampled_from(BYTE_MUTATIONS))(draw, data)
    return data


def _at(draw, text):
    return draw(st.integers(0, len(text)))


def _insert(piece):
    def mutate(draw, text):
        i = _at(draw, text)
        return text[:i] + piece + text[i:]

    return mutate


def _edges(draw, text):
    return draw(st.sampled_from(GO_SPACE)) + text + draw(st.sampled_from(GO_SPACE + [""]))


def _duplicate(draw, text):
    member = json.dumps(draw(st.sampled_from(OWNED + ("debug", "labels"))))
    value = json.dumps(draw(st.one_of(st.lists(st.sampled_from(VALID_INSECURE), max_size=2),
                                      st.booleans())))  # fmt: skip
    i = text.find("{")
    return text if i < 0 else text[: i + 1] + f"{member}: {value}, " + text[i + 1 :]


def _number(draw, text):
    found = list(re.finditer(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", text))
    if not found:
        return text
    match = draw(st.sampled_from(found))
    new = draw(st.sampled_from(["1e999", "-1e999", "1e-999", "9" * 500, "-0", "0.0e+00", "01"]))
    return text[: match.start()] + new + text[match.end() :]


def _truncate(draw, text):
    return text[: _at(draw, text)]


def _escape_key(draw, text):
    return text.replace('"insecure-registries"', '"insecure\\u002dregistries"', 1)


def _trailing_comma(draw, text):
    i = text.rfind("}")
    return text if i < 0 else text[:i] + "," + text[i:]


TEXT_MUTATIONS = [
    _edges, _duplicate, _number, _truncate, _escape_key, _trailing_comma,
    _insert("\x00"), _insert('"'), _insert("\\ud800"), _insert("\ud800"), _insert("\u2028"),
]  # fmt: skip


def _bytes_insert(piece: bytes):
    def mutate(draw, data):
        i = draw(st.integers(0, len(data)))
        return data[:i] + piece + data[i:]

    return mutate


BYTE_MUTATIONS = [
    lambda draw, data: b"\xef\xbb\xbf" + data,
    lambda draw, data: b"\xff\xfe" + data.decode("utf-8", "replace").encode("utf-16-le"),
    lambda draw, data: b"\xfe\xff" + data.decode("utf-8", "replace").encode("utf-16-be"),
    _bytes_insert(b"\xff"),
    _bytes_insert(b"\xc3"),
    _bytes_insert(b"\xc0\xaf"),
    _bytes_insert(b"\xed\xa0\x80"),
    _bytes_insert(b"\x00"),
]


def plain(value):
    """A decoded JSON value comparable with ==, whatever the nesting (inf stays inf)."""
    return json.dumps(value, sort_keys=True)


# The model: one address or URL -------------------------------------------------------------------


def single_line(message: str, limit: int = 1200) -> None:
    shown_ = repr(message[:300]) + f"... ({len(message)} characters)"
    assert "\n" not in message and "\r" not in message, shown_
    assert len(message) < limit, shown_


@FAST
@given(registry_values)
def test_insecure_values_normalise_or_are_refused_cleanly(raw: str):
    judged = rules.insecure(raw)
    try:
        normal = model.normalize_insecure(raw)
    except model.InvalidValue as err:
        single_line(err.message)
        assert judged.verdict != rules.VALID, f"dockerd takes {raw!r}: {judged}"
        return
    assert judged.verdict != rules.INVALID, f"dockerd refuses {raw!r} ({judged.why}): {normal}"
    if judged.verdict == rules.VALID:  # one entry for dockerd: the same key
        assert rules.insecure(normal.value).key == judged.key, (raw, normal, judged)
    assert SAFE.fullmatch(normal.value), normal
    assert model.normalize_insecure(normal.value).value == normal.value  # idempotent
    for warning in normal.warnings:
        single_line(warning)
    problems = validate_config({"insecure-registries": [normal.value]})
    assert not [p for p in problems if p.is_error], problems


@FAST
@given(registry_values, st.sampled_from(VERSIONS))
def test_mirror_urls_normalise_or_are_refused_cleanly(raw: str, version_text: str):
    version = parse_version(version_text)
    judged = rules.mirror(raw, rules.version_of(version_text))
    try:
        normal = model.normalize_mirror(raw, version)
    except model.InvalidValue as err:
        single_line(err.message)
        assert judged.verdict != rules.VALID, f"dockerd {version_text} takes {raw!r}: {judged}"
        return
    assert judged.verdict != rules.INVALID, f"dockerd refuses {raw!r} ({judged.why}): {normal}"
    if judged.verdict == rules.VALID:
        assert normal == judged.key, (raw, normal, judged)  # what dockerd stores, exactly
    assert SAFE.fullmatch(normal) and normal.endswith("/"), normal
    assert model.normalize_mirror(normal, version) == normal
    problems = validate_config({"registry-mirrors": [normal]}, version=version)
    assert not [p for p in problems if p.is_error], problems


# The file: decoding, validating, editing ---------------------------------------------------------


@FAST
@given(daemon_json_bytes(), st.sampled_from(VERSIONS))
def test_any_bytes_decode_or_are_refused_with_a_position(data: bytes, version_text: str):
    try:
        parsed = parse_config(data, "daemon.json")
    except JSONSyntaxError as err:
        assert err.line >= 1 and err.column >= 1
        single_line(str(err))
        parsed = None
    try:
        doc = daemon_json.parse(Path("daemon.json"), data)
    except DockercfgError as err:
        assert parsed is None, "parse_config accepted what daemon_json.parse refused"
        single_line(err.message)
    else:
        assert parsed is not None and plain(doc.value) == plain(parsed.value)
    for problem in validate_bytes(data, source="daemon.json", version=parse_version(version_text)):
        problem.render()  # one clipped line each: see the test below


@pytest.mark.parametrize(
    "key",
    ["a\nb", "\u001b[2J\u001b[31mred", "\r", "k" * 20_000],
    ids=["newline", "escape-sequence", "carriage-return", "20-kB-key"],
)
def test_a_hostile_key_gives_one_clipped_line(key: str):
    data = json.dumps({key: 1}).encode()
    for problem in validate_bytes(data, source="daemon.json"):
        single_line(problem.render())
        assert "\x1b" not in problem.render()


@FAST
@given(configs)
def test_decoder_agrees_with_the_stdlib_on_plain_json(doc: dict):
    text = json.dumps(doc, indent=2)
    # Go (and so jsontext) turns a lone surrogate escape into U+FFFD; Python keeps it.
    lone = re.compile(r"\\ud[89a-f][0-9a-f]{2}")
    expected = lone.sub(r"\\ufffd", plain(json.loads(text)))
    assert lone.sub(r"\\ufffd", plain(parse_config(text.encode(), "x").value)) == expected


@FAST
@given(daemon_json_bytes(), st.sampled_from(OWNED), st.lists(st.sampled_from(VALID_INSECURE)))
def test_editing_one_key_keeps_every_other_byte_meaningful(data: bytes, key: str, items: list):
    try:
        doc = daemon_json.parse(Path("daemon.json"), data)
        doc.get_list(key)
    except DockercfgError:
        return
    new = doc.with_list(key, items).render()
    assert new and not new.startswith(b"\xef\xbb\xbf")
    text = new.decode("utf-8")  # always UTF-8, whatever the input's encoding
    assert text.strip(" \t\r\n") == text.strip(), "non-JSON white space around the object"
    parsed = parse_config(new, "new")
    assert parsed.value.get(key) == items
    assert plain({k: v for k, v in parsed.value.items() if k != key}) == plain(
        {k: v for k, v in doc.value.items() if k != key}
    )
    assert key not in {path for path, _line, _col in parsed.duplicates}
    json.loads(text, parse_int=str)  # strict JSON: any dockerd, any JSON tool reads it


# The CLI, in this process ------------------------------------------------------------------------

COMMANDS = {
    "add-insecure": ("insecure-registries", True),
    "remove-insecure": ("insecure-registries", False),
    "add-mirror": ("registry-mirrors", True),
    "remove-mirror": ("registry-mirrors", False),
}


def unchecked(command: str) -> list[str]:
    """add-mirror checks each new mirror over the network first; these tests are about the file."""
    return ["--force"] if command == "add-mirror" else []


def dockerd_keys(key: str, values: list, version: tuple, typed: bool = False) -> set | None:
    """The entries dockerd would store for `values` (dockerd_rules), or None when one of them is
    not VALID there (refused, or an edge the table does not decide)."""
    judged = [rules.judge(key, v, version, typed=typed) for v in values]
    if all(j.verdict == rules.VALID for j in judged):
        return {j.key for j in judged}
    return None


def strict_json(data: bytes):
    """The file as plain JSON, or None if it is anything else (a BOM, a duplicate key, NaN ...):
    then what dockerd makes of it is not this oracle's to say."""

    def no_duplicates(pairs):
        keys = [k for k, _v in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate key")
        return dict(pairs)

    def no_constant(name):
        raise ValueError(name)

    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates,
                          parse_constant=no_constant)  # fmt: skip
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def errors_in(data: bytes, version, except_duplicates: frozenset = frozenset()) -> list[str]:
    return [
        p.render()
        for p in validate_bytes(data, source="f", version=version)
        if p.is_error and not (p.code == "duplicate-key" and p.path in except_duplicates)
    ]


def check_run(
    root: Path, conf: Path, before: bytes, command: str, values: list, version_text: str | None,
    json_mode: bool,
) -> tuple[int, bytes]:  # fmt: skip
    argv = ["--root", str(root)] + (["--json"] if json_mode else [])
    argv += ["--docker-version", version_text] if version_text else []
    # "--": the values are data, even when they look like options ("--root=/" is one of them);
    # without it a global option among them would point the run at this machine's real /etc.
    argv += [command, *unchecked(command), "--apply", "none", "--", *values]
    code, out, err = run_main(argv)
    assert code in EXIT_CODES, (code, out, err)
    no_traceback(out + err)
    if json_mode:
        result = json.loads(out)  # exactly one object
        assert (result["error"] is None) == (code == 0), result
    after = conf.read_bytes()
    event(f"exit {code}, {'unchanged' if after == before else 'written'}")
    version = rules.version_of(version_text)
    key, add = COMMANDS[command]
    # An argument that looks like an option is one (`--json` anywhere is the global flag).
    given_values = [v for v in values if not v.startswith("-")]
    refused = [v for v in given_values if rules.judge(key, v, version, typed=True).verdict ==
               rules.INVALID]  # fmt: skip
    if refused:  # dockerd refuses the value: so must dockercfg, whatever the file
        assert code == 2 and after == before, (code, refused, out, err)
    wanted = dockerd_keys(key, given_values, version, typed=True) if given_values else None
    if code != 0 or after == before:
        assert after == before, "a failed or idle run changed the file"
        assert temp_files(conf.parent) == []
        if code != 0:
            assert not (conf.parent / ".dockercfg-backups").exists() or not any(
                (conf.parent / ".dockercfg-backups").iterdir()
            ), "a refused change left a backup"
        elif wanted is not None:
            assert_nothing_was_due(before, key, add, wanted, version)
        return code, after

    assert after and not after.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
    old, new = parse_config(before, "old"), parse_config(after, "new")
    # Our validator accepts the file (duplicate keys the file already had excepted: see
    # test_a_file_with_duplicate_keys_is_not_rewritten_as_is); the installed dockerd's own
    # verdict is test_dockerd_itself_accepts_every_file_we_write's.
    errors = errors_in(after, parse_version(version_text) if version_text else NEWEST,
                       frozenset(p for p, _l, _c in old.duplicates))  # fmt: skip
    assert errors == [], errors
    json.loads(after.decode("utf-8"), parse_int=str)
    assert plain({k: v for k, v in new.value.items() if k != key}) == plain(
        {k: v for k, v in old.value.items() if k != key}
    ), "another key's value changed"
    entries = new.value[key]
    assert all(isinstance(v, str) and SAFE.fullmatch(v) for v in entries), entries
    old_list = old.value.get(key) or []
    assert_entries(old_list, entries, key, add, wanted, version)
    return code, after


def assert_nothing_was_due(before: bytes, key: str, add: bool, wanted: set, version) -> None:
    """dockercfg exited 0 and wrote nothing: then the file already said what was asked."""
    doc = strict_json(before)
    old = doc.get(key, []) if isinstance(doc, dict) else None
    if not isinstance(old, list):
        return  # not plain JSON, or a value dockerd's decoder would refuse: not decided here
    have = [rules.judge(key, v, version) for v in old]
    if add and all(h.verdict == rules.VALID for h in have):
        missing = wanted - {h.key for h in have}
        assert not missing, f"the add was due ({sorted(missing)} not in {old}) but nothing changed"
    if not add:
        present = wanted & {h.key for h in have if h.verdict == rules.VALID}
        assert not present, f"the remove was due ({sorted(present)} in {old}) but nothing changed"


def assert_entries(old: list, entries: list, key: str, add: bool, wanted, version) -> None:
    """The list after a write, as dockerd would read it: an add keeps every old entry and adds
    each wanted entry dockerd did not have, once; a remove drops exactly the wanted ones."""
    have = [rules.judge(key, v, version) for v in old]
    known = all(h.verdict == rules.VALID for h in have)
    if add:
        assert entries[: len(old)] == old, (old, entries)
        if wanted is None:
            return
        added = [rules.judge(key, v, version) for v in entries[len(old) :]]
        assert all(a.verdict == rules.VALID for a in added), (old, entries)
        assert wanted <= {a.key for a in added} | {h.key for h in have}, (wanted, entries)
        if known:
            due = wanted - {h.key for h in have}
            assert sorted(a.key for a in added) == sorted(due), f"added {entries[len(old) :]}"
        return
    if wanted is None:
        rest = iter(old)
        assert all(any(v == o for o in rest) for v in entries), (old, entries)  # a subsequence
        return
    kept = [v for v, h in zip(old, have) if h.verdict != rules.VALID or h.key not in wanted]
    if known:
        assert entries == kept, (old, entries, wanted)
    else:  # an entry the table does not decide may be one of the wanted ones, or not
        rest = iter(kept)
        assert all(any(v == o for o in rest) for v in entries), (old, entries)
        dropped = [v for v, h in zip(old, have) if h.verdict == rules.VALID and h.key in wanted]
        assert not set(dropped) & set(entries), (old, entries, wanted)


@CLI
@given(
    daemon_json_bytes(),
    st.sampled_from(list(COMMANDS)),
    st.lists(valid_values | registry_values, min_size=1, max_size=3),
    st.sampled_from([None, *VERSIONS]),
    st.booleans(),
)
def test_cli_on_hostile_files_and_values(data, command, values, version_text, json_mode):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        conf = make_root(root, data)
        check_run(root, conf, data, command, values, version_text, json_mode)


@CLI
@given(
    configs.map(lambda d: json.dumps(d, indent=2).encode()),
    st.sampled_from(list(COMMANDS)),
    st.lists(st.sampled_from(VALID_INSECURE + VALID_MIRRORS), min_size=1, max_size=3),
    st.sampled_from([None, *VERSIONS]),
)
def test_cli_on_plausible_files_and_valid_values(data, command, values, version_text):
    """Mostly valid input, so that most examples really write and the write is checked."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        conf = make_root(root, data)
        check_run(root, conf, data, command, values, version_text, False)


# Values at every edge of dockerd's rules, and files dockerd takes: each run's outcome is decided
# by dockerd_rules, so a change that was due must happen, and a refused value must be refused.

_plain_label = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?\Z")
_labels = st.one_of(  # mostly plain, so that most values are valid and most runs write
    _plain_label, _plain_label, _plain_label,
    st.sampled_from(["a" * 63, "b" * 64, "x-", "-x", "x--y", "X", "xn--bcher-kva", "0", "é"]),
)  # fmt: skip
_hosts = st.lists(_labels, min_size=1, max_size=3).map(".".join)
_ports = st.one_of(st.sampled_from([0, 1, 80, 443, 5000, 65535, 65536, 99999]),
                   st.integers(0, 70000)).map(str)  # fmt: skip
_ipv4 = st.ip_addresses(v=4).map(str)
_ipv6 = st.ip_addresses(v=6).map(lambda a: a.compressed)
edge_insecure = st.one_of(
    _hosts,
    st.builds("{}:{}".format, _hosts | _ipv4, _ports),
    _ipv4,
    _ipv6,
    st.builds("[{}]:{}".format, _ipv6, _ports),
    st.builds("{}/{}".format, _ipv4, st.integers(0, 33)),
    st.builds("{}/{}".format, _ipv6, st.integers(0, 129)),
    st.builds("{}{}".format, st.sampled_from(["http://", "HTTPS://", "ftp://"]),
              _hosts | st.builds("{}:{}".format, _hosts, _ports)),
)  # fmt: skip
edge_mirrors = st.builds(
    "{}://{}{}{}".format,
    st.sampled_from(["https", "http", "HTTPS", "ftp"]),
    _hosts | st.builds("[{}]".format, _ipv6),
    st.sampled_from(["", ":5000", ":65535", ":443"]),
    st.sampled_from(["", "/", "/v2/", "/path/sub"]),
)
EDGES = {"insecure-registries": edge_insecure, "registry-mirrors": edge_mirrors}


@st.composite
def good_file_and_values(draw):
    """A daemon.json dockerd takes (for the version), a command and values for it."""
    command = draw(st.sampled_from(list(COMMANDS)))
    key, _add = COMMANDS[command]
    version_text = draw(st.sampled_from([None, *VERSIONS]))
    version = rules.version_of(version_text)

    def taken(k):
        return EDGES[k].filter(lambda v: rules.judge(k, v, version).verdict == rules.VALID)

    doc = {}
    for k in OWNED:
        if draw(st.booleans()):
            doc[k] = draw(st.lists(taken(k), max_size=4))
    if draw(st.booleans()):
        doc["debug"] = draw(st.booleans())
    if draw(st.booleans()):
        # one value per label name: dockerd refuses two ("conflict labels")
        names = draw(st.lists(st.from_regex(r"\A[a-z]{1,5}\Z"), max_size=2, unique=True))
        doc["labels"] = [f"{name}={draw(st.from_regex(r'[a-z0-9]{0,5}', fullmatch=True))}"
                         for name in names]  # fmt: skip
    old = doc.get(key, [])
    # the values: new ones at the edges, and often one the file has already, in another form
    values = draw(st.lists(EDGES[key], min_size=1, max_size=3))
    if old and draw(st.booleans()):
        values.append(draw(st.sampled_from(old)))
    values = [v.lstrip("-") or "x" for v in values]  # a leading - would read as an option
    return json.dumps(doc, indent=2).encode(), command, values, version_text


@CLI
@given(good_file_and_values())
def test_a_due_change_is_made_and_a_value_dockerd_refuses_is_refused(case):
    data, command, values, version_text = case
    key, add = COMMANDS[command]
    wanted = dockerd_keys(key, values, rules.version_of(version_text), typed=True)
    verdicts = {rules.judge(key, v, rules.version_of(version_text), typed=True).verdict
                for v in values}  # fmt: skip
    event(f"values: {sorted(verdicts)}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        conf = make_root(root, data)
        code, after = check_run(root, conf, data, command, values, version_text, False)
    if wanted is not None:  # every value dockerd takes, and the file dockerd takes: it runs
        assert code == 0, (data, command, values)
        old = [rules.judge(key, v, rules.version_of(version_text)).key
               for v in json.loads(data).get(key, [])]  # fmt: skip
        due = bool(wanted - set(old)) if add else bool(wanted & set(old))
        assert (after != data) == due, ("written" if after != data else "unchanged", due)


def test_a_file_with_duplicate_keys_is_not_rewritten_as_is(tmp_path: Path):
    """dockerd silently takes the last of two equal keys; dockercfg refuses to guess which one
    the administrator meant, says so, and writes nothing."""
    before = b'{\n  "debug": true,\n  "debug": false\n}\n'
    conf = make_root(tmp_path, before)
    code, _out, err = run_main(
        ["--root", str(tmp_path), "add-insecure", "x.test", "--apply", "none"]
    )
    assert code == 1 and conf.read_bytes() == before, (code, err)
    assert "debug: key given 2 times" in err and "nothing was written" in err, err


@pytest.mark.parametrize(
    "member",
    ['"labels": ["production"]', '"log-level": "loud"', '"max-concurrent-downloads": -1'],
)
def test_values_dockerd_refuses_are_refused(tmp_path: Path, member: str):
    before = ("{" + member + "}\n").encode()
    conf = make_root(tmp_path, before)
    argv = ["--root", str(tmp_path), "--docker-version", "20.10.24", "add-insecure", "x.test"]
    code, _out, _err = run_main([*argv, "--apply", "none"])
    assert code == 1 and conf.read_bytes() == before


def test_hostile_arguments_through_a_real_process(tmp_path: Path):
    """argv as the kernel passes it: exit 2, one line, nothing written, for every command."""
    conf = make_root(tmp_path, b'{"insecure-registries": ["keep.test"]}\n')
    for command in COMMANDS:
        for value in (
            "$(touch /tmp/dockercfg-pwned)",
            "a.test\nb.test",
            "x" * 100_000 + ";",
            "é.test",
        ):
            proc = cli(tmp_path, command, value, "--apply", "none")
            assert proc.returncode == 2, shown(proc)
            assert proc.stderr.count("\n") == 1 and len(proc.stderr) < 1000, shown(proc)
            no_traceback(proc.stderr)
        proc = cli(tmp_path, "--json", command, "ok.test", "-x", "--apply", "none")
        assert proc.returncode == 2 and one_json(proc)["error"], shown(proc)
    assert conf.read_bytes() == b'{"insecure-registries": ["keep.test"]}\n'
    assert not Path("/tmp/dockercfg-pwned").exists()


# dockerd itself as the judge ---------------------------------------------------------------------


def dockerd_accepts(path: Path, version: str) -> tuple[bool, str]:
    """dockerd's own verdict on a config file. From 23.0: `dockerd --validate`. Before: dockerd
    loads and checks the config file first, and a data-root it cannot create stops it right
    after, before it writes anything (no pid file, no socket)."""
    if parse_version(version) >= (23, 0, 0):
        argv = [DOCKERD, "--validate", "--config-file", str(path)]
    else:
        argv = [DOCKERD, "--config-file", str(path), "--data-root", "/proc/dockercfg-none/x"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/sbin:/usr/bin:/bin"})  # fmt: skip
    out = done.stderr + done.stdout
    if done.returncode == 0 or "mkdir /proc/dockercfg-none" in out:
        return True, out
    assert "must be run as root" not in out, out
    return False, out


@pytest.fixture(scope="module")
def installed_dockerd() -> str:
    """The installed dockerd's version, which is also the version dockercfg judges by."""
    require_root()
    if not os.path.exists(DOCKERD):
        unavailable("dockerd is not installed")
    out = subprocess.run([DOCKERD, "--version"], capture_output=True, text=True).stdout
    version = parse_version(out)
    assert version, out
    return ".".join(str(part) for part in version)


@ORACLE
@given(daemon_json_bytes(), st.sampled_from(list(COMMANDS)),
       st.lists(st.sampled_from(VALID_INSECURE + VALID_MIRRORS + TRICKY[:8]), min_size=1,
                max_size=2))  # fmt: skip
def test_dockerd_itself_accepts_every_file_we_write(installed_dockerd, data, command, values):
    assume(b"data-root" not in data)  # the 20.10 oracle's own flag would conflict with it
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        conf = make_root(root, data)
        code, after = check_run(root, conf, data, command, values, installed_dockerd, False)
        accepted, why = dockerd_accepts(conf, installed_dockerd)
        event(f"dockerd {'accepts' if accepted else 'rejects'} the file")
        if after != data:
            assert accepted, f"dockerd {installed_dockerd} rejects what dockercfg wrote: {why}"
        elif not accepted and not loose_space(data):  # see the Unicode-space test below
            # dockerd refuses the file: so must dockercfg's validator, for that version.
            assert errors_in(data, parse_version(installed_dockerd)) or code != 0, why


def loose_space(data: bytes) -> bool:
    try:
        return parse_config(data, "f").loose_space
    except JSONSyntaxError:
        return False


def test_validator_flags_unicode_space_that_dockerd_20_10_refuses():
    problems = validate_bytes(b"\xc2\xa0{}\n", source="f", version=parse_version("20.10.24"))
    assert [p for p in problems if p.is_error], problems


# A file a root shell sources: /etc/default/docker ------------------------------------------------

OPTS_FILES = [
    '# Docker Upstart and SysVinit configuration file\nDOCKER_OPTS="--dns 8.8.8.8"\n',
    "DOCKER_OPTS='--dns 8.8.8.8 --insecure-registry old.test:5000'\n",
    'DOCKER_OPTS=""\n',
    "",
    'export DOCKER_OPTS="-H unix:///var/run/docker.sock"\nOTHER=1\n',
    '#DOCKER_OPTS="--dns 8.8.8.8"\n',
    'DOCKER_OPTS="--registry-mirror=https://m.test"\n',
    "DOCKER_OPTS=--dns\\ 8.8.8.8\n",
    'DOCKER_OPTS="$DOCKER_OPTS --dns 1.1.1.1"\n',
    'DOCKER_OPTS="--dns 8.8.8.8" # trailing comment\n',
    'DOCKER_OPTS="--label a=b"\r\n',
]
# What dockercfg may put into the file: characters POSIX sh gives no meaning inside the quotes
# dockercfg writes ('...' and "..." are literal to sh, but for $ ` \ in "..."). Not "~": a
# tilde-prefix expands at the start of a word and after ":" in an assignment (POSIX 2.6.1).
INERT = re.compile(r"[A-Za-z0-9 ._:/\[\]%='\"\n-]*")


@st.composite
def opts_files(draw) -> tuple[str, bool]:
    """A DOCKER_OPTS file, and whether shell syntax was put into it at random."""
    text = draw(st.sampled_from(OPTS_FILES))
    if not draw(st.booleans()):
        return text, False
    i = draw(st.integers(0, len(text)))
    bit = draw(st.sampled_from(SHELL_BITS + ["$(x)", "\\\n", "'", "#"]))
    return text[:i] + bit + text[i:], True


def sourced_words(path: Path, canary: Path) -> list[str] | None:
    """What /bin/sh makes of the file: the words of $DOCKER_OPTS after sourcing it, split as the
    init script's unquoted `$DOCKER_OPTS` splits them (no globbing), or None if sh complains."""
    words = 'for w in $DOCKER_OPTS; do printf "%s\\n" "$w"; done'
    script = f'cd "{canary.parent}"; set -f; . "$1"; {words}'
    done = subprocess.run(["/bin/sh", "-c", script, "sh", str(path)], capture_output=True,
                          text=True, timeout=10, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    return done.stdout.splitlines() if done.returncode == 0 and not done.stderr else None


OPTS_FLAGS = {"insecure-registries": "--insecure-registry", "registry-mirrors": "--registry-mirror"}


def flag_values(words: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """dockerd's reading of the words: the registry flags' values, and every other word."""
    others: list[str] = []
    found: dict[str, list[str]] = {key: [] for key in OPTS_FLAGS}
    i = 0
    while i < len(words):
        word = words[i]
        for key, flag in OPTS_FLAGS.items():
            if word == flag and i + 1 < len(words):
                found[key].append(words[i + 1])
                i += 1
                break
            if word.startswith(flag + "="):
                found[key].append(word[len(flag) + 1 :])
                break
        else:
            others.append(word)
        i += 1
    return others, found


@CLI
@given(opts_files(), st.sampled_from(["add-insecure", "add-mirror", "remove-insecure"]),
       st.lists(valid_values | registry_values, min_size=1, max_size=2))  # fmt: skip
def test_docker_opts_never_receives_shell_syntax(case, command, values):
    text, mutated = case
    key, add = COMMANDS[command]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "etc" / "docker").mkdir(parents=True)
        opts = root / "etc" / "default" / "docker"
        opts.parent.mkdir()
        opts.write_bytes(text.encode())  # bytes: read_text() would turn \r\n into \n
        original = root / "original"
        original.write_bytes(text.encode())
        canary_dir = root / "canary"
        canary_dir.mkdir()
        argv = ["--root", tmp, "--target", "docker-opts", command, *unchecked(command), "--apply",
                "none", "--", *values]  # fmt: skip
        code, out, err = run_main(argv)
        assert code in EXIT_CODES, (code, out, err)
        no_traceback(out + err)
        after = opts.read_bytes().decode()
        event(f"exit {code}, {'unchanged' if after == text else 'written'}")
        given_values = [v for v in values if not v.startswith("-")]
        if any(rules.judge(key, v, typed=True).verdict == rules.INVALID for v in given_values):
            assert code == 2 and after == text, (code, values, err)  # dockerd refuses one
        wanted = dockerd_keys(key, given_values, rules.HEAD, typed=True) if given_values else None
        # An original sh cannot source cleanly, or one that runs commands: the tests below.
        before_words = None
        if not any(bit in text for bit in ("$(", "`")):
            before_words = sourced_words(original, canary_dir)
        if after == text:
            if code == 0 and wanted is not None and before_words is not None and not mutated:
                _others, found = flag_values(before_words)
                have = [rules.judge(key, v) for v in found[key]]
                if add and all(h.verdict == rules.VALID for h in have):
                    assert wanted <= {h.key for h in have}, ("the add was due", text, values)
                if not add:
                    assert not wanted & {h.key for h in have if h.verdict == rules.VALID}, (
                        "the remove was due", text, values)  # fmt: skip
            return
        assert code == 0
        import difflib

        for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(None, text, after).get_opcodes():
            if tag in ("insert", "replace"):
                assert INERT.fullmatch(after[j1:j2]), (text, after)
        if before_words is None:
            return
        words = sourced_words(opts, canary_dir / "x")
        assert words is not None and list(canary_dir.iterdir()) == [], (text, after)
        # The line dockercfg rewrites ends in \n: a \r sh read into the value is gone with it.
        old_others, old_found = flag_values([w.removesuffix("\r") for w in before_words])
        others, found = flag_values(words)
        assert others == old_others, ("a word of DOCKER_OPTS changed", text, after)
        untouched = next(k for k in OPTS_FLAGS if k != key)
        assert found[untouched] == old_found[untouched], (text, after)
        assert_entries(old_found[key], found[key], key, add, wanted, rules.HEAD)


def test_docker_opts_that_sh_cannot_source_is_refused(tmp_path: Path):
    (tmp_path / "etc" / "docker").mkdir(parents=True)
    opts = tmp_path / "etc" / "default" / "docker"
    opts.parent.mkdir()
    opts.write_bytes(b"!\n")
    argv = ["--root", str(tmp_path), "--target", "docker-opts", "add-insecure", "x.test"]
    code, _out, _err = run_main([*argv, "--apply", "none"])
    assert code == 3 and opts.read_bytes() == b"!\n"


def test_docker_opts_escaped_assignment_is_not_taken_for_one(tmp_path: Path):
    (tmp_path / "etc" / "docker").mkdir(parents=True)
    opts = tmp_path / "etc" / "default" / "docker"
    opts.parent.mkdir()
    before = b"DOCKER_OPTS\\='--dns 8.8.8.8'\n"
    opts.write_bytes(before)
    argv = ["--root", str(tmp_path), "--target", "docker-opts", "add-insecure", "x.test"]
    code, _out, err = run_main([*argv, "--apply", "none"])
    # sh runs the line as a command named "DOCKER_OPTS=--dns 8.8.8.8": DOCKER_OPTS is not set.
    script = f'. "{opts}" 2>/dev/null; printf %s "${{DOCKER_OPTS-unset}}"'
    sourced = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True)
    assert sourced.stdout == "unset", sourced
    assert code == 3 and opts.read_bytes() == before, (code, err, opts.read_bytes())
    assert "edit it by hand" in err, err

"""validate: every problem at once, dockerd's wording, version-dependent rules, no tracebacks."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import unavailable

from dockercfg.problems import Problem
from dockercfg.validate import UNKNOWN, dockerd_validate, validate_bytes, validate_config
from dockercfg.versions import NEWEST, parse_version

V20 = (20, 10, 24)
V23 = (23, 0, 0)
V24 = (24, 0, 0)


def check(data: bytes | str | dict, version=NEWEST, platform="linux") -> list[Problem]:
    if isinstance(data, dict):
        data = json.dumps(data)
    if isinstance(data, str):
        data = data.encode()
    return validate_bytes(data, source="daemon.json", version=version, platform=platform)


def codes(problems: list[Problem]) -> list[tuple[str, str, str]]:
    return [(p.code, p.path, p.severity) for p in problems]


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [p.render() for p in problems]
    return problems[0]


def test_valid_config_has_no_problems():
    config = {"insecure-registries": ["10.0.0.1:5000", "10.1.0.0/16"], "debug": True}
    config["registry-mirrors"] = ["https://mirror.gcr.io"]
    assert check(config) == [] and check(config, V20) == []


# Syntax ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ('{\n  "debug": tru', "daemon.json:2:15", "unexpected end of JSON input"),
        ('{\n  "a": 1,\n}', "daemon.json:3:1", "invalid character '}' looking for beginning"),
        ('{"a": NaN}', "daemon.json:1:7", "invalid character 'N' looking for beginning"),
        ("[]", "daemon.json:1:1", "top-level value must be a JSON object, not an array"),
        (b'{"a": "\xc3"}', "daemon.json:1:8", "invalid UTF-8 at byte offset 7"),
    ],
)
def test_syntax_errors_point_at_line_and_column(data, path, message):
    problem = only(check(data))
    assert (problem.code, problem.path, problem.is_error) == ("syntax", path, True)
    assert problem.message.startswith(message)


def test_deep_nesting_is_a_problem_not_a_traceback():
    problem = only(check(b'{"a":' + b"[" * 100_000))
    assert problem.code == "syntax" and "nesting deeper" in problem.message


# Empty file and BOM depend on the dockerd version -----------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"), [(b"", "empty-file"), (b" \n", "empty-file"), (b"\xef\xbb\xbf{}", "bom")]
)
@pytest.mark.parametrize(
    ("version", "severity"),
    [(V20, "error"), (V23, "warning"), (V24, "warning"), (NEWEST, "warning")],
)
def test_empty_and_bom_fail_before_23_and_warn_after(data, code, version, severity):
    problem = only(check(data, version))
    assert (problem.code, problem.path, problem.severity) == (code, "daemon.json", severity)
    if version == V20:
        assert "dockerd 20.10.24 fails on" in problem.message


def test_utf16_bom_is_read_and_reported():
    problems = check(b"\xff\xfe" + '{"debug": true}'.encode("utf-16-le"), V24)
    assert codes(problems) == [("bom", "daemon.json", "warning")]
    assert "UTF-16-LE" in problems[0].hint


# Duplicates -----------------------------------------------------------------------------------


def test_duplicate_keys_are_errors_naming_the_line_that_wins():
    text = '{\n  "debug": true,\n  "log-opts": {"max-size": "1m", "max-size": "2m"},\n'
    text += '  "debug": false\n}'
    problems = check(text)
    assert codes(problems) == [
        ("duplicate-key", "log-opts.max-size", "error"),
        ("duplicate-key", "debug", "error"),
    ]
    assert "at 2:3, 4:3" in problems[1].message
    assert "uses the last one, on line 4" in problems[1].message


# Unknown keys, did-you-mean, flag-name traps ----------------------------------------------------


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("insecure-registeries", 'did you mean "insecure-registries"?'),
        ("insecure_registries", 'did you mean "insecure-registries"?'),
        ("Insecure-Registries", 'did you mean "insecure-registries"?'),
        ("registry-mirors", 'did you mean "registry-mirrors"?'),
        ("insecure-registy", 'did you mean "insecure-registries"?'),  # close to the flag name
        ("--registry-mirror", 'did you mean "registry-mirrors"?'),
        ("Debug", 'did you mean "debug"?'),
        ("log-opst", 'did you mean "log-opts"?'),
        ("max-concurent-downloads", 'did you mean "max-concurrent-downloads"?'),
        ("http-proxi", 'did you mean "proxies": {"http-proxy": ...}?'),
        ("completely-unrelated", None),
    ],
)
def test_unknown_keys_get_dockerds_message_and_a_did_you_mean(key, hint):
    problem = only(check({key: []}))
    assert (problem.code, problem.path, problem.is_error) == ("unknown-key", key, True)
    assert problem.message == f"{UNKNOWN}: {key}"
    assert problem.hint == hint


def test_every_unknown_key_is_reported_at_once():
    problems = check({"bogus-key": 1, "debug": True, "other-bogus": 2})
    assert [p.path for p in problems] == ["bogus-key", "other-bogus"]


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("insecure-registry", 'did you mean "insecure-registries"?'),
        ("registry-mirror", 'did you mean "registry-mirrors"?'),
        ("label", 'did you mean "labels"?'),
        ("dns-opt", 'did you mean "dns-opts"?'),
        ("storage-opt", 'did you mean "storage-opts"?'),
        ("exec-opt", 'did you mean "exec-opts"?'),
        ("log-opt", 'did you mean "log-opts"?'),
        ("host", 'did you mean "hosts"?'),
        ("add-runtime", 'did you mean "runtimes"?'),
        ("http-proxy", 'did you mean "proxies": {"http-proxy": ...}?'),
        ("https-proxy", 'did you mean "proxies": {"https-proxy": ...}?'),
        ("no-proxy", 'did you mean "proxies": {"no-proxy": ...}?'),
        ("containerd-plugins-namespace", "pass --containerd-plugins-namespace"),
        ("validate", "dockerd --validate"),
        ("config-file", "command-line flag only"),
    ],
)
def test_flag_names_are_accepted_by_dockerd_and_silently_ignored(key, hint):
    problem = only(check({key: ["x"]}))
    assert (problem.code, problem.path, problem.is_error) == ("ignored-key", key, True)
    assert "accepts it and silently ignores it" in problem.message
    assert hint in problem.hint


def test_top_level_proxy_keys_before_23_are_plain_unknown_keys():
    problem = only(check({"http-proxy": "http://p:3128"}, V20))
    assert problem.code == "unknown-key"
    assert problem.message.endswith("(not known to dockerd 20.10.24; added in 23.0.0)")
    assert problem.hint == 'from dockerd 23.0.0 on: did you mean "proxies": {"http-proxy": ...}?'


def test_members_of_proxies_are_checked_like_dockerd_flattens_them():
    problems = check({"proxies": {"http-proxy": "http://p:3128", "bogus": "x", "debug": True}})
    assert codes(problems) == [
        ("unknown-key", "proxies.bogus", "error"),
        ("ignored-key", "proxies.debug", "error"),
    ]


def test_struct_fields_without_a_flag_are_unknown_with_an_explanation():
    problem = only(check({"containerd-plugin-namespace": "x"}))
    assert problem.code == "unknown-key"
    assert "no flag of that name" in problem.hint


# Version-dependent keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "added"),
    [
        ("cdi-spec-dirs", ["/etc/cdi"], "25.0.0"),
        ("proxies", {"http-proxy": "http://p:3128"}, "23.0.0"),
        ("log-format", "json", "25.0.0"),
        ("host-gateway-ips", ["172.17.0.1"], "28.0.0"),
        ("default-network-opts", {}, "24.0.0"),
        ("nri-opts", {"enable": True}, "29.2.0"),
    ],
)
def test_keys_newer_than_the_dockerd_are_unknown_naming_both_versions(key, value, added):
    problems = check({key: value}, V20)
    assert check({key: value}) == []
    if isinstance(value, dict):
        # dockerd checks the members of an object instead of its key (configValuesSet): the
        # object passes or fails by what is inside, and is ignored either way.
        problem = problems[0]
        assert (problem.code, problem.path, problem.is_error) == ("ignored-key", key, True)
        assert f"unknown to dockerd 20.10.24 (added in {added})" in problem.message
        return
    problem = only(problems)
    assert (problem.code, problem.path) == ("unknown-key", key)
    assert problem.message == f"{UNKNOWN}: {key} (not known to dockerd 20.10.24; added in {added})"


def test_removed_keys():
    problem = only(check({"graph": "/srv/docker"}))
    assert (problem.code, problem.hint) == ("removed-key", 'use "data-root" instead')
    assert problem.message == f"{UNKNOWN}: graph (removed in 24.0.0)"
    assert only(check({"graph": "/srv"}, V20)).code == "deprecated-key"
    assert 'use "data-root"' in only(check({"graph": "/srv"}, V23)).message
    cors = only(check({"api-cors-header": "*"}, (28, 5, 0)))
    assert cors.code == "removed-key" and 'DEPRECATED: The "api-cors-header"' in cors.message
    assert only(check({"api-cors-header": "*"}, (27, 0, 1))).severity == "warning"
    assert check({"api-cors-header": "*"}, (26, 1, 0)) == []
    assert check({"oom-score-adjust": -500}, V20) == []
    assert only(check({"oom-score-adjust": -500}, (26, 0, 0))).code == "removed-key"


def test_keys_without_effect_are_warnings():
    problem = only(check({"allow-nondistributable-artifacts": ["r:5000"]}, (28, 1, 0)))
    assert (problem.code, problem.severity) == ("no-effect", "warning")
    assert check({"allow-nondistributable-artifacts": ["r:5000"]}, V20) == []


def test_linux_only_keys_on_windows():
    problem = only(check({"live-restore": True}, platform="windows"))
    assert problem.code == "unknown-key" and "Linux-only" in problem.message
    assert check({"live-restore": True}) == []


# Types ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"insecure-registries": "x"}, "insecure-registries"),
        ({"insecure-registries": ["a:5000", 5]}, "insecure-registries[1]"),
        ({"registry-mirrors": "https://m.example.com"}, "registry-mirrors"),
        ({"max-concurrent-downloads": "3"}, "max-concurrent-downloads"),
        ({"log-opts": {"max-size": 10}}, "log-opts.max-size"),
        ({"ipv6": "true"}, "ipv6"),
    ],
)
def test_wrong_types(config, path):
    problem = only(check(config))
    assert (problem.code, problem.path, problem.is_error) == ("type", path, True)
    assert problem.message.startswith("wrong type: expected")


def test_numbers_go_cannot_hold_are_reported():
    problems = check(
        b'{"labels": ["a"], "max-concurrent-uploads": 1e999, "features": {"x": -1e999}}'
    )
    assert ("number-range", "max-concurrent-uploads", "error") in codes(problems)
    assert ("number-range", "features.x", "error") in codes(problems)
    big = check(b'{"mtu": ' + b"9" * 400 + b"}")
    assert [p.code for p in big] == ["number-range"]


def test_null_is_a_warning_except_where_dockerd_fails_on_it():
    assert codes(check({"debug": None})) == [("null-value", "debug", "warning")]
    assert codes(check({"default-shm-size": None})) == [("type", "default-shm-size", "error")]


# Values: insecure registries and mirrors --------------------------------------------------------


def test_insecure_registry_values_use_mobys_rules_and_messages():
    config = {"insecure-registries": ["http://a.example:5000", "a.example:5000", "-bad", "h/p"]}
    problems = check(config)
    assert codes(problems) == [
        ("stripped-scheme", "insecure-registries[0]", "warning"),
        ("duplicate-entry", "insecure-registries[1]", "warning"),
        ("invalid-registry", "insecure-registries[2]", "error"),
        ("invalid-registry", "insecure-registries[3]", "error"),
    ]
    assert "should not contain 'http://'" in problems[0].message
    assert problems[2].message == "invalid index name (-bad). Cannot begin or end with a hyphen"
    assert problems[3].message.startswith("insecure registry h/p is not valid")


def test_cidr_duplicates_after_masking():
    problems = check({"insecure-registries": ["10.1.2.3/16", "10.1.0.0/16"]})
    assert codes(problems) == [("duplicate-entry", "insecure-registries[1]", "warning")]


@pytest.mark.parametrize(("version", "ok"), [(V20, False), ((24, 0, 7), False), (NEWEST, True)])
def test_mirror_paths_depend_on_the_version(version, ok):
    problems = check({"registry-mirrors": ["https://mirror.corp.lan/v1/"]}, version)
    if ok:
        assert problems == []
    else:
        problem = only(problems)
        assert (problem.code, problem.path) == ("invalid-mirror", "registry-mirrors[0]")
        assert "path, query, or fragment" in problem.message


def test_mirror_errors_and_duplicates():
    config = {"registry-mirrors": ["mirror.corp.lan", "https://m.corp.lan", "https://m.corp.lan/"]}
    problems = check(config)
    assert codes(problems) == [
        ("invalid-mirror", "registry-mirrors[0]", "error"),
        ("duplicate-entry", "registry-mirrors[2]", "warning"),
    ]
    assert problems[0].message.startswith('invalid mirror: no scheme specified for "mirror')


def test_host_gateway_ip_and_ips_together():
    config = {"host-gateway-ip": "172.17.0.1", "host-gateway-ips": ["172.17.0.1"]}
    problem = only(check(config))
    assert problem.code == "conflict"
    assert problem.message == (
        "host-gateway-ip and host-gateway-ips must not both be specified in the config file"
    )


def test_everything_is_reported_in_one_pass():
    text = '{"insecure-registry": ["a"], "registry-mirrors": "x", "debug": 1, "debug": true,'
    text += ' "insecure-registries": ["svn://x"], "cdi-spec-dirs": []}'
    found = {p.code for p in check(text, V20)}
    assert found == {"ignored-key", "type", "duplicate-key", "invalid-registry", "unknown-key"}


def test_validate_config_works_on_in_memory_values():
    assert validate_config({"insecure-registries": ["a:5000"]}) == []
    assert [p.code for p in validate_config({"insecure-registry": ["a"]})] == ["ignored-key"]
    assert [p.code for p in validate_config([], version=V20)] == ["type"]  # type: ignore[arg-type]


# Never a traceback ------------------------------------------------------------------------------

KEYS = ["insecure-registries", "registry-mirrors", "proxies", "debug", "log-opts", "runtimes"]
KEYS += ["host-gateway-ip", "host-gateway-ips", "default-shm-size", "nri-opts", "label"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
VERSIONS = st.sampled_from([V20, V23, V24, (28, 3, 0), NEWEST])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), VERSIONS)
def test_random_bytes_give_problems_never_exceptions(data, version):
    problems = validate_bytes(data, source="f", version=version)
    assert all(isinstance(p, Problem) and p.severity in ("error", "warning") for p in problems)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=12), json_values), VERSIONS)
def test_random_json_gives_problems_never_exceptions(value, version):
    data = json.dumps(value).encode()  # may hold NaN/Infinity: then a syntax problem
    problems = validate_bytes(data, source="f", version=version, platform="linux")
    assert all(isinstance(p, Problem) for p in problems)
    for entry in problems:
        json.dumps(entry.to_json())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=5), st.lists(st.text(max_size=40), max_size=5))
def test_random_registry_entries_give_problems_never_exceptions(insecure, mirrors):
    config = {"insecure-registries": insecure, "registry-mirrors": mirrors}
    for version in (V20, NEWEST):
        assert all(isinstance(p, Problem) for p in validate_config(config, version=version))


def test_importing_validate_does_not_load_jsonschema():
    code = "import sys, dockercfg.validate; print('jsonschema' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# dockerd --validate -----------------------------------------------------------------------------

FAKE_DOCKERD = """#!/bin/sh
# FAKE dockerd for tests: answers --version and --validate like dockerd >= 23 would.
if [ "$1" = "--version" ]; then echo "Docker version {version}, build fake"; exit 0; fi
echo "$@" > "$(dirname "$0")/args"
{body}
"""


def fake_dockerd(tmp_path: Path, body: str, version: str = "25.0.3") -> str:
    path = tmp_path / "fake-dockerd"
    path.write_text(FAKE_DOCKERD.format(version=version, body=body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


# The real dockerd 26.1's --validate (success, its own words on failure, extra flags) is tested in
# tests/integration/test_dockerd_validate.py. The fakes below stand in for what a real dockerd
# cannot be made to do here: hang past the timeout, and claim a version its binary is not.


def test_fake_dockerd_timeout_is_a_warning(tmp_path):
    """FAKE dockerd: a real --validate answers in milliseconds; this one never does."""
    exe = fake_dockerd(tmp_path, "exec sleep 30")
    problem = dockerd_validate(b"{}", dockerd=exe, version=(25, 0, 0), timeout=0.5)
    assert problem is not None and problem.severity == "warning"


def test_fake_dockerd_too_old_is_not_run(tmp_path):
    """FAKE dockerd: records whether it was asked at all (the real 20.10 is asked nothing either:
    test_installed_dockerd_without_validate_flag_is_skipped)."""
    exe = fake_dockerd(tmp_path, "exit 1", version="20.10.24")
    assert dockerd_validate(b"{}", dockerd=exe, version=None) is None
    assert dockerd_validate(b"{}", dockerd=exe, version=(22, 6, 0)) is None
    assert not (tmp_path / "args").exists()


def test_missing_dockerd_is_skipped(tmp_path):
    assert dockerd_validate(b"{}", dockerd=str(tmp_path / "nope"), version=None) is None


def version_of(exe: str):
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    return parse_version(out.stdout)


def dockerd_before_23(tmp_path: Path) -> tuple[str, bool]:
    """Debian 12's dockerd 20.10 (no --validate), and whether it is the one on PATH. While an
    integration sandbox of the same run has 26.1 bind-mounted over /usr/sbin/dockerd, the
    machine's own file is copied out from under that mount, in a mount namespace of its own."""
    on_path = shutil.which("dockerd")
    if on_path and (version_of(on_path) or (99,)) < (23, 0, 0):
        return on_path, True
    copy = tmp_path / "dockerd-20.10"
    # Sandboxes may have stacked mounts over it (each dockerd version's session): peel them all.
    script = (
        'while umount /usr/sbin/dockerd 2>/dev/null; do :; done; exec cp /usr/sbin/dockerd "$1"'
    )
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(copy)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if done.returncode == 0 and (version_of(str(copy)) or (99,)) < (23, 0, 0):
        return str(copy), False
    unavailable("needs Debian 12's dockerd 20.10, which has no --validate (tests/run installs it)")
    raise AssertionError("unreachable")


def test_installed_dockerd_without_validate_flag_is_skipped(tmp_path):
    exe, on_path = dockerd_before_23(tmp_path)
    which = {} if on_path else {"dockerd": exe}
    assert dockerd_validate(b'{"bogus": 1}', version=None, **which) is None
    # Told a wrong, newer version, it still returns None on "unknown flag: --validate".
    assert dockerd_validate(b'{"bogus": 1}', version=(25, 0, 0), **which) is None


# Keys from the file in messages; dockerd's value rules; Unicode space for old dockerd ----------


@pytest.mark.parametrize("key", ["a\nb", "\x1b[2Jred", "\r", "\x9b1m", "k" * 20_000])
def test_a_hostile_key_is_escaped_and_clipped_in_message_and_path(key):
    for problem in check({key: 1, "proxies": {key: 1}}):
        line = problem.render()
        assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\x9b" not in line
        assert len(line) < 1200
    assert only(check({key: 1})).path == key  # --json keeps the key exact


@pytest.mark.parametrize(
    "doc, path, message",
    [
        ({"labels": ["a=1", "production"]}, "labels[1]", "bad attribute format: production"),
        ({"log-level": "loud"}, "log-level", "unable to parse logging level: loud"),
        ({"max-concurrent-downloads": -1}, "max-concurrent-downloads",
         "invalid max concurrent downloads: -1"),
        ({"max-concurrent-uploads": -2}, "max-concurrent-uploads",
         "invalid max concurrent uploads: -2"),
        ({"max-download-attempts": 0}, "max-download-attempts", "invalid max download attempts: 0"),
    ],
)  # fmt: skip
def test_values_dockerd_20_10_refuses(doc, path, message):
    problem = only(check(doc, V20))
    assert (problem.code, problem.path, problem.message) == ("invalid-value", path, message)
    assert problem.is_error


def test_value_rules_that_changed_in_23_0():
    assert only(check({"log-level": "loud"}, V23)).message == "invalid logging level: loud"
    assert check({"max-download-attempts": 0}, V23) == []
    assert only(check({"max-download-attempts": -1}, V23)).is_error


@pytest.mark.parametrize("version", [V20, NEWEST])
def test_values_dockerd_accepts(version):
    good = {
        "labels": ["a=", "=b", "c=d=e"],
        "log-level": "WARNING",
        "max-concurrent-downloads": 0,
        "max-concurrent-uploads": 0,
        "max-download-attempts": 1,
    }
    assert check(good, version) == []
    assert check({"log-level": ""}, version) == []


def test_a_hostile_label_or_log_level_is_escaped():
    for doc in ({"labels": ["x\n\x1b[2J" * 5000]}, {"log-level": "x\r\x1b" * 5000}):
        line = only(check(doc, V20)).render()
        assert "\n" not in line and "\r" not in line and "\x1b" not in line and len(line) < 1200


def test_unicode_space_before_the_object_is_an_error_for_dockerd_20_10():
    problem = only(check(b"\xc2\xa0{}\n", V20))
    assert (problem.code, problem.is_error) == ("unicode-space", True)
    assert "invalid character '\u00c2' looking for beginning of value" in problem.message
    assert check(b"\xc2\xa0{}\n", V23) == []
    assert check(b"{}\xc2\xa0\n", V20) == []  # Go's json.Decoder stops after the object
    assert check(b" \t\r\n{}\n", V20) == []

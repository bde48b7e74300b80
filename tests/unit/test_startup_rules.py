"""dockercfg.startup_rules: the rule families tests/corpus pins to real dockerd 20.10 and 26.1
verdicts, here with their exact wording and the boundaries between versions."""

from __future__ import annotations

import json

import pytest

from dockercfg.problems import Problem
from dockercfg.validate import UNKNOWN, validate_bytes
from dockercfg.versions import NEWEST

V20 = (20, 10, 24)
V26 = (26, 1, 5)


def check(data: bytes | dict, version=NEWEST) -> list[Problem]:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return validate_bytes(raw, source="daemon.json", version=version)


def errors(problems: list[Problem]) -> list[tuple[str, str, str]]:
    return [(p.code, p.path, p.message) for p in problems if p.is_error]


@pytest.mark.parametrize("version", [V20, V26])
def test_conflicting_labels_and_reserved_namespaces(version):
    found = errors(check({"labels": ["env=prod", "env=dev", "env=prod"]}, version))
    assert found == [("label-conflict", "labels[1]", "conflict labels for env=dev and env=prod")]
    assert check({"labels": ["a=1", "a=1"]}, version) == []
    (problem,) = errors(check({"labels": ["com.docker.network=1"]}, version))
    assert problem[0] == "invalid-value"
    assert problem[2].startswith("label com.docker.network=1 is not allowed: the namespaces")


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        ({"log-opts": {"max-age": "7d"}}, "log-opts.max-age", "for json-file log driver"),
        (
            {"log-driver": "journald", "log-opts": {"max-size": "1m"}},
            "log-opts.max-size",
            "unknown log opt 'max-size' for journald log driver",
        ),
        ({"log-driver": "local", "log-opts": {"labels": "a"}}, "log-opts.labels", "local"),
    ],
)
def test_log_opts_the_driver_refuses(config, path, message):
    (found,) = errors(check(config, V26))
    assert (found[0], found[1]) == ("log-opt", path)
    assert message in found[2]


def test_log_opts_any_driver_takes_and_drivers_not_checked():
    assert check({"log-opts": {"mode": "non-blocking", "max-buffer-size": "4m"}}) == []
    assert check({"log-driver": "gelf", "log-opts": {"gelf-address": "udp://1.2.3.4:12201"}}) == []
    assert check({"log-driver": "none", "log-opts": {"max-size": "1m"}}) == []
    (warning,) = check({"log-driver": "nosuch"})
    assert (warning.code, warning.is_error) == ("log-driver", False)


def test_syslog_address_wording_by_version():
    config = {"log-driver": "syslog", "log-opts": {"syslog-address": "ftp://h:514"}}
    assert errors(check(config, V20))[0][2] == (
        "syslog-address should be in form proto://address, got ftp://h:514"
    )
    assert errors(check(config, V26))[0][2] == "unsupported scheme: 'ftp'"
    config["log-opts"]["syslog-address"] = "tcp+tls://h:6514"
    assert check(config, V26) == []


def test_ip6tables_needs_experimental_before_27():
    message = "ip6tables rules are only available if experimental features are enabled"
    assert errors(check({"ip6tables": True}, V26)) == [("needs-experimental", "ip6tables", message)]
    assert errors(check({"ip6tables": True}, V20))[0][0] == "needs-experimental"
    assert check({"ip6tables": True, "experimental": True}, V26) == []
    assert check({"ip6tables": True}, (27, 0, 0)) == []


def test_cdi_spec_dirs_need_the_cdi_feature_before_27():
    (found,) = errors(check({"cdi-spec-dirs": ["/etc/cdi"]}, V26))
    assert found[0] == "needs-feature"
    assert check({"cdi-spec-dirs": ["/etc/cdi"], "features": {"cdi": True}}, V26) == []
    assert check({"cdi-spec-dirs": ["/etc/cdi"]}, (27, 0, 0)) == []
    # 20.10 has no such key at all: that is the one error, not a missing feature.
    assert [p[0] for p in errors(check({"cdi-spec-dirs": []}, V20))] == ["unknown-key"]


def test_unknown_object_is_judged_by_its_members():
    found = errors(check({"docker": {"insecure-registries": ["r:5000"], "bogus": 1}}, V26))
    assert [(code, path) for code, path, _ in found] == [
        ("ignored-key", "docker"),
        ("ignored-key", "docker.insecure-registries"),
        ("unknown-key", "docker.bogus"),
    ]
    assert found[2][2] == f"{UNKNOWN}: bogus"
    # Objects dockerd keeps whole are not looked into that way.
    assert check({"log-opts": {"max-size": "1m"}, "features": {"buildkit": True}}, V20) == []


def test_default_network_opts_on_20_10_is_an_ignored_object():
    found = errors(check({"default-network-opts": {"bridge": {"mtu": "1400"}}}, V20))
    assert found[0][:2] == ("ignored-key", "default-network-opts")
    assert "added in 24.0.0" in found[0][2]
    assert check({"default-network-opts": {"bridge": {"mtu": "1400"}}}, V26) == []


def test_registry_keys_inside_builder_or_a_runtime_are_dropped():
    config = {
        "builder": {"GC": {"enabled": True}, "insecure-registries": ["r:5000"]},
        "runtimes": {"r": {"path": "/usr/bin/runc", "registry-mirrors": ["https://m.corp"]}},
    }
    found = errors(check(config, V26))
    assert [(code, path) for code, path, _ in found] == [
        ("ignored-key", "builder.insecure-registries"),
        ("ignored-key", "runtimes.r.registry-mirrors"),
    ]


@pytest.mark.parametrize(
    "mirror", ["https://<your-registry-mirror>", "https://mirror.example.com", "http://x.invalid"]
)
def test_placeholder_mirrors_warn_as_dockerd_takes_them(mirror):
    (problem,) = check({"registry-mirrors": [mirror]}, V26)
    assert (problem.code, problem.is_error) == ("mirror-placeholder", False)


def test_data_after_the_object_says_what_20_10_does_with_it():
    (old,) = check(b'{"debug": true} {"insecure-registries": ["r:5000"]}', V20)
    assert old.code == "syntax"
    assert "dockerd 20.10.24 reads only the first value and ignores the rest" in old.message
    (new,) = check(b'{"debug": true} {"insecure-registries": ["r:5000"]}', V26)
    assert "reads only the first value" not in new.message

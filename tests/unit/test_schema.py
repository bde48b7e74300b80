"""The packaged daemon.schema.json and dockercfg.schema: dockerd's keys, types, versions."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dockercfg.schema import (
    all_keys,
    flag_names,
    flag_only_key,
    is_reloadable,
    key_info,
    known_keys,
    load_schema,
    schema_problems,
    schema_validator,
)
from dockercfg.versions import NEWEST

V20 = (20, 10, 24)

# reference/dockerd.md §1.2 (HEAD): key -> (platform, reloadable)
TABLE_1_2 = {
    "authorization-plugins": ("both", True),
    "bridge": ("both", False),
    "builder": ("both", False),
    "cdi-spec-dirs": ("both", False),
    "containerd": ("both", False),
    "containerd-namespace": ("both", False),
    "cri-containerd": ("both", False),
    "data-root": ("both", False),
    "debug": ("both", True),
    "default-network-opts": ("both", False),
    "default-runtime": ("both", True),
    "default-stop-timeout": ("both", True),
    "dns": ("both", False),
    "dns-opts": ("both", False),
    "dns-search": ("both", False),
    "exec-opts": ("both", False),
    "exec-root": ("both", False),
    "experimental": ("both", False),
    "features": ("both", True),
    "fixed-cidr": ("both", False),
    "group": ("both", False),
    "host-gateway-ips": ("both", False),
    "host-gateway-ip": ("both", False),
    "hosts": ("both", False),
    "insecure-registries": ("both", True),
    "labels": ("both", True),
    "log-driver": ("both", False),
    "log-format": ("both", False),
    "log-level": ("both", False),
    "log-opts": ("both", False),
    "max-concurrent-downloads": ("both", True),
    "max-concurrent-uploads": ("both", True),
    "max-download-attempts": ("both", True),
    "metrics-addr": ("both", False),
    "min-api-version": ("both", False),
    "mtu": ("both", False),
    "network-control-plane-mtu": ("both", False),
    "network-diagnostic-port": ("both", True),
    "node-generic-resources": ("both", False),
    "nri-opts": ("both", True),
    "pidfile": ("both", False),
    "proxies": ("both", False),
    "raw-logs": ("both", False),
    "registry-mirrors": ("both", True),
    "shutdown-timeout": ("both", True),
    "storage-opts": ("both", False),
    "swarm-default-advertise-addr": ("both", False),
    "tls": ("both", False),
    "tlscacert": ("both", False),
    "tlscert": ("both", False),
    "tlskey": ("both", False),
    "tlsverify": ("both", False),
    "allow-direct-routing": ("linux", False),
    "bip": ("linux", False),
    "bip6": ("linux", False),
    "bridge-accept-fwmark": ("linux", False),
    "cgroup-parent": ("linux", False),
    "cpu-rt-period": ("linux", False),
    "cpu-rt-runtime": ("linux", False),
    "default-address-pools": ("linux", False),
    "default-cgroupns-mode": ("linux", True),
    "default-gateway": ("linux", False),
    "default-gateway-v6": ("linux", False),
    "default-ipc-mode": ("linux", True),
    "default-shm-size": ("linux", True),
    "default-ulimits": ("linux", False),
    "firewall-backend": ("linux", False),
    "fixed-cidr-v6": ("linux", False),
    "icc": ("linux", False),
    "init": ("linux", False),
    "init-path": ("linux", False),
    "ip": ("linux", False),
    "ip-forward": ("linux", False),
    "ip-forward-no-drop": ("linux", False),
    "ip-masq": ("linux", False),
    "ip6tables": ("linux", False),
    "iptables": ("linux", False),
    "ipv6": ("linux", False),
    "live-restore": ("linux", True),
    "no-new-privileges": ("linux", False),
    "rootless": ("linux", False),
    "runtimes": ("linux", True),
    "seccomp-profile": ("linux", False),
    "selinux-enabled": ("linux", False),
    "storage-driver": ("linux", False),
    "userland-proxy": ("linux", False),
    "userland-proxy-path": ("linux", False),
    "userns-remap": ("linux", False),
}
# Keys only older releases accept (keys-by-version), with the version that first refuses them.
OLD_KEYS = {
    "graph": (23, 0, 0),
    "cluster-store": (23, 0, 0),
    "cluster-store-opts": (23, 0, 0),
    "cluster-advertise": (23, 0, 0),
    "oom-score-adjust": (25, 0, 0),
    "api-cors-header": (28, 0, 0),
}
# reference §1.3 and the release tags: first version with the key.
ADDED = {
    "proxies": (23, 0, 0),
    "default-network-opts": (24, 0, 0),
    "cdi-spec-dirs": (25, 0, 0),
    "log-format": (25, 0, 0),
    "host-gateway-ips": (28, 0, 0),
    "bip6": (28, 0, 0),
    "ip-forward-no-drop": (28, 0, 0),
    "allow-direct-routing": (28, 2, 0),
    "firewall-backend": (29, 0, 0),
    "bridge-accept-fwmark": (29, 0, 0),
    "min-api-version": (29, 0, 0),
    "nri-opts": (29, 2, 0),
    "default-stop-timeout": (29, 7, 0),
    "insecure-registries": (1, 11, 0),
    "registry-mirrors": (1, 11, 0),
}


def test_schema_is_valid_draft_2020_12_and_allows_unknown_top_level_keys():
    from jsonschema import Draft202012Validator

    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is True
    assert list(schema_validator().iter_errors({"no-such-key": {"x": 1}})) == []


def test_every_key_of_the_reference_table_is_in_the_schema():
    properties = load_schema()["properties"]
    missing = set(TABLE_1_2) - set(properties)
    assert not missing
    for key, (platform, reloadable) in TABLE_1_2.items():
        info = key_info(key)
        assert (info.platform, info.reloadable) == (platform, reloadable), key
    # The one §1.2 row that is a trap: a flag name whose JSON field is spelled differently.
    assert "containerd-plugins-namespace" not in properties
    assert flag_only_key("containerd-plugins-namespace").use is None
    assert set(OLD_KEYS) | {"allow-nondistributable-artifacts", "deprecated-key-path"} <= set(
        properties
    )
    assert set(all_keys()) == set(properties)


@pytest.mark.parametrize("key", sorted(load_schema()["properties"]))
def test_every_key_has_type_and_annotations(key):
    spec = load_schema()["properties"][key]
    assert spec["type"] in ("array", "object", "string", "integer", "boolean")
    assert isinstance(spec["x-reloadable"], bool)
    assert spec["x-platform"] in ("both", "linux")
    assert spec["x-flag"] is None or str(spec["x-flag"][0]).startswith("-")
    info = key_info(key)
    assert info.since <= NEWEST
    assert info.removed is None or info.removed > info.since


@pytest.mark.parametrize(("key", "version"), sorted(ADDED.items()))
def test_first_versions(key, version):
    info = key_info(key)
    assert info.since == version
    before = (version[0], version[1] - 1, 0) if version[1] else (version[0] - 1, 99, 0)
    assert key in known_keys(version)
    assert key not in known_keys(before)


@pytest.mark.parametrize(("key", "removed"), sorted(OLD_KEYS.items()))
def test_removed_keys(key, removed):
    info = key_info(key)
    assert info.removed == removed
    assert key in known_keys((removed[0] - 1, 0, 0))
    assert key not in known_keys(removed) and key not in known_keys(NEWEST)


def test_registry_keys_reload_since_their_documented_versions():
    insecure, mirrors = key_info("insecure-registries"), key_info("registry-mirrors")
    assert (insecure.flag, insecure.reloadable_since) == ("--insecure-registry", (1, 13, 0))
    assert (mirrors.flag, mirrors.reloadable_since) == ("--registry-mirror", (17, 4, 0))
    assert is_reloadable("insecure-registries", V20) and is_reloadable("registry-mirrors", V20)
    assert not is_reloadable("insecure-registries", (1, 12, 6))
    assert is_reloadable("insecure-registries", (1, 13, 0))
    assert not is_reloadable("registry-mirrors", (17, 3, 0))
    assert is_reloadable("registry-mirrors", (17, 4, 0))


@pytest.mark.parametrize(
    ("key", "version", "expected"),
    [
        ("debug", NEWEST, True),
        ("data-root", NEWEST, False),
        ("hosts", V20, False),
        ("nri-opts", V20, False),  # unknown to 20.10
        ("nri-opts", NEWEST, True),
        ("no-such-key", NEWEST, False),
        ("insecure-registry", NEWEST, False),
    ],
)
def test_is_reloadable(key, version, expected):
    assert is_reloadable(key, version) is expected


def test_known_keys_by_version_and_platform():
    old, new = known_keys(V20), known_keys(NEWEST)
    assert {"graph", "insecure-registries", "registry-mirrors"} <= old
    assert not {"cdi-spec-dirs", "proxies", "log-format", "host-gateway-ips"} & old
    assert {"cdi-spec-dirs", "proxies", "nri-opts", "default-stop-timeout"} <= new
    assert "graph" not in new
    # "x-since": "20.10.0" means "20.10.0 or earlier": older releases were not checked.
    assert "debug" in known_keys((19, 3, 0)) and "proxies" not in known_keys((19, 3, 0))
    windows = known_keys(NEWEST, "windows")
    assert "live-restore" not in windows and "storage-driver" not in windows
    assert {"insecure-registries", "registry-mirrors", "default-runtime"} <= windows
    # Platform moves, read from the release tags: storage-driver's flag became unix-only in 23.0,
    # default-runtime's flag reached Windows in 23.0.
    assert "storage-driver" in known_keys(V20, "windows")
    assert "default-runtime" not in known_keys(V20, "windows")


def test_flag_names_map_to_keys():
    names = flag_names(NEWEST)
    assert names["insecure-registry"] == "insecure-registries"
    assert names["registry-mirror"] == "registry-mirrors"
    assert names["add-runtime"] == "runtimes"
    assert names["http-proxy"] == "proxies.http-proxy"
    assert "cdi-spec-dir" not in flag_names(V20)


@pytest.mark.parametrize(
    ("trap", "use"),
    [
        ("insecure-registry", "insecure-registries"),
        ("registry-mirror", "registry-mirrors"),
        ("label", "labels"),
        ("dns-opt", "dns-opts"),
        ("storage-opt", "storage-opts"),
        ("exec-opt", "exec-opts"),
        ("log-opt", "log-opts"),
        ("host", "hosts"),
        ("add-runtime", "runtimes"),
        ("http-proxy", "proxies.http-proxy"),
        ("https-proxy", "proxies.https-proxy"),
        ("no-proxy", "proxies.no-proxy"),
        ("containerd-plugins-namespace", None),
        ("validate", None),
        ("config-file", None),
    ],
)
def test_flag_only_keys(trap, use):
    info = flag_only_key(trap)
    assert info is not None and info.use == use
    assert key_info(trap) is None


@pytest.mark.parametrize(
    ("value", "path", "expected"),
    [
        ({"insecure-registries": "x"}, "insecure-registries", "an array"),
        ({"insecure-registries": ["a", 2]}, "insecure-registries[1]", "a string"),
        ({"registry-mirrors": {"a": "b"}}, "registry-mirrors", "an array"),
        ({"debug": "true"}, "debug", "true or false"),
        ({"debug": 1}, "debug", "true or false"),
        ({"max-concurrent-downloads": "3"}, "max-concurrent-downloads", "a whole number"),
        ({"max-concurrent-downloads": 3.0}, "max-concurrent-downloads", "a whole number"),
        ({"max-concurrent-downloads": 3.5}, "max-concurrent-downloads", "a whole number"),
        ({"max-concurrent-downloads": True}, "max-concurrent-downloads", "a whole number"),
        ({"log-opts": {"max-size": 10}}, "log-opts.max-size", "a string"),
        ({"log-opts": ["max-size=10m"]}, "log-opts", "an object"),
        ({"features": {"cdi": "true"}}, "features.cdi", "true or false"),
        ({"default-shm-size": 67108864}, "default-shm-size", "a string"),
        ({"default-address-pools": [{"base": 1, "size": 24}]}, "default-address-pools[0].base", ""),
        ({"default-ulimits": {"nofile": {"Hard": "1"}}}, "default-ulimits.nofile.Hard", ""),
        ({"runtimes": {"x": {"runtimeArgs": "--debug"}}}, "runtimes.x.runtimeArgs", "an array"),
        ({"proxies": {"http-proxy": ["x"]}}, "proxies.http-proxy", "a string"),
        (
            {"default-network-opts": {"bridge": {"mtu": 1500}}},
            "default-network-opts.bridge.mtu",
            "",
        ),
        ({"hosts": "unix:///var/run/docker.sock"}, "hosts", "an array"),
        ({"builder": []}, "builder", "an object"),
        ({"nri-opts": {"enable": True, "bogus": 1}}, "nri-opts.bogus", "unknown option"),
        ({"default-shm-size": ""}, "default-shm-size", "must not be empty"),
    ],
)
def test_wrong_types_are_rejected_with_a_path(value, path, expected):
    problems = schema_problems(value)
    assert [p.path for p in problems] == [path]
    assert expected in problems[0].message
    assert problems[0].is_error


def test_type_hints():
    (problem,) = schema_problems({"insecure-registries": "10.0.0.1:5000"})
    assert problem.message == "wrong type: expected an array, got a string"
    assert problem.hint == 'write a list: ["10.0.0.1:5000"]'
    (problem,) = schema_problems({"ipv6": "false"})
    assert problem.hint == "write false without quotes"


DOCS_LINUX_EXAMPLE = """{
  "allow-direct-routing": false, "authorization-plugins": [], "bip": "", "bip6": "",
  "bridge": "", "bridge-accept-fwmark": "",
  "builder": {"gc": {"enabled": true, "defaultReservedSpace": "10GB", "policy": [
    {"maxUsedSpace": "512MB", "keepDuration": "48h", "filter": ["type=source.local"]},
    {"reservedSpace": "50GB", "minFreeSpace": "20GB", "maxUsedSpace": "200GB", "all": true}]}},
  "cgroup-parent": "", "containerd": "/run/containerd/containerd.sock",
  "containerd-namespace": "docker", "data-root": "", "debug": true,
  "default-address-pools": [{"base": "172.30.0.0/16", "size": 24}],
  "default-cgroupns-mode": "private", "default-gateway": "", "default-gateway-v6": "",
  "default-network-opts": {}, "default-runtime": "runc", "default-shm-size": "64M",
  "default-ulimits": {"nofile": {"Hard": 64000, "Name": "nofile", "Soft": 64000}},
  "dns": [], "dns-opts": [], "dns-search": [], "exec-opts": [], "exec-root": "",
  "experimental": false, "features": {"cdi": true, "containerd-snapshotter": true},
  "firewall-backend": "", "fixed-cidr": "", "fixed-cidr-v6": "", "group": "",
  "host-gateway-ip": "", "hosts": [],
  "proxies": {"http-proxy": "http://proxy.example.com:80",
              "https-proxy": "https://proxy.example.com:443",
              "no-proxy": "*.test.example.com,.example.org"},
  "icc": false, "init": false, "init-path": "/usr/libexec/docker-init",
  "insecure-registries": [], "ip": "0.0.0.0", "ip-forward": false, "ip-masq": false,
  "iptables": false, "ip6tables": false, "ipv6": false, "labels": [], "live-restore": true,
  "log-driver": "json-file", "log-format": "text", "log-level": "",
  "log-opts": {"cache-disabled": "false", "max-file": "5", "max-size": "10m"},
  "max-concurrent-downloads": 3, "max-concurrent-uploads": 5, "max-download-attempts": 5,
  "mtu": 0, "no-new-privileges": false, "node-generic-resources": ["NVIDIA-GPU=UUID1"],
  "pidfile": "", "raw-logs": false, "registry-mirrors": [],
  "runtimes": {"cc-runtime": {"path": "/usr/bin/cc-runtime"},
               "custom": {"path": "/usr/local/bin/my-runc", "runtimeArgs": ["--debug"]}},
  "seccomp-profile": "", "selinux-enabled": false, "shutdown-timeout": 15,
  "storage-driver": "", "storage-opts": [], "swarm-default-advertise-addr": "",
  "tls": true, "tlscacert": "", "tlscert": "", "tlskey": "", "tlsverify": true,
  "userland-proxy": false, "userland-proxy-path": "/usr/libexec/docker-proxy",
  "userns-remap": ""
}"""

# What people run on Debian hosts (docker.io 20.10, docker-ce): the shapes the tool must keep.
DEBIAN_EXAMPLES = [
    {"insecure-registries": ["192.168.199.100:5000"]},
    {"registry-mirrors": ["https://mirror.gcr.io"]},
    {
        "exec-opts": ["native.cgroupdriver=systemd"],
        "log-driver": "json-file",
        "log-opts": {"max-size": "100m"},
        "storage-driver": "overlay2",
    },
    {"data-root": "/srv/docker", "log-driver": "journald", "live-restore": True},
    {
        "default-runtime": "nvidia",
        "runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}},
    },
    {"dns": ["10.0.0.2", "8.8.8.8"], "bip": "172.26.0.1/16", "mtu": 1450, "ipv6": False},
    {
        "features": {"buildkit": True},
        "builder": {"gc": {"enabled": True, "defaultKeepStorage": "20GB"}},
    },
    {"userns-remap": "default", "icc": False, "no-new-privileges": True, "userland-proxy": False},
]


def test_the_docs_example_and_debian_examples_pass_the_schema():
    assert schema_problems(json.loads(DOCS_LINUX_EXAMPLE)) == []
    for example in DEBIAN_EXAMPLES:
        assert schema_problems(example) == [], example


def test_importing_schema_and_reading_key_info_does_not_load_jsonschema():
    code = (
        "import sys, dockercfg.schema as s; s.key_info('debug'); s.known_keys((20, 10, 24));"
        "s.is_reloadable('labels', (24, 0, 0)); print('jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

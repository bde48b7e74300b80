"""The mirror check against servers on 127.0.0.1 (only loopback is contacted): the real
docker-registry as a mirror and as a private registry; small servers (mirror_servers.Server) only
for Docker Hub's token dance, a slow registry and a web server that is no registry. The live test
(tests/integration/test_mirrors_live.py) has dockerd itself pull through a real mirror.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
from mirror_servers import Registry, Server, closed_port

from dockercfg import mirrorcheck as check
from dockercfg.errors import UsageError


def test_hub_mirror_behind_a_bearer_token_is_ok():
    with Server("hub") as hub:
        (v,) = check.check_mirrors([hub.url], deadline=10)
        assert v.verdict == "ok", v.evidence
        assert v.hub["status"] == 200 and "token" in v.hub["token"]
        assert v.hub["media_type"] == "application/vnd.oci.image.index.v1+json"
        assert (
            hub.httpd.scopes and "scope=repository%3Alibrary%2Falpine%3Apull" in hub.httpd.scopes[0]
        )
        accept = hub.httpd.accepts[0]
        assert "manifest.list.v2+json" in accept and "oci.image.index.v1+json" in accept
        assert len(v.samples_ms) == check.SAMPLES and v.v2["api_version"] == "registry/2.0"


def test_each_kind_is_classified_within_the_deadline():
    servers = Registry(), Server("web"), Registry("acme/app"), Server("cache", delay=0.4)
    with servers[0] as cache, servers[1] as web, servers[2] as private, servers[3] as slow:
        urls = [cache.url, web.url, private.url, slow.url]
        urls += [f"http://127.0.0.1:{closed_port()}", "http://no-such-mirror.invalid"]
        started = time.monotonic()
        verdicts = check.check_mirrors(urls, deadline=8, slow_ms=300)
        took = time.monotonic() - started
    got = {v.url.rstrip("/"): v for v in verdicts}
    assert took < 8 + check.GRACE
    assert got[cache.url].verdict == "ok"
    assert got[slow.url].verdict == "slow" and "median" in got[slow.url].reason
    assert got[web.url].verdict == "not-a-mirror" and "not a registry" in got[web.url].reason
    assert got[private.url].verdict == "not-a-mirror"
    assert "MANIFEST_UNKNOWN" in got[private.url].reason
    assert check.hub_only_hint(got[private.url]) == check.HUB_ONLY
    assert check.hub_only_hint(got[web.url]) is None
    assert {v.url for v in check.dead(verdicts)} == {urls[4] + "/", urls[5] + "/"}
    assert [v.verdict for v in verdicts] == ["ok", "slow", "not-a-mirror", "not-a-mirror",
                                             "dead", "dead"]  # fmt: skip


def test_a_server_that_never_answers_is_dead_at_the_deadline():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections, never says a word
        started = time.monotonic()
        (v,) = check.check_mirrors([f"http://127.0.0.1:{silent.getsockname()[1]}"], deadline=2)
        took = time.monotonic() - started
    assert v.verdict == "dead" and "2s" in v.reason, v.evidence
    assert took < 2 + check.GRACE + 0.5


def test_a_registry_too_slow_for_the_manifest_is_slow_not_dead():
    with Server("cache", delay=0.9) as slow:
        (v,) = check.check_mirrors([slow.url], deadline=2.5, slow_ms=5000)
    assert v.verdict == "slow" and "within 2.5s" in v.reason, v.evidence


@pytest.mark.parametrize(
    "text, repository, reference",
    [("alpine", "library/alpine", "latest"), ("library/sleeper:1", "library/sleeper", "1"),
     ("docker.io/bitnami/redis:7.2", "bitnami/redis", "7.2"),
     ("busybox@sha256:" + "a" * 64, "library/busybox", "sha256:" + "a" * 64)],
)  # fmt: skip
def test_image_names(text, repository, reference):
    image = check.parse_image(text)
    assert (image.repository, image.reference) == (repository, reference)


@pytest.mark.parametrize("bad", ["", "Alpine", "a:b:c", "x@sha256:12", "ghcr.io:5000/x"])
def test_bad_image_is_a_usage_error(bad):
    with pytest.raises(UsageError):
        check.parse_image(bad)


@pytest.mark.parametrize("bad", ["mirror.example.com", "ftp://m.example.com", "http://u:p@m/"])
def test_bad_mirror_is_a_usage_error_before_any_traffic(bad):
    with pytest.raises(UsageError):
        check.check_mirrors(["http://127.0.0.1:1", bad])


def test_mirror_with_a_path_keeps_it_as_a_prefix():
    mirror = check.parse_mirror("https://[::1]:5443/hub/")
    assert (mirror.ep.name, mirror.port, mirror.base) == ("[::1]:5443", 5443, "/hub")


def _cli(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "dockercfg", "mirrors", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_cli_json_envelope_and_exit_codes():
    with Registry() as cache:
        out = _cli(cache.url, f"http://127.0.0.1:{closed_port()}", "--deadline", "5", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["command"] == "mirrors" and doc["schema_version"] >= 2
    rows = doc["data"]["mirrors"]
    assert [r["verdict"] for r in rows] == ["ok", "dead"]
    assert rows[0]["source"] == "command line" and rows[0]["latency_ms"] is not None
    assert doc["data"]["counts"] == {"ok": 1, "slow": 0, "not-a-mirror": 0, "dead": 1}
    bad = _cli("mirror.example.com")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    bad = _cli("http://m.test", "--deadline", "0")
    assert bad.returncode == 2 and "deadline" in bad.stderr


def test_cli_text_output():
    with Server("web") as web:
        out = _cli(web.url, "--verbose")
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith("not-a-mirror") and web.url in first
    assert "/v2/: 404, no Docker-Distribution-API-Version" in out.stdout


def test_cli_checks_the_configured_mirrors_when_given_none(tmp_path):
    with Registry() as cache:
        (tmp_path / "etc/docker").mkdir(parents=True)
        config = {"registry-mirrors": [cache.url, f"http://127.0.0.1:{closed_port()}"]}
        (tmp_path / "etc/docker/daemon.json").write_text(json.dumps(config))
        out = _cli("--root", str(tmp_path), "--target", "daemon-json", "--json", "--deadline", "5")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["data"]["mirrors"]
    assert [r["verdict"] for r in rows] == ["ok", "dead"]
    assert rows[0]["source"] == "/etc/docker/daemon.json"

"""`dockercfg mirrors` against real docker-registry instances in a private network namespace:
a pull-through cache of an upstream holding library/sleeper:1, and every kind of bad mirror.

Docker Hub is out of reach here, so a manifest of library/sleeper:1 can only come through the
cache, from the upstream.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mirror_registries
import pytest
from hostsetup import terminate
from mirror_registries import MirrorNet
from sandbox import REPO
from support import require_mount_ns, unavailable
from tls_registry import Pki, start_in_netns, start_registry

DEADLINE = 8.0
PULLED = "mirrored:1"  # docker.io/library/mirrored:1


@pytest.fixture(scope="module")
def net():
    require_mount_ns()
    for program in ("docker-registry", "nsenter", "ip", "openssl"):
        if shutil.which(program) is None:
            unavailable(f"{program} is not installed")
    box = MirrorNet()
    try:
        box.start()
        yield box
    finally:
        box.stop()


def test_every_kind_of_mirror_is_classified_within_the_deadline(net):
    urls = {
        "http://mirror.test:5001": "ok",
        "http://slow.test:5002": "slow",
        "http://web.test:5080": "not-a-mirror",
        "http://upstream.test:5999": "dead",  # a closed port
        "http://no-such-mirror.invalid": "dead",  # a name that does not resolve
        "https://tls-mirror.test:5443": "dead",  # a certificate from an unknown CA
    }
    started = time.monotonic()
    out = net.tool("mirrors", *urls, "--image", "library/sleeper:1", "--json",
                   "--deadline", str(DEADLINE), "--slow-ms", "1000")  # fmt: skip
    took = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    rows = {r["url"].rstrip("/"): r for r in json.loads(out.stdout)["data"]["mirrors"]}
    assert {u: r["verdict"] for u, r in rows.items()} == urls, rows
    assert took < DEADLINE + 10  # one deadline for all (they run at once), plus start-up
    cache = rows["http://mirror.test:5001"]
    assert cache["hub"]["status"] == 200 and cache["hub"]["digest"].startswith("sha256:")
    assert cache["v2"]["api_version"] == "registry/2.0"
    assert "median" in rows["http://slow.test:5002"]["reason"]
    assert "not a registry" in rows["http://web.test:5080"]["reason"]
    assert "connection refused" in rows["http://upstream.test:5999"]["reason"]
    assert "cannot resolve" in rows["http://no-such-mirror.invalid"]["reason"]
    tls = rows["https://tls-mirror.test:5443"]
    assert tls["reason"].startswith("TLS: ") and tls["tls"]["status"] == "unknown-ca", tls
    assert "library/sleeper" in net.cached()


def test_a_registry_without_hub_content_gets_the_hub_only_rule(net):
    # The upstream is a registry, but no Hub mirror: library/alpine is not there.
    out = net.tool("mirrors", "http://upstream.test:5000", "--deadline", str(DEADLINE))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("not-a-mirror"), out.stdout
    assert "only for Docker Hub" in out.stderr and "hosts.toml" in out.stderr


def in_sandbox_net(sb, *args: str) -> subprocess.CompletedProcess:
    """dockercfg inside the sandbox's network namespace: its mirror check sees what dockerd sees
    (the sandbox's registries on [::1]); the socket and the files are the sandbox's as usual."""
    cmd = ["nsenter", f"--net={sb.netns}", sys.executable, "-m", "dockercfg", *args]
    return subprocess.run(cmd, env=sb.env, capture_output=True, text=True, timeout=180,
                          cwd=REPO)  # fmt: skip


def names_for(sb) -> None:
    """The mirrors' names, for dockerd and dockercfg (bind-mounted over /etc/hosts)."""
    hosts = sb.t / "hosts"  # bind-mounted over /etc/hosts for the sandbox's life
    if "mirror.test" not in hosts.read_text():
        hosts.write_text(hosts.read_text() + "::1 mirror.test web.test tls-mirror.test\n")
        time.sleep(5.5)  # Go's resolver looks at a changed /etc/hosts at most every 5s


def seeded_cache(sb) -> subprocess.Popen:
    seeder = Path(mirror_registries.__file__)
    sb.in_netns([sys.executable, str(seeder), "seed", "5000", "library/mirrored"])
    names_for(sb)
    return MirrorNet.cache_for(sb)


def test_dockerd_pulls_a_hub_image_only_through_the_mirror(sb):
    """`docker pull mirrored:1` means docker.io/library/mirrored:1: out of reach here, except
    through a pull-through cache whose upstream (the sandbox's registry) holds it."""
    cache = seeded_cache(sb)
    try:
        failed = sb.docker("pull", PULLED, check=False, timeout=90)
        assert failed.returncode != 0, failed.stdout
        added = in_sandbox_net(sb, "add-mirror", "http://mirror.test:5001", "--image", PULLED,
                               "--json")  # fmt: skip
        assert added.returncode == 0, added.stdout + added.stderr
        out = json.loads(added.stdout)
        assert [v["verdict"] for v in out["data"]["mirror_check"]] == ["ok"], out
        assert out["verified"] is True
        pulled = sb.docker("pull", PULLED, check=False, timeout=90)
        logs = (sb.t / "cache.log").read_text(errors="replace")[-1500:], sb.mirrors_live()
        assert pulled.returncode == 0, (pulled.stdout + pulled.stderr, logs)
        assert "library/mirrored" in MirrorNet.cached_in(sb.t / "data-cache")
        removed = sb.run_tool("remove-mirror", "http://mirror.test:5001", "--json")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        sb.docker("rmi", PULLED)
        again = sb.docker("pull", PULLED, check=False, timeout=90)
        assert again.returncode != 0, again.stdout
    finally:
        terminate(cache)


def test_dead_mirrors_are_refused_warned_and_removed_and_the_pull_through_stays(sb):
    """On the live daemon: add-mirror refuses each dead kind (exit 5) and --force adds them;
    not-a-mirror is added with a warning; validate is offline unless --online; remove-mirror
    --dead and fix --drop-dead-mirrors drop exactly the dead ones (not the slow one); pulls still
    come through."""
    cache = seeded_cache(sb)
    pki = Pki(sb.t / "mirror-pki")
    pki.ca("unknown-ca")
    cert = pki.server("tls", issuer="unknown-ca", names=("DNS:tls-mirror.test",))
    servers = [
        start_in_netns(sb.netns, "web", 5080),  # a web server that is no registry
        start_registry(sb, "tls-mirror", 5443, cert, pki.dir / "tls.key", wait=True),
    ]
    slow_server = [sys.executable, mirror_registries.__file__, "slow", "5002", "1.2"]
    servers.append(subprocess.Popen(["nsenter", f"--net={sb.netns}", *slow_server]))
    ok, web, slow = "http://mirror.test:5001/", "http://web.test:5080/", "http://[::1]:5002/"
    dead = {
        "http://[::1]:5999/": "connection refused",
        "http://no-such-mirror.invalid/": "cannot resolve",
        "https://tls-mirror.test:5443/": "TLS: ",
    }
    tool = functools.partial(in_sandbox_net, sb)
    try:
        added = tool("add-mirror", ok, "--image", PULLED, "--deadline", str(DEADLINE))
        assert added.returncode == 0, added.stderr
        for url, reason in dead.items():
            started = time.monotonic()
            refused = tool("--json", "add-mirror", url, "--deadline", str(DEADLINE))
            assert time.monotonic() - started < DEADLINE + 10
            doc = json.loads(refused.stdout)
            assert refused.returncode == 5 and reason in doc["error"], doc
            assert doc["data"]["mirror_check"][0]["verdict"] == "dead"
        assert sb.mirrors_live() == [ok] and json.loads(sb.daemon_json.read_text()) == {
            "registry-mirrors": [ok]
        }
        warned = tool("add-mirror", web)
        assert warned.returncode == 0 and "added anyway" in warned.stderr, warned.stderr
        assert "not a registry" in warned.stderr
        warned = tool("add-mirror", slow, "--slow-ms", "1000", "--deadline", str(DEADLINE))
        assert warned.returncode == 0 and f"added anyway: {slow}: slow: median" in warned.stderr
        forced = tool("--json", "add-mirror", "--force", *dead)
        assert forced.returncode == 0 and json.loads(forced.stdout)["verified"], forced.stdout
        assert sb.mirrors_live() == [ok, web, slow, *dead]

        offline = sb.run_tool("--json", "validate")
        codes = [p["code"] for p in json.loads(offline.stdout)["problems"]]
        assert offline.returncode == 0 and "dead-mirror" not in codes, offline.stdout
        online = tool("--json", "validate", "--online")
        assert online.returncode == 0, online.stdout
        problems = json.loads(online.stdout)["problems"]
        found = [p["path"] for p in problems if p["code"] == "dead-mirror"]
        assert found == [f"registry-mirrors[{i}]" for i in (3, 4, 5)], problems

        removed = tool("--json", "remove-mirror", "--dead")
        doc = json.loads(removed.stdout)
        assert removed.returncode == 0 and doc["changed"] and doc["verified"], doc
        dropped = [w for w in doc["warnings"] if w.startswith("dropping a dead mirror")]
        assert len(dropped) == 3 and all(any(r in w for w in dropped) for r in dead.values())
        assert sb.mirrors_live() == [ok, web, slow]  # slow is not dead: kept
        pulled = sb.docker("pull", PULLED, check=False, timeout=90)
        assert pulled.returncode == 0, pulled.stdout + pulled.stderr
        assert "library/mirrored" in MirrorNet.cached_in(sb.t / "data-cache")
        none_dead = tool("--json", "remove-mirror", "--dead")
        assert none_dead.returncode == 0 and json.loads(none_dead.stdout)["changed"] is False

        tool("add-mirror", "--force", "http://[::1]:5999")
        fixed = tool("--json", "fix", "--drop-dead-mirrors")
        doc = json.loads(fixed.stdout)
        assert fixed.returncode == 0 and doc["changed"] and doc["verified"], doc
        assert any("connection refused" in w for w in doc["warnings"]), doc["warnings"]
        assert sb.mirrors_live() == [ok, web, slow]
        sb.docker("rmi", PULLED)
        again = sb.docker("pull", PULLED, check=False, timeout=90)
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        for server in servers:
            terminate(server)
        terminate(cache)

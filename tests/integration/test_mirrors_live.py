"""`dockercfg mirrors` against real docker-registry instances in a private network namespace:
a pull-through cache of an upstream holding library/sleeper:1, and every kind of bad mirror.

Docker Hub is out of reach here, so a manifest of library/sleeper:1 can only come through the
cache, from the upstream.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import mirror_registries
import pytest
from hostsetup import terminate
from mirror_registries import MirrorNet
from support import require_mount_ns, unavailable

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


def test_dockerd_pulls_a_hub_image_only_through_the_mirror(sb):
    """`docker pull mirrored:1` means docker.io/library/mirrored:1: out of reach here, except
    through a pull-through cache whose upstream (the sandbox's registry) holds it."""
    seeder = Path(mirror_registries.__file__)
    sb.in_netns([sys.executable, str(seeder), "seed", "5000", "library/mirrored"])
    hosts = sb.t / "hosts"  # bind-mounted over /etc/hosts for the sandbox's life
    if "mirror.test" not in hosts.read_text():
        hosts.write_text(hosts.read_text() + "::1 mirror.test\n")
        time.sleep(5.5)  # Go's resolver looks at a changed /etc/hosts at most every 5s
    cache = MirrorNet.cache_for(sb)
    try:
        failed = sb.docker("pull", PULLED, check=False, timeout=90)
        assert failed.returncode != 0, failed.stdout
        added = sb.run_tool("add-mirror", "http://mirror.test:5001", "--json")
        assert added.returncode == 0, added.stdout + added.stderr
        pulled = sb.docker("pull", PULLED, check=False, timeout=90)
        logs = (sb.t / "cache.log").read_text(errors="replace")[-1500:], sb.mirrors_live()
        assert pulled.returncode == 0, (pulled.stdout + pulled.stderr, logs)
        assert "library/mirrored" in MirrorNet.cached_in(sb.t / "data-cache")
        removed = sb.run_tool("remove-mirror", "http://mirror.test:5001", "--json")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        again = sb.docker("pull", PULLED, check=False, timeout=90)
        assert again.returncode != 0, again.stdout
    finally:
        terminate(cache)

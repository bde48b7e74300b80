"""`dockercfg mirrors` against real docker-registry instances in a private network namespace:
a pull-through cache of an upstream holding library/sleeper:1, and every kind of bad mirror.

Docker Hub is out of reach here, so a manifest of library/sleeper:1 can only come through the
cache, from the upstream.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from mirror_registries import MirrorNet
from support import require_mount_ns, unavailable

DEADLINE = 8.0


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

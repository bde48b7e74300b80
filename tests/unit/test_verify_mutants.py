"""Verification against /info: what the daemon must show for a file, and the one line for each
difference. The /info documents are written out as dockerd 20.10 and 26.1 print RegistryConfig
(IndexConfigs with Secure false for each insecure name, CIDRs with the built-in 127.0.0.0/8)."""

from __future__ import annotations

from dockercfg.verify import Expected, expected_from, mismatches, stale_after_reload

INSECURE, MIRRORS = "insecure-registries", "registry-mirrors"


def info(cidrs=("127.0.0.0/8",), names=(), mirrors=(), secure=("docker.io",)):
    index = {n: {"Name": n, "Secure": False, "Mirrors": []} for n in names}
    index.update({n: {"Name": n, "Secure": True, "Mirrors": list(mirrors)} for n in secure})
    return {"RegistryConfig": {"InsecureRegistryCIDRs": list(cidrs), "IndexConfigs": index,
                               "Mirrors": list(mirrors)}}  # fmt: skip


def test_expected_from_the_file_and_the_flags():
    config = {
        INSECURE: ["http://a.test:5000", "10.1.2.3/8", 7, "bad value"],
        MIRRORS: ["https://m.test", None],
    }
    flags = {INSECURE: ["b.test"], MIRRORS: ["https://n.test/"]}
    assert expected_from(config, flags) == Expected(
        insecure=["a.test:5000", "10.0.0.0/8", "bad value", "b.test"],
        mirrors=["https://m.test/", "https://n.test/"],
        absent=(),
    )
    assert expected_from({INSECURE: "a.test"}, {}) == Expected([], [], (INSECURE, MIRRORS))
    assert expected_from({MIRRORS: []}, {}) == Expected([], [], (INSECURE,))


def test_a_daemon_that_shows_the_file_is_verified():
    want = Expected(["a.test:5000", "10.0.0.0/8"], ["https://m.test/"])
    live = info(cidrs=["127.0.0.0/8", "::1/128", "10.0.0.0/8"], names=["a.test:5000"],
                mirrors=["https://m.test/"])  # fmt: skip
    assert mismatches(want, live) == []
    assert mismatches(want, info(cidrs=["10.0.0.0/8"], names=["a.test:5000"],
                                 mirrors=["https://m.test"])) == []  # fmt: skip


def test_each_difference_is_named():
    want = Expected(["a.test:5000", "10.0.0.0/8"], ["https://m.test/", "https://n.test/"])
    live = info(cidrs=["127.0.0.0/8", "192.168.0.0/16"], names=["old.test", "a.test:5000"],
                mirrors=["https://n.test/"])  # fmt: skip
    assert mismatches(want, live) == [
        "insecure registries missing from the daemon: 10.0.0.0/8",
        "the daemon still treats as insecure: 192.168.0.0/16, old.test",
        "the daemon's mirrors are [https://n.test/], expected [https://m.test/, https://n.test/]",
    ]
    assert mismatches(want, live, (MIRRORS,)) == [
        "the daemon's mirrors are [https://n.test/], expected [https://m.test/, https://n.test/]"
    ]
    assert mismatches(want, live, (INSECURE,)) == [
        "insecure registries missing from the daemon: 10.0.0.0/8",
        "the daemon still treats as insecure: 192.168.0.0/16, old.test",
    ]
    assert mismatches(Expected(["b.test", "a.test"], []), info()) == [
        "insecure registries missing from the daemon: a.test, b.test"
    ]


def test_mirror_order_counts_and_repeats_do_not():
    want = Expected([], ["https://a.test/", "https://b.test/", "https://a.test/"])
    assert mismatches(want, info(mirrors=["https://a.test/", "https://b.test/"])) == []
    assert mismatches(want, info(mirrors=["https://b.test/", "https://a.test/"])) == [
        "the daemon's mirrors are [https://b.test/, https://a.test/],"
        " expected [https://a.test/, https://b.test/]"
    ]


def test_a_reload_cannot_drop_a_key_the_file_no_longer_has():
    live = info(names=["old.test"], mirrors=["https://m.test/"])
    both_absent = Expected([], [], (INSECURE, MIRRORS))
    assert stale_after_reload(both_absent, live) == [
        "the daemon still treats as insecure: old.test",
        "the daemon's mirrors are [https://m.test/], expected []",
    ]
    assert stale_after_reload(Expected([], [], (MIRRORS,)), live) == [
        "the daemon's mirrors are [https://m.test/], expected []"
    ]
    assert stale_after_reload(Expected(["old.test"], ["https://m.test/"]), live) == []


# round_trip against the fake dockerd of test_round_trip_verdicts (a unix-socket HTTP server; the
# real 20.10 and 26.1 answers are checked in tests/integration/test_round_trip.py).
REG = "registry.test:5000"
PROBE = f"`dockercfg probe {REG}`"


def ask(tmp_path, status, message, insecure=()):
    from test_round_trip_verdicts import fake_dockerd

    from dockercfg.verify import round_trip

    path = str(tmp_path / f"d{len(list(tmp_path.iterdir()))}.sock")  # a fresh socket each time
    server = fake_dockerd(path, status, message, list(insecure))
    try:
        return round_trip(path, REG, timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_a_resolved_manifest_is_reached(tmp_path):
    found = ask(tmp_path, 200, "")
    assert found.to_json() == {
        "reachable": True, "kind": "reached", "said": "the manifest resolved", "hint": None
    }  # fmt: skip
    found = ask(tmp_path, 404, "manifest unknown: manifest unknown")
    assert (found.reachable, found.said) == (True, "manifest unknown: manifest unknown")


def test_an_answer_that_proves_nothing_is_unknown(tmp_path):
    found = ask(tmp_path, 201, "created, somehow")
    assert found.to_json() == {
        "reachable": None, "kind": "unknown", "said": "created, somehow", "hint": f"run {PROBE}"
    }  # fmt: skip


def test_no_daemon_is_unknown_with_what_to_check(tmp_path):
    from dockercfg.verify import round_trip

    found = round_trip(str(tmp_path / "none.sock"), REG, timeout=1)
    assert (found.reachable, found.kind) == (None, "unknown")
    assert found.hint == f"check dockerd, then run {PROBE}"
    assert found.said and str(tmp_path / "none.sock") in found.said


def test_a_cidr_says_there_is_no_host(tmp_path):
    from dockercfg.verify import round_trip

    found = round_trip(str(tmp_path / "none.sock"), "10.0.0.0/8", timeout=1)
    assert found.to_json() == {
        "reachable": None,
        "kind": "cidr",
        "said": "10.0.0.0/8 is a range of addresses, not a registry: there is no host to try",
        "hint": "run `dockercfg probe HOST:PORT` for a registry in 10.0.0.0/8",
    }

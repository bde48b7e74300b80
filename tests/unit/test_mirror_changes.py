"""The mirror check where a change depends on it: add-mirror refuses dead mirrors (exit 5) unless
--force, remove-mirror --dead, validate --online, fix --drop-dead-mirrors. Against the real
docker-registry on 127.0.0.1 (and mirror_servers.Server for a slow registry and a web server that
is no registry) and --root trees (tests/integration/test_mirrors_live.py: the same on real dockerds
with real docker-registry mirrors)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from mirror_servers import Registry, Server, closed_port

from dockercfg import mirrorcheck as check
from dockercfg.errors import EXIT_MIRROR_DEAD, MirrorDead
from dockercfg.mirrorcheck import MirrorVerdict
from dockercfg.mirrorgate import AddGate, CheckSettings, Verdicts
from dockercfg.result import Result

UNRESOLVABLE = "http://no-such-mirror.invalid"

# Fails the run on any name lookup or IP connection: the proof that a command stays offline.
OFFLINE = textwrap.dedent(
    """
    import socket, sys
    def hook(event, args):
        if event == "socket.getaddrinfo" or (
            event == "socket.connect" and args[0].family in (socket.AF_INET, socket.AF_INET6)
        ):
            sys.stderr.write(f"network used: {event} {args[1:]}\\n")
            sys.stderr.flush()
            import os; os._exit(99)
    sys.addaudithook(hook)
    from dockercfg.cli import main
    main(sys.argv[1:])
    """
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc/docker").mkdir(parents=True)
    return tmp_path


def daemon_json(root: Path) -> Path:
    return root / "etc/docker/daemon.json"


def run(root: Path, *args: str, offline: bool = False) -> subprocess.CompletedProcess:
    head = ["-c", OFFLINE] if offline else ["-m", "dockercfg"]
    cmd = [sys.executable, *head, "--root", str(root), "--target", "daemon-json", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def mirrors_in(root: Path) -> list[str]:
    return json.loads(daemon_json(root).read_text()).get("registry-mirrors", [])


# add-mirror --------------------------------------------------------------------------------------


def test_a_dead_mirror_is_refused_with_exit_5_and_force_adds_it(root):
    closed = f"http://127.0.0.1:{closed_port()}"
    for url, reason in ((closed, "connection refused"), (UNRESOLVABLE, "cannot resolve")):
        proc = run(root, "add-mirror", url, "--apply", "none", "--deadline", "5")
        assert proc.returncode == EXIT_MIRROR_DEAD == 5, proc.stderr
        assert proc.stderr.count("\n") == 1 and reason in proc.stderr and "--force" in proc.stderr
        assert "Traceback" not in proc.stderr and not daemon_json(root).exists()
    out = run(root, "--json", "add-mirror", closed, "--apply", "none")
    doc = json.loads(out.stdout)
    assert out.returncode == 5 and doc["error"].startswith("refusing a dead mirror")
    (verdict,) = doc["data"]["mirror_check"]
    assert verdict["verdict"] == "dead" and "connection refused" in verdict["reason"]
    forced = run(root, "--json", "add-mirror", "--force", closed, UNRESOLVABLE, "--apply", "none")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["data"]["mirror_check"] == "not checked: --force"
    assert mirrors_in(root) == [closed + "/", UNRESOLVABLE + "/"]


def test_the_check_is_bounded_by_the_deadline(root):
    """A server that accepts the connection and never answers: refused at the deadline."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        proc = run(root, "add-mirror", url, "--deadline", "2", "--apply", "none")
        took = time.monotonic() - started
    assert proc.returncode == 5 and "no complete answer within 2s" in proc.stderr, proc.stderr
    assert took < 2 + check.GRACE + 3  # the deadline, the grace, and the interpreter's start


def test_one_dead_mirror_refuses_the_whole_change(root):
    with Registry() as cache:
        proc = run(root, "add-mirror", cache.url, f"http://127.0.0.1:{closed_port()}")
    assert proc.returncode == 5 and not daemon_json(root).exists(), proc.stderr


def test_a_configured_mirror_is_not_checked_again(root):
    """No change, no traffic: the dead mirror already in the file is not refused, and the run
    never opens a socket to the network."""
    closed = f"http://127.0.0.1:{closed_port()}/"
    daemon_json(root).write_text(json.dumps({"registry-mirrors": [closed]}))
    proc = run(root, "--json", "add-mirror", closed, "--apply", "none", offline=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["changed"] is False


def test_an_ok_mirror_is_added_without_a_warning_about_it(root):
    with Registry() as cache:
        proc = run(root, "--json", "add-mirror", cache.url, "--apply", "none")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0 and doc["changed"] is True, proc.stdout
    assert [v["verdict"] for v in doc["data"]["mirror_check"]] == ["ok"]
    assert not [w for w in doc["warnings"] if "added anyway" in w]
    assert mirrors_in(root) == [cache.url + "/"]


def test_slow_and_not_a_mirror_are_added_with_a_warning(root):
    with Server("cache", delay=0.4) as slow, Server("web") as web, Registry("acme/app") as private:
        proc = run(root, "add-mirror", slow.url, web.url, private.url, "--slow-ms", "300",
                   "--apply", "none")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if "added anyway" in line]
    assert len(warned) == 3, proc.stderr
    assert any(slow.url in w and ": slow: median" in w for w in warned)
    assert any(web.url in w and "not a registry" in w for w in warned)
    assert any(private.url in w and "does not serve Docker Hub content" in w for w in warned)
    # The private registry is most likely someone's own: the Hub-only rule, once.
    assert proc.stderr.count("only for Docker Hub (docker.io) images") == 1
    assert "hosts.toml" in proc.stderr and "[[registry.mirror]]" in proc.stderr
    assert len(mirrors_in(root)) == 3


def test_dry_run_checks_too_it_predicts(root):
    with Registry() as cache:
        ok = run(root, "--json", "add-mirror", cache.url, "--dry-run")
    doc = json.loads(ok.stdout)
    assert ok.returncode == 0 and doc["changed"] and doc["data"]["dry_run"], ok.stdout
    assert doc["data"]["mirror_check"][0]["verdict"] == "ok"
    dead = run(root, "add-mirror", f"http://127.0.0.1:{closed_port()}", "--dry-run")
    assert dead.returncode == 5 and not daemon_json(root).exists(), dead.stderr


def test_bad_check_options_are_usage_errors_before_any_traffic(root):
    for args in (("--deadline", "0"), ("--slow-ms", "-1"), ("--image", "Bad Image")):
        proc = run(root, "add-mirror", "http://m.test", *args, offline=True)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, (args, proc.stderr)


def test_a_mirror_on_an_insecure_registry_gets_the_hub_only_rule_offline(root):
    daemon_json(root).write_text(json.dumps({"insecure-registries": ["registry.lab:5000"]}))
    proc = run(root, "add-mirror", "--force", "http://registry.lab:5000", "--apply", "none",
               offline=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "is also an insecure registry here" in proc.stderr and "hosts.toml" in proc.stderr


def test_for_another_registry_on_dockerd_names_the_per_registry_mirrors(root):
    proc = run(root, "add-mirror", "http://m.test", "--for", "registry.lab:5000", offline=True)
    assert proc.returncode == 2 and "only for Docker Hub" in proc.stderr
    assert "hosts.toml" in proc.stderr and "[[registry.mirror]]" in proc.stderr


# The decision, without a network -----------------------------------------------------------------


def gate_with(*verdicts: MirrorVerdict) -> AddGate:
    gate = AddGate(CheckSettings(), Path("/nonexistent"), force=False)
    gate.verdicts = Verdicts(CheckSettings(), "daemon-json", Path("/nonexistent"))
    gate.verdicts.known = {v.url: v for v in verdicts}
    return gate


def test_admit_refuses_dead_warns_slow_and_not_a_mirror_and_passes_ok():
    ok = MirrorVerdict("http://ok.test/", "ok", "serves it")
    slow = MirrorVerdict("http://slow.test/", "slow", "median 2000 ms")
    private = MirrorVerdict("http://own.test/", "not-a-mirror", "answers 404",
                            hub={"status": 404})  # fmt: skip
    dead = MirrorVerdict("http://dead.test/", "dead", "connection refused")
    result = Result("add-mirror")
    gate_with(ok, slow, private).admit([ok.url, slow.url, private.url], result, [])
    assert result.warnings == [
        "added anyway: http://slow.test/: slow: median 2000 ms",
        "added anyway: http://own.test/: not-a-mirror: answers 404",
        check.HUB_ONLY,
    ]
    assert [v["url"] for v in result.data["mirror_check"]] == [ok.url, slow.url, private.url]
    with pytest.raises(MirrorDead) as refused:
        gate_with(ok, dead).admit([ok.url, dead.url], Result("add-mirror"), [])
    assert refused.value.exit_code == 5 and "dead.test/: dead: connection refused" in str(
        refused.value
    )
    assert [v["verdict"] for v in refused.value.data["mirror_check"]] == ["ok", "dead"]
    nothing = Result("add-mirror")
    gate_with(dead).admit([], nothing, [])  # nothing new: nothing checked, nothing said
    assert nothing.warnings == [] and "mirror_check" not in nothing.data


# remove-mirror --dead ----------------------------------------------------------------------------


def test_remove_dead_removes_only_the_dead_in_one_change_naming_each(root):
    closed = f"http://127.0.0.1:{closed_port()}/"
    with Registry() as cache, Server("cache", delay=0.4) as slow:
        listed = [cache.url + "/", closed, slow.url + "/", UNRESOLVABLE + "/"]
        daemon_json(root).write_text(json.dumps({"registry-mirrors": listed}))
        proc = run(root, "--json", "remove-mirror", "--dead", "--apply", "none")
        doc = json.loads(proc.stdout)
        assert proc.returncode == 0 and doc["changed"] is True, proc.stdout + proc.stderr
        assert mirrors_in(root) == [cache.url + "/", slow.url + "/"]
        dropped = [w for w in doc["warnings"] if w.startswith("dropping a dead mirror")]
        assert len(dropped) == 2 and any("connection refused" in w for w in dropped)
        assert any("cannot resolve" in w for w in dropped)
        assert len(doc["data"]["mirror_check"]) == 4 and doc["data"]["transaction"]
        again = run(root, "--json", "remove-mirror", "--dead", "--apply", "none")
    doc = json.loads(again.stdout)
    assert again.returncode == 0 and doc["changed"] is False, again.stdout
    assert "no dead mirror among the 2 configured" in doc["warnings"]


def test_remove_dead_takes_no_urls_and_needs_one_or_the_other(root):
    for args in (("--dead", "http://m.test"), (), ("--dead", "--engine", "containerd")):
        proc = run(root, "remove-mirror", *args, offline=True)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, (args, proc.stderr)


# validate --online, fix --drop-dead-mirrors ------------------------------------------------------


def test_validate_is_offline_by_default_and_warns_about_dead_mirrors_online(root):
    closed = f"http://127.0.0.1:{closed_port()}/"
    with Registry() as cache:
        daemon_json(root).write_text(json.dumps({"registry-mirrors": [cache.url, closed]}))
        offline = run(root, "--json", "validate", offline=True)
        online = run(root, "--json", "validate", "--online")
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout)["problems"] == []
    doc = json.loads(online.stdout)
    assert online.returncode == 0, online.stdout  # a warning: validate still exits 0
    (problem,) = doc["problems"]
    assert problem["code"] == "dead-mirror" and problem["severity"] == "warning"
    assert problem["path"] == "registry-mirrors[1]" and "connection refused" in problem["message"]
    assert "remove-mirror --dead" in problem["hint"]
    assert [v["verdict"] for v in doc["data"]["mirror_check"]] == ["ok", "dead"]


def test_fix_drops_dead_mirrors_only_when_asked_with_the_evidence(root):
    closed = f"http://127.0.0.1:{closed_port()}/"
    with Registry() as cache:
        text = json.dumps(
            {"registry-mirror": [UNRESOLVABLE], "registry-mirrors": [cache.url, closed]}
        )
        daemon_json(root).write_text(text)
        plain = run(root, "--json", "fix", "--apply", "none", "--dry-run", offline=True)
        assert plain.returncode == 0, plain.stderr
        assert (
            "dropping" not in plain.stdout
            and "mirror_check" not in json.loads(plain.stdout)["data"]
        )
        proc = run(root, "--json", "fix", "--drop-dead-mirrors", "--apply", "none")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0 and doc["changed"] is True, proc.stdout + proc.stderr
    assert mirrors_in(root) == [cache.url]
    assert "registry-mirror" not in json.loads(daemon_json(root).read_text())
    dropped = [w for w in doc["warnings"] if w.startswith("dropping a dead mirror")]
    assert len(dropped) == 2 and any("cannot resolve" in w for w in dropped), dropped

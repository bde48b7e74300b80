"""Recovery of an unfinished change, on a --root tree, up to making dockerd take the restored
files: which of reload and restart it asks for, what it then proves through /info, and where a
per-user (rootless) journal lives.

`StandIn` stands in for dockerd and its service manager in one process: it answers /_ping and
/info on a unix socket (DOCKER_HOST) from the settings it last read, reads daemon.json again on
reload (keeping the old value of a key the file no longer has, as dockerd does) or on restart
(with the --insecure-registry flags of DOCKER_OPTS, as sh reads /etc/default/docker),
and records which of the two it was asked for. Under --root no real dockerd is ever changed; the
same recovery against a real dockerd started by Debian's init script, killed at each point, is
tests/adversarial/test_transaction_live.py.
"""

from __future__ import annotations

import json
import os
import socketserver
import subprocess
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from support import require_root

from dockercfg import journal, recovery
from dockercfg.engines import docker as docker_engine
from dockercfg.hostmodel import Options
from dockercfg.ops import mutate
from dockercfg.result import Result
from dockercfg.targets.daemon_json import INSECURE_KEY

SHOWN = "/etc/docker/daemon.json"
OLD = b'{"insecure-registries": ["old.test:5000"]}\n'
NEW = b'{"insecure-registries": ["old.test:5000", "new.test:5000"]}\n'


class _Unix(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class StandIn:
    """dockerd plus its service manager, as far as recovery can see them (see the docstring)."""

    name = "stand-in service"
    can_restart = True
    restart_by_hand = "restart it"

    def __init__(self, socket: str, config: Path, insecure: list[str]) -> None:
        self.config, self.insecure, self.calls, self.deaf = config, list(insecure), [], False
        live = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                index = {n: {"Name": n, "Secure": False, "Mirrors": []} for n in live.insecure}
                body = {"RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"],
                                           "IndexConfigs": index, "Mirrors": []}}  # fmt: skip
                data = b"OK" if self.path == "/_ping" else json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = _Unix(socket, Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def main_pid(self) -> int:
        return os.getpid()

    def can_reload(self) -> bool:
        return True

    def _read(self) -> dict:
        return json.loads(self.config.read_bytes() or b"{}") if self.config.exists() else {}

    def reload(self, timeout: float) -> None:
        self.calls.append("reload")
        if not self.deaf and INSECURE_KEY in self._read():  # a missing key keeps its old value
            self.insecure = self._read()[INSECURE_KEY]

    def restart(self, timeout: float) -> None:
        self.calls.append("restart")
        if not self.deaf:
            self.insecure = self._read().get(INSECURE_KEY, []) + self._flagged()

    def _flagged(self) -> list[str]:
        """--insecure-registry values of $DOCKER_OPTS, as sh reads /etc/default/docker."""
        opts = self.config.parent.parent / "default/docker"
        if not opts.exists():
            return []
        words = subprocess.run(["/bin/sh", "-c", '. "$1"; printf "%s\\n" $DOCKER_OPTS', "sh",
                                str(opts)], capture_output=True, text=True, check=True)  # fmt: skip
        words = words.stdout.split()
        return [v for flag, v in zip(words, words[1:]) if flag == "--insecure-registry"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def root(tmp_path):
    (tmp_path / "etc/docker").mkdir(parents=True)
    return tmp_path


def serve_stand_in(monkeypatch, socket: Path, config: Path, insecure: list[str], modules):
    """A StandIn on `socket` (DOCKER_HOST), given to every host that `modules` detect, with
    short verification waits; its `asked` lists the `want_service` of each detection."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
    live = StandIn(str(socket), config, insecure)
    live.asked = []
    for module in modules:

        def detect(opts, _real=module.detect, **kw):
            live.asked.append(kw.get("want_service", "not given"))
            host = _real(opts, **kw)
            host.service = live
            return host

        monkeypatch.setattr(module, "detect", detect)
    monkeypatch.setitem(docker_engine.VERIFY_TIMEOUT, "reload", 0.5)
    monkeypatch.setitem(docker_engine.VERIFY_TIMEOUT, "restart", 0.5)
    return live


@pytest.fixture
def dockerd(root, tmp_path_factory, monkeypatch):
    """The stand-in, running with the new files' settings, given to every host recovery detects."""
    socket = tmp_path_factory.mktemp("sock") / "docker.sock"
    config = root / "etc/docker/daemon.json"
    live = serve_stand_in(
        monkeypatch, socket, config, ["old.test:5000", "new.test:5000"], [recovery]
    )
    yield live
    live.close()


def pending(root: Path, entries: list[journal.Entry], phase: str = "applying") -> None:
    """A journal as a run killed after writing its files leaves it."""
    for entry in entries:
        entry.path.write_bytes(entry.after)
    book = journal.Journal(root / "var/lib/dockercfg")
    book.ensure()
    book.write(journal.Manifest("T", "add-insecure", entries, phase=phase, started=0.0, pid=9,
                                engines=["dockerd"]))  # fmt: skip


def recover(root: Path) -> Result:
    return recovery.recover_command(Options(root=root))


def said(rest: str, files: str = SHOWN) -> list[str]:
    return [
        "reverted an unfinished change: transaction T (add-insecure, pid 9,"
        f" 1970-01-01 00:00:00 UTC, {files}); {rest}"
    ]


def test_one_restored_daemon_json_is_reloaded_and_proven(root, dockerd):
    pending(root, [journal.Entry(root / "etc/docker/daemon.json", SHOWN, OLD, NEW)])
    result = recover(root)
    assert (root / "etc/docker/daemon.json").read_bytes() == OLD
    assert dockerd.calls == ["reload"]
    assert dockerd.insecure == ["old.test:5000"]
    assert result.warnings == said("dockerd runs with them again (reload)")
    assert result.changed is True
    assert dockerd.asked == [True, True]  # the command's own detection, then recovery's


def test_two_restored_files_make_a_restart(root, dockerd):
    other = root / "etc/docker/other.conf"
    pending(
        root,
        [
            journal.Entry(root / "etc/docker/daemon.json", SHOWN, OLD, NEW),
            journal.Entry(other, "/etc/docker/other.conf", b"a\n", b"b\n"),
        ],
    )
    result = recover(root)
    assert other.read_bytes() == b"a\n"
    assert dockerd.calls == ["restart"]
    assert result.warnings == said(
        "dockerd runs with them again (restart)", f"{SHOWN}, /etc/docker/other.conf"
    )


def test_a_removed_daemon_json_is_restarted_away(root, dockerd):
    # The change created the file: recovery removes it, and only a restart drops its settings.
    pending(root, [journal.Entry(root / "etc/docker/daemon.json", SHOWN, None, NEW)])
    result = recover(root)
    assert not (root / "etc/docker/daemon.json").exists()
    assert dockerd.calls == ["restart"]
    assert dockerd.insecure == []
    assert result.warnings == said("dockerd runs with them again (restart)")


def test_a_daemon_that_does_not_take_the_restored_file_is_named(root, dockerd):
    dockerd.deaf = True
    pending(root, [journal.Entry(root / "etc/docker/daemon.json", SHOWN, OLD, NEW)])
    result = recover(root)
    assert (root / "etc/docker/daemon.json").read_bytes() == OLD
    assert dockerd.calls == ["reload"]
    assert result.warnings == said(
        "dockerd did not take the restored files: dockerd did not take the new configuration:"
        " the daemon still treats as insecure: new.test:5000"
    )


def test_files_never_written_need_no_reapply(root, dockerd):
    entry = journal.Entry(root / "etc/docker/daemon.json", SHOWN, OLD, NEW)
    pending(root, [entry], phase="writing")
    result = recover(root)
    assert dockerd.calls == []
    assert result.warnings == [
        "reverted an unfinished change: transaction T (add-insecure, pid 9,"
        f" 1970-01-01 00:00:00 UTC, {SHOWN})"
    ]


def test_a_rootless_change_under_sudo_is_journaled_in_the_user_s_state_dir(root, monkeypatch):
    require_root("files owned by another user")
    (root / "etc/passwd").write_text(
        "root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n"
    )
    home = root / "home/bob"
    (home / ".config/docker").mkdir(parents=True)
    os.chown(home, 1000, 1000)
    os.chown(home / ".config", 1000, 1000)
    os.chown(home / ".config/docker", 1000, 1000)
    (home / ".local").mkdir()  # left root's by an older run under sudo: given back to bob
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR", "PKEXEC_UID", "DOAS_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/root")
    monkeypatch.setenv("SUDO_USER", "bob")
    monkeypatch.setenv("SUDO_UID", "1000")
    opts = Options(root=root, target="rootless", docker_version="26.1.5")
    result = mutate(opts, "add-insecure", (INSECURE_KEY, True, ["a.test:5000"]), apply="none")
    state = home / ".local/state/dockercfg"
    assert [p.name for p in (state / "history").iterdir()] == [f"{result.data['transaction']}.json"]
    assert not (root / "var/lib/dockercfg").exists()
    for rel in (
        ".local",
        ".local/state",
        ".local/state/dockercfg",
        ".local/state/dockercfg/history",
    ):
        assert (home / rel).stat().st_uid == 1000, rel
    assert json.loads((home / ".config/docker/daemon.json").read_text()) == {
        INSECURE_KEY: ["a.test:5000"]
    }

"""The Engine API client, against a FAKE Docker API: a threaded HTTP server on a unix socket.

The stand-in is for what a real dockerd cannot be made to answer (HTTP errors, bad JSON, odd
RegistryConfig shapes, a socket that comes back after a restart) and for recording the requests;
the same calls against the real dockerd 20.10 and 26.1 are tests/integration/test_engine_live.py.
Nothing here talks to a real dockerd; every socket lives in the test's tmp_path.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import socketserver
import threading
import time
from pathlib import Path

import pytest

from dockercfg.engine import (
    DEFAULT_SOCKET,
    Engine,
    EngineUnavailable,
    RegistryState,
    registry_state,
    socket_path,
    wait_until,
)
from dockercfg.errors import EnvironmentProblem

# RegistryConfig as a real dockerd (27.x, insecure-registries ["registry.test:5000"], one mirror)
# returns it from GET /info; the rest of /info is trimmed to a few representative keys.
REAL_INFO = {
    "ID": "3f1c0c3e-8b0e-4a5e-9a43-2c1f1a7f0d11",
    "ServerVersion": "27.5.1",
    "Driver": "overlay2",
    "RegistryConfig": {
        "AllowNondistributableArtifactsCIDRs": None,
        "AllowNondistributableArtifactsHostnames": None,
        "InsecureRegistryCIDRs": ["::1/128", "127.0.0.0/8"],
        "IndexConfigs": {
            "docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True, "Official": True},
            "registry.test:5000": {
                "Name": "registry.test:5000",
                "Mirrors": [],
                "Secure": False,
                "Official": False,
            },
        },
        "Mirrors": ["https://m.example.com/"],
    },
}
REAL_VERSION = {"Version": "27.5.1", "ApiVersion": "1.47", "MinAPIVersion": "1.24"}


class FakeDockerAPI(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A stand-in for dockerd's API socket: canned answers per path, every request recorded."""

    daemon_threads = True

    def __init__(self, path: str, routes: dict[str, tuple[int, bytes]]) -> None:
        self.routes = routes
        self.requests: list[str] = []
        super().__init__(path, _FakeHandler)


class _FakeHandler(http.server.BaseHTTPRequestHandler):
    server: FakeDockerAPI

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.requests.append(self.path)
        status, body = self.server.routes.get(self.path, (404, b'{"message":"page not found"}'))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:  # sending b"" to a client that already has its 0 bytes is EPIPE
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def sock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A short directory for sockets: AF_UNIX paths are limited to 107 bytes."""
    if len(str(tmp_path)) > 80:
        monkeypatch.chdir(tmp_path)
        return Path(".")
    return tmp_path


@pytest.fixture
def fake_docker(sock_dir: Path):
    path = str(sock_dir / "docker.sock")
    routes = {
        "/_ping": (200, b"OK"),
        "/info": (200, json.dumps(REAL_INFO).encode()),
        "/version": (200, json.dumps(REAL_VERSION).encode()),
    }
    server = FakeDockerAPI(path, routes)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server, path
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_ping_info_and_version_against_the_fake_docker_api(fake_docker):
    server, path = fake_docker
    engine = Engine(path, timeout=2)
    assert engine.ping() is True
    assert engine.info() == REAL_INFO
    assert engine.version()["ApiVersion"] == "1.47"
    # Unversioned paths: dockerd answers them at its own API version.
    assert server.requests == ["/_ping", "/info", "/version"]


def test_registry_state_from_the_recorded_info(fake_docker):
    _, path = fake_docker
    state = registry_state(Engine(path).info())
    assert state == RegistryState(
        insecure_cidrs=["::1/128", "127.0.0.0/8"],
        insecure_names=["registry.test:5000"],
        mirrors=["https://m.example.com/"],
    )


def test_registry_state_normalises_and_tolerates_odd_shapes():
    info = {
        "RegistryConfig": {
            "InsecureRegistryCIDRs": ["10.0.0.0/8", "10.0.0.0/8", 7, "::ffff:10.1.0.0/112"],
            "IndexConfigs": {
                "a.test": {"Secure": False},
                "b.test": {"Secure": True},
                "c.test": None,
                "d.test": {},
            },
            "Mirrors": ["https://m1.example.com", "https://m1.example.com/", "http://m2:5000/"],
        }
    }
    state = registry_state(info)
    assert state.insecure_cidrs == ["10.0.0.0/8", "10.1.0.0/16"]
    assert state.insecure_names == ["a.test"]  # missing Secure is not "insecure"
    assert state.mirrors == ["https://m1.example.com/", "http://m2:5000/"]
    assert registry_state({}) == RegistryState()
    assert registry_state({"RegistryConfig": None}) == RegistryState()
    bad = {"RegistryConfig": {"Mirrors": None, "IndexConfigs": [], "InsecureRegistryCIDRs": "x"}}
    assert registry_state(bad) == RegistryState()


def test_http_error_names_the_status_and_the_daemons_message(fake_docker):
    server, path = fake_docker
    server.routes["/info"] = (500, b'{"message":"daemon is\\nshutting down"}')
    with pytest.raises(EngineUnavailable) as caught:
        Engine(path).info()
    message = caught.value.message
    assert message == (
        f"dockerd at {path} answered GET /info with HTTP 500: daemon is shutting down"
    )
    assert isinstance(caught.value, EnvironmentProblem)


def test_non_200_ping_is_false(fake_docker):
    server, path = fake_docker
    server.routes["/_ping"] = (503, b"starting")
    assert Engine(path).ping() is False


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe garbage", b"[1, 2]", b""])
def test_bad_json_body(fake_docker, body):
    server, path = fake_docker
    server.routes["/info"] = (200, body)
    with pytest.raises(EngineUnavailable, match="not a JSON object") as caught:
        Engine(path).info()
    assert "\n" not in caught.value.message


def test_missing_socket(sock_dir: Path):
    path = str(sock_dir / "absent.sock")
    engine = Engine(path, timeout=1)
    assert engine.ping() is False
    with pytest.raises(EngineUnavailable) as caught:
        engine.info()
    assert caught.value.message == (
        f"cannot reach dockerd: {path} does not exist (is dockerd running?)"
    )


def test_connection_refused_on_a_stale_socket_file(sock_dir: Path):
    path = str(sock_dir / "stale.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.close()  # the file stays, nobody listens: what a crashed dockerd leaves behind
    with pytest.raises(EngineUnavailable, match="connection refused"):
        Engine(path, timeout=1).info()


def test_socket_that_accepts_but_never_answers_honours_the_timeout(sock_dir: Path):
    path = str(sock_dir / "silent.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)  # the kernel completes the connection; nobody ever reads or answers
    try:
        engine = Engine(path, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(EngineUnavailable) as caught:
            engine.info()
        elapsed = time.monotonic() - started
        assert caught.value.message == f"dockerd at {path} did not answer GET /info within 0.5s"
        assert 0.4 <= elapsed < 2.0
        started = time.monotonic()
        assert engine.ping() is False
        assert time.monotonic() - started < 2.0
    finally:
        listener.close()


def _serve_once(listener: socket.socket, reply: bytes) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.recv(65536)
        conn.sendall(reply)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"garbage that is not HTTP\r\n\r\n", "sent a malformed HTTP response to GET /info"),
        (b"", "closed the connection without answering GET /info"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}", "sent a malformed HTTP response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{}", "sent more than"),
    ],
    ids=["not-http", "hang-up", "truncated-body", "huge-body"],
)
def test_garbage_response(sock_dir: Path, reply: bytes, expected: str):
    path = str(sock_dir / "garbage.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    thread = threading.Thread(target=_serve_once, args=(listener, reply), daemon=True)
    thread.start()
    try:
        with pytest.raises(EngineUnavailable) as caught:
            Engine(path, timeout=2).info()
        assert expected in caught.value.message
        assert "\n" not in caught.value.message
    finally:
        thread.join(5)
        listener.close()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, DEFAULT_SOCKET),
        ({"DOCKER_HOST": ""}, DEFAULT_SOCKET),
        ({"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}, "/run/user/1000/docker.sock"),
        ({"DOCKER_HOST": "unix://"}, DEFAULT_SOCKET),
    ],
)
def test_socket_path(env, expected):
    assert socket_path(env) == expected


@pytest.mark.parametrize("host", ["tcp://10.0.0.1:2376", "ssh://me@host", "npipe:////./pipe/x"])
def test_socket_path_refuses_non_unix_hosts(host):
    with pytest.raises(EnvironmentProblem) as caught:
        socket_path({"DOCKER_HOST": host})
    assert caught.value.message == (
        f"only unix sockets are supported for verification: DOCKER_HOST={host}"
    )


def test_socket_path_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/elsewhere.sock")
    assert socket_path() == "/tmp/elsewhere.sock"


class FakeClock:
    """Deterministic time for wait_until: sleeping advances the clock, nothing really waits."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_until_backs_off_exponentially_and_stops_at_the_deadline():
    clock = FakeClock()
    calls = []
    ok = wait_until(lambda: calls.append(clock.now) and False, 3.0, clock=clock, sleep=clock.sleep)
    assert ok is False
    assert clock.sleeps == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 0.45])
    assert clock.now == pytest.approx(103.0)
    assert calls[-1] == pytest.approx(103.0)  # one last look at the deadline


def test_wait_until_returns_as_soon_as_the_predicate_holds():
    clock = FakeClock()
    answers = iter([False, False, True])
    assert wait_until(lambda: next(answers), 60, clock=clock, sleep=clock.sleep) is True
    assert clock.sleeps == pytest.approx([0.05, 0.1])


def test_wait_until_checks_once_even_with_no_time_left():
    clock = FakeClock()
    assert wait_until(lambda: True, 0, clock=clock, sleep=clock.sleep) is True
    assert wait_until(lambda: False, 0, clock=clock, sleep=clock.sleep) is False
    assert clock.sleeps == []


def test_wait_until_for_a_daemon_that_comes_up_late(sock_dir: Path):
    """The real use: after a restart, poll /_ping until the (fake) daemon listens again."""
    path = str(sock_dir / "late.sock")
    engine = Engine(path, timeout=1)
    holder: list[FakeDockerAPI] = []

    def come_up() -> None:
        server = FakeDockerAPI(path, {"/_ping": (200, b"OK")})
        holder.append(server)
        server.serve_forever(0.05)

    timer = threading.Timer(0.3, come_up)
    timer.start()
    try:
        started = time.monotonic()
        assert wait_until(engine.ping, 10) is True
        assert 0.25 <= time.monotonic() - started < 5
    finally:
        timer.cancel()
        for server in holder:
            server.shutdown()
            server.server_close()
        timer.join(5)
        if os.path.exists(path):
            os.unlink(path)

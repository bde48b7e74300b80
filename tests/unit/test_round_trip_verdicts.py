"""verify.round_trip's verdicts on what a daemon says. The daemon here is a fake (a unix-socket
HTTP server): the "listed as insecure yet HTTPS" answer comes from dockerd 29's containerd image
store, which cannot run here; every other message is checked against real 20.10 and 26.1 in
tests/integration/test_round_trip.py. The texts below are the ones those dockerds gave."""

from __future__ import annotations

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler

import pytest

from dockercfg.verify import round_trip

REG = "registry.test:5000"
NOT_HTTPS = f'Get "https://{REG}/v2/": http: server gave HTTP response to HTTPS client'


class _Unix(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def fake_dockerd(path: str, status: int, message: str, insecure: list[str]):
    """A fake dockerd answering /distribution/... with (status, message) and /info."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.startswith("/distribution/"):
                code, body = status, {"message": message} if status != 200 else {}
            else:
                index = {n: {"Name": n, "Secure": False} for n in insecure}
                code, body = 200, {"RegistryConfig": {"IndexConfigs": index}}
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def address_string(self) -> str:
            return "unix"

        def log_message(self, *args) -> None:
            pass

    server = _Unix(path, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


CASES = {
    "manifest-unknown": (404, "manifest unknown: manifest unknown", [REG], True, "reached"),
    "unauthorized": (401, "unauthorized: authentication required", [], True, "reached"),
    "not-https": (500, NOT_HTTPS, [], False, "not-https"),
    "live-but-unused": (500, NOT_HTTPS, [REG], False, "live-but-unused"),
    "x509": (
        500,
        f'Get "https://{REG}/v2/": tls: failed to verify certificate: x509: '
        "certificate signed by unknown authority",
        [],
        False,
        "tls",
    ),  # fmt: skip
    "refused": (
        500,
        f'Get "http://{REG}/v2/": dial tcp [::1]:5000: connect: connection refused',
        [REG],
        False,
        "network",
    ),  # fmt: skip
    "dns": (
        500,
        f'Get "http://{REG}/v2/": dial tcp: lookup registry.test: no such host',
        [REG],
        False,
        "network",
    ),  # fmt: skip
    "other": (500, "something else entirely", [], None, "unknown"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_verdicts(tmp_path, case):
    status, message, insecure, reachable, kind = CASES[case]
    path = str(tmp_path / "d.sock")
    server = fake_dockerd(path, status, message, insecure)
    try:
        found = round_trip(path, REG, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert (found.reachable, found.kind) == (reachable, kind), found
    assert (found.hint is None) == (reachable is True), found
    if kind == "live-but-unused":
        assert f"/etc/docker/certs.d/{REG}/hosts.toml" in found.hint
        assert "lists registry.test:5000 as insecure but does not use" in found.hint
    if reachable is not True:
        assert found.said == message


def test_a_cidr_is_not_tried(tmp_path):
    found = round_trip(str(tmp_path / "none.sock"), "192.168.0.0/16", timeout=1)
    assert found.reachable is None and found.kind == "cidr" and "no host to try" in found.said
    assert found.to_json()["reachable"] is None

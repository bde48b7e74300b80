"""Servers on 127.0.0.1 for the mirror tests (only loopback is contacted).

Registry is the machine's real docker-registry: a mirror that serves Hub content (it holds
library/alpine:latest) or a private registry that holds none of it. Server is a small HTTP server
for what a real registry cannot be made to be: Docker Hub and its token service, which this
machine cannot reach ("hub": a registry API that answers 401 + WWW-Authenticate Bearer until given
the token its realm hands out), a slow registry (`delay`: a registry API that waits before every
answer), and a web server that is no registry ("web": 404 on /v2/).
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from certkit import RealRegistry
from registry_seed import push_image  # certkit puts tests/integration on sys.path

TOKEN = "t0ken"
MANIFEST = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        mode, port = self.server.mode, self.server.server_address[1]
        time.sleep(self.server.delay)
        headers = {"Docker-Distribution-API-Version": "registry/2.0"}
        status, body = 200, b"{}"
        if mode == "web":
            status, body, headers = 404, b"404 page not found\n", {}
        elif self.path.startswith("/token"):
            status, body = 200, json.dumps({"token": TOKEN}).encode()
            self.server.scopes.append(self.path)
        elif self.path.startswith("/v2/") and self.path != "/v2/":
            known = self.path == "/v2/library/alpine/manifests/latest"
            if mode == "hub" and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, body = 401, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
                headers["WWW-Authenticate"] = (
                    f'Bearer realm="http://127.0.0.1:{port}/token",service="registry.docker.io"'
                )
            elif known and mode in ("hub", "cache"):
                headers["Content-Type"] = "application/vnd.oci.image.index.v1+json"
                self.server.accepts.append(self.headers.get("Accept", ""))
                body = MANIFEST
            else:
                status, body = 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class Server:
    """MODE: hub (FakeHub: bearer dance), cache (an open registry API serving
    library/alpine:latest; with `delay`, the slow registry), web (404 on /v2/); `delay` seconds
    before every answer."""

    def __init__(self, mode: str, delay: float = 0.0) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.mode, self.httpd.delay = mode, delay
        self.httpd.scopes, self.httpd.accepts = [], []
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Registry:
    """The real docker-registry on 127.0.0.1 (plain HTTP), holding `repository`:latest;
    library/alpine (the mirror check's default image) makes it a mirror of Hub content."""

    def __init__(self, repository: str = "library/alpine") -> None:
        self.repository = repository

    def __enter__(self) -> Registry:
        # Its directory exists only between enter and exit, so a registry never entered (another
        # one in the same `with` failed first) leaves nothing behind.
        self.dir = Path(tempfile.mkdtemp(prefix="dcfg-mirror-"))
        try:
            self.real = RealRegistry(self.dir)
            self.real.__enter__()
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self.url = f"http://127.0.0.1:{self.real.port}"
        try:
            push_image("127.0.0.1", self.real.port, self.repository, "latest")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.real.__exit__()
        shutil.rmtree(self.dir, ignore_errors=True)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

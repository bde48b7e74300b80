"""TLS test fixtures made the way an administrator makes them, and the small servers around them.

- Pki: CA, server and client certificates from the `openssl` CLI (with explicit validity dates,
  so expired and not-yet-valid certificates are real ones, not mocks).
- start_registry(): a second real docker-registry serving TLS (optionally demanding a client
  certificate) inside the sandbox's network namespace.
- FakeServer: a tiny registry API (or Harbor) over TLS or plain HTTP, an SSH-like banner, or a
  silent port. In-process on 127.0.0.1 for the unit tests; `python tls_registry.py MODE ...` in
  the sandbox's network namespace for the integration tests.

Only loopback addresses are ever bound or contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CA_CONFIG = """\
[ca]
default_ca = test_ca
[test_ca]
database = {db}/index.txt
new_certs_dir = {db}
serial = {db}/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
"""
CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {data}
http:
  addr: "{addr}"
  tls:
    certificate: {cert}
    key: {key}
{client_cas}"""


def _stamp(when: datetime) -> str:
    return when.strftime("%Y%m%d%H%M%SZ")


class Pki:
    """Certificates in `directory`; every method returns the certificate's path (key beside it)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.db = directory / "db"
        self.db.mkdir(parents=True, exist_ok=True)
        (self.db / "index.txt").touch()
        (self.db / "serial").write_text("1000\n")
        self.config = directory / "ca.cnf"
        self.config.write_text(CA_CONFIG.format(db=self.db))

    def openssl(self, *args: str) -> None:
        done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)}: {done.stderr.strip()}")

    def key(self, name: str) -> Path:
        path = self.dir / f"{name}.key"
        self.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-out", str(path))  # fmt: skip
        return path

    def _sign(self, name: str, cn: str, ext: str, issuer: str | None, days: tuple) -> Path:
        key = self.key(name)
        csr, cert, extfile = (self.dir / f"{name}.{s}" for s in ("csr", "pem", "ext"))
        self.openssl("req", "-new", "-key", str(key), "-subj", f"/CN={cn}", "-out", str(csr))
        extfile.write_text(ext)
        now = datetime.now(timezone.utc)
        start, end = (now + timedelta(days=d) for d in days)
        if issuer is None:
            signer = ["-selfsign", "-keyfile", str(key)]
        else:
            signer = ["-cert", str(self.dir / f"{issuer}.pem")]
            signer += ["-keyfile", str(self.dir / f"{issuer}.key")]
        self.openssl("ca", "-batch", "-config", str(self.config), "-in", str(csr),
                     "-out", str(cert), "-notext", "-extfile", str(extfile),
                     "-startdate", _stamp(start), "-enddate", _stamp(end), *signer)  # fmt: skip
        return cert

    def ca(self, name: str = "ca", cn: str = "dockercfg test CA", days=(-1, 30)) -> Path:
        return self._sign(name, cn, CA_EXT, None, days)

    def server(
        self,
        name: str,
        issuer: str | None = "ca",
        names: tuple = ("DNS:registry.test",),
        days: tuple = (-1, 30),
    ) -> Path:
        """A server certificate for `names` signed by `issuer` (None: self-signed CA:TRUE)."""
        ext = f"subjectAltName={','.join(names)}\nextendedKeyUsage=serverAuth\n"
        if issuer is None:  # what `openssl req -x509` makes: a CA that is its own server
            ext += "basicConstraints=critical,CA:TRUE\nkeyUsage=digitalSignature,keyCertSign\n"
        else:
            ext += "basicConstraints=CA:FALSE\n"
        cn = names[0].split(":", 1)[1] if names else "no-names"
        return self._sign(name, cn, ext, issuer, days)

    def client(self, name: str = "client", issuer: str = "ca") -> Path:
        ext = "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
        return self._sign(name, f"{name} of dockercfg tests", ext, issuer, (-1, 30))

    def chain(self, name: str, *parts: Path) -> Path:
        """Concatenate PEM files (a server certificate followed by its CA, as servers send)."""
        path = self.dir / f"{name}.pem"
        path.write_bytes(b"".join(p.read_bytes() for p in parts))
        return path


def registry_config(t: Path, name: str, addr: str, cert: Path, key: Path, client_ca=None) -> Path:
    """A docker-registry config for a TLS listener; clientcas makes it demand a client cert."""
    data = t / f"registry-{name}"
    data.mkdir(parents=True, exist_ok=True)
    client = f"    clientcas:\n      - {client_ca}\n" if client_ca else ""
    config = t / f"registry-{name}.yml"
    config.write_text(
        REGISTRY_CONFIG.format(data=data, addr=addr, cert=cert, key=key, client_cas=client)
    )
    return config


def start_registry(
    sandbox, name: str, port: int, cert: Path, key: Path, client_ca=None, wait: bool = False
):
    """A real docker-registry serving TLS on [::1]:port in the sandbox's network namespace;
    `wait`: return once it listens."""
    config = registry_config(sandbox.t, name, f"[::1]:{port}", cert, key, client_ca)
    log = open(sandbox.t / f"registry-{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    cmd = ["nsenter", f"--net={sandbox.netns}", "docker-registry", "serve", str(config)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=sandbox.user_env,
                            preexec_fn=sandbox.cgroup.mover("aux"))  # fmt: skip
    log.close()
    if wait:
        listening = [sys.executable, "-c", PORT_OPEN, str(port)]
        done = subprocess.run(["nsenter", f"--net={sandbox.netns}", *listening], timeout=40,
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            proc.kill()
            raise RuntimeError(f"docker-registry {name} is not listening on {port}: {done.stderr}")
    return proc


PORT_OPEN = """\
import socket, sys, time
deadline = time.monotonic() + 30
while True:
    try:
        socket.create_connection(("::1", int(sys.argv[1])), timeout=1).close(); break
    except OSError:
        if time.monotonic() > deadline: sys.exit("not listening")
        time.sleep(0.05)
"""


# Small servers ---------------------------------------------------------------------------------


class _Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        mode = self.server.mode
        status, headers, body = 404, {}, b"404 page not found\n"
        if self.path == "/v2/" and mode != "web":
            headers["Docker-Distribution-API-Version"] = "registry/2.0"
            status, body = 200, b"{}"
            if mode in ("auth", "harbor"):
                status = 401
                headers["WWW-Authenticate"] = (
                    'Bearer realm="https://auth.test/service/token",service="harbor-registry"'
                )
        elif self.path == "/api/v2.0/systeminfo" and mode == "harbor":
            status = 200
            body = json.dumps({"auth_mode": "db_auth", "harbor_version": "v2.10.0"}).encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    tls: ssl.SSLContext | None = None
    mode = "registry"

    def finish_request(self, request, client_address) -> None:
        if self.tls is not None:  # the handshake in the request's thread, not the accept loop
            request.settimeout(5)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address) -> None:
        pass


class _Talker(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        if self.server.mode == "banner":
            self.request.sendall(SSH_BANNER)
        self.request.settimeout(10)
        deadline = time.monotonic() + 10
        try:  # read and never answer, until the client gives up
            while time.monotonic() < deadline and self.request.recv(1024):
                pass
        except OSError:
            pass


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    mode = "banner"

    def handle_error(self, request, client_address) -> None:
        pass


class _V6Tcp(_TcpServer):
    address_family = socket.AF_INET6


class _V6Http(_HttpServer):
    address_family = socket.AF_INET6


class FakeServer:
    """MODE: registry | auth | harbor | web (HTTP, TLS with cert+key) | banner | silent."""

    def __init__(self, mode: str, host: str = "127.0.0.1", port: int = 0, cert=None, key=None):
        v6 = ":" in host
        if mode in ("banner", "silent"):
            self.server = (_V6Tcp if v6 else _TcpServer)((host, port), _Talker)
        else:
            self.server = (_V6Http if v6 else _HttpServer)((host, port), _Api)
            if cert:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(str(cert), str(key))
                self.server.tls = ctx
        self.server.mode = mode
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_in_netns(netns: Path, mode: str, port: int, cert=None, key=None, preexec_fn=None):
    """Run a FakeServer on [::1]:port inside the sandbox's network namespace; wait until up."""
    cmd = ["nsenter", f"--net={netns}", sys.executable, __file__, mode, "--port", str(port)]
    if cert:
        cmd += ["--cert", str(cert), "--key", str(key)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=preexec_fn)  # fmt: skip
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    line = proc.stdout.readline() if ready else b""
    if not line.startswith(b"ready"):
        proc.kill()
        raise RuntimeError(f"fake {mode} server did not start: {proc.stderr.read(2000)!r}")
    return proc


def wait_for_port(check, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("server did not come up")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    server = FakeServer(args.mode, "::1", args.port, args.cert, args.key)
    print("ready", flush=True)
    os.close(1)
    server.server.serve_forever()


if __name__ == "__main__":
    main()

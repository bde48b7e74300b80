"""Registries for the mirror tests, all inside one private network namespace (T/netns):

- upstream: a real docker-registry on [::1]:5000 holding library/sleeper:1 (written with the
  registry HTTP API: a config blob, one gzipped layer, a schema-2 manifest);
- cache: a second docker-registry on [::1]:5001, a pull-through cache of the upstream
  (`proxy: remoteurl:`), reached as http://mirror.test:5001;
- the bad mirrors: a plain web server (404 on /v2/) on 5080, a third real docker-registry serving
  TLS with a certificate from an unknown CA on 5443, and a registry API that waits before every
  answer on 5002 (a stand-in: a real registry cannot be told to be slow).

`python mirror_registries.py seed PORT [REPOSITORY]` and `... slow PORT DELAY` run inside the
namespace.
Only loopback addresses in that namespace are ever bound or contacted.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

if __name__ != "__main__":  # as a script inside the namespace (seed, slow) it needs neither
    from hostsetup import bind, run, terminate, umount
    from tls_registry import Pki, start_in_netns

REGISTRY = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {data}
http:
  addr: "[::1]:{port}"
{tls}{proxy}"""
NAMES = "::1 mirror.test upstream.test slow.test web.test tls-mirror.test"


class MirrorNet:
    def __init__(self) -> None:
        self.t = Path(tempfile.mkdtemp(prefix="dcfg-mirrors-", dir="/tmp"))
        self.netns = self.t / "netns"
        self._procs: list[subprocess.Popen] = []
        self._mounts: list[str] = []

    def start(self) -> None:
        hosts = Path("/etc/hosts").read_text().rstrip("\n")
        (self.t / "hosts").write_text(f"{hosts}\n{NAMES}\n")
        bind(self.t / "hosts", "/etc/hosts")
        self._mounts.append("/etc/hosts")
        self.netns.touch()
        run(["unshare", f"--net={self.netns}", "true"])
        self._mounts.append(str(self.netns))
        self.in_netns(["ip", "link", "set", "lo", "up"])
        self.registry("upstream", 5000)
        self.wait(5000)
        self.in_netns([sys.executable, __file__, "seed", "5000"])
        self.registry("cache", 5001, proxy="proxy:\n  remoteurl: http://[::1]:5000\n")
        pki = Pki(self.t / "pki")
        pki.ca("unknown-ca")
        cert = pki.server("tls", issuer="unknown-ca", names=("DNS:tls-mirror.test",))
        self._procs.append(start_in_netns(self.netns, "web", 5080))
        tls = f"  tls:\n    certificate: {cert}\n    key: {pki.dir / 'tls.key'}\n"
        self.registry("tls-mirror", 5443, tls=tls)
        self.spawn([sys.executable, __file__, "slow", "5002", "1.2"])
        for port in (5001, 5002, 5443):
            self.wait(port)

    def stop(self) -> None:
        for proc in reversed(self._procs):
            terminate(proc)
        for mount in reversed(self._mounts):
            umount(mount)
        subprocess.run(["rm", "-rf", str(self.t)], check=False)

    def in_netns(self, cmd: list[str], timeout: float = 60, check: bool = True):
        return run(["nsenter", f"--net={self.netns}", *cmd], timeout=timeout, check=check)

    def spawn(self, cmd: list[str]) -> None:
        log = open(self.t / "servers.log", "ab")  # noqa: SIM115 - the child keeps it
        self._procs.append(
            subprocess.Popen(["nsenter", f"--net={self.netns}", *cmd], stdout=log, stderr=log)
        )
        log.close()

    def registry(self, name: str, port: int, proxy: str = "", tls: str = "") -> None:
        data = self.t / f"data-{name}"
        data.mkdir()
        config = self.t / f"{name}.yml"
        config.write_text(REGISTRY.format(data=data, port=port, proxy=proxy, tls=tls))
        self.spawn(["docker-registry", "serve", str(config)])

    def wait(self, port: int, timeout: float = 30) -> None:
        probe = f"import socket; socket.create_connection(('::1', {port}), 1).close()"
        deadline = time.monotonic() + timeout
        while self.in_netns([sys.executable, "-c", probe], check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on [::1]:{port}")
            time.sleep(0.2)

    def tool(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "dockercfg", *args]
        return self.in_netns(cmd, timeout=timeout, check=False)

    def cached(self) -> list[str]:
        """Repositories the pull-through cache has stored."""
        return self.cached_in(self.t / "data-cache")

    @staticmethod
    def cached_in(data: Path) -> list[str]:
        repos = data / "docker/registry/v2/repositories"
        return (
            sorted(str(p.relative_to(repos)) for p in repos.glob("*/*")) if repos.is_dir() else []
        )

    @staticmethod
    def cache_for(sandbox) -> subprocess.Popen:
        """A pull-through cache of the sandbox's registry on [::1]:5001 in its namespace."""
        data = sandbox.t / "data-cache"
        data.mkdir(exist_ok=True)
        config = sandbox.t / "cache.yml"
        proxy = "proxy:\n  remoteurl: http://[::1]:5000\n"
        config.write_text(REGISTRY.format(data=data, port=5001, proxy=proxy, tls=""))
        log = open(sandbox.t / "cache.log", "ab")  # noqa: SIM115 - the child keeps it
        cmd = ["nsenter", f"--net={sandbox.netns}", "docker-registry", "serve", str(config)]
        proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        log.close()
        probe = "import socket; socket.create_connection(('::1', 5001), 1).close()"
        deadline = time.monotonic() + 30
        while sandbox.in_netns([sys.executable, "-c", probe], check=False).returncode != 0:
            if time.monotonic() > deadline:
                terminate(proc)
                raise TimeoutError("the pull-through cache did not start")
            time.sleep(0.2)
        return proc


# Inside the namespace -------------------------------------------------------------------------


def seed(port: int, repository: str = "library/sleeper") -> None:
    """Push REPOSITORY:1 with the registry API, as `docker push` would."""
    from registry_seed import push_image

    push_image("::1", port, repository, "1")


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        time.sleep(self.server.delay)
        self.send_response(200)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


class _V6Server(ThreadingHTTPServer):
    import socket

    address_family = socket.AF_INET6
    daemon_threads = True


def main() -> None:
    if sys.argv[1] == "seed":
        seed(int(sys.argv[2]), *sys.argv[3:])
    elif sys.argv[1] == "slow":
        server = _V6Server(("::1", int(sys.argv[2])), _Slow)
        server.delay = float(sys.argv[3])
        server.serve_forever()


if __name__ == "__main__":
    main()

"""A lab for the engine tests: a private network namespace with two real docker-registry
servers on loopback (plain HTTP on :5000, TLS with a self-signed CA on :5443) holding one tiny
image, `registry.test` in a private /etc/hosts, and a standalone containerd with its own root,
state and socket (its config.toml at ROOT/etc/containerd, bind-mounted over /etc/containerd).

Everything lives under one temporary directory and private mounts of the test process's own
mount namespace (tests/run starts pytest under `unshare --mount`); only loopback is used.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from tls_registry import Pki

IMAGE = "tiny:1"
PLAIN = "registry.test:5000"
TLS = "registry.test:5443"
REGISTRY_YML = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {data}
http:
  addr: "127.0.0.1:{port}"
{tls}"""
CONTAINERD_TOML = """\
# the test's own containerd: private root, state and socket
version = 2
root = "{t}/containerd/root"
state = "{t}/containerd/state"

[grpc]
  address = "{t}/containerd/containerd.sock"
"""


class LabUnavailable(Exception):
    pass


def run(cmd: list[str], timeout: float = 60, check: bool = True, **kw):
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def _blob(directory: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (directory / "blobs/sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def oci_layout(directory: Path) -> Path:
    """A one-layer OCI image made by hand: a layer with one file, its config and manifest."""
    (directory / "blobs/sha256").mkdir(parents=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        body = b"hello from the engines lab\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime = len(body), 0
        tar.addfile(info, io.BytesIO(body))
    layer = raw.getvalue()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }
    layer_desc = _blob(directory, gzip.compress(layer, mtime=0))
    config_desc = _blob(directory, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer_desc}],
    }
    manifest_desc = _blob(directory, json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **manifest_desc,
                "annotations": {"org.opencontainers.image.ref.name": "1"},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return directory


# podman and skopeo, run as root, write containers/image's blob-info cache to the fixed
# /var/lib/containers/cache whatever their storage flags say.
OWN_VAR_LIB = 'mount -t tmpfs -o mode=0755 tmpfs /var/lib && exec "$@"'


def with_own_var_lib(cmd: list[str]) -> list[str]:
    """CMD in a mount namespace of its own over an empty /var/lib, thrown away when it exits."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", OWN_VAR_LIB, "sh", *cmd]


def podman_argv(t: Path, *args: str) -> list[str]:
    """A rootful `podman ARGS` that writes only under T: vfs storage, its state, tmp and network
    configuration there (not /run/libpod or /etc/cni/net.d), no events log."""
    own = ["--storage-driver", "vfs", "--root", f"{t}/podman/root", "--runroot",
           f"{t}/podman/run", "--tmpdir", f"{t}/podman/tmp", "--network-config-dir",
           f"{t}/podman/net", "--events-backend", "none"]  # fmt: skip
    return with_own_var_lib(["podman", *own, *args])


class Lab:
    def __init__(self) -> None:
        for tool in ("docker-registry", "skopeo", "nsenter", "unshare", "ip", "openssl"):
            if shutil.which(tool) is None:
                raise LabUnavailable(f"{tool} is not installed")
        if os.geteuid() != 0:
            raise LabUnavailable("needs root")
        self.t = Path(tempfile.mkdtemp(prefix="dockercfg-engines-"))
        self.root = self.t / "host"  # dockercfg's --root: its /etc is bind-mounted over /etc
        self.netns = self.t / "netns"
        self._mounts: list[str] = []
        self._procs: list[subprocess.Popen] = []

    def start(self) -> None:
        t = self.t
        hosts = Path("/etc/hosts").read_text().rstrip("\n")
        (t / "hosts").write_text(f"{hosts}\n127.0.0.1 registry.test\n")
        self._bind(t / "hosts", "/etc/hosts")
        for sub in ("containerd", "containers"):
            (self.root / "etc" / sub).mkdir(parents=True)
        shutil.copytree("/etc/containers", self.root / "etc/containers", dirs_exist_ok=True)
        self._bind(self.root / "etc/containerd", "/etc/containerd")
        self._bind(self.root / "etc/containers", "/etc/containers")
        self.netns.touch()
        run(["unshare", f"--net={self.netns}", "true"])
        self._mounts.append(str(self.netns))
        self.netns_run(["ip", "link", "set", "lo", "up"])
        pki = Pki(t / "pki")
        self.ca = pki.ca()
        cert = pki.server("registry")
        tls = f"  tls:\n    certificate: {cert}\n    key: {cert.with_suffix('.key')}\n"
        for port, extra in ((5000, ""), (5443, tls)):
            config = t / f"registry-{port}.yml"
            config.write_text(REGISTRY_YML.format(data=t / "registry-data", port=port, tls=extra))
            self._spawn(["docker-registry", "serve", str(config)], f"registry-{port}")
        self._wait(lambda: self.netns_run(["true"]) and self._port_open(5000), "registry :5000")
        layout = oci_layout(t / "oci")
        self.netns_run(
            with_own_var_lib(["skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:1",
                              f"docker://127.0.0.1:5000/{IMAGE}"]), timeout=120,
        )  # fmt: skip

    def _port_open(self, port: int) -> bool:
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), 1)"
        return self.netns_run(["python3", "-c", probe], check=False).returncode == 0

    def _wait(self, check, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.2)
        raise AssertionError(f"{what} did not come up in {timeout:.0f}s")

    def _bind(self, source: Path, target: str) -> None:
        run(["mount", "--bind", str(source), target])
        self._mounts.append(target)

    def _spawn(self, cmd: list[str], name: str) -> subprocess.Popen:
        log = open(self.t / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(["nsenter", f"--net={self.netns}", *cmd], stdout=log, stderr=log)
        log.close()
        self._procs.append(proc)
        return proc

    def netns_run(self, cmd: list[str], timeout: float = 60, check: bool = True):
        return run(["nsenter", f"--net={self.netns}", *cmd], timeout=timeout, check=check)

    # containerd -----------------------------------------------------------------------------
    def start_containerd(self, binary: str) -> None:
        self.containerd = binary
        self.ctr = str(Path(binary).with_name("ctr"))
        self.socket = f"{self.t}/containerd/containerd.sock"
        config = self.root / "etc/containerd/config.toml"
        config.write_text(CONTAINERD_TOML.format(t=self.t))
        self.containerd_proc = self._spawn([binary, "-c", "/etc/containerd/config.toml"], "ctrd")
        self._wait(lambda: Path(self.socket).exists(), "containerd socket")

    def stop_containerd(self) -> None:
        proc = self.containerd_proc
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        self._procs.remove(proc)

    def config_dump(self) -> str:
        return run([self.containerd, "-c", "/etc/containerd/config.toml", "config", "dump"]).stdout

    def ctr_pull(self, ref: str) -> subprocess.CompletedProcess:
        self.netns_run([self.ctr, "-a", self.socket, "images", "rm", ref], check=False)
        cmd = [self.ctr, "-a", self.socket, "images", "pull", "--snapshotter", "native"]
        return self.netns_run(
            [*cmd, "--hosts-dir", "/etc/containerd/certs.d", ref], timeout=90, check=False
        )

    # podman ---------------------------------------------------------------------------------
    def podman_pull(self, ref: str) -> subprocess.CompletedProcess:
        self.netns_run(podman_argv(self.t, "rmi", "-f", ref), check=False)
        return self.netns_run(podman_argv(self.t, "pull", "-q", ref), timeout=120, check=False)

    def stop(self) -> None:
        for proc in reversed(self._procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for target in reversed(self._mounts):
            done = subprocess.run(["umount", target], capture_output=True, text=True)
            if done.returncode:
                print(f"lab teardown: {done.stderr.strip()}", file=sys.stderr)
        shutil.rmtree(self.t, ignore_errors=True)


def commit(found, engine, edits, state: Path):
    """Plan `edits` on one engine and carry them out through the one transaction."""
    from dockercfg import journal, transaction
    from dockercfg.result import Result

    result = Result(command="engines-test")
    book = journal.Journal(state)
    changes = engine.plan(found, edits)
    for change in changes:  # the transaction does not create a new file's directories yet
        for directory in change.missing_dirs():
            directory.mkdir(mode=0o755)
    with transaction.locked(book, [c.path for c in changes]):
        errors = [p for p in engine.problems(found, changes) if p.is_error]
        assert not errors, errors
        plan = transaction.Plan("engines-test", changes, [engine.applier(found, changes)])
        transaction.commit(book, plan, result)
    return changes, result

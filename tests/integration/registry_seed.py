"""Push a small image into a real docker-registry with the registry HTTP API, as `docker push`
does: a config blob, one gzipped layer holding hello.txt, and a schema-2 manifest.

Standard library only: it also runs as part of a script inside a network namespace.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import tarfile
from urllib.parse import urlsplit

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def layer_tar() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        body = b"sleeper\n"
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return raw.getvalue()


def push_image(host: str, port: int, repository: str, tag: str) -> None:
    """REPOSITORY:TAG on the registry at HOST:PORT (plain HTTP); SystemExit on any refusal."""

    def call(method: str, path: str, body: bytes = b"", headers: dict | None = None):
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status >= 300 and response.status != 307:
            raise SystemExit(f"{method} {path}: {response.status}")
        return response

    def blob(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        location = urlsplit(call("POST", f"/v2/{repository}/blobs/uploads/").getheader("Location"))
        query = f"{location.query}&" if location.query else ""
        headers = {"Content-Type": "application/octet-stream"}
        call("PUT", f"{location.path}?{query}digest={digest}", data, headers)
        return digest

    tar = layer_tar()
    layer = gzip.compress(tar, mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
    }).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": MANIFEST_V2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": len(config), "digest": blob(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer), "digest": blob(layer)}],
    }).encode()  # fmt: skip
    call("PUT", f"/v2/{repository}/manifests/{tag}", manifest, {"Content-Type": MANIFEST_V2})

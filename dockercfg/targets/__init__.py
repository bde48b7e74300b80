"""Config formats behind one small interface: `value`, `get_list`, `with_list`, `render`,
`warnings`, `problems`. daemon.json and shell-variable files (DOCKER_OPTS) both provide it.
"""

from __future__ import annotations

from pathlib import Path


def load(host, data: bytes, path: Path | None = None):
    """Parse the host's target file (or `path` in the same format)."""
    path = path or host.config_path
    if host.is_json:
        from dockercfg.targets.daemon_json import parse

        return parse(path, data)
    from dockercfg.targets.docker_opts import parse

    return parse(path, data, host.variable or "DOCKER_OPTS")


def text_of(doc) -> str:
    return doc.render().decode("utf-8", "replace")

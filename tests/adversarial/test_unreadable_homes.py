"""Other users' homes: a per-user engine file that the running user may not even stat (a 0700
home) is not theirs to configure, and never turns a command into an internal error."""

from __future__ import annotations

from adv_support import (
    as_nobody,
    cli_argv,
    make_root,
    no_traceback,
    require_root,
    shown,
    tool_env,
    world_dir,
)


def test_a_home_nobody_may_enter_is_passed_over():
    require_root()
    with world_dir() as root:
        make_root(root, b'{\n  "insecure-registries": []\n}\n')
        conf = root / "home/alice/.config/containers/registries.conf"
        conf.parent.mkdir(parents=True)
        conf.write_text('unqualified-search-registries = ["docker.io"]\n')
        podman = root / "usr/bin/podman"  # found by its binary: podman is one of the engines
        podman.parent.mkdir(parents=True)
        podman.write_bytes(b"")
        (root / "home/alice").chmod(0o700)  # root's; nobody may not look inside
        argv = cli_argv(root, "add-insecure", "x.test:5000", "--engine", "podman")
        proc = as_nobody(argv, env=tool_env(HOME="/nonexistent"), cwd="/")
        no_traceback(proc.stderr)
        # refused for what nobody may not write (the system's files), not for alice's home
        assert proc.returncode == 3, shown(proc)
        line = proc.stderr.strip()
        assert "\n" not in line and "alice" not in line, shown(proc)
        assert "needs root" in line or "cannot write" in line, shown(proc)
        assert not (root / "etc/containers/registries.conf.d").exists()

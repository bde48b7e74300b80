"""The console entry point. It starts `dockerd --version` before anything heavy is imported:
that Go binary takes ~40 ms to answer, which then overlaps with importing typer instead of
adding to the wait of every command that judges by the installed dockerd.
"""

import sys

# Commands that never look at the dockerd version.
_NO_VERSION = {"--help", "-h", "--version", "probe", "trust-ca", "untrust-ca"}


def main() -> None:
    args = sys.argv[1:]
    if (
        args
        and not _NO_VERSION.intersection(args)
        and not any(a == "--root" or a.startswith(("--root=", "--docker-version")) for a in args)
    ):
        # Answered from dockercfg/versioncache.py when this dockerd binary was asked before.
        from dockercfg import earlyprobe
        from dockercfg.versioncache import start_probe

        earlyprobe.put(start_probe("dockerd"))
    from dockercfg.cli import main as cli_main

    cli_main()

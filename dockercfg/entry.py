"""The console entry point. It starts `dockerd --version` before anything heavy is imported:
that Go binary takes ~40 ms to answer, which then overlaps with importing typer instead of
adding to the wait of every command that judges by the installed dockerd.
"""

import subprocess
import sys

# Commands that never look at the dockerd version.
_NO_VERSION = {"--help", "-h", "--version", "probe", "trust-ca", "untrust-ca"}

early_version_probe = None  # the started `dockerd --version`, taken by detect.py


def main() -> None:
    global early_version_probe
    args = sys.argv[1:]
    if (
        args
        and not _NO_VERSION.intersection(args)
        and not any(a == "--root" or a.startswith(("--root=", "--docker-version")) for a in args)
    ):
        try:
            early_version_probe = subprocess.Popen(
                ["dockerd", "--version"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        except OSError:
            early_version_probe = None
    from dockercfg.cli import main as cli_main

    cli_main()

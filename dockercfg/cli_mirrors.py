"""`dockercfg mirrors`: registered on the typer app (app.py) when cli.py imports this.

Parsing only; the work is in mirrorcmd.py and mirrorcheck.py.
"""

from __future__ import annotations

import typer

from dockercfg.app import app
from dockercfg.app import run as _run

IMAGE_HELP = "The Docker Hub image asked for: NAME[:TAG] (library/ when no slash)"


@app.command("mirrors")
def mirrors(
    urls: list[str] = typer.Argument(
        None, metavar="[URL...]", help="Mirrors to check (default: the configured ones)"
    ),
    image: str = typer.Option("library/alpine:latest", "--image", help=IMAGE_HELP),
    deadline: float = typer.Option(
        15.0, "--deadline", metavar="SECONDS", help="Time allowed per mirror (all run at once)"
    ),
    slow_ms: float = typer.Option(
        1500.0, "--slow-ms", metavar="MS", help="Median /v2/ round trip above which it is slow"
    ),
) -> None:
    """Check registry mirrors: DNS, TCP, TLS, /v2/, a Docker Hub manifest, latency; one verdict
    each (ok, slow, not-a-mirror, dead) with the reason. dockerd uses mirrors for Docker Hub only.
    """
    from dockercfg import mirrorcmd, output

    # The text renderer lives with the command; output.py looks renderers up by command name.
    output._TEXT.setdefault("mirrors", mirrorcmd.render_text)
    _run("mirrors", mirrorcmd.mirrors, list(urls or []), image, deadline, slow_ms)

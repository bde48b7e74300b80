"""The mirror commands, registered on the typer app (app.py) when cli.py imports this:
`add-mirror` (checks each new mirror first), `remove-mirror` (`--dead`), `mirrors`.

Parsing only; the work is in mirrorcmd.py, mirrorgate.py and mirrorcheck.py. Annotations avoid
Optional[...] and `X | None`: typer evaluates them at runtime, also on Python 3.9; a None default
means "not given".
"""

from __future__ import annotations

import typer

from dockercfg.app import APPLY_HELP, ENGINE_HELP, MIGRATE_HELP, MIRROR_HELP, app
from dockercfg.app import run as _run

IMAGE_HELP = "The Docker Hub image asked for: NAME[:TAG] (library/ when no slash)"
DEFAULT_IMAGE = "library/alpine:latest"  # mirrorcheck.DEFAULT_IMAGE, kept light here
DEADLINE_HELP = "Time allowed per mirror (all run at once)"
SLOW_HELP = "Median /v2/ round trip above which it is slow"


def _image() -> str:
    return typer.Option(DEFAULT_IMAGE, "--image", help=IMAGE_HELP)


def _deadline(default: float) -> float:
    return typer.Option(default, "--deadline", metavar="SECONDS", help=DEADLINE_HELP)


def _slow_ms() -> float:
    return typer.Option(1500.0, "--slow-ms", metavar="MS", help=SLOW_HELP)


def _apply() -> str:
    return typer.Option("auto", "--apply", help=APPLY_HELP)


def _diff() -> bool:
    return typer.Option(False, "--diff", help="Print the change as a unified diff")


def _migrate() -> bool:
    return typer.Option(False, "--migrate", help=MIGRATE_HELP)


def _engine() -> list[str]:
    return typer.Option(None, "--engine", help=ENGINE_HELP)


def _for() -> str:
    help_ = "The registry they mirror (default docker.io; others: not dockerd)"
    return typer.Option(None, "--for", help=help_)


@app.command("add-mirror")
def add_mirror(
    values: list[str] = typer.Argument(..., metavar="URL...", help=MIRROR_HELP),
    force: bool = typer.Option(
        False, "--force", help="Add without checking first (a mirror not reachable from here yet)"
    ),
    image: str = _image(),
    deadline: float = _deadline(10.0),
    slow_ms: float = _slow_ms(),
    apply: str = _apply(),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check and show the change; write nothing"
    ),
    diff: bool = _diff(),
    migrate: bool = _migrate(),
    engine: list[str] = _engine(),
    for_registry: str = _for(),
) -> None:
    """Pull Docker Hub images through these mirrors. Each new mirror is checked first: a dead one
    is refused (exit 5) unless --force; a slow one or one without Hub content is added with a
    warning."""
    from dockercfg import mirrorcmd
    from dockercfg.mirrorgate import CheckSettings

    settings = CheckSettings(image, deadline, slow_ms)
    _run("add-mirror", mirrorcmd.add_mirror, list(values), settings, force=force, apply=apply,
         dry_run=dry_run, migrate=migrate, engines=engine, for_registry=for_registry,
         show_diff=diff or dry_run)  # fmt: skip


@app.command("remove-mirror")
def remove_mirror(
    values: list[str] = typer.Argument(None, metavar="[URL...]", help=MIRROR_HELP),
    dead: bool = typer.Option(
        False, "--dead", help="Remove every configured mirror the check finds dead (not slow)"
    ),
    image: str = _image(),
    deadline: float = _deadline(10.0),
    apply: str = _apply(),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the change; write nothing"),
    diff: bool = _diff(),
    migrate: bool = _migrate(),
    engine: list[str] = _engine(),
    for_registry: str = _for(),
) -> None:
    """Stop using these registry mirrors; --dead: the configured ones that are dead, in one
    change."""
    from dockercfg import mirrorcmd
    from dockercfg.mirrorgate import CheckSettings

    settings = CheckSettings(image, deadline)
    _run("remove-mirror", mirrorcmd.remove_mirror, list(values or []), settings, dead=dead,
         apply=apply, dry_run=dry_run, migrate=migrate, engines=engine,
         for_registry=for_registry, show_diff=diff or dry_run)  # fmt: skip


@app.command("mirrors")
def mirrors(
    urls: list[str] = typer.Argument(
        None, metavar="[URL...]", help="Mirrors to check (default: the configured ones)"
    ),
    image: str = _image(),
    deadline: float = _deadline(15.0),
    slow_ms: float = _slow_ms(),
) -> None:
    """Check registry mirrors: DNS, TCP, TLS, /v2/, a Docker Hub manifest, latency; one verdict
    each (ok, slow, not-a-mirror, dead) with the reason. dockerd uses mirrors for Docker Hub only.
    """
    from dockercfg import mirrorcmd, output

    # The text renderer lives with the command; output.py looks renderers up by command name.
    output._TEXT.setdefault("mirrors", mirrorcmd.render_text)
    _run("mirrors", mirrorcmd.mirrors, list(urls or []), image, deadline, slow_ms)

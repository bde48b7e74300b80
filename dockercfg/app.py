"""The typer application every command module registers on, and the global options they share.

cli.py and cli_*.py import this module and add their commands to `app`; none imports another, so
the command modules form no circle. Parsing only: the work is done by the operation passed to run().
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import typer

from dockercfg import __version__
from dockercfg.detect import Options

ENGINE_HELP = (
    "docker, containerd, podman, buildkit, k3s, rke2, or all (every engine found); repeat it or"
    " use a comma list. Default: dockerd and the engines that pull for Kubernetes here"
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,  # help text is plain: "[IPv6]:port" is not markup
    help="Safely manage the Docker daemon's insecure registries and registry mirrors.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


# Help shared by the changing commands of cli.py and cli_*.py.
MIGRATE_HELP = "First move registry flags (DOCKER_OPTS, OPTIONS) into daemon.json"
APPLY_HELP = "auto: reload when dockerd can, restart otherwise; reload|restart|none to force"
MIRROR_HELP = "http:// or https:// URL of the mirror"


class State:
    """The global options of this run, set by the callback before any command runs."""

    options = Options()
    json = False
    quiet = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dockercfg {__version__}")
        raise typer.Exit()


@app.callback()
def _globals(
    target: str = typer.Option(
        "auto", "--target", help="auto|daemon-json|docker-opts|sysconfig|desktop|rootless|snap"
    ),
    config: Optional[str] = typer.Option(None, "--config", help="Config file to manage"),
    root: Path = typer.Option(Path("/"), "--root", help="Treat DIR as / (chroots, images)"),
    docker_version: Optional[str] = typer.Option(
        None, "--docker-version", help="Judge by this dockerd version instead of the installed one"
    ),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object on stdout"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Explain each decision"),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit"
    ),
) -> None:
    State.options = Options(
        root=root, target=target, config=config, docker_version=docker_version, verbose=verbose
    )
    State.json = json_output
    State.quiet = quiet


def run(
    command: str, operation: Callable[..., Any], *args: Any, show_diff: bool = False, **kwargs: Any
) -> None:
    """Run one operation with the global options and render its result (text or JSON)."""
    from dockercfg import output

    output.run(
        command,
        lambda: operation(State.options, *args, **kwargs),
        json_mode=State.json,
        quiet=State.quiet,
        verbose=State.options.verbose,
        show_diff=show_diff,
    )

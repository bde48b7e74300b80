"""The command line: parse, call one operation in ops.py, render text or JSON. No logic here.

Heavy modules (jsonschema, pydbus/gi, distro) are imported by the operations that need them,
never at import time: `dockercfg --help` must start fast.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional

import typer

from dockercfg.app import APPLY_HELP, ENGINE_HELP, MIGRATE_HELP, State, app
from dockercfg.app import run as _run

# Global options work before or after the command name; main() moves them to the front.
GLOBAL_VALUE_OPTIONS = ("--target", "--config", "--root", "--docker-version")
GLOBAL_FLAGS = ("--json", "--quiet", "-q", "--verbose", "-v")

__all__ = ["State", "app", "hoist_global_options", "main"]


ADDRESS_HELP = "host, host:port, IP, [IPv6]:port or CIDR"

# add-mirror and remove-mirror, which check mirrors, are in cli_mirrors.py.
# name, daemon.json key, add?, metavar, argument help, command help
MUTATIONS = (
    ("add-insecure", "insecure-registries", True, "ADDR...", ADDRESS_HELP,
     "Let dockerd talk plain HTTP (or unverified TLS) to these registries."),
    ("remove-insecure", "insecure-registries", False, "ADDR...", ADDRESS_HELP,
     "Stop treating these registries as insecure."),
)  # fmt: skip


def _register_mutation(name: str, key: str, add: bool, metavar: str, arg_help: str, doc: str):
    """One typer command per mutation; they differ only in the key, the verb and the help."""

    def command(
        values: List[str] = typer.Argument(..., metavar=metavar, help=arg_help),
        apply: str = typer.Option("auto", "--apply", help=APPLY_HELP),
        dry_run: bool = typer.Option(False, "--dry-run", help="Show the change; write nothing"),
        diff: bool = typer.Option(False, "--diff", help="Print the change as a unified diff"),
        migrate: bool = typer.Option(False, "--migrate", help=MIGRATE_HELP),
        engine: Optional[List[str]] = typer.Option(None, "--engine", help=ENGINE_HELP),
        for_registry: Optional[str] = typer.Option(
            None, "--for", help="mirrors: the registry they mirror (default docker.io)"
        ),
    ) -> None:
        from dockercfg import ops

        _run(name, ops.mutate, name, (key, add, values), apply=apply, dry_run=dry_run,
             migrate=migrate, engines=engine, for_registry=for_registry,
             show_diff=diff or dry_run)  # fmt: skip

    command.__doc__ = doc
    command.__name__ = name.replace("-", "_")
    app.command(name)(command)


for _spec in MUTATIONS:
    _register_mutation(*_spec)

# The mirror commands next (add-mirror, remove-mirror, mirrors): they register when imported.
from dockercfg import cli_mirrors  # noqa: E402,F401


@app.command("migrate")
def migrate_cmd(
    apply: str = typer.Option("auto", "--apply", help=APPLY_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the change; write nothing"),
    diff: bool = typer.Option(False, "--diff", help="Print the change as a unified diff"),
) -> None:
    """Move registry flags into daemon.json, so later changes need only a reload."""
    from dockercfg import migration

    _run("migrate", migration.migrate, apply=apply, dry_run=dry_run, show_diff=diff or dry_run)


@app.command("fix")
def fix_cmd(
    apply: str = typer.Option("auto", "--apply", help=APPLY_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the change; write nothing"),
    diff: bool = typer.Option(False, "--diff", help="Print the change as a unified diff"),
    drop_dead_mirrors: bool = typer.Option(
        False, "--drop-dead-mirrors", help="Also check the mirrors (network); drop the dead ones"
    ),
) -> None:
    """Rewrite what dockerd ignores or refuses: --insecure-registries=a,b in DOCKER_OPTS, or
    daemon.json's registry-mirror / insecure-registry keys. Offline unless --drop-dead-mirrors."""
    from dockercfg import migration

    _run("fix", migration.fix, apply=apply, dry_run=dry_run, drop_dead_mirrors=drop_dead_mirrors,
         show_diff=diff or dry_run)  # fmt: skip


@app.command("validate")
def validate(
    file: Optional[str] = typer.Argument(None, metavar="[FILE]", help="Default: the live file"),
    online: bool = typer.Option(
        False, "--online", help="Also check the listed mirrors over the network (dead: warning)"
    ),
    engine: Optional[List[str]] = typer.Option(None, "--engine", help=ENGINE_HELP),
) -> None:
    """Report every problem dockerd would have with the config, at once. Offline unless --online."""
    from dockercfg import engine_queries

    _run("validate", engine_queries.validate, file, online=online, engines=engine)


@app.command("show")
def show(engine: Optional[List[str]] = typer.Option(None, "--engine", help=ENGINE_HELP)) -> None:
    """Configured and live registries and mirrors, each with its source."""
    from dockercfg import engine_queries

    _run("show", engine_queries.show, engines=engine)


@app.command("detect")
def detect(engine: Optional[List[str]] = typer.Option(None, "--engine", help=ENGINE_HELP)) -> None:
    """Which file, service manager and dockerd this host uses, and why; every engine found."""
    from dockercfg import engine_queries

    _run("detect", engine_queries.detect, engines=engine)


@app.command("apply")
def apply_cmd(apply: str = typer.Option("auto", "--apply", help=APPLY_HELP)) -> None:
    """Make the current config file live: reload or restart, then verify."""
    from dockercfg import ops

    _run("apply", ops.apply_current, apply=apply)


@app.command("rollback")
def rollback(
    to: Optional[str] = typer.Option(
        None, "--to", help="Transaction ID to go back to (or a backup FILE to restore)"
    ),
    list_: bool = typer.Option(False, "--list", help="Show the recorded changes"),
    apply: str = typer.Option("auto", "--apply", help=APPLY_HELP),
) -> None:
    """Undo the newest change (every file it touched) and apply; again steps further back."""
    from dockercfg import history

    if list_:
        _run("rollback", history.list_history)
    else:
        _run("rollback", history.rollback, to=to, apply=apply, show_diff=False)


@app.command("set")
def set_cmd(
    insecure: Optional[str] = typer.Option(
        None, "--insecure-registries", help="Comma-separated; empty: no insecure registries"
    ),
    mirrors: Optional[str] = typer.Option(
        None, "--registry-mirrors", help="Comma-separated; empty: no mirrors"
    ),
    apply: str = typer.Option("auto", "--apply", help=APPLY_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the change; write nothing"),
    diff: bool = typer.Option(False, "--diff", help="Print the change as a unified diff"),
    migrate: bool = typer.Option(False, "--migrate", help=MIGRATE_HELP),
) -> None:
    """Make the lists exactly these, in one change (a list not named is left alone)."""
    from dockercfg import ops

    lists = {"insecure-registries": insecure, "registry-mirrors": mirrors}
    _run("set", ops.set_lists, lists, apply=apply, dry_run=dry_run, migrate=migrate,
         show_diff=diff or dry_run)  # fmt: skip


@app.command("recover")
def recover_cmd() -> None:
    """Settle a change an earlier run left unfinished (killed, power lost): complete or revert."""
    from dockercfg import recovery

    _run("recover", recovery.recover_command)


# Commands kept in their own modules register themselves on `app` when imported (after the ones
# above, so `--help` lists them in this order).
from dockercfg import cli_certs  # noqa: E402,F401


def hoist_global_options(argv: List[str]) -> List[str]:
    """Move global options found after the command name to the front (before `--` only)."""
    front: List[str] = []
    rest: List[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_VALUE_OPTIONS:
            takes_next = "=" not in arg and i + 1 < len(argv)
            front.extend(argv[i : i + 2] if takes_next else [arg])
            i += 2 if takes_next else 1
            continue
        if arg in GLOBAL_FLAGS:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main(argv: Optional[List[str]] = None) -> None:
    from dockercfg import output

    if "_DOCKERCFG_COMPLETE" in os.environ:
        # Shell completion: typer registers its completion classes only with add_completion.
        from typer.completion import completion_init

        completion_init()
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv)) or ["--help"]
    sys.exit(output.run_click(typer.main.get_command(app), args, json_mode="--json" in args))

#!/usr/bin/env python3
"""Generate the man page and the shell completions from the CLI itself, at build time.

    python3 packaging/gen-docs.py [OUTDIR]     # default OUTDIR: packaging/

writes OUTDIR/man/dockercfg.1 and OUTDIR/completions/{dockercfg.bash,_dockercfg,dockercfg.fish}.

Nothing here is hand-written help text: the man page is the click command tree that typer builds
from dockercfg/cli.py (each command's help, usage, arguments and options) plus the exit codes of
dockercfg/errors.py, so it cannot drift from `dockercfg --help`. The completion scripts are click's
own (click.shell_completion); they call `dockercfg` at completion time with _DOCKERCFG_COMPLETE set.
typer and click disagree on how that instruction is spelled (`complete_bash` vs `bash_complete`),
so the spelling the installed CLI answers to is probed, not assumed. Works with Debian 12's
typer 0.7 / click 8.1 and with newer ones (click 8.2 passes ctx to make_metavar).
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import typer  # noqa: E402

try:  # typer >= 0.26 carries its own copy of click
    from types import SimpleNamespace

    from typer._click import core as _core  # noqa: E402
    from typer._click import shell_completion as _completion  # noqa: E402

    click = SimpleNamespace(Context=_core.Context, shell_completion=_completion)
except ImportError:
    import click  # noqa: E402
    import click.shell_completion  # noqa: E402

from dockercfg import __version__, errors  # noqa: E402
from dockercfg.cli import app  # noqa: E402

PROG = "dockercfg"
COMPLETE_VAR = "_DOCKERCFG_COMPLETE"
COMPLETION_FILES = {"bash": "dockercfg.bash", "zsh": "_dockercfg", "fish": "dockercfg.fish"}


# The man page -----------------------------------------------------------------------------------


def roff(text: str) -> str:
    """Escape text for roff: backslashes, hyphens, and lines starting with . or '."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.splitlines():
        line = line.strip()
        lines.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(lines)


def _metavar(param: click.Parameter, ctx: click.Context) -> str:
    if param.metavar:
        return param.metavar
    try:
        return param.make_metavar(ctx)  # click >= 8.2
    except TypeError:
        return param.make_metavar()  # click 8.1


def _options(command: click.Command, ctx: click.Context) -> list[tuple[str, str]]:
    out = []
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            out.append((_metavar(param, ctx), getattr(param, "help", None) or ""))
            continue
        record = param.get_help_record(ctx)
        if record:
            out.append(record)
    return out


def _help(command: click.Command) -> str:
    return inspect.cleandoc(command.help or "").split("\f")[0]


def _usage(command: click.Command, ctx: click.Context) -> str:
    return " ".join(command.collect_usage_pieces(ctx))


def _items(pairs: list[tuple[str, str]]) -> list[str]:
    lines = []
    for term, text in pairs:
        lines += [".TP", f"\\fB{roff(term)}\\fR", roff(text) or "\\&"]
    return lines


def exit_codes() -> list[tuple[str, str]]:
    codes = [(str(errors.EXIT_OK), "Success, whether or not anything changed.")]
    for cls in sorted(errors.DockercfgError.__subclasses__(), key=lambda c: c.exit_code):
        codes.append((str(cls.exit_code), inspect.cleandoc(cls.__doc__ or cls.__name__)))
    return codes


def man_page(group: click.Group) -> str:
    ctx = click.Context(group, info_name=PROG)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    summary = _help(group).splitlines()[0] if _help(group) else PROG
    lines = [
        f'.TH DOCKERCFG 1 "{when:%Y-%m-%d}" "dockercfg {__version__}" "User Commands"',
        ".SH NAME",
        f"{PROG} \\- {roff(summary[0].lower() + summary[1:]).rstrip('.')}",
        ".SH SYNOPSIS",
        f"\\fB{PROG}\\fR [\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
        ".SH DESCRIPTION",
        roff(_help(group)),
        ".PP",
        "Global options are accepted before or after the command name.",
        ".SH GLOBAL OPTIONS",
        *_items(_options(group, ctx)),
        ".SH COMMANDS",
    ]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or getattr(command, "hidden", False):
            continue
        sub = click.Context(command, info_name=name, parent=ctx)
        lines += [
            ".SS " + f'"{roff(name)}"',
            f"\\fB{PROG} {roff(name)}\\fR {roff(_usage(command, sub))}",
            ".PP",
            roff(_help(command)),
        ]
        options = [o for o in _options(command, sub) if not o[0].endswith("--help")]
        if options:
            lines += [".RS", *_items(options), ".RE"]
    lines += [".SH EXIT STATUS", *_items(exit_codes())]
    lines += [
        ".SH FILES",
        ".TP",
        "\\fI/etc/docker/daemon.json\\fR",
        "The file dockerd reads unless started with \\-\\-config\\-file.",
        ".SH SEE ALSO",
        "\\fBdockerd\\fR(8), \\fBdocker\\fR(1)",
    ]
    return "\n".join(lines) + "\n"


# Completions ------------------------------------------------------------------------------------


def instruction_style() -> str:
    """How the CLI wants _DOCKERCFG_COMPLETE spelled: "typer" (complete_bash) or "click"."""
    env = {
        **os.environ,
        "COMP_WORDS": f"{PROG} add-",
        "COMP_CWORD": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    for style, instruction in (("typer", "complete_bash"), ("click", "bash_complete")):
        out = subprocess.run(
            [sys.executable, "-m", "dockercfg"],
            env={**env, COMPLETE_VAR: instruction},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if "add-insecure" in out.stdout:
            return style
    raise SystemExit("gen-docs: dockercfg answers neither completion instruction spelling")


def completion_script(group: click.Group, shell: str, style: str) -> str:
    cls = click.shell_completion.get_completion_class(shell)
    if cls is None:
        raise SystemExit(f"gen-docs: click has no {shell} completion")
    source = cls(group, {}, PROG, COMPLETE_VAR).source()
    # click writes {shell}_complete into the script; typer reads complete_{shell}
    if style == "typer":
        source = source.replace(f"{shell}_complete", f"complete_{shell}")
    return source if source.endswith("\n") else source + "\n"


def main() -> None:
    from typer.completion import completion_init

    completion_init()  # typer's completion classes (bash, zsh, fish) into click's registry
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "packaging"
    group = typer.main.get_command(app)
    (out / "man").mkdir(parents=True, exist_ok=True)
    (out / "man" / "dockercfg.1").write_text(man_page(group))
    style = instruction_style()
    (out / "completions").mkdir(parents=True, exist_ok=True)
    for shell, name in COMPLETION_FILES.items():
        (out / "completions" / name).write_text(completion_script(group, shell, style))
    print(f"gen-docs: {out}/man/dockercfg.1 and {out}/completions/ (instruction style: {style})")


if __name__ == "__main__":
    main()

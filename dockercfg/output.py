"""Rendering results and failures: text for people, exactly one JSON object for scripts.

Every expected failure is one line on stderr and a documented exit code; an unexpected one is
also one line (with the traceback only under --verbose), never a half-rendered screen.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any, Callable

from dockercfg import renderers
from dockercfg.errors import EXIT_USAGE, DockercfgError

EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in dockercfg, not in the host or the input
EXIT_INTERRUPTED = 130


def _emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def _error_object(
    command: str, message: str, problems: list | None = None, data: dict | None = None
) -> dict[str, Any]:
    from dockercfg.result import Result

    result = Result(command=command, error=message, data=dict(data or {}))
    result.problems = list(problems or [])
    return result.to_json()


def run(
    command: str,
    operation: Callable[[], Any],
    *,
    json_mode: bool,
    quiet: bool,
    verbose: bool,
    show_diff: bool,
) -> None:
    """Run one operation and render its Result; raise click's Exit with the exit code."""
    click = _Cli()

    try:
        result = operation()
    except DockercfgError as err:
        if json_mode:
            obj = _error_object(command, err.message, err.problems, err.data)
            _emit_json(obj)
        else:
            if err.problems and (command == "validate" or verbose):
                for problem in err.problems:
                    sys.stdout.write(problem.render() + "\n")
            sys.stderr.write(f"dockercfg: error: {err.message}\n")
        raise click.Exit(err.exit_code) from None
    if json_mode:
        _emit_json(result.to_json())
    else:
        _render_text(result, quiet=quiet, verbose=verbose, show_diff=show_diff)
    raise click.Exit(0)


def _render_text(result, *, quiet: bool, verbose: bool, show_diff: bool) -> None:
    out = sys.stdout.write
    if not quiet:
        for warning in result.warnings:
            sys.stderr.write(f"warning: {warning}\n")
    if show_diff and result.diff:
        out(result.diff)
    if quiet:
        return
    # Commands that render themselves (probe, trust-ca) registered when their module was imported.
    renderer = renderers.lookup(result.command) or _TEXT.get(result.command, _render_change)
    for line in renderer(result, verbose):
        out(line + "\n")


def _render_change(result, verbose: bool) -> list[str]:
    return _change_lines(result) + renderers.engine_lines(result.data)


def _change_lines(result) -> list[str]:
    # Every file changed: another engine's, or the flags file a fix rewrote beside daemon.json.
    files = ", ".join(f["path"] for f in result.data.get("files") or []) or result.file
    if not result.changed:
        return [f"no change: {result.file} already says so" if result.file else "no change"]
    if result.data.get("dry_run"):
        return [f"dry run: {files} would change as shown; nothing was written"]
    lines = [f"changed {files}" + (f" (backup: {result.backup})" if result.backup else "")]
    if result.applied == "none":
        lines.append("not applied: the running dockerd still has its previous configuration")
    elif result.applied:
        verb = {"reload": "reloaded", "restart": "restarted"}[result.applied]
        lines.append(
            f"{verb} dockerd; the live daemon shows the change"
            if result.verified
            else f"{verb} dockerd"
        )
    if "restored_from" in result.data:
        lines.append(f"restored from {result.data['restored_from']}")
    return lines


def _render_validate(result, verbose: bool) -> list[str]:
    lines = [p.render() for p in result.problems]
    version = result.data.get("docker_version")
    engines = result.data.get("engines")
    if engines:
        lines.append(f"ok: the files of {', '.join(engines)} parse, with no known trap")
    if (result.warnings and not result.problems) or "docker_version" not in result.data:
        return lines  # the second: --engine without docker
    judge = f"dockerd {version}" if version else "the newest dockerd"
    return [*lines, f"ok: {result.file} is valid for {judge}"]


def _render_show(result, verbose: bool) -> list[str]:
    if "insecure_registries" not in result.data:  # --engine without docker
        return renderers.engine_show_lines(result.data)
    return _render_docker_show(result) + renderers.engine_show_lines(result.data)


def _render_docker_show(result) -> list[str]:
    data = result.data
    lines = [f"config file: {result.file}", "insecure registries:"]
    lines += [f"  {e['value']}  ({e['source']})" for e in data["insecure_registries"]]
    lines.append("registry mirrors:" if data["registry_mirrors"] else "registry mirrors: none")
    lines += [f"  {e['value']}  ({e['source']})" for e in data["registry_mirrors"]]
    live = data.get("live")
    if live is not None:
        names = live["insecure_cidrs"] + live["insecure_names"]
        lines.append(
            f"live daemon: insecure {', '.join(names) or 'none'}; "
            f"mirrors {', '.join(live['mirrors']) or 'none'}"
        )
        lines.append(
            "live daemon matches the file"
            if not data.get("pending")
            else "live daemon differs from the file: run `dockercfg apply`"
        )
    return lines


def _render_detect(result, verbose: bool) -> list[str]:
    data = result.data
    lines = [
        f"distribution: {data.get('distribution', 'unknown')}",
        f"target: {data['target']}",
        f"file: {data['file']}",
        f"service: {data['service']}" + (f" ({data['unit']})" if data["unit"] else ""),
        f"dockerd: {data['dockerd_version'] or 'not found'}"
        + (f", pid {data['dockerd_pid']}" if data["dockerd_pid"] else ""),
        "evidence:",
    ]
    lines += [f"  - {line}" for line in data["evidence"]]
    return lines + renderers.engine_detect_lines(data)


def _render_rollback(result, verbose: bool) -> list[str]:
    if "transactions" not in result.data:  # a rollback that ran, not `--list`
        return _render_change(result, verbose)
    lines = []
    for t in result.data["transactions"]:
        note = f"  (undone by {t['undone_by']})" if t.get("undone_by") else ""
        if t.get("undoes"):
            note += f"  (undoes {', '.join(t['undoes'])})"
        lines.append(f"{t['id']}  {t['time']}  {t['command']}  {', '.join(t['files'])}{note}")
    return lines or ["no transactions in the history"]


_TEXT = {
    "validate": _render_validate,
    "show": _render_show,
    "detect": _render_detect,
    "rollback": _render_rollback,
}


class _Cli:
    """Exceptions of the click that typer runs on (typer >= 0.26 carries its own copy)."""

    def __init__(self) -> None:
        import typer

        try:
            from typer._click.exceptions import UsageError
        except ImportError:
            from click.exceptions import UsageError
        self.Exit, self.Abort, self.UsageError = typer.Exit, typer.Abort, UsageError


def _signals_become_errors() -> None:
    """SIGINT, SIGTERM and SIGHUP end a command like any error: one line, one JSON object, exit
    128 + the signal. Inside a transaction, dockercfg.transaction defers them to safe points."""
    import signal

    from dockercfg.errors import raise_interrupted

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, raise_interrupted)


def run_click(command, args: list[str], *, json_mode: bool) -> int:
    """Invoke the click command without its own exit handling, so every path is ours."""
    click = _Cli()

    name = next((a for a in args if not a.startswith("-")), "dockercfg")
    _signals_become_errors()
    try:
        code = command.main(args, prog_name="dockercfg", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except click.Exit as done:
        return done.exit_code
    except click.UsageError as err:
        message = err.format_message()
        if json_mode:
            _emit_json(_error_object(name, f"usage: {message}"))
        else:
            sys.stderr.write(f"dockercfg: usage error: {message} (see: dockercfg --help)\n")
        return EXIT_USAGE
    except (click.Abort, KeyboardInterrupt):
        if json_mode:
            _emit_json(_error_object(name, "interrupted by SIGINT"))
        sys.stderr.write("dockercfg: error: interrupted by SIGINT\n")
        return EXIT_INTERRUPTED
    except Exception as err:  # a bug: still one line, and a valid JSON object for scripts
        message = f"internal error: {type(err).__name__}: {err}"
        if "--verbose" in args or "-v" in args:
            traceback.print_exc()
        if json_mode:
            _emit_json(_error_object(name, message))
        else:
            sys.stderr.write(f"dockercfg: {message} (run with --verbose for details)\n")
        return EXIT_INTERNAL

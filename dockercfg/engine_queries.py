"""`--engine` on the read-only commands: what `detect`, `show` and `validate` say about the
engines besides dockerd (the same selection as the changing commands: dockercfg.engine_edits).
Nothing here writes or starts anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockercfg import engine_edits
from dockercfg.errors import DockercfgError
from dockercfg.problems import ERROR, Problem
from dockercfg.result import Result


def _shown(found, path: Path) -> str:
    from dockercfg.engines.common import shown

    return shown(found.root, path)


def detected(root: Path, names: list[str], result: Result) -> engine_edits.Selection:
    """`detect`: every engine found (evidence, version, service, files, in the default or not)
    in `data.engines`; `--engine` filters. Returns the selection (dockerd in it or not)."""
    from dockercfg.engines import find_all

    sel = engine_edits.select(root, names)
    found = find_all(root)
    out: dict[str, Any] = {}
    for name in engine_edits.engine_names()[1:]:
        hit = found.get(name)
        if sel.explicit and name not in sel.found:
            continue  # filtered out by --engine
        if hit is None:
            out[name] = {"found": False}
            continue
        out[name] = {
            "found": True,
            "evidence": hit.evidence,
            "version": hit.resolved_version(),
            "service": hit.service,
            "files": {role: _shown(hit, path) for role, path in hit.files.items()},
            "in_default": hit.default is not None,
            "default_reason": hit.default,
        }
    result.data["engines"] = out
    return sel


def shown(root: Path, names: list[str], result: Result) -> engine_edits.Selection:
    """`show`: each selected engine's own view of its registries (insecure, mirrors per
    registry) in `data.engines`; an engine whose file cannot be read says why."""
    from dockercfg.engines import ENGINES
    from dockercfg.engines.base import INSECURE, MIRRORS

    sel = engine_edits.select(root, names)
    out: dict[str, Any] = {}
    for name, hit in sel.found.items():
        try:
            owned = ENGINES[name]().owned(hit)
        except DockercfgError as err:
            out[name] = {"error": err.message}
            result.warnings.append(f"{name}: {err.message}")
            continue
        out[name] = {
            "insecure_registries": owned[INSECURE],
            "registry_mirrors": owned[MIRRORS],
            "files": {role: _shown(hit, path) for role, path in hit.files.items()},
        }
    result.data["engines"] = out
    result.data["engines_skipped"] = {n: w for n, w in sel.skipped.items() if n != "docker"}
    return sel


def problems(root: Path, names: list[str]) -> tuple[engine_edits.Selection, list[Problem]]:
    """`validate`: each selected engine's files parse as the engine reads them and have no
    known trap; an unparsable file is an error problem naming file:line:column."""
    from dockercfg.engines import ENGINES

    sel = engine_edits.select(root, names)
    out: list[Problem] = []
    for name, hit in sel.found.items():
        try:
            out += ENGINES[name]().validate(hit)
        except DockercfgError as err:
            out.append(Problem(f"{name}-config", name, err.message, ERROR))
    return sel, out


def validate(
    opts: Any, path: str | None, online: bool = False, engines: list[str] | None = None
) -> Result:
    """`validate [FILE] [--engine …]`: dockerd's file (dockercfg.queries) and, without FILE or
    with --engine, every selected engine's files; exit 1 when any is an error."""
    from dockercfg import queries
    from dockercfg.errors import ConfigInvalid

    names = engine_edits.parse_engines(engines)
    wanted = engines or (not path and engine_edits.kubernetes_here(opts.root))
    sel, others = problems(opts.root, names) if wanted else (None, [])
    errors = sum(p.is_error for p in others)
    if sel is not None and not sel.docker:
        result = Result(command="validate", file=path)
        result.data["engines"] = sorted(sel.found)
        result.problems = others
        if errors:
            where = ", ".join(sorted(sel.found))
            raise ConfigInvalid(f"{where}: {errors} error(s)", problems=others)
        return result
    try:
        result = queries.validate_file(opts, path, online=online)
    except ConfigInvalid as err:
        if not others:
            raise
        message = f"{err.message}; engines: {errors} error(s)"
        raise ConfigInvalid(message, problems=err.problems + others) from None
    result.problems += others
    if sel is not None:
        result.data["engines"] = sorted(sel.found)
    if errors:
        raise ConfigInvalid(f"engines: {errors} error(s)", problems=result.problems)
    return result


def show(opts: Any, engines: list[str] | None = None) -> Result:
    """`show [--engine …]`: dockerd's registries (dockercfg.queries) and each engine's."""
    from dockercfg import queries

    names = engine_edits.parse_engines(engines)
    if names == [engine_edits.DOCKER] or not (engines or engine_edits.kubernetes_here(opts.root)):
        return queries.show(opts)  # the default includes no engine here
    docker = names in ([engine_edits.ALL], [engine_edits.AUTO]) or engine_edits.DOCKER in names
    result = queries.show(opts) if docker else Result(command="show")
    shown(opts.root, names, result)
    return result


def detect(opts: Any, engines: list[str] | None = None) -> Result:
    """`detect [--engine …]`: dockerd's host (dockercfg.queries) and every engine found."""
    from dockercfg import queries

    result = queries.run_detect(opts)
    detected(opts.root, engine_edits.parse_engines(engines), result)
    return result

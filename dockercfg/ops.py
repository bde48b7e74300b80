"""The changing commands for dockerd's registry lists: add/remove, `set`, `apply`. Each builds a
plan and hands it to the one transaction (dockercfg.transaction); nothing here writes a file.
"""

from __future__ import annotations

from typing import Any

from dockercfg import recovery, safefile, targets, transaction
from dockercfg.detect import Host, Options, detect
from dockercfg.docker_tx import (
    Edit,
    check_apply_mode,
    host_transaction,
    owned_lists,
    run_plan,
)
from dockercfg.dockerd_checks import (
    OWNED,
    changed_list,
    check_config,
    newest_version,
    normalized,
    parse_values,
    require_valid,
)
from dockercfg.engines.base import RegistryEdit
from dockercfg.engines.docker import DockerApplier
from dockercfg.errors import ApplyFailed, DockercfgError, UsageError
from dockercfg.result import Result
from dockercfg.targets.daemon_json import INSECURE_KEY


def edit_lists(
    opts: Options,
    host: Host,
    result: Result,
    wanted: dict[str, tuple[str, list[str]]],
    *,
    apply: str,
    dry_run: bool,
    migrate: bool,
    engines: list[str] | None = None,
    for_registry: str | None = None,
    gate: Any = None,
) -> Result:
    """Change the owned lists: `wanted` maps a key to ("add" | "remove" | "set", values).
    `engines` (see dockercfg.engine_edits) adds other engines' files to the same transaction.
    `gate` (dockercfg.mirrorgate.Gate) checks the mirrors dockerd's list gains: `prepare` before
    the locks are taken, `admit` with the mirrors actually added, before anything is written."""
    from dockercfg import engine_edits
    from dockercfg.migration import migration_edits, migration_source

    sel = (
        engine_edits.select(host.root, engines)
        if engines
        else engine_edits.Selection(docker=True, named=[engine_edits.DOCKER])
    )
    if for_registry not in (None, "docker.io") and sel.docker:
        if engine_edits.DOCKER in sel.named or not sel.found:
            raise UsageError(MIRROR_FOR_OTHER)
        sel.drop_docker("dockerd mirrors only Docker Hub")
    docker_on = sel.docker
    source = migration_source(host) if migrate else None
    paths = [host.config_path] + ([source.file] if source is not None else [])
    if gate is not None and docker_on:
        gate.prepare(host)
    with host_transaction(opts, host, paths, result, dry_run) as host:
        other = None
        if sel.found:
            ((key, (mode, values)),) = wanted.items()
            edit = RegistryEdit(key, mode, values, for_registry)
            book = None if dry_run else recovery.journal_for(host)
            other = engine_edits.plan_locked(sel, edit, book)
        moved = migration_edits(host, result) if migrate and docker_on else []
        before = safefile.read_bytes(host.config_path)
        original = targets.load(host, before or b"")
        doc = moved[0].after if moved else original
        result.warnings += doc.warnings
        for key, (mode, values) in wanted.items() if docker_on else ():
            new_items = (
                set_list(doc.get_list(key), values, key)
                if mode == "set"
                else changed_list(doc.get_list(key), mode == "add", values, key)
            )
            if new_items is not None and gate is not None and mode == "add":
                present = [normalized(key, v) for v in doc.get_list(key) or []]
                added = [v for v in new_items if normalized(key, v) not in present]
                gate.admit(added, result, doc.get_list(INSECURE_KEY) or [])
            if new_items is not None:
                doc = doc.with_list(key, new_items)
        result.data["before"] = owned_lists(original)
        result.data["after"] = owned_lists(doc)
        docker_changed = doc.render() != original.render() or bool(moved)
        if engines is not None:
            docker_said = ("changed" if docker_changed else "unchanged") if docker_on else None
            engine_edits.report(result, sel, other, docker_said)
        others = other.changes if other else []
        if not docker_changed and not others:
            return result
        edits = [Edit(host.config_path, host.shown_path, before, doc), *moved[1:]]
        edits = edits if docker_changed else []
        transaction.preview(
            transaction.Plan(result.command, [e.change() for e in edits] + others), result
        )
        if docker_changed:
            require_valid(result, check_config(host, doc))
        if dry_run:
            result.data["dry_run"] = True
            return result
        if not docker_changed:
            assert other is not None
            plan = transaction.Plan(result.command, others, other.appliers)
            transaction.commit(recovery.journal_for(host), plan, result)
            engine_edits.applied(other, result)
            return result
        mode = "restart" if moved and apply in ("auto", "reload") else apply
        mode_of, added = wanted.get(INSECURE_KEY, ("", []))
        reach = added if mode_of in ("add", "set") else []
        run_plan(host, result.command, edits, mode, list(wanted), result, reach=reach, extra=other)
        engine_edits.applied(other, result)
    return result


def set_list(current: list[str] | None, values: list[str], key: str) -> list[str] | None:
    """The list made exactly `values` (in that order), or None when it already is."""
    present = [normalized(key, v) for v in current or []]
    if present == values:  # an absent key already means an empty list: no change
        return None
    return list(values)


MIRROR_FOR_OTHER = (
    "dockerd uses registry mirrors only for Docker Hub (docker.io): a mirror for another registry"
    " needs an engine that has per-registry mirrors: --engine containerd (certs.d/REGISTRY/"
    "hosts.toml), podman ([[registry.mirror]] in registries.conf) or buildkit (mirrors in"
    " buildkitd.toml)"
)


def mutate(
    opts: Options,
    command: str,
    change: tuple[str, bool, list[str]],
    *,
    apply: str = "auto",
    dry_run: bool = False,
    migrate: bool = False,
    engines: list[str] | None = None,
    for_registry: str | None = None,
    gate: Any = None,
) -> Result:
    """add-insecure / remove-insecure / add-mirror / remove-mirror. `gate`: see edit_lists; its
    `values` may also choose the values (remove-mirror --dead: the dead ones)."""
    from dockercfg import engine_edits

    check_apply_mode(apply)
    engines = engine_edits.parse_engines(engines)
    key, add, raw_values = change
    parse_values(key, raw_values, newest_version(), [])  # a bad argument is exit 2 on any host
    try:
        host = detect(opts, want_service=not dry_run and apply != "none")
    except DockercfgError as err:
        if gate is not None or not engine_edits.without_docker(err, engines):
            raise
        values = parse_values(key, raw_values, newest_version(), [])
        edit = RegistryEdit(key, "add" if add else "remove", values, for_registry)
        return engine_edits.change_engines_only(opts, command, edit, engines, dry_run)
    result = Result(command=command, target=host.target, file=host.shown_path)
    values = parse_values(
        key, raw_values, host.dockerd_version or newest_version(), result.warnings
    )
    if gate is not None:
        values = gate.values(host, result, values)
    wanted = {key: ("add" if add else "remove", values)}
    return edit_lists(
        opts,
        host,
        result,
        wanted,
        apply=apply,
        dry_run=dry_run,
        migrate=migrate,
        engines=engines,
        for_registry=for_registry,
        gate=gate,
    )


def set_lists(
    opts: Options,
    lists: dict[str, str | None],
    *,
    apply: str = "auto",
    dry_run: bool = False,
    migrate: bool = False,
) -> Result:
    """`dockercfg set`: each named list becomes exactly the given comma-separated values."""
    check_apply_mode(apply)
    named = {key: raw for key, raw in lists.items() if raw is not None}
    if not named:
        raise UsageError("name at least one list: --insecure-registries or --registry-mirrors")

    def split(raw: str) -> list[str]:
        return [v.strip() for v in raw.split(",") if v.strip()]

    for key, raw in named.items():
        parse_values(key, split(raw), newest_version(), [])
    host = detect(opts, want_service=not dry_run and apply != "none")
    result = Result(command="set", target=host.target, file=host.shown_path)
    version = host.dockerd_version or newest_version()
    wanted = {
        key: ("set", parse_values(key, split(raw), version, result.warnings))
        for key, raw in named.items()
    }
    return edit_lists(opts, host, result, wanted, apply=apply, dry_run=dry_run, migrate=migrate)


def apply_current(opts: Options, apply: str = "auto") -> Result:
    """`dockercfg apply`: make the file on disk live, and prove it."""
    check_apply_mode(apply)
    host = detect(opts)
    result = Result(command="apply", target=host.target, file=host.shown_path)
    with host_transaction(opts, host, [host.config_path], result, False) as host:
        doc = targets.load(host, safefile.read_bytes(host.config_path) or b"")
        require_valid(result, check_config(host, doc))
        applier = DockerApplier(host, doc, doc, apply, OWNED)
        try:
            applier.apply("forward", result)
            applier.verify("forward", result)
        except DockercfgError as err:
            raise ApplyFailed(
                f"{err.message}; {host.shown_path} was not changed (dockerd keeps its previous"
                " configuration when a reload fails)"
            ) from None
    return result

"""Registry flags in DOCKER_OPTS/OPTIONS files: move them into daemon.json (`migrate`), or
rewrite their wrong-but-common forms (`fix`). Both run through the one transaction in ops.py.
"""

from __future__ import annotations

from contextlib import ExitStack

from dockercfg import filelock, safefile, targets
from dockercfg.detect import Host, Options, detect
from dockercfg.errors import UsageError
from dockercfg.ops import (
    OWNED,
    Edit,
    changed_list,
    check_config,
    commit,
    normalized,
    require_valid,
    unified_diff,
)
from dockercfg.result import Result


def migration_edits(
    host: Host, stack: ExitStack, result: Result, dry_run: bool = False
) -> list[Edit]:
    """Registry flags from DOCKER_OPTS/OPTIONS into daemon.json: [daemon.json edit, opts edit]."""
    from dockercfg.targets.docker_opts import parse as parse_opts

    if not host.is_json:
        raise UsageError("--migrate moves flags into daemon.json: use it with a daemon.json target")
    source = next((s for s in host.flag_sources if s.file is not None), None)
    if source is None:
        raise UsageError(
            "no DOCKER_OPTS/OPTIONS file passes flags to this dockerd: nothing to migrate"
        )
    if not dry_run:
        stack.enter_context(filelock.lock(source.file))
    opts_before = safefile.read_bytes(source.file)
    opts_doc = parse_opts(source.file, opts_before or b"", source.variable or "DOCKER_OPTS")
    json_before = safefile.read_bytes(host.config_path)
    json_doc = targets.load(host, json_before or b"")
    moved = False
    for key in OWNED:
        flagged = opts_doc.get_list(key)
        if not flagged:
            continue
        merged = changed_list(
            json_doc.get_list(key), True, [normalized(key, v) for v in flagged], key
        )
        json_doc = json_doc.with_list(key, merged if merged is not None else json_doc.get_list(key))
        opts_doc = opts_doc.with_list(key, [])
        moved = True
    if not moved:
        return []
    # Once dockerd restarts, its flags no longer include the migrated ones.
    host.flags_override = _without_registry_flags(host.flags())
    result.warnings.append(f"moved registry flags from {source.where} into {host.shown_path}")
    return [
        Edit(host.config_path, host.shown_path, json_before, json_doc),
        Edit(source.file, source.where, opts_before, opts_doc),
    ]


def _without_registry_flags(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in ("--insecure-registry", "--registry-mirror"):
            skip = "=" not in arg
            continue
        out.append(arg)
    return out


def migrate(opts: Options, apply: str = "auto", dry_run: bool = False) -> Result:
    """`dockercfg migrate`: registry flags into daemon.json, so later changes only need a reload."""
    host = detect(opts, want_service=not dry_run and apply != "none")
    result = Result(command="migrate", target=host.target, file=host.shown_path)
    with ExitStack() as stack:
        if not dry_run:
            stack.enter_context(filelock.lock(host.config_path))
        edits = migration_edits(host, stack, result, dry_run)
        if not edits:
            return result
        result.changed = True
        result.diff = "".join(
            unified_diff(e.shown, e.before, targets.text_of(e.after)) for e in edits
        )
        require_valid(result, check_config(host, edits[0].after))
        if dry_run:
            result.data["dry_run"] = True
            return result
        commit(host, edits, "restart" if apply in ("auto", "reload") else apply, OWNED, result)
    return result


# Keys dockerd accepts and then silently ignores, and the key that does the job.
SINGULAR_KEYS = {"insecure-registry": OWNED[0], "registry-mirror": OWNED[1]}


def _fixed_json(doc, result: Result):
    """daemon.json: move values under the ignored singular keys into the plural ones."""
    from dockercfg.model import InvalidValue

    for singular, plural in SINGULAR_KEYS.items():
        if singular not in doc.value:
            continue
        raw = doc.value[singular]
        values = [raw] if isinstance(raw, str) else raw
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise UsageError(f'"{singular}" is not a list of strings; fix it by hand')
        try:
            wanted = [normalized(plural, v, strict=True) for v in values]
        except InvalidValue as err:
            raise UsageError(f'"{singular}": {err.message}; fix it by hand') from None
        merged = changed_list(doc.get_list(plural), True, wanted, plural)
        if merged is not None:
            doc = doc.with_list(plural, merged)
        doc = doc.without(singular)
        result.warnings.append(f'moved "{singular}" (ignored by dockerd) into "{plural}"')
    return doc


def fix(opts: Options, apply: str = "auto", dry_run: bool = False) -> Result:
    """`dockercfg fix`: rewrite what dockerd ignores or refuses into what it understands:
    `--insecure-registries=a,b` and comma lists in DOCKER_OPTS/OPTIONS as repeated flags, and
    daemon.json's `insecure-registry` / `registry-mirror` keys into the plural keys."""
    host = detect(opts, want_service=not dry_run and apply != "none")
    result = Result(command="fix", target=host.target, file=host.shown_path)
    with ExitStack() as stack:
        if not dry_run:
            stack.enter_context(filelock.lock(host.config_path))
        before = safefile.read_bytes(host.config_path)
        doc = targets.load(host, before or b"")
        fixed = _fixed_json(doc, result) if host.is_json else doc.fix_common_mistakes()
        result.warnings += fixed.warnings
        if fixed.render() == doc.render():
            return result
        result.changed = True
        result.diff = unified_diff(host.shown_path, before, targets.text_of(fixed))
        require_valid(result, check_config(host, fixed))
        if dry_run:
            result.data["dry_run"] = True
            return result
        commit(host, [Edit(host.config_path, host.shown_path, before, fixed)], apply, OWNED, result)
    return result

"""Registry flags in DOCKER_OPTS/OPTIONS files: move them into daemon.json (`migrate`), or
rewrite their wrong-but-common forms (`fix`). Both are one transaction (dockercfg.docker_tx):
when `migrate` changes two files, a kill at any point leaves both old or both new.
"""

from __future__ import annotations

from dockercfg import safefile, targets
from dockercfg.detect import FlagSource, Host, Options, detect
from dockercfg.docker_tx import Edit, check_apply_mode, describe, host_transaction, run_plan
from dockercfg.dockerd_checks import OWNED, changed_list, check_config, normalized, require_valid
from dockercfg.errors import UsageError
from dockercfg.result import Result


def migration_source(host: Host) -> FlagSource | None:
    """The DOCKER_OPTS/OPTIONS file whose registry flags a migration moves (None: none)."""
    if targets.for_host(host).holds_flags:
        raise UsageError("--migrate moves flags into daemon.json: use it with a daemon.json target")
    return next((s for s in host.flag_sources if s.file is not None), None)


def migration_edits(host: Host, result: Result) -> list[Edit]:
    """Registry flags from DOCKER_OPTS/OPTIONS into daemon.json: [daemon.json edit, opts edit]."""
    from dockercfg.targets.docker_opts import parse as parse_opts

    source = migration_source(host)
    if source is None or source.file is None:
        return []
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
    host.launch_overrides[source.file] = opts_doc.render()  # the next start reads this text
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
    """`dockercfg migrate`: registry flags into daemon.json, so later changes only need a reload.
    Nothing to migrate is not an error: `changed` is false."""
    check_apply_mode(apply)
    host = detect(opts, want_service=not dry_run and apply != "none")
    result = Result(command="migrate", target=host.target, file=host.shown_path)
    source = migration_source(host)
    paths = [host.config_path] + ([source.file] if source and source.file else [])
    with host_transaction(opts, host, paths, result, dry_run) as host:
        edits = migration_edits(host, result)
        if not edits:
            result.warnings.append("no registry flags in DOCKER_OPTS/OPTIONS: nothing to migrate")
            return result
        describe(result, edits, targets.load(host, edits[0].before or b""))
        require_valid(result, check_config(host, edits[0].after))
        if dry_run:
            result.data["dry_run"] = True
            return result
        mode = "restart" if apply in ("auto", "reload") else apply
        run_plan(host, "migrate", edits, mode, OWNED, result)
    return result


def fix(
    opts: Options, apply: str = "auto", dry_run: bool = False, drop_dead_mirrors: bool = False
) -> Result:
    """`dockercfg fix`: rewrite what dockerd ignores or refuses into what it understands:
    `--insecure-registries=a,b` and comma lists in DOCKER_OPTS/OPTIONS as repeated flags, and
    daemon.json's `insecure-registry` / `registry-mirror` keys into the plural keys. The flags
    are fixed in every file that feeds dockerd's command line, whichever file is the target.
    `drop_dead_mirrors`: also check the target file's mirrors (network) and drop the dead ones,
    each named with its evidence; without it, fix sends no traffic."""
    check_apply_mode(apply)
    host = detect(opts, want_service=not dry_run and apply != "none")
    result = Result(command="fix", target=host.target, file=host.shown_path)
    feeds = [s for s in host.flag_sources if s.file is not None and s.file != host.config_path]
    paths = [host.config_path] + [s.file for s in feeds if s.file is not None]
    verdicts = None
    if drop_dead_mirrors:  # checked before the lock is taken; what is new under it, there
        from dockercfg.mirrorgate import CheckSettings, Verdicts, checkable

        verdicts = Verdicts(CheckSettings(), host.target, opts.root)
        unlocked = targets.load(host, safefile.read_bytes(host.config_path) or b"")
        unlocked = unlocked.fix_common_mistakes()
        verdicts.of(checkable(unlocked.get_list(OWNED[1]) or [], Result("fix")))
    with host_transaction(opts, host, paths, result, dry_run) as host:
        before = safefile.read_bytes(host.config_path)
        doc = targets.load(host, before or b"")
        fixed = doc.fix_common_mistakes()
        result.warnings += fixed.warnings
        if verdicts is not None:
            fixed = _without_dead_mirrors(fixed, verdicts, result)
        flag_edits = [e for e in map(lambda s: _fixed_flags(host, s, result), feeds) if e]
        if fixed.render() == doc.render() and not flag_edits:
            return result
        if fixed.render() == doc.render():
            fixed = _Unchanged(doc, before)
        edits = [Edit(host.config_path, host.shown_path, before, fixed), *flag_edits]
        describe(result, edits, doc)
        require_valid(result, check_config(host, fixed))
        if dry_run:
            result.data["dry_run"] = True
            return result
        # Flags take effect at a start: restart a running dockerd; a stopped one stays stopped.
        restart = flag_edits and apply in ("auto", "reload") and host.dockerd_pid is not None
        mode = "restart" if restart else apply
        if flag_edits and host.launch is not None:  # restarted, dockerd gets the fixed flags
            host.flags_override = host.launch.rebuild(host.launch_overrides).argv
        run_plan(host, "fix", edits, mode, OWNED, result)
    return result


def _fixed_flags(host: Host, source: FlagSource, result: Result) -> Edit | None:
    """The wrong flag forms in a DOCKER_OPTS/OPTIONS file the next start reads, rewritten; under
    systemd also Debian's `X="$X ..."` (systemd passes `$X` literally), when the shell reads the
    same words without it; and only when systemd's reading of the result is the shell's too."""
    from dockercfg.formats.systemd_env import extract_words, parse_environment_file
    from dockercfg.targets.docker_opts import parse as parse_opts

    assert source.file is not None
    data = safefile.read_bytes(source.file)
    variable, shown = source.variable or "DOCKER_OPTS", source.where.split(" in ", 1)[-1]
    doc = fixed = parse_opts(source.file, data or b"", variable)
    if any(p.code in ("unknown-flag", "comma-list") for p in doc.problems):
        fixed = doc.fix_common_mistakes()
        result.warnings += fixed.warnings
    systemd = host.launch is not None and host.launch.reader == "systemd"
    text = _without_self_reference(fixed.render(), variable) if systemd else None
    if text is not None and parse_opts(source.file, text, variable).flags == fixed.flags:
        fixed = parse_opts(source.file, text, variable)
        result.warnings.append(
            f"removed ${variable} from {shown}: systemd's EnvironmentFile= does not expand it"
            " and handed dockerd the word itself"
        )
    if fixed.render() == doc.render():
        return None
    if systemd:
        seen = extract_words(parse_environment_file(fixed.render()).get(variable, ""))
        if seen != fixed.flags:
            result.warnings.append(
                f"not fixed: systemd would read {variable} in {shown} otherwise than"
                " the shell does; edit it by hand"
            )
            return None
    host.launch_overrides[source.file] = fixed.render()
    return Edit(source.file, shown, data, fixed)


def _without_self_reference(data: bytes, variable: str) -> bytes | None:
    """`NAME="$NAME rest"` (or `${NAME}`) as `NAME="rest"`, on every line; None: no such line."""
    import re

    name = re.escape(variable.encode())
    pattern = re.compile(
        rb"^([ \t]*(?:export[ \t]+)?" + name + rb"=)([\"']?)\$(?:\{" + name + rb"\}|" + name
        + rb"(?![A-Za-z0-9_]))[ \t]*", re.M,
    )  # fmt: skip
    text, count = pattern.subn(rb"\1\2", data)
    return text if count else None


class _Unchanged:
    """The target file of a fix that changes only other files: its bytes stay as they are."""

    def __init__(self, doc, before: bytes | None) -> None:
        self.doc, self.before = doc, before

    def render(self) -> bytes | None:
        return self.before

    def __getattr__(self, name: str):
        return getattr(self.doc, name)


def _without_dead_mirrors(doc, verdicts, result: Result):
    from dockercfg.mirrorgate import dead_among

    key = OWNED[1]
    listed = [v for v in doc.get_list(key) or [] if isinstance(v, str)]
    if not listed:
        result.warnings.append("no registry mirrors configured: nothing to check")
        return doc
    dead = dead_among(verdicts, listed, result)
    kept = changed_list(doc.get_list(key), False, dead, key)
    return doc if kept is None else doc.with_list(key, kept)

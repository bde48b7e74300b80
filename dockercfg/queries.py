"""Read-only commands: validate, detect, show. They never write and never touch the daemon's
state; `show` only asks the live daemon what it holds.
"""

from __future__ import annotations

from pathlib import Path

from dockercfg import hostfacts as facts
from dockercfg import safefile, targets
from dockercfg.detect import Options, detect
from dockercfg.dockerd_checks import (
    OWNED,
    effective_settings,
    flag_places,
    launch_problems,
    newest_version,
)
from dockercfg.errors import ConfigInvalid, DockercfgError, UsageError
from dockercfg.recovery import report_pending
from dockercfg.result import Result
from dockercfg.targets.daemon_json import INSECURE_KEY, MIRRORS_KEY


def validate_file(opts: Options, path: str | None, online: bool = False) -> Result:
    """`dockercfg validate [FILE]`: every problem at once; exit 1 when any is an error. FILE is
    judged by its kind: a daemon.json, or variables such as /etc/default/docker. Offline unless
    `online`: then the file's mirrors are checked too (a dead one is a warning)."""
    from dockercfg.conflicts import find_conflicts
    from dockercfg.formats.kind import file_kind

    host = detect(opts, want_service=False)
    file = Path(path) if path else host.config_path
    shown = path or host.shown_path
    result = Result(command="validate", target=host.target, file=shown)
    report_pending(host, result)
    data = safefile.read_bytes(file)
    if data is None:
        if path:
            raise UsageError(f"{shown}: no such file")
        result.warnings.append(f"{shown} does not exist: dockerd uses its defaults")
    version = host.dockerd_version or newest_version()
    env_files = [e.shown for e in host.launch.env_files] if host.launch is not None else []
    if data is None:
        problems = launch_problems(host)
    elif path and file_kind(path, data, env_files) == "env":
        problems = env_file_problems(host, file, shown, data)
    else:
        # FILE given: judged as a daemon.json, on its own (no flags come with it).
        target = targets.TARGETS["daemon-json"](host) if path else targets.for_host(host)
        problems = target.file_problems(data, shown)
        if not path and not any(p.code == "syntax" for p in problems):
            doc = target.read(data)
            config, _flags, source = target.settings(doc)
            settings, places = flag_places(host, doc)
            problems += list(doc.problems) + launch_problems(host, doc)
            problems += find_conflicts(
                config, settings, file=target.json_shown, source=source, version=version,
                places=places,
            )  # fmt: skip
        if not any(p.is_error for p in problems):
            found = target.dockerd_problem(data, shown)
            if found:
                problems.append(found)
        if online and not any(p.code == "syntax" for p in problems):
            problems += _mirror_problems(host, target.read(data), result)
    result.problems = problems
    version = host.dockerd_version
    result.data["docker_version"] = ".".join(map(str, version)) if version else None
    if any(p.is_error for p in problems):
        count = sum(p.is_error for p in problems)
        raise ConfigInvalid(f"{shown}: {count} error(s)", problems=problems)
    return result


def env_file_problems(host, target: Path, shown: str, data: bytes) -> list:
    """A variables file given to `validate`: when the next start reads it, that whole command
    line with these bytes (and its conflicts with daemon.json); else its DOCKER_OPTS/OPTIONS as
    the reader of this host's init system reads them."""
    from dockercfg import launch as launches
    from dockercfg.conflicts import command_line_problems, find_conflicts

    reads = host.launch is not None and any(e.path == target for e in host.launch.env_files)
    if reads:
        host.launch_overrides[target] = data
        settings, places = flag_places(host)
        return launch_problems(host) + find_conflicts(
            _daemon_json_value(host), settings, file="/etc/docker/daemon.json", source=shown,
            version=host.dockerd_version or newest_version(), places=places,
        )  # fmt: skip
    reader = launches.SYSTEMD if host.init == "systemd" else launches.SH
    launch = launches.env_file_launch(target, shown, data, reader)
    return launch.problems + command_line_problems(launch.argv, launch.origins)


def _daemon_json_value(host) -> dict:
    from dockercfg.targets.daemon_json import parse

    path = host.daemon_json if targets.for_host(host).holds_flags else host.config_path
    data = safefile.read_bytes(path) if path is not None else None
    try:
        return parse(path, data).value if data else {}
    except DockercfgError:  # validated on its own; its conflicts cannot be judged
        return {}


def _mirror_problems(host, doc, result: Result) -> list:
    """validate --online: the mirrors the file lists, checked; a dead one is a warning."""
    from dockercfg.mirrorgate import CheckSettings, Verdicts, online_problems

    listed = doc.get_list(MIRRORS_KEY)
    values = [v for v in listed if isinstance(v, str)] if isinstance(listed, list) else []
    if not values:
        return []
    return online_problems(Verdicts(CheckSettings(), host.target, host.root), values, result)


def run_detect(opts: Options) -> Result:
    host = detect(opts)
    result = Result(command="detect", target=host.target, file=host.shown_path)
    report_pending(host, result)
    result.data = host.to_json()
    # distro (os-release) is read only here: the decision itself rests on what runs, not the name.
    result.data["distribution"] = facts.distribution(host.root)
    return result


def show(opts: Options) -> Result:
    """Configured and live registries, each with where it comes from."""
    from dockercfg.conflicts import flag_settings
    from dockercfg.engine import Engine, registry_state
    from dockercfg.model import default_insecure_cidrs
    from dockercfg.verify import expected_from, mismatches

    host = detect(opts, want_service=False)
    result = Result(command="show", target=host.target, file=host.shown_path)
    report_pending(host, result)
    doc = targets.load(host, safefile.read_bytes(host.config_path) or b"")
    config, flags, where = effective_settings(host, doc)
    flag_values = flag_settings(flags)
    places = flag_places(host, doc)[1]  # the file:line each key's flag comes from
    json_file = targets.for_host(host).json_shown
    entries: dict[str, list[dict[str, str]]] = {}
    for out_key, key in (("insecure_registries", INSECURE_KEY), ("registry_mirrors", MIRRORS_KEY)):
        listed = [
            {"value": v, "source": json_file} for v in config.get(key) or [] if isinstance(v, str)
        ]
        listed += [
            {"value": v, "source": f"dockerd flag ({places.get(key) or where})"}
            for v in flag_values.get(key, [])
        ]
        entries[out_key] = listed
    for cidr in default_insecure_cidrs(host.dockerd_version or newest_version()):
        entries["insecure_registries"].append({"value": cidr, "source": "built-in default"})
    result.data.update(entries)
    live = None
    if opts.root == Path("/"):
        try:
            info = Engine(host.socket).info()
            state = registry_state(info)
            live = {
                "insecure_cidrs": state.insecure_cidrs,
                "insecure_names": state.insecure_names,
                "mirrors": state.mirrors,
            }
            pending = mismatches(expected_from(config, flag_values), info, tuple(OWNED))
            result.data["pending"] = pending
            if pending:
                result.warnings.append(
                    "the file differs from the live daemon (run `dockercfg apply`): "
                    + "; ".join(pending)
                )
        except DockercfgError as err:
            result.warnings.append(f"live daemon not queried: {err.message}")
    result.data["live"] = live
    return result

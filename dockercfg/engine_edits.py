"""`--engine`: which engines a change is for, and their part of the one transaction.

dockerd's part is planned by dockercfg.ops (daemon.json / DOCKER_OPTS); every other engine in
dockercfg.engines.ENGINES plans its own files here, behind the Engine protocol. The default is
`docker`: other engines' files change only when named (`--engine containerd,podman`) or with
`--engine all` (every engine found on this host), so that an existing Kubernetes node or podman
setup is never rewritten by surprise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dockercfg.engines.base import INSECURE, MIRRORS, Applier, FileChange, RegistryEdit
from dockercfg.errors import ConfigInvalid, UsageError
from dockercfg.result import Result

DOCKER = "docker"


def engine_names() -> list[str]:
    from dockercfg.engines import ENGINES

    return [DOCKER, *ENGINES]


def parse_engines(raw: list[str] | None) -> list[str]:
    """`--engine a,b --engine c` -> names; `all` -> every engine; unknown names are exit 2."""
    wanted = [n.strip() for item in raw or [DOCKER] for n in item.split(",") if n.strip()]
    known = engine_names()
    if "all" in wanted:
        return ["all"]
    for name in wanted:
        if name not in known:
            raise UsageError(f"--engine {name!r} is not one of: {', '.join(known)}, all")
    return list(dict.fromkeys(wanted)) or [DOCKER]


@dataclass
class EnginePlan:
    """The other engines' share of a change: their files, appliers and what happened to each."""

    changes: list[FileChange] = field(default_factory=list)
    appliers: list[Applier] = field(default_factory=list)
    outcome: dict[str, str] = field(default_factory=dict)


def plan_engines(
    root: Path, names: list[str], key: str, mode: str, values: list[str], for_registry: str | None
) -> EnginePlan:
    """Plan every named engine other than dockerd (with `all`: every one found here)."""
    from dockercfg.engines import ENGINES, find_all
    from dockercfg.problems import Problem

    found = find_all(root)
    wanted = list(ENGINES) if names == ["all"] else [n for n in names if n != DOCKER]
    plan = EnginePlan()
    edit = RegistryEdit({"insecure-registries": INSECURE}.get(key, MIRRORS), mode, values,
                        for_registry)  # fmt: skip
    problems: list[Problem] = []
    for name in wanted:
        hit = found.get(name)
        if hit is None:
            plan.outcome[name] = "skipped: not found on this host"
            continue
        engine = ENGINES[name]()
        changes = engine.plan(hit, [edit])
        if not changes:
            plan.outcome[name] = "unchanged"
            continue
        problems += [p for p in engine.problems(hit, changes) if p.is_error]
        plan.changes += changes
        plan.appliers.append(engine.applier(hit, changes))
        plan.outcome[name] = "changed"
    if problems:
        first = problems[0]
        raise ConfigInvalid(
            f"{first.path}: {first.message}; nothing was written", problems=problems
        )
    return plan


def report(result: Result, outcome: dict[str, str]) -> None:
    result.data["engines"] = outcome
    for name, what in outcome.items():
        if what.startswith("skipped"):
            result.warnings.append(f"{name}: {what}")

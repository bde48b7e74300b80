"""`--engine`: which engines a change is for, and their part of the one transaction.

dockerd's part is planned by dockercfg.ops (daemon.json / DOCKER_OPTS) or dockercfg.trust
(certs.d); every other engine in dockercfg.engines.ENGINES plans its own files here, behind the
Engine protocol.

Without `--engine` (`auto`), a command is for dockerd and for every engine that pulls this
node's Kubernetes images (k3s, rke2, and containerd when a kubelet uses its CRI plugin): a
sysadmin who types `add-insecure` on a Kubernetes node expects the node to pull. Other engines
found here (podman, BuildKit, a containerd that is only dockerd's runtime) change only when
named or with `--engine all` (every engine found), so a plain Docker host is never rewritten —
nor its containerd restarted — by surprise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dockercfg.errors import ConfigInvalid, UsageError
from dockercfg.result import Result

if TYPE_CHECKING:  # importing dockercfg.engines loads every engine: only when one is used
    from dockercfg.engines.base import Applier, FileChange, Found, RegistryEdit

DOCKER = "docker"
ALL = "all"
AUTO = "auto"  # no --engine given
NOT_FOUND = "skipped: not found on this host"


def engine_names() -> list[str]:
    from dockercfg.engines import ENGINES

    return [DOCKER, *ENGINES]


def parse_engines(raw: list[str] | None) -> list[str]:
    """`--engine a,b --engine c` -> names; `all` -> ["all"]; none given -> ["auto"]; unknown
    names are exit 2."""
    wanted = [n.strip() for item in raw or [] for n in item.split(",") if n.strip()]
    known = engine_names()
    if ALL in wanted:
        return [ALL]
    for name in wanted:
        if name not in known:
            raise UsageError(f"--engine {name!r} is not one of: {', '.join(known)}, all")
    return list(dict.fromkeys(wanted)) or [AUTO]


# What the default can include at all: a kubelet (containerd under Kubernetes), k3s or rke2
# (the markers their find() looks for). Without any, the read-only commands skip the engines.
KUBERNETES_MARKERS = (
    "usr/bin/kubelet", "usr/local/bin/kubelet", "usr/bin/k3s", "usr/local/bin/k3s",
    "usr/bin/rke2", "usr/local/bin/rke2", "etc/rancher/k3s/registries.yaml",
    "etc/rancher/rke2/registries.yaml",
    *(f"{d}/systemd/system/{u}.service" for d in ("etc", "lib", "usr/lib")
      for u in ("kubelet", "k3s", "k3s-agent", "rke2-server", "rke2-agent")),
)  # fmt: skip


def kubernetes_here(root: Path) -> bool:
    return any((root / marker).exists() for marker in KUBERNETES_MARKERS)


@dataclass
class Selection:
    """Which engines a command is for: dockerd or not, the other engines found (name -> Found),
    and why each engine left out is left out."""

    docker: bool
    found: dict[str, Found] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    named: list[str] = field(default_factory=list)  # what --engine said (["auto"]: nothing)

    @property
    def explicit(self) -> bool:
        return self.named != [AUTO]

    def drop_docker(self, why: str) -> None:
        self.docker = False
        self.skipped[DOCKER] = f"skipped: {why}"


def select(root: Path, names: list[str]) -> Selection:
    """Resolve parsed `--engine` names against the engines found under `root`."""
    from dockercfg.engines import ENGINES, find_all

    found = find_all(root)
    names = names or [AUTO]
    sel = Selection(docker=names in ([ALL], [AUTO]) or DOCKER in names, named=list(names))
    if not sel.docker:
        sel.skipped[DOCKER] = "skipped: not asked (--engine)"
    for name in ENGINES:
        hit = found.get(name)
        if names == [AUTO]:
            if hit is None:
                sel.skipped[name] = NOT_FOUND
            elif hit.default is None:
                sel.skipped[name] = (
                    "skipped: found, but only engines that pull for Kubernetes are in the"
                    f" default: --engine {name} changes it"
                )
            else:
                sel.found[name] = hit
        elif names == [ALL] or name in names:
            if hit is None:
                sel.skipped[name] = NOT_FOUND
            else:
                sel.found[name] = hit
        else:
            sel.skipped[name] = "skipped: not asked (--engine)"
    return sel


@dataclass
class EnginePlan:
    """The other engines' share of a change: their files, appliers and what happened to each."""

    changes: list[FileChange] = field(default_factory=list)
    appliers: list[Applier] = field(default_factory=list)
    outcome: dict[str, str] = field(default_factory=dict)


def plan_engines(sel: Selection, edit: RegistryEdit) -> EnginePlan:
    """Plan every selected engine other than dockerd. Refuses (exit 1) when an engine would
    refuse or ignore its files afterwards; nothing is written then."""
    from dockercfg.engines import ENGINES
    from dockercfg.problems import Problem

    plan = EnginePlan()
    problems: list[Problem] = []
    for name, hit in sel.found.items():
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


def plan_locked(sel: Selection, edit: RegistryEdit, book=None) -> EnginePlan:
    """plan_engines, read under the host-wide transaction lock when `book` is given (not for
    --dry-run). Planned once before that lock too, whose first use creates the state directory:
    refused input leaves no trace on the host."""
    plan = plan_engines(sel, edit)
    if book is None or not plan.changes:
        return plan
    from dockercfg import transaction

    transaction.hold_host_lock(book)
    return plan_engines(sel, edit)


def report(result: Result, sel: Selection, plan: EnginePlan | None, docker: str | None) -> None:
    """`data.engines`: every engine, changed / unchanged / skipped and why (dockerd's outcome
    is `docker`). An engine named on the command line but missing here is also a warning."""
    outcome: dict[str, str] = {}
    if docker is not None:
        outcome[DOCKER] = docker
    outcome.update(plan.outcome if plan else {})
    outcome.update(sel.skipped)
    result.data["engines"] = {n: outcome[n] for n in engine_names() if n in outcome}
    for name, what in sel.skipped.items():
        if what == NOT_FOUND and name in sel.named:
            result.warnings.append(f"{name}: {what}")


def applied(plan: EnginePlan | None, result: Result) -> None:
    """`data.engines_applied`: how each changed engine took its files (restart, reload, none)."""
    for applier in plan.appliers if plan else []:
        done = getattr(applier, "applied", None)
        if done is not None:
            result.data.setdefault("engines_applied", {})[applier.name] = done


NO_DOCKER = "no Docker installation"  # dockercfg.detect's words when it finds none


def without_docker(err: Exception, names: list[str]) -> bool:
    """Detection found no Docker at all, and the command is not for dockerd alone: the other
    engines (a k3s or kubeadm node) are changed without it."""
    return names != [DOCKER] and NO_DOCKER in getattr(err, "message", "")


def change_engines_only(
    opts, command: str, edit: RegistryEdit, names: list[str], dry_run: bool
) -> Result:
    """A change for the other engines alone: `--engine` without docker, or a host without
    Docker. Their own transaction (journal in /var/lib/dockercfg inside --root)."""
    from types import SimpleNamespace

    from dockercfg import recovery, transaction
    from dockercfg.errors import EnvironmentProblem

    sel = select(opts.root, names)
    if sel.docker:
        sel.drop_docker(f"{NO_DOCKER} on this host")
    if not sel.found:
        asked = f" of --engine {','.join(names)}" if sel.explicit else ""
        raise EnvironmentProblem(
            f"cannot tell which Docker configuration this host uses: {NO_DOCKER}, and no other"
            f" engine{asked} was found here; choose one with --target or --engine"
        )
    result = Result(command=command)
    book = recovery.journal_for(SimpleNamespace(root=opts.root, target="engines"))
    if dry_run:
        plan = plan_engines(sel, edit)
        report(result, sel, plan, None)
        transaction.preview(transaction.Plan(command, plan.changes), result)
        result.data["dry_run"] = True
        return result
    with transaction.locked(book, []):
        plan = plan_locked(sel, edit, book)
        report(result, sel, plan, None)
        transaction.preview(transaction.Plan(command, plan.changes), result)
        transaction.commit(book, transaction.Plan(command, plan.changes, plan.appliers), result)
        applied(plan, result)
    return result

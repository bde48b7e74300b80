"""`dockercfg mirrors`: check the configured registry mirrors (or the URLs given) and report.
Exit 0 whenever the check ran, whatever the verdicts: they are the output. Usage errors exit 2.

Also `add-mirror` (checks first, see mirrorgate) and `remove-mirror` (`--dead`): the change itself
is ops.mutate's, like every list change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockercfg import mirrorcheck as check
from dockercfg.detect import Options
from dockercfg.errors import UsageError
from dockercfg.mirrorgate import AddGate, CheckSettings, DeadGate
from dockercfg.result import Result
from dockercfg.targets.daemon_json import MIRRORS_KEY


def mirrors(
    opts: Options,
    urls: list[str],
    image: str = check.DEFAULT_IMAGE,
    deadline: float = check.DEADLINE,
    slow_ms: float = check.SLOW_MS,
) -> Result:
    """Given URLs only, when there are any; else every mirror dockerd is configured with."""
    from dockercfg.certs import certs_dir

    result = Result(command="mirrors")
    sources: dict[str, str] = {}
    target = opts.target if opts.target != "auto" else "daemon-json"
    if urls:
        # Argument errors first, before the host is looked at or any traffic is sent.
        parsed = [check.parse_mirror(u).url for u in urls]
        sources.update(dict.fromkeys(parsed, "command line"))
        check.parse_image(image)
    else:
        from dockercfg.queries import show

        shown = show(opts)
        result.target, result.file, target = shown.target, shown.file, shown.target or target
        result.warnings += [w for w in shown.warnings if "live daemon not queried" not in w]
        for entry in shown.data.get("registry_mirrors", []):
            try:
                url = check.parse_mirror(entry["value"]).url
            except UsageError as err:  # validate reports it; the check goes on with the others
                result.warnings.append(f"{entry['source']}: not checked: {err.message}")
                continue
            sources.setdefault(url, entry["source"])
        if not sources:
            result.warnings.append("no registry mirrors configured: give URLs to check some")
    certs_d, _shown = certs_dir(target, opts.root)
    verdicts = check.check_mirrors(
        list(sources), image, deadline, slow_ms=slow_ms, certs_d=Path(certs_d)
    )
    listed: list[dict[str, Any]] = []
    for verdict in verdicts:
        entry = verdict.to_json()
        entry["source"] = sources.get(verdict.url, "command line")
        listed.append(entry)
    hints = {check.hub_only_hint(v) for v in verdicts} - {None}
    result.warnings += sorted(hints)
    result.data = {
        "image": check.parse_image(image).shown,
        "deadline_s": deadline,
        "slow_ms": slow_ms,
        "mirrors": listed,
        "counts": {name: sum(v.verdict == name for v in verdicts) for name in check.VERDICTS},
    }
    return result


def add_mirror(
    opts: Options,
    values: list[str],
    settings: CheckSettings,
    *,
    force: bool = False,
    **change: Any,
) -> Result:
    """`add-mirror`: a dead mirror is refused (exit 5) unless `force`; see mirrorgate.AddGate."""
    from dockercfg import ops

    settings.validate()
    gate = AddGate(settings, opts.root, force)
    return ops.mutate(opts, "add-mirror", (MIRRORS_KEY, True, values), gate=gate, **change)


def remove_mirror(
    opts: Options,
    values: list[str],
    settings: CheckSettings,
    *,
    dead: bool = False,
    **change: Any,
) -> Result:
    """`remove-mirror URL...`, or `--dead`: every configured mirror whose verdict is dead."""
    from dockercfg import ops

    if dead == bool(values):
        raise UsageError("remove-mirror takes the URLs to remove or --dead, not both")
    from dockercfg.engine_edits import AUTO, DOCKER, parse_engines

    if dead and parse_engines(change.get("engines")) not in ([DOCKER], [AUTO]):
        raise UsageError("--dead checks dockerd's mirrors only: leave out --engine")
    gate = DeadGate(settings, opts.root) if dead else None
    if dead:
        settings.validate()
    return ops.mutate(opts, "remove-mirror", (MIRRORS_KEY, False, values), gate=gate, **change)


def render_text(result: Result, verbose: bool) -> list[str]:
    data = result.data
    rows = data.get("mirrors", [])
    if not rows:
        return ["no mirrors checked"]
    width = max(len(r["url"]) for r in rows)
    lines = []
    for row in rows:
        latency = f"{row['latency_ms']:g} ms" if row["latency_ms"] is not None else "-"
        lines.append(f"{row['verdict']:<12} {row['url']:<{width}}  {latency:>10}  {row['reason']}")
        if verbose:
            lines += [f"    {line}" for line in _details(row)]
    counts = ", ".join(f"{n} {name}" for name, n in data["counts"].items() if n)
    lines.append(f"{len(rows)} mirror(s) checked with {data['image']}: {counts}")
    return lines


def _details(row: dict[str, Any]) -> list[str]:
    out = [f"source: {row['source']}"]
    out.append(f"addresses: {', '.join(row['addresses']) or 'none'}")
    if row["tls"]:
        out.append(f"tls: {row['tls']['status']} ({row['tls']['detail']})")
    if row["v2"]:
        api = row["v2"]["api_version"] or "no Docker-Distribution-API-Version"
        out.append(f"/v2/: {row['v2']['status']}, {api}")
    if row["hub"]:
        hub = row["hub"]
        out.append(f"manifest {hub['image']}: {hub['status']}" + (
            f", {hub['media_type']}" if hub.get("media_type") else ""
        ) + (f" ({hub['token']})" if hub.get("token") else ""))  # fmt: skip
    if row["samples_ms"]:
        out.append("round trips: " + ", ".join(f"{ms:g} ms" for ms in row["samples_ms"]))
    out.append(f"checked in {row['elapsed_s']:g}s")
    return out

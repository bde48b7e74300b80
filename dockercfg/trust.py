"""`dockercfg trust-ca` and `untrust-ca`: install or remove a registry's CA (and client pair).

Order of a trust-ca run: check the arguments, read and check the files, ask the server (its chain
for --from-server, then a handshake that must verify with exactly what will be written), and only
then write. Any failure before the write leaves the host untouched.
"""

from __future__ import annotations

import http.client
import ssl
from pathlib import Path
from typing import Any, Callable

from dockercfg import netprobe as net
from dockercfg import registryhttp as rhttp
from dockercfg import renderers, safefile, trust_engines, txdirs
from dockercfg.certs import (
    CA_FILE,
    CLIENT_CERT,
    CLIENT_KEY,
    KEY_MODE,
    PUBLIC_MODE,
    CaBundle,
    ClientPair,
    certs_dir,
    leftovers,
    load_ca,
    load_client,
    make_dirs,
    planned_removals,
    planned_writes,
    read_input,
    remove_made_dirs,
)
from dockercfg.detect import Options, detect
from dockercfg.errors import ConfigInvalid, DockercfgError, EnvironmentProblem, UsageError
from dockercfg.result import Result
from dockercfg.x509 import Certificate

Confirm = Callable[[str], bool]
NO_RESTART = "no reload or restart needed: dockerd reads {dir} on every connection to {name}"
DESKTOP_RESTART = "restart Docker Desktop: it copies certs.d into its VM only when it starts"


def _location(opts: Options, ep: net.Endpoint, names: list[str]) -> tuple[Any, Path, str]:
    """dockerd's certs.d directory for the registry. On a host without Docker (a Kubernetes
    node) and with other engines asked for, a stand-in host: dockerd is then left out."""
    from types import SimpleNamespace

    from dockercfg.engine_edits import without_docker

    try:
        host = detect(opts, want_service=False)
    except DockercfgError as err:
        if not without_docker(err, names):
            raise
        host = SimpleNamespace(root=opts.root, target=None, no_docker=True)
    base, shown = certs_dir(host.target or "daemon-json", host.root)
    return host, base / ep.name, f"{shown}/{ep.name}"


def trust_ca(
    opts: Options,
    registry: str,
    *,
    ca: str | None = None,
    from_server: bool = False,
    client_cert: str | None = None,
    client_key: str | None = None,
    offline: bool = False,
    yes: bool = False,
    confirm: Confirm | None = None,
    engines: list[str] | None = None,
) -> Result:
    """Install certs.d/REGISTRY/ca.crt (and client.cert/client.key) after checking them; with
    `engines` (dockercfg.engine_edits), each engine's CA file too, in the same transaction."""
    from dockercfg.engine_edits import parse_engines

    names = parse_engines(engines)
    ep = net.parse_endpoint(registry)
    if ca and from_server:
        raise UsageError("give either --ca FILE or --from-server, not both")
    if bool(client_cert) != bool(client_key):
        raise UsageError("--client-cert and --client-key go together")
    if not (ca or from_server or client_cert):
        raise UsageError("say what to trust: --ca FILE or --from-server")
    if from_server and offline:
        raise UsageError("--from-server reads the certificate from the server: not with --offline")
    bundle = load_ca(read_input(ca, "--ca"), ca) if ca else None
    client = load_client(client_cert, client_key) if client_cert and client_key else None
    host, directory, shown_dir = _location(opts, ep, names)  # after every check of arguments
    result = Result(command="trust-ca", target=host.target)
    result.file = f"{shown_dir}/{CA_FILE if (ca or from_server) else CLIENT_CERT}"
    if from_server:
        chain = net.bounded(f"reading {ep.name}'s certificate", lambda: _presented(ep, client))
        bundle = _from_server(ep, directory, chain, yes, confirm)
    if bundle:
        result.warnings += bundle.warnings
    server = None
    if offline:
        if bundle and not bundle.has_ca:
            raise ConfigInvalid(
                f"{ca}: {bundle.certs[0].subject} is not a CA certificate (CA:FALSE)"
            )
        result.warnings.append(f"not checked against {ep.name} (--offline)")
    else:
        what = ca or "the server's certificate"
        server = net.bounded(
            f"checking {ep.name}", lambda: _check_server(ep, what, bundle, client, directory)
        )
        if bundle and not bundle.has_ca:
            result.warnings.append(
                f"{bundle.certs[0].subject} is the server's own certificate, not a CA: trusting"
                " it works until the registry gets a new certificate"
            )
    files: dict[str, tuple[bytes, int]] = {}
    if bundle:
        files[CA_FILE] = (bundle.pem, PUBLIC_MODE)
    if client:
        files[CLIENT_KEY] = (client.key_pem, KEY_MODE)
        files[CLIENT_CERT] = (client.cert_pem, PUBLIC_MODE)
    pem = bundle.pem.decode("ascii") if bundle else None
    part = trust_engines.Part(names, ep.name, pem, adding=True)
    written, result.backup = _commit(host, directory, shown_dir, result, files=files, part=part)
    warning = _insecure_warning(opts, ep, server["address"] if server else None)
    if warning:
        result.warnings.append(warning)
    result.changed = bool(written) or bool(result.data.get("engine_files"))
    result.verified = True if server else None
    desktop = host.target == "desktop"
    result.data |= {
        "registry": ep.name,
        "directory": shown_dir,
        "written": written,
        "ca": [c.to_json() for c in bundle.certs] if bundle else [],
        "client_cert": client.cert.to_json() if client else None,
        "server": server,
        "restart_needed": desktop and result.changed,
        "reload_needed": False,
    }
    if desktop and result.changed:
        result.warnings.append(DESKTOP_RESTART)
    return result


def _commit(
    host,
    directory: Path,
    shown_dir: str,
    outer: Result | str,
    files: dict[str, tuple[bytes, int]] | None = None,
    remove: list[str] | None = None,
    part: trust_engines.Part | None = None,
) -> tuple[list[str], str | None]:
    """certs.d files, and the other engines' CA files (`part`), through the one transaction
    (journal, backups, all or nothing): a client.key without its client.cert makes dockerd
    refuse the registry altogether. dockerd reads certs.d on every connection: there is nothing
    to apply for it. (names changed in dockerd's certs.d, backup)."""
    from dockercfg import recovery, transaction

    outer = outer if isinstance(outer, Result) else Result(command=outer)
    part = part or trust_engines.Part([trust_engines.DOCKER], outer.command, None, adding=False)
    sel = part.select(host.root, getattr(host, "no_docker", False))
    book = recovery.journal_for(host)
    intent = None
    if files and sel.docker and book.dir.is_dir():  # a refused first run leaves no state dir
        intent = txdirs.intend(book.dir, txdirs.missing_parents(directory / CA_FILE))
    made = make_dirs(directory) if files and sel.docker else []
    result = Result(command=outer.command)
    try:
        with transaction.locked(book, [directory] if sel.docker else []):
            changes = []
            if sel.docker and files:
                changes = planned_writes(directory, shown_dir, files)
            elif sel.docker:
                changes = planned_removals(directory, shown_dir, remove or [])
            other = part.plan(book, sel)
            plan = transaction.Plan(outer.command, changes + other.changes, other.appliers)
            plan.made_dirs = made  # journaled with the change: undoing it removes them
            transaction.commit(book, plan, result)
            part.report(outer, sel, other, changes, result)
    except BaseException:
        remove_made_dirs(made)
        raise
    finally:
        txdirs.settled(intent)  # the journal had them, or they are gone
    return [c.path.name for c in changes], result.backup


def _reach(ep: net.Endpoint, hint: str) -> net.Address:
    try:
        return net.first_open(ep, net.resolve(ep.host), ep.tls_port)
    except EnvironmentProblem as err:
        raise EnvironmentProblem(f"{err.message}; nothing was written{hint}") from None


def _presented(ep: net.Endpoint, client: ClientPair | None) -> list[Certificate]:
    address = _reach(ep, "")
    no_check = net.client_context(verify=False)
    report = net.inspect_tls(ep, address, no_check, client.paths if client else None)
    if report.status == "error":
        raise EnvironmentProblem(f"{ep.name}: {report.detail}{_client_hint(client)}")
    if report.status == "no-tls" or not report.chain:
        raise EnvironmentProblem(rhttp.not_tls_reason(ep, address, report.detail))
    return report.chain


def _from_server(
    ep: net.Endpoint,
    directory: Path,
    chain: list[Certificate],
    yes: bool,
    confirm: Confirm | None,
) -> CaBundle:
    """Trust on first use: the top of the chain the server presents, once a person agrees."""
    anchor = chain[-1]  # the root when the server sends it, else the highest it sends
    bundle = CaBundle(anchor.to_pem(), [anchor])
    if not anchor.self_issued:
        bundle.warnings.append(
            f"{ep.name} does not send its root CA; trusting the highest certificate it sends,"
            f" {anchor.subject}"
        )
    if safefile.read_bytes(directory / CA_FILE) == bundle.pem or yes:
        return bundle  # already trusted (nothing to agree to), or agreed with --yes
    if confirm is None:
        raise UsageError(
            f"--from-server trusts what the server sends: compare SHA-256 {anchor.sha256}"
            f" ({anchor.subject}) with the registry's administrator, then add --yes"
        )
    question = (
        f"{ep.name} presents {anchor.subject} (issued by {anchor.issuer}), valid until"
        f" {anchor.not_after:%Y-%m-%d}, SHA-256 {anchor.sha256}. Trust it for {ep.name}?"
    )
    if not confirm(question):
        raise UsageError("not confirmed: nothing was written")
    return bundle


def _check_server(
    ep: net.Endpoint,
    what: str,
    bundle: CaBundle | None,
    client: ClientPair | None,
    directory: Path,
) -> dict[str, Any]:
    """A handshake that trusts exactly what will be written must verify the live server."""
    cafiles = [] if bundle else [directory / n for n in leftovers(directory) if n.endswith(".crt")]
    try:
        ctx = net.client_context(
            verify=True,
            cadata=bundle.pem.decode("ascii") if bundle else None,
            cafiles=cafiles,
            system=bundle is None,  # a client pair alone: the CA is a public one, or installed
            client=client.paths if client else None,
        )
    except (OSError, ssl.SSLError) as err:
        raise EnvironmentProblem(f"cannot load the certificates: {net.describe(err)}") from None
    address = _reach(ep, " (--offline installs without this check)")
    report = net.inspect_tls(ep, address, ctx, client.paths if client else None)
    if report.status == "no-tls":
        raise EnvironmentProblem(rhttp.not_tls_reason(ep, address, report.detail))
    if report.status in ("self-signed", "unknown-ca", "untrusted"):
        leaf = report.chain[0] if report.chain else None
        presented = f" (it presents {leaf.subject}, issued by {leaf.issuer})" if leaf else ""
        raise ConfigInvalid(f"{what} does not verify {ep.name}{presented}: {report.detail}")
    if report.status in ("expired", "not-yet-valid", "hostname-mismatch"):
        raise ConfigInvalid(
            f"{ep.name}: {report.detail}; docker refuses it even with its CA trusted, so nothing"
            " was written: fix the registry's certificate"
        )
    if report.status != "ok":
        raise EnvironmentProblem(f"{ep.name}: {report.detail}{_client_hint(client)}")
    try:  # with TLS 1.3 a missing client certificate only shows on the first read
        api = rhttp.inspect_api(ep, ep.tls_port, lambda: net.handshake(ep, address, ctx))
    except (OSError, rhttp.NotHttp, http.client.HTTPException) as err:
        raise EnvironmentProblem(
            f"{ep.name} verified, but GET /v2/ failed: {net.describe(err)}{_client_hint(client)}"
        ) from None
    return {
        "address": net.shown_address(address),
        "status": report.status,
        "tls_version": report.version,
        "api_status": api["status"],
        "registry": api["registry"],
        "chain": [c.to_json() for c in report.chain],
    }


def _insecure_warning(opts: Options, ep: net.Endpoint, address: str | None) -> str | None:
    """dockerd neither verifies nor reads certs.d for a registry it treats as insecure."""
    from dockercfg.probe import daemon_entries, insecure_judgement, unlisting

    try:
        entries, _source, _target = daemon_entries(opts)
    except DockercfgError:
        return None
    verdict = insecure_judgement(ep, [address or ep.host], entries)
    if not verdict["insecure"]:
        return None
    return (
        f"dockerd treats {ep.name} as insecure ({verdict['reason']}), so it neither checks"
        f" its certificate nor reads certs.d for it: {unlisting(verdict['entry'])}"
    )


def _client_hint(client: ClientPair | None) -> str:
    if client:
        return " (is the client certificate one the registry accepts?)"
    return " (does the registry want a client certificate? add --client-cert/--client-key)"


def untrust_ca(opts: Options, registry: str, engines: list[str] | None = None) -> Result:
    """Remove what trust-ca installs for REGISTRY (with backups); idempotent."""
    from dockercfg.engine_edits import parse_engines

    ep = net.parse_endpoint(registry)
    wanted = parse_engines(engines)
    host, directory, shown_dir = _location(opts, ep, wanted)
    result = Result(command="untrust-ca", target=host.target, file=f"{shown_dir}/{CA_FILE}")
    names = [CA_FILE, CLIENT_CERT, CLIENT_KEY]
    part = trust_engines.Part(wanted, ep.name, None, adding=False)
    removed, result.backup = _commit(host, directory, shown_dir, result, remove=names, part=part)
    result.changed = bool(removed) or bool(result.data.get("engine_files"))
    rest = leftovers(directory)
    if rest:
        result.warnings.append(f"{shown_dir} still holds {', '.join(rest)}: dockerd keeps using it")
    result.data |= {
        "registry": ep.name,
        "directory": shown_dir,
        "removed": removed,
        "remaining": rest,
        "restart_needed": host.target == "desktop" and result.changed,
        "reload_needed": False,
    }
    if host.target == "desktop" and result.changed:
        result.warnings.append(DESKTOP_RESTART)
    return result


def _cert_line(cert: dict[str, Any]) -> str:
    return f"{cert['subject']}, valid until {cert['not_after'][:10]}, SHA-256 {cert['sha256']}"


def render_text(result: Result, verbose: bool) -> list[str]:
    data = result.data
    where = data.get("directory", "")
    verb = "removed" if result.command == "untrust-ca" else "changed"
    if str(data.get("engines", {}).get("docker", "")).startswith("skipped"):
        lines = []  # dockerd left out: only the engines' files are said
    elif result.command == "untrust-ca":
        if not result.changed:
            return [f"no change: {where} holds nothing dockercfg installs"]
        lines = [f"removed {', '.join(data['removed'])} from {where}"] if data["removed"] else []
    elif not data.get("written"):
        lines = [f"no change: {where} already holds these files"]
    else:
        lines = [f"installed {', '.join(data['written'])} in {where}"]
    if result.backup:
        lines.append(f"backup: {result.backup}")
    lines += [f"CA: {_cert_line(c)}" for c in data.get("ca", [])]
    if data.get("client_cert"):
        lines.append(f"client certificate: {_cert_line(data['client_cert'])}")
    server = data.get("server")
    if server:
        lines.append(
            f"checked: {data['registry']} ({server['address']}) presents a chain this verifies;"
            f" GET /v2/ answered {server['api_status']}"
        )
    if (data.get("written") or data.get("removed")) and not data.get("restart_needed"):
        lines.append(NO_RESTART.format(dir=where, name=data["registry"]))
    lines += [f"{verb} {path}" for path in data.get("engine_files", [])]
    return lines + renderers.engine_lines(data)


renderers.register(render_text, "trust-ca", "untrust-ca")

"""`dockercfg probe HOST[:PORT]`: what dockerd will meet at a registry, and what to do about it.

Read-only. Name resolution, TCP, TLS (chain and verdict, judged like dockerd's Go client with the
system CAs plus certs.d), the registry API, and whether the daemon treats the registry as
insecure today (moby's isSecureIndex: the exact name, then each address against the CIDRs).
It ends with one recommendation: trust-ca for TLS with an untrusted CA, add-insecure only for
plain HTTP, nothing when it already works.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import ssl
from typing import Any

from dockercfg import netprobe as net
from dockercfg import registryhttp as rhttp
from dockercfg import renderers
from dockercfg.certs import certs_dir, leftovers
from dockercfg.detect import Options
from dockercfg.errors import DockercfgError, EnvironmentProblem
from dockercfg.result import Result
from dockercfg.x509 import hostname_error

LOOPBACK = ("127.0.0.0/8", "::1/128")  # built in: cannot be taken out
DOCKER_SAYS = {
    "self-signed": "x509: certificate signed by unknown authority",
    "unknown-ca": "x509: certificate signed by unknown authority",
    "expired": "x509: certificate has expired or is not yet valid",
    "not-yet-valid": "x509: certificate has expired or is not yet valid",
    "hostname-mismatch": "x509: certificate is valid for ..., not ...",
    "http": "server gave HTTP response to HTTPS client",
}


def daemon_entries(opts: Options) -> tuple[list[str], str, str | None]:
    """(insecure entries, where they come from, target): the live daemon's when it answers."""
    from dockercfg.queries import show

    try:
        shown = show(opts)
    except DockercfgError as err:
        from dockercfg.detect import detect
        from dockercfg.model import default_insecure_cidrs
        from dockercfg.versions import NEWEST

        host = detect(opts, want_service=False)
        cidrs = default_insecure_cidrs(host.dockerd_version or NEWEST)
        return cidrs, f"built-in defaults only ({err.message})", host.target
    live = shown.data.get("live")
    if live:
        return live["insecure_cidrs"] + live["insecure_names"], "the running dockerd", shown.target
    listed = [e["value"] for e in shown.data.get("insecure_registries", [])]
    return listed, "the configuration: no running dockerd answered", shown.target


def insecure_judgement(ep: net.Endpoint, addresses: list[str], entries: list[str]) -> dict:
    """moby's isSecureIndex: the exact name first, then every address against the CIDRs."""
    if ep.name in entries:
        reason = f"{ep.name} is listed as an insecure registry"
        return {"insecure": True, "reason": reason, "entry": ep.name}
    networks = []
    for entry in entries:
        with contextlib.suppress(ValueError):
            if "/" in entry:
                networks.append(ipaddress.ip_network(entry, strict=False))
    for text in addresses:
        with contextlib.suppress(ValueError):
            address = ipaddress.ip_address(text.split("%", 1)[0])
            address = getattr(address, "ipv4_mapped", None) or address  # Go's Unmap()
            for network in networks:
                if address.version == network.version and address in network:
                    reason = f"{text} is in the insecure range {network}"
                    return {"insecure": True, "reason": reason, "entry": str(network)}
    ranges = ", ".join(str(n) for n in networks) or "none"
    return {
        "insecure": False,
        "reason": f"not listed, and {', '.join(addresses)} not in an insecure range ({ranges})",
        "entry": None,
    }


def unlisting(entry: str | None) -> str:
    """When dockerd would verify a registry that `entry` makes insecure."""
    if entry in LOOPBACK:
        return f"it never will: {entry} is insecure by design"
    if entry and "/" in entry:
        return f"it will once {entry} is out of insecure-registries (`remove-insecure {entry}`)"
    return f"it will after `dockercfg remove-insecure {entry}`"


def probe(opts: Options, registry: str) -> Result:
    ep = net.parse_endpoint(registry)
    entries, source, target = daemon_entries(opts)
    base, shown_base = certs_dir(target or "daemon-json", opts.root)
    result = Result(command="probe", target=target)
    directory = (base / ep.name, f"{shown_base}/{ep.name}")
    data, tls = net.bounded(f"probing {ep.name}", lambda: _network(ep, directory, result))
    data["daemon"] = {**insecure_judgement(ep, data["addresses"], entries), "source": source}
    works, says, advice, notes = recommend(ep, data["scheme"], tls, data["api"], data["daemon"])
    data.update(works_today=works, docker_says=says, recommendation=advice, notes=notes)
    result.data = data
    return result


def _network(ep: net.Endpoint, directory: tuple, result: Result) -> tuple[dict, net.TlsReport]:
    """Everything that talks to the registry, in the order dockerd would."""
    inside, shown_dir = directory
    addresses = net.resolve(ep.host)
    data: dict[str, Any] = {"registry": ep.name, "host": ep.host, "port": ep.port}
    data["addresses"] = [net.shown_address(a) for a in addresses]
    data["tcp"] = net.reachability(addresses, ep.tls_port)
    tls_open = [a for a, r in zip(addresses, data["tcp"]) if r["open"]]
    http_open = tls_open
    if ep.port is None and not tls_open:  # no port: dockerd falls back to plain HTTP on 80
        data["tcp"] += net.reachability(addresses, 80)
        http_open = [a for a, r in zip(addresses, data["tcp"][len(addresses) :]) if r["open"]]
    if not tls_open and not http_open:
        tried = "; ".join(f"{r['address']} port {r['port']}: {r['error']}" for r in data["tcp"])
        raise EnvironmentProblem(f"cannot connect to {ep.name}: {tried}")
    client = _client_pair(inside)
    cafiles = [n for n in leftovers(inside) if n.endswith(".crt")]
    data["certs_d"] = [
        f"{shown_dir}/{n}" for n in cafiles + ([p.name for p in client] if client else [])
    ]
    if tls_open:
        trusting = _trusting([inside / n for n in cafiles], client, result)
        tls = net.inspect_tls(ep, tls_open[0], trusting, client)
    else:
        tls = net.TlsReport("no-tls", f"port {ep.tls_port} is closed")
    data["tls"] = tls.to_json()
    data["api"] = _api(ep, tls, tls_open, http_open, client)
    data["scheme"] = "http" if tls.status == "no-tls" else "https"
    return data, tls


def _client_pair(directory) -> tuple | None:
    """dockerd's rule: FILE.cert with FILE.key is a client pair (the first one is enough here)."""
    names = leftovers(directory)
    for name in names:
        if name.endswith(".cert") and name[: -len(".cert")] + ".key" in names:
            return directory / name, directory / (name[: -len(".cert")] + ".key")
    return None


def _trusting(cafiles: list, client: tuple | None, result: Result) -> ssl.SSLContext:
    try:
        return net.client_context(verify=True, system=True, cafiles=cafiles, client=client)
    except (ssl.SSLError, OSError) as err:  # dockerd ignores what it cannot parse in a .crt
        result.warnings.append(f"certs.d files not usable ({net.describe(err)}): judged without")
        return net.client_context(verify=True, system=True)


def _api(ep: net.Endpoint, tls: net.TlsReport, tls_open, http_open, client) -> dict[str, Any]:
    if tls.status != "no-tls":
        ctx = net.client_context(verify=False, client=client)
        try:
            api = rhttp.inspect_api(ep, ep.tls_port, lambda: net.handshake(ep, tls_open[0], ctx))
        except (OSError, ssl.SSLError, http.client.HTTPException) as err:
            # TLS worked, so this is something like a demanded client certificate.
            return {"registry": None, "error": net.describe(err)}
        if not api["registry"]:
            raise EnvironmentProblem(_not_registry(ep, "HTTPS", api))
        return api
    address = (http_open or tls_open)[0]
    try:
        api = rhttp.inspect_api(ep, ep.http_port, lambda: rhttp.plain_socket(address, ep.http_port))
    except rhttp.NotHttp as err:
        raise EnvironmentProblem(f"{ep.name} {err.args[0]}") from None
    except (OSError, http.client.HTTPException) as err:
        raise EnvironmentProblem(
            f"{ep.name} speaks neither TLS ({tls.detail})"
            f" nor HTTP ({net.describe(err, net.HTTP_TIMEOUT)})"
        ) from None
    if not api["registry"]:
        raise EnvironmentProblem(_not_registry(ep, "plain HTTP", api))
    return api


def _not_registry(ep: net.Endpoint, how: str, api: dict) -> str:
    return (
        f"{ep.name} answers {how} but is not a registry: GET /v2/ gave {api['status']}"
        " without Docker-Distribution-API-Version: registry/2.0"
    )


def recommend(
    ep: net.Endpoint, scheme: str, tls: net.TlsReport, api: dict, daemon: dict
) -> tuple[bool, str | None, dict | None, list[str]]:
    """(works today, what docker says when it does not, {command, reason} or None, notes)."""
    insecure = daemon["insecure"]
    notes = []
    auth = api.get("auth")
    if auth:
        realm = f", realm {auth['realm']}" if auth.get("realm") else ""
        notes.append(f"needs authentication ({auth['scheme']}{realm}): docker login {ep.name}")
    if api.get("product"):
        notes.append(f"this registry is {api['product']}")
    wants = _wants_client_cert(api.get("error"), tls.detail)
    client = " --client-cert FILE --client-key FILE" if wants else ""
    if api.get("error"):
        notes.append(f"GET /v2/ failed after the TLS handshake: {api['error']}")
    if client:
        notes.append("the registry wants a client certificate (mutual TLS)")
    if scheme == "http":
        if insecure:
            notes.append("plain HTTP: images and credentials cross the network unencrypted")
            return True, None, None, notes
        reason = (
            "the registry speaks plain HTTP only, which dockerd refuses for a secure registry"
            " (better still: give the registry TLS, then trust its CA with trust-ca)"
        )
        command = f"dockercfg add-insecure {ep.name}"
        return False, DOCKER_SAYS["http"], {"command": command, "reason": reason}, notes
    if tls.status == "ok":
        if client:
            command = f"dockercfg trust-ca {ep.name}{client}"
            reason = "the registry refuses connections without a client certificate"
            return False, api["error"], {"command": command, "reason": reason}, notes
        if insecure:
            notes.append(
                f"listed as insecure although its certificate verifies: `dockercfg"
                f" remove-insecure {ep.name}` would lose nothing"
            )
        return True, None, None, notes
    says = None if insecure else (_docker_says(ep, tls) or tls.detail)
    if insecure and daemon.get("entry") in LOOPBACK:
        notes.append(
            f"dockerd always treats {daemon['entry']} as insecure: it does not check this"
            " registry's certificate, and reads no certs.d for it"
        )
        return True, None, None, notes
    if tls.status in ("self-signed", "unknown-ca"):
        top = tls.chain[-1] if tls.chain else None
        sent = top is not None and top.self_issued
        command = f"dockercfg trust-ca {ep.name} " + ("--from-server" if sent else "--ca CA.pem")
        command += client
        reason = f"{tls.detail}: trust it in certs.d, no restart needed" + (
            f" (compare SHA-256 {top.sha256} with the registry's administrator)"
            if sent
            else " (ask the registry's administrator for the CA certificate)"
        )
        if insecure:
            reason += (
                "; today dockerd talks to it without checking its certificate:"
                f" {unlisting(daemon.get('entry'))}"
            )
        return insecure, says, {"command": command, "reason": reason}, notes
    fix = {
        "expired": "renew the registry's certificate",
        "not-yet-valid": "check the clocks, or wait until the certificate is valid",
        "hostname-mismatch": f"use a name the certificate is for, or reissue it for {ep.host}",
    }.get(tls.status, "fix the registry's TLS setup")
    if tls.status == "error" and client:
        command = f"dockercfg trust-ca {ep.name} --ca CA.pem{client}"
        return insecure, says, {"command": command, "reason": tls.detail}, notes
    reason = f"{tls.detail}: {fix}; trusting a CA cannot fix this"
    return insecure, says, {"command": None, "reason": reason}, notes


def _wants_client_cert(*errors: str | None) -> bool:
    """The TLS alerts a server sends when it wants a client certificate (TLS 1.3 and 1.2)."""
    text = " ".join(e for e in errors if e)
    return "alert bad certificate" in text or "certificate required" in text


def _docker_says(ep: net.Endpoint, tls: net.TlsReport) -> str | None:
    if tls.status == "hostname-mismatch" and tls.chain:
        return hostname_error(tls.chain[0], ep.host)
    return DOCKER_SAYS.get(tls.status)


def render_text(result: Result, verbose: bool) -> list[str]:
    d = result.data
    lines = [f"{d['registry']}: resolves to {', '.join(d['addresses'])}"]
    for tcp in d["tcp"]:
        state = "open" if tcp["open"] else tcp["error"]
        lines.append(f"  tcp {tcp['address']} port {tcp['port']}: {state}")
    tls = d["tls"]
    version = f"{tls['version']}, " if tls["version"] else ""
    lines.append(f"  tls: {version}{tls['status']}: {tls['detail']}")
    for number, cert in enumerate(tls["chain"]):
        lines.append(f"    [{number}] {cert['subject']}")
        if verbose or number == 0 or cert["self_signed"]:
            lines.append(f"        issuer: {cert['issuer']}")
            if cert["names"]:
                lines.append(f"        names: {', '.join(cert['names'])}")
            lines.append(f"        valid: {cert['not_before']} to {cert['not_after']}")
            lines.append(f"        SHA-256: {cert['sha256']}")
    api = d["api"]
    if api.get("registry") is not None:
        auth = api["auth"]
        how = f"{auth['scheme']} authentication" if auth else "no authentication"
        version = api["api_version"] or "no API version header"
        lines.append(f"  api ({d['scheme']}): GET /v2/ -> {api['status']}, {version}, {how}")
    daemon = d["daemon"]
    kind = "insecure" if daemon["insecure"] else "secure"
    lines.append(f"  dockerd treats it as {kind}: {daemon['reason']}")
    lines.append(f"    (judged from {daemon['source']})")
    if d["works_today"]:
        lines.append("  today: docker push and pull work")
    else:
        lines.append(f"  today: docker push and pull fail: {d['docker_says']}")
    lines += [f"  note: {note}" for note in d["notes"]]
    advice = d["recommendation"]
    if advice is None:
        lines.append("  recommendation: nothing to do")
    else:
        lines.append(f"  recommendation: {advice['command'] or 'no dockercfg command helps'}")
        lines.append(f"    {advice['reason']}")
    return lines


renderers.register(render_text, "probe")

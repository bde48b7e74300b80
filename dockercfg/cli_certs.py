"""Commands about a registry's TLS: registered on the typer app (app.py) when cli.py imports this.

Parsing only; the work is in probe.py and trust.py. File options default to "" (not given)
rather than Optional[str]: typer evaluates these annotations at runtime, also on Python 3.9.
"""

from __future__ import annotations

import sys
from typing import Callable, List, Optional

import typer

from dockercfg.app import ENGINE_HELP, State, app
from dockercfg.app import run as _run

REGISTRY_HELP = "The registry as written in image names: host, host:port or [IPv6]:port"


@app.command("probe")
def probe(registry: str = typer.Argument(..., metavar="HOST[:PORT]", help=REGISTRY_HELP)) -> None:
    """What dockerd will meet at a registry (DNS, TCP, TLS, API), and what to do about it."""
    from dockercfg import probe as probing

    _run("probe", probing.probe, registry)


@app.command("trust-ca")
def trust_ca(
    registry: str = typer.Argument(..., metavar="HOST[:PORT]", help=REGISTRY_HELP),
    ca: str = typer.Option("", "--ca", metavar="FILE", help="The registry's CA certificate (PEM)"),
    from_server: bool = typer.Option(
        False, "--from-server", help="Trust the top of the chain the server presents (TOFU)"
    ),
    client_cert: str = typer.Option(
        "", "--client-cert", metavar="FILE", help="Client certificate for mutual TLS"
    ),
    client_key: str = typer.Option(
        "", "--client-key", metavar="FILE", help="Its private key (written with mode 0600)"
    ),
    offline: bool = typer.Option(
        False, "--offline", help="Do not check the CA against the live server"
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Trust --from-server without asking"),
    engine: Optional[List[str]] = typer.Option(None, "--engine", help=ENGINE_HELP),
) -> None:
    """Trust a registry's CA in certs.d: the secure alternative to add-insecure.

    dockerd reads certs.d on every connection: no reload, no restart.
    """
    from dockercfg import trust

    _run(
        "trust-ca",
        trust.trust_ca,
        registry,
        ca=ca or None,
        from_server=from_server,
        client_cert=client_cert or None,
        client_key=client_key or None,
        offline=offline,
        yes=yes,
        confirm=_confirmer(),
        engines=engine,
    )


@app.command("untrust-ca")
def untrust_ca(
    registry: str = typer.Argument(..., metavar="HOST[:PORT]", help=REGISTRY_HELP),
    engine: Optional[List[str]] = typer.Option(None, "--engine", help=ENGINE_HELP),
) -> None:
    """Remove the CA and client pair trust-ca installed for a registry (backups are kept)."""
    from dockercfg import trust

    _run("untrust-ca", trust.untrust_ca, registry, engines=engine)


def _confirmer() -> Callable[[str], bool] | None:
    """A yes/no question on the terminal; None when nobody can answer (--json, a pipe)."""
    if State.json or not sys.stdin.isatty():
        return None

    def ask(question: str) -> bool:
        return typer.confirm(question, default=False, err=True)

    return ask

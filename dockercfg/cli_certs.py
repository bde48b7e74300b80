"""Commands about a registry's TLS: registered on the main typer app when cli.py imports this."""

from __future__ import annotations

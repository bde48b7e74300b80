"""One exception type per exit code; cli.py maps them to exit codes and one line on stderr."""

from __future__ import annotations

from typing import Any

# Exit codes (DESIGN.md): stable, documented in the README.
EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_APPLY_FAILED = 4
EXIT_MIRROR_DEAD = 5


class DockercfgError(Exception):
    """An expected failure: reported as one line, never as a traceback."""

    exit_code = EXIT_ENVIRONMENT

    def __init__(
        self,
        message: str,
        *,
        problems: list[Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems or [])
        self.data = dict(data or {})  # the --json envelope's `data` on failure


class ConfigInvalid(DockercfgError):
    """The resulting (or given) configuration would not be accepted by dockerd."""

    exit_code = EXIT_INVALID


class UsageError(DockercfgError):
    """A bad command-line argument, e.g. an invalid registry address."""

    exit_code = EXIT_USAGE


class EnvironmentProblem(DockercfgError):
    """Permission, unreadable/unparsable file, lock timeout, unknown host layout."""

    exit_code = EXIT_ENVIRONMENT


class ApplyFailed(DockercfgError):
    """Applying the change failed after the write; the previous file was restored."""

    exit_code = EXIT_APPLY_FAILED


class MirrorDead(DockercfgError):
    """add-mirror refused a mirror its check found dead (nothing was written; --force adds it)."""

    exit_code = EXIT_MIRROR_DEAD


class Interrupted(DockercfgError):
    """A signal (SIGINT, SIGTERM, SIGHUP) ended the command; exit code 128 + its number.
    The message says what state the host is in."""

    def __init__(self, signum: int, message: str = "") -> None:
        import signal

        super().__init__(message or f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = 128 + signum


def raise_interrupted(signum: int, frame: object) -> None:
    """A signal handler: the signal becomes an Interrupted error at the current line."""
    raise Interrupted(signum)

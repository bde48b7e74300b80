"""How file-system failures are reported (one line naming the path and the cause), and the
DOCKERCFG_FAULT test hook.

- DOCKERCFG_FAULT=POINT[,POINT...]: a test hook, inert unless set. The process SIGKILLs itself
  when it reaches a named point, to prove crash safety (tests/adversarial); the points are listed
  in dockercfg.safefile and dockercfg.transaction.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import stat
from pathlib import Path

from dockercfg.errors import EnvironmentProblem

FAULT_ENV = "DOCKERCFG_FAULT"
# chattr flags (linux/fs.h): a rename over such a file fails with EPERM even for root.
_FS_IOC_GETFLAGS = 0x80086601
_FS_IMMUTABLE_FL = 0x10
_FS_APPEND_FL = 0x20


def fault(point: str) -> None:
    """Test hook (see the module docstring): die here, as kill -9 would, when asked to."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted and point in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)


def describe_os_error(err: OSError) -> str:
    """'read-only file system' rather than "[Errno 30] Read-only file system: '/x'"."""
    if err.errno:
        text = os.strerror(err.errno)
        return text[:1].lower() + text[1:]
    return str(err).split("\n", 1)[0] or type(err).__name__


def os_problem(what: str, err: OSError) -> EnvironmentProblem:
    if isinstance(err, FileNotFoundError) and err.filename is not None:
        # Only raised for a path we create, so the missing piece is its directory.
        cause = f"directory {Path(err.filename).parent} does not exist"
    else:
        cause = describe_os_error(err)
        if err.errno in (errno.EACCES, errno.EPERM) and os.geteuid() != 0:
            cause += "; this needs root: try again with sudo"
        elif err.errno == errno.EPERM:  # root too: an immutable or append-only file or directory
            names = [n for n in (err.filename2, err.filename) if isinstance(n, (str, bytes))]
            cause += attribute_hint([Path(os.fsdecode(n)) for n in names])
    return EnvironmentProblem(f"cannot {what}: {cause}")


def not_regular(action: str, shown: object, mode: int) -> EnvironmentProblem | None:
    if stat.S_ISREG(mode):
        return None
    kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
    return EnvironmentProblem(f"cannot {action} {shown}: it is {kind}")


def attribute_hint(paths: list[Path]) -> str:
    """Why root gets EPERM: an immutable or append-only file or directory (chattr +i / +a)."""
    import array

    for candidate in [c for p in paths for c in (p, p.parent)]:
        flags = array.array("i", [0])  # the kernel reads and writes an int, whatever the name
        try:
            fd = os.open(candidate, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
        except OSError:
            continue
        finally:
            os.close(fd)
        for bit, name, letter in (
            (_FS_IMMUTABLE_FL, "immutable", "i"),
            (_FS_APPEND_FL, "append-only", "a"),
        ):
            if flags[0] & bit:
                return f"; {candidate} is {name} (see lsattr; chattr -{letter} allows changes)"
    return ""

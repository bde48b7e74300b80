"""Who owns what root creates: under sudo, a new file or directory in a user's tree is theirs.

The rule is the directory's: whatever dockercfg (as root) creates in a directory owned by another
user (a daemon.json, certs.d directories, backups, locks, the journal) gets that directory's
owner, so nothing root-owned lands in a user's home and their own later run can change it. In a
root-owned directory (/etc/docker) everything stays root's. Whose home it is at all is decided in
dockercfg.invoker.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def inherited_owner(directory: Path) -> tuple[int, int] | None:
    """Whom root gives a new file or directory in `directory`: the directory's owner when that
    is a user other than root (under sudo, a user's home tree stays theirs); None: root keeps it.
    """
    if os.geteuid() != 0:
        return None
    try:
        st = os.stat(directory)
    except OSError:
        return None
    return (st.st_uid, st.st_gid) if st.st_uid != 0 else None


def make_dir(path: Path, mode: int, reclaim: bool = False) -> bool:
    """Create the directory with exactly `mode` (whatever the umask), owned like its parent
    (inherited_owner). `reclaim`: dockercfg's own directory, which an older run under sudo may
    have left root-owned in a user's tree, becomes that user's again. True when created.

    Mode and owner are set through a descriptor opened without following symlinks: in a
    directory its user controls, a path swapped for a link must not make root chmod the link's
    target."""
    created = True
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        if not reclaim:
            return False
        created = False
    owner = inherited_owner(path.parent)
    if not created and owner is None:
        return False
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError:
        if created:
            raise
        return False  # not a directory, or a symlink: the caller refuses it with its own words
    try:
        st = os.fstat(fd)
        if owner is not None and (created or st.st_uid == 0):
            os.fchown(fd, *owner)
        if created:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return created


def reclaim_files(directory: Path) -> None:
    """dockercfg's own files (journal, history, locks) that an older run under sudo left
    root-owned in a directory its user owns become that user's (best effort; never a symlink)."""
    owner = inherited_owner(directory)
    if owner is None:
        return
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        path = directory / name
        try:
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_uid == 0 and st.st_nlink == 1:
                os.chown(path, *owner, follow_symlinks=False)
        except OSError:
            continue

"""Writing files so that nothing unfinished looks finished: hidden names that fit the file
system, renames made durable (fsync) before they are trusted, a full disk said in one line."""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

from .errors import DiskFull

NAME_MAX = 255   # bytes in one file name on every common file system
FULL = (errno.ENOSPC, errno.EDQUOT)


def hidden(target: Path, tag: str) -> Path:
    """``.NAME.oldfilm-TAG`` beside ``target``; when that is over 255 bytes, NAME is shortened and
    a hash of the whole name keeps it unique."""
    name = f".{target.name}.oldfilm-{tag}"
    if len(name.encode()) > NAME_MAX:
        digest = hashlib.sha256(target.name.encode()).hexdigest()[:10]
        room = NAME_MAX - len(f"..~{digest}.oldfilm-{tag}".encode())
        stem = target.name.encode()[:room].decode("utf-8", "ignore")
        name = f".{stem}~{digest}.oldfilm-{tag}"
    return target.with_name(name)


def mount_point(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists():
        path = path.parent
    while not os.path.ismount(path):
        path = path.parent
    return path


def disk_full(path: Path, need: int = 0) -> DiskFull:
    """The one-line error for a full disk while writing ``path`` (about ``need`` bytes wanted)."""
    where = mount_point(path)
    free = shutil.disk_usage(where).free
    mb = max(1, -(-(max(need - free, 0) + (1 << 20)) // (1 << 20)))   # what is missing, plus 1 MB
    return DiskFull(f"no space left on {where} (writing {Path(path).name}); "
                    f"free {mb} MB and run the same command again")


def fsync(path: Path) -> None:
    """Flush ``path`` (a file or a folder) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(partial: Path, target: Path) -> None:
    """Rename a complete ``partial`` to ``target`` so that it survives a power cut: the data is
    flushed before the rename, the folder's entry after it."""
    try:
        fsync(partial)
        os.replace(partial, target)
        fsync(target.parent)
    except OSError as e:
        if e.errno in FULL:
            raise disk_full(target) from None
        raise


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` atomically and durably; a full disk leaves the old file (if any) in place,
    no partial file, and raises :class:`DiskFull`."""
    tmp = hidden(path, "partial")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno in FULL:
            raise disk_full(path, len(data)) from None
        raise
    try:
        commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """:func:`write_bytes` of ``text`` in UTF-8."""
    write_bytes(path, text.encode("utf-8"))

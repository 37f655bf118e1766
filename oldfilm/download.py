"""Downloading a model's published file: progress bar, resume, sha256 check, atomic rename."""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .errors import OldfilmError


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, target: Path, *, expected_sha256: str | None = None, progress: bool = True,
             attempts: int = 3, timeout: float = 30) -> Path:
    """Fetch ``url`` to ``target``. Bytes go to ``target.part`` first; an interrupted transfer
    resumes from there (HTTP Range) on the next attempt or the next call. The file is renamed to
    ``target`` only when complete and, if ``expected_sha256`` is given, verified."""
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    last_error = None
    for _ in range(attempts):
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if have and response.status != 206:   # the server ignored Range: start again
                    have = 0
                length = response.headers.get("Content-Length")
                total = have + int(length) if length else None
                with open(part, "ab" if have else "wb") as out, \
                        tqdm(total=total, initial=have, unit="B", unit_scale=True, disable=not progress,
                             desc=target.name[:30]) as bar:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        out.write(block)
                        bar.update(len(block))
                if total is not None and part.stat().st_size < total:
                    raise OSError(f"connection closed after {part.stat().st_size} of {total} bytes")
            break
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            last_error = e
    else:
        reason = getattr(last_error, "reason", last_error)
        raise OldfilmError(f"cannot download {url} ({reason}); check the network, or download the file "
                           f"yourself and use `oldfilm models import`")
    if expected_sha256 and not sha256(part).startswith(expected_sha256.lower()):
        part.unlink()
        raise OldfilmError(f"{url} downloaded but its sha256 is not the published one: the file was deleted; "
                           "try again later or report it")
    os.replace(part, target)
    return target

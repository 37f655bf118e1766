"""Finding and running the ffmpeg binary. Argument lists only, never shell strings."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess

from ..errors import OldfilmError


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """``$OLDFILM_FFMPEG``, else ``ffmpeg`` on PATH, else the binary bundled by imageio-ffmpeg."""
    exe = os.environ.get("OLDFILM_FFMPEG") or shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as e:
        raise OldfilmError("no ffmpeg found: install oldfilm with pip (it brings one) or put ffmpeg on PATH") from e


def base_args() -> list[str]:
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y"]


def run(args: list[str]) -> subprocess.CompletedProcess:
    """Run ffmpeg to completion, capturing its output (bytes)."""
    return subprocess.run(base_args() + args, stdin=subprocess.DEVNULL, capture_output=True)


def last_error(stderr: bytes, lines: int = 1) -> str:
    """The last meaningful line(s) of ffmpeg's stderr, for an error message."""
    text = [l.strip() for l in stderr.decode("utf-8", "replace").splitlines() if l.strip()]
    return " / ".join(text[-lines:]) if text else "no message"


def path_arg(path) -> str:
    """A file path as ffmpeg must see it: absolute (a leading '-' is no option) and with the
    ``file:`` protocol (a ':' in the name is no protocol)."""
    return "file:" + os.path.abspath(path)

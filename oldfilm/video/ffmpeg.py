"""Finding and running the ffmpeg binary. Argument lists only, never shell strings."""
from __future__ import annotations

import functools
import os
import re
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


def base_args(loglevel: str = "error") -> list[str]:
    """ffmpeg and the options of every run: errors only on stderr (so the line that says why is
    not lost among the progress lines), never a question on stdin, outputs replaced."""
    return [ffmpeg_exe(), "-hide_banner", "-loglevel", loglevel, "-nostdin", "-y"]


def run(args: list[str], loglevel: str = "error") -> subprocess.CompletedProcess:
    """Run ffmpeg to completion, capturing its output (bytes)."""
    return subprocess.run(base_args(loglevel) + args, stdin=subprocess.DEVNULL, capture_output=True)


# lines that say only that something failed, not why
_GENERIC = re.compile(r"conversion failed|error (opening|initializing|while|closing)|could not write header|"
                      r"nothing was written|terminating|exiting normally|error writing trailer$|"
                      r"task finished with error|error sending frames", re.I)
_CONTEXT = re.compile(r"^\[[^\]]* @ (0x)?[0-9a-f]+\]\s*")   # "[mp4 @ 0x55d...] "


def last_error(stderr: bytes) -> str:
    """The line of ffmpeg's stderr that says why it failed: the first that is not a generic
    "failed" line (those come after the reason), else the last line."""
    lines = [_CONTEXT.sub("", l).strip() for l in stderr.decode("utf-8", "replace").splitlines()]
    lines = [l for l in lines if l]
    if not lines:
        return "no message"
    return next((l for l in lines if not _GENERIC.search(l)), lines[-1])


def disk_full(stderr: bytes) -> bool:
    return b"No space left on device" in stderr or b"Disk quota exceeded" in stderr


def path_arg(path) -> str:
    """A file path as ffmpeg must see it: absolute (a leading '-' is no option) and with the
    ``file:`` protocol (a ':' in the name is no protocol)."""
    return "file:" + os.path.abspath(path)


@functools.lru_cache(maxsize=None)
def has_filter(name: str) -> bool:
    """Whether this ffmpeg build has the filter ``name`` (builds differ: vidstab, nlmeans...)."""
    out = run(["-filters"]).stdout.decode("utf-8", "replace")
    return any(line.split()[1:2] == [name] for line in out.splitlines() if len(line) > 4)

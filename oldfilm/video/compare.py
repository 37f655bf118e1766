"""A film for review: the original and the processed film side by side, or a split wipe, sound kept."""
from __future__ import annotations

from pathlib import Path

from . import ffmpeg
from .probe import probe
from .writer import ffmpeg_to, metadata_args

MODES = ("side", "wipe")


def compare_path(output: Path) -> Path:
    """``movie.colorized.mp4`` -> ``movie.colorized.compare.mp4``."""
    return output.with_name(f"{output.stem}.compare{output.suffix}")


def write_compare(before: str | Path, after: str | Path, target: str | Path, mode: str = "side", *,
                  crf: int = 18, preset: str = "medium", tags: dict[str, str] | None = None) -> Path:
    """Encode ``before`` (left) and ``after`` (right) into ``target``: ``side`` puts the two whole
    pictures next to each other (twice the width); ``wipe`` shows the left half of ``before``
    and the right half of ``after`` at the original size, split by a thin line. The sound is
    ``after``'s (else ``before``'s), copied. Written to a partial file, renamed when complete."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    target = Path(target)
    a, b = probe(before), probe(after)
    sound = 1 if b.audio else 0
    # the processed film has the original's frames at the same times: the two are paired by
    # timestamp, the original scaled to the output's size as displayed, pixels made square
    left = f"[0:v:0]scale={b.width}:{b.height},setsar=1,format=yuv420p[a]"
    right = f"[1:v:0]setsar=1,format=yuv420p[b]"
    if mode == "side":
        join = "[a][b]hstack=inputs=2:shortest=1"
    else:
        join = ("[b]crop=iw/2:ih:iw/2:0[r];[a][r]overlay=W/2:0:shortest=1,"
                "drawbox=x=iw/2-1:y=0:w=2:h=ih:color=white@0.8:t=fill")
    graph = f"{left};{right};{join},pad=ceil(iw/2)*2:ceil(ih/2)*2[v]"
    args = ["-i", ffmpeg.path_arg(before), "-i", ffmpeg.path_arg(after), "-filter_complex", graph,
            "-map", "[v]", "-map", f"{sound}:a?", "-c:a", "copy", "-c:v", "libx264", "-crf", str(crf),
            "-preset", preset, "-pix_fmt", "yuv420p", "-fps_mode", "passthrough"] + metadata_args(tags)
    return ffmpeg_to(target, args, f"writing {target.name}")

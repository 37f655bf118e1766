"""How often oldfilm's probe is right, on a corpus of odd files whose truth is known by
construction (the measurement that chose PyAV over parsing ffmpeg's banner: bench/README.md).

    python3 bench/probe.py            # the wrong fields, the score and the wall time
    git show 45a1db0:oldfilm/video/probe.py > /tmp/banner_probe.py   # the banner probe, to compare

Fields: displayed size, exact frame rate, frame count, duration, video start after the earliest
stream, sample aspect ratio, rotation, pixel format, variable rate, and the wall time of each.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg

from oldfilm.video import probe as oldfilm_probe

FF = imageio_ffmpeg.get_ffmpeg_exe()


def ff(*args):
    subprocess.run([FF, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def src(size="160x120", rate="25", seconds=1):
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]


def tone(seconds):
    return ["-f", "lavfi", "-i", f"sine=duration={seconds}"]


def corpus(d: Path) -> list[tuple[Path, dict]]:
    """(file, the truth) for each odd case."""
    c = []
    base = dict(size=(160, 120), fps=Fraction(25), frames=25, duration=1.0, start=0.0, sar=Fraction(1),
                rotation=0, pix_fmt="yuv420p", vfr=False)

    def add(name, truth, *args):
        path = d / name
        ff(*args, str(path))
        c.append((path, {**base, **truth}))

    add("plain.mp4", {}, *src(), "-c:v", "libx264", "-pix_fmt", "yuv420p")
    add("ntsc.mkv", {"fps": Fraction(30000, 1001), "frames": 30, "duration": 30 * 1001 / 30000},
        *src(rate="30000/1001", seconds=30 * 1001 / 30000), "-c:v", "libx264", "-pix_fmt", "yuv420p")
    ff(*src(), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(d / "upright.mp4"))
    add("rotated.mp4", {"size": (120, 160), "rotation": 90}, "-display_rotation", "90", "-i", str(d / "upright.mp4"),
        "-c", "copy")
    add("vfr.mp4", {"frames": 50, "duration": 3.0, "fps": Fraction(50, 3), "vfr": True},
        *src(rate="30", seconds=3), "-vf", "select='lt(n\\,30)+not(mod(n\\,3))'", "-fps_mode", "vfr",
        "-c:v", "libx264", "-pix_fmt", "yuv420p")
    add("sar.mkv", {"sar": Fraction(160, 99)}, *src(), "-vf", "setsar=160/99:max=1000", "-c:v", "libx264",
        "-pix_fmt", "yuv420p")
    add("late.mkv", {"start": 0.5}, *src(), *tone(1.6), "-filter_complex", "[0]setpts=PTS+0.5/TB[v]",
        "-map", "[v]", "-map", "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "0", "-c:a", "aac")
    add("late46.mp4", {"start": 0.046}, *src(), *tone(1.6), "-filter_complex", "[0]setpts=PTS+0.046/TB[v]",
        "-map", "[v]", "-map", "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "0", "-c:a", "aac")
    add("late.ts", {"start": 0.5}, *src(), *tone(1.6), "-filter_complex", "[0]setpts=PTS+0.5/TB[v]",
        "-map", "[v]", "-map", "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "0", "-c:a", "aac")
    add("tenbit.mkv", {"pix_fmt": "yuv420p10le"}, *src(), "-c:v", "libx264", "-pix_fmt", "yuv420p10le")
    add("interlaced.mkv", {"pix_fmt": "yuv420p"}, *src(), "-c:v", "libx264", "-pix_fmt", "yuv420p",
        "-flags", "+ildct+ilme", "-x264opts", "tff=1")
    add("bframes.avi", {}, *src(), "-c:v", "libx264", "-pix_fmt", "yuv420p")
    add("mpeg2.mpg", {}, *src(), "-c:v", "mpeg2video")
    return c


def oldfilm_fields(path: Path) -> dict:
    i = oldfilm_probe(path)
    return dict(size=(i.width, i.height), fps=i.fps, frames=i.frames, duration=i.duration, start=i.start,
                sar=i.sar, rotation=i.rotation, pix_fmt=i.pix_fmt, vfr=i.vfr)


def right(field, got, want) -> bool:
    if field in ("duration", "start"):
        return abs(got - want) <= 0.021   # within half a frame at 25 fps
    return got == want


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        files = corpus(Path(d))
        score, total, seconds = 0, 0, 0.0
        print(f"{'file':16} {'field':9} {'truth':>14} {'oldfilm':>14}")
        for path, truth in files:
            t = time.perf_counter()
            try:
                got = oldfilm_fields(path)
            except Exception as e:   # a probe that fails is wrong on every field
                got = {k: f"error: {type(e).__name__}" for k in truth}
            seconds += time.perf_counter() - t
            for field, want in truth.items():
                total += 1
                ok = right(field, got[field], want)
                score += ok
                if not ok:
                    print(f"{path.name:16} {field:9} {str(want)[:14]:>14} {str(got[field])[:14]:>14}")
        print(f"\nright: {score}/{total} fields of {len(files)} files; probe wall time {seconds:.2f} s "
              f"(PyAV {av.__version__}, clips made by ffmpeg {FF.rsplit('-', 1)[-1]}, python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()

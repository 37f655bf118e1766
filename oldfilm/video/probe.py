"""Probe a film with ffmpeg alone (ffprobe may be absent).

Two cheap passes, neither decodes a frame: ``ffmpeg -i`` for the stream list, pixel format and
rotation, and a packet listing (``-c copy -f framecrc``) of the main video stream for the exact
time base, every frame's timestamp, size and sample aspect ratio.
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..errors import BadInput
from . import ffmpeg

COMMON_RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
                Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60), Fraction(120),
                Fraction(16), Fraction(18), Fraction(20), Fraction(12), Fraction(15), Fraction(10)]


@dataclass(frozen=True)
class Stream:
    index: int
    kind: str      # video, audio, subtitle, data, attachment
    codec: str
    description: str


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int            # as displayed: after rotation
    height: int
    fps: Fraction         # exact where the file says so (30000/1001 stays 30000/1001)
    frames: int
    duration: float       # seconds, of the video stream
    start: float          # seconds: first video timestamp
    sar: Fraction
    rotation: int         # display-matrix rotation as ffmpeg reports it; its decoder applies it
    pix_fmt: str
    codec: str
    vfr: bool
    streams: tuple[Stream, ...] = field(default=())
    time_base: Fraction = Fraction(1, 1000)
    pts: tuple[int, ...] = field(default=(), repr=False)   # a variable-rate film's frame times (time_base ticks)
    field_order: str = "unknown"   # progressive, tff or bff (interlaced: top or bottom field first)

    @property
    def audio(self) -> list[Stream]:
        return [s for s in self.streams if s.kind == "audio"]

    @property
    def subtitles(self) -> list[Stream]:
        return [s for s in self.streams if s.kind == "subtitle"]

    def describe(self) -> dict:
        return {
            "path": str(self.path), "size": f"{self.width}x{self.height}", "fps": str(self.fps),
            "fps_float": round(float(self.fps), 4), "frames": self.frames, "duration": round(self.duration, 3),
            "start": round(self.start, 3), "sar": f"{self.sar.numerator}:{self.sar.denominator}",
            "rotation": self.rotation, "pix_fmt": self.pix_fmt, "codec": self.codec,
            "variable_frame_rate": self.vfr, "field_order": self.field_order,
            "streams": [f"#{s.index} {s.kind}: {s.description}" for s in self.streams],
        }


_STREAM = re.compile(r"^\s*Stream #0:(\d+)\S*: (Video|Audio|Subtitle|Data|Attachment): (.*)$")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")
_PIXFMT = re.compile(r"^[^,(]+(?:\([^)]*\))*[^,]*, (\w+)")
_FIELDS = re.compile(r"\b(progressive|top first|bottom first|top coded first|bottom coded first)\b")


def field_order(description: str) -> str:
    """progressive, tff, bff or unknown, from ffmpeg's description of a video stream
    (``yuv420p(tv, bt470bg, top first)``). A "coded first (swapped)" order is displayed the other
    way round: ffmpeg's decoder outputs frames in the displayed order, which is what counts."""
    m = _FIELDS.search(description)
    if m is None:
        return "unknown"
    return {"progressive": "progressive", "top first": "tff", "bottom first": "bff",
            "top coded first": "bff", "bottom coded first": "tff"}[m.group(1)]


_NOPTS = -(1 << 63)


def _streams(text: str) -> tuple[list[Stream], str, int]:
    streams, pix_fmt, rotation, in_video = [], "", 0, False
    for line in text.splitlines():
        m = _STREAM.match(line)
        if m:
            idx, kind, desc = int(m.group(1)), m.group(2).lower(), m.group(3).strip()
            if kind == "video" and "attached pic" in desc:
                kind = "attachment"
            streams.append(Stream(idx, kind, desc.split()[0].rstrip(","), desc))
            in_video = kind == "video" and not any(s.kind == "video" for s in streams[:-1])
            if in_video:
                pm = _PIXFMT.match(desc)
                pix_fmt = pm.group(1) if pm else ""
            continue
        if line.startswith("  Stream") or not line.startswith("    "):
            in_video = False
        r = _ROTATION.search(line)
        if r and in_video:
            rotation = int(round(float(r.group(1)))) % 360
    return streams, pix_fmt, rotation


def _rate(pts: list[int], durations: list[int], tb: Fraction) -> tuple[Fraction, bool]:
    """Exact frame rate from packet timestamps, and whether the rate varies.

    A stream is constant-rate when nine in ten frame steps equal the median step (within one
    tick: a 1/1000 time base stores 29.97 fps as steps of 33 and 34). Its rate is exact when
    the steps are all equal, else the nearest common rate, else the mean to a 1001 denominator.
    """
    pts = sorted(pts)
    deltas = [b - a for a, b in zip(pts, pts[1:]) if b > a]
    if not deltas:
        d = durations[0] if durations and durations[0] > 0 else None
        return (1 / (d * tb) if d else Fraction(25)), False
    median = statistics.median_low(deltas)
    regular = [d for d in deltas if abs(d - median) <= max(1, median // 100)]
    if len(regular) < 0.9 * len(deltas):
        return (Fraction(len(deltas)) / ((pts[-1] - pts[0]) * tb)).limit_denominator(1001), True
    if len(set(regular)) == 1:
        return 1 / (regular[0] * tb), False
    mean = Fraction(len(regular)) / (sum(regular) * tb)
    near = min(COMMON_RATES, key=lambda r: abs(r - mean))
    return (near if abs(near - mean) / mean < 0.003 else mean.limit_denominator(1001)), False


def probe(path: str | Path) -> VideoInfo:
    """What a film holds. Raises BadInput with a one-line reason when it is not a usable video."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{path}: no such file")
    if path.is_dir():
        raise BadInput(f"{path} is a folder: give a video file (or use `oldfilm batch` for a folder)")
    if path.stat().st_size == 0:
        raise BadInput(f"{path} is empty (0 bytes): give a video file")
    head = ffmpeg.run(["-i", ffmpeg.path_arg(path)], loglevel="info")   # exits 1 ("no output file"), but prints what it found
    text = head.stderr.decode("utf-8", "replace")
    streams, pix_fmt, rotation = _streams(text)
    if not streams:
        raise BadInput(f"{path} is not a video ffmpeg can read ({ffmpeg.last_error(head.stderr)})")
    video = next((s for s in streams if s.kind == "video"), None)
    if video is None:
        kinds = ", ".join(sorted({s.kind for s in streams}))
        raise BadInput(f"{path} has no video stream (only {kinds}): give a film")
    pkts = ffmpeg.run(["-i", ffmpeg.path_arg(path), "-map", "0:V:0", "-c", "copy", "-f", "framecrc", "-"])
    tb, dims, sar, pts, durs = None, None, Fraction(1), [], []
    for line in pkts.stdout.decode("ascii", "replace").splitlines():
        if line.startswith("#tb 0:"):
            n, d = line.split(":", 1)[1].strip().split("/")
            tb = Fraction(int(n), int(d))
        elif line.startswith("#dimensions 0:"):
            dims = [int(v) for v in line.split(":", 1)[1].strip().split("x")]
        elif line.startswith("#sar 0:"):
            n, d = line.split(":", 1)[1].strip().split("/")
            sar = Fraction(int(n), int(d)) if int(n) > 0 and int(d) > 0 else Fraction(1)
        elif line and not line.startswith("#"):
            f = [v.strip() for v in line.split(",")]
            pts.append(int(f[2]) if int(f[2]) != _NOPTS else int(f[1]))   # AVI with B-frames: dts only
            durs.append(int(f[3]))
    if tb is None or dims is None or not pts:
        raise BadInput(f"{path}: its video stream has no readable frames ({ffmpeg.last_error(pkts.stderr)})")
    fps, vfr = _rate(pts, durs, tb)
    first, last = min(pts), max(pts)
    last_dur = durs[pts.index(last)] or round(1 / (fps * tb))
    if vfr:   # read at the mean rate: frame count and duration stay the input's
        fps = (Fraction(len(pts)) / ((last + last_dur - first) * tb)).limit_denominator(1001)
    w, h = dims
    if rotation in (90, 270):
        w, h = h, w
    return VideoInfo(
        path=path, width=w, height=h, fps=fps, frames=len(pts),
        duration=float((last + last_dur - first) * tb), start=float(first * tb), sar=sar,
        rotation=rotation, pix_fmt=pix_fmt, codec=video.codec, vfr=vfr, streams=tuple(streams),
        time_base=tb, pts=tuple(sorted(pts)) if vfr else (),
        field_order=field_order(video.description),
    )


def same_film(a: VideoInfo, b: VideoInfo, what: str) -> None:
    """BadInput naming both films unless ``a`` and ``b`` have the same frame rate and count."""
    if abs(a.fps - b.fps) / b.fps > 1e-4:   # 2997/100 is 30000/1001 written short; 30 is not
        raise BadInput(f"{a.path.name} runs at {float(a.fps):.3f} fps but {b.path.name} at {float(b.fps):.3f}: {what}")
    if a.frames != b.frames:
        raise BadInput(f"{a.path.name} has {a.frames} frames but {b.path.name} {b.frames}: {what}")

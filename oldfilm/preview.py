"""A look before the long run: a contact sheet of frames sampled across a film's shots, before |
after, each processed as the full run would process it.

The film's cuts are found on small frames decoded by ffmpeg (cheap), one frame is picked in each
of N equal spans of the film (the middle of the longest piece of a shot in the span), and each
picked frame is processed after a warm-up: the frames before it, back to its shot's start or at
most ``warmup`` seconds, go through the same pipeline first, so the temporal stages (the
stabilizer's history, a palette fixed per shot) are in the state the full run gives them there.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .report import timecode
from .scenes import detect_scenes
from .video import FrameReader, VideoInfo, probe

GAP, LABEL, HEADER = 6, 22, 46     # pixels: between panels, a row's label strip, the title strip
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def sample(frames: int, cuts: list[int], n: int) -> list[int]:
    """``n`` frames spread over the film: in each of ``n`` equal spans, the middle of the longest
    piece of a shot inside it (so a span holding a cut gives a frame well inside a shot)."""
    bounds = [0] + sorted(c for c in cuts if 0 < c < frames) + [frames]
    picks = []
    for k in range(n):
        a, b = k * frames // n, max((k + 1) * frames // n, k * frames // n + 1)
        pieces = [(max(s, a), min(e, b)) for s, e in zip(bounds, bounds[1:]) if min(e, b) > max(s, a)]
        lo, hi = max(pieces, key=lambda p: p[1] - p[0])
        picks.append((lo + hi - 1) // 2)
    return sorted(set(picks))


def _process(pipe, info: VideoInfo, start: int, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``frame`` before and after ``pipe``, run from ``start`` (the warm-up) with fresh state."""
    for stage in pipe.stages:
        stage.reset()
    last = {}

    def batches():
        with FrameReader(info, pipe.batch_size, start=start, count=frame - start + 1) as reader:
            for batch in reader:
                last["in"] = batch[-1]
                yield batch

    out = None
    for done in pipe.process_batches(batches()):
        out = done[-1]
    return last["in"], out


def _label(img: np.ndarray, text: str, x: int, y: int, scale: float = 0.45) -> None:
    cv2.putText(img, text, (x, y), _FONT, scale, (20, 20, 20), 1, cv2.LINE_AA)


def sheet(film: str | Path, pipelines: list[tuple[str, object]], *, frames: int = 8, warmup: float = 2.0,
          width: int = 320, title: str = "", progress=None) -> tuple[np.ndarray, list[int]]:
    """The contact sheet (RGB uint8) of ``film``: a row per sampled frame, labelled with its
    frame number, timecode and shot; a column for the original and one per ``(label, pipeline)``.
    Returns the sheet and the frames sampled. ``progress(done, total)`` is told of each panel."""
    info = probe(film)
    cuts = detect_scenes(film, width=64)
    picks = sample(info.frames, cuts, frames)
    shot_starts = [0] + cuts
    lookback = max(0, round(warmup * float(info.fps)))
    display_h = round(width * info.height / (info.width * float(info.sar)))
    cols = 1 + len(pipelines)
    row_h = LABEL + display_h + GAP
    img = np.full((HEADER + len(picks) * row_h, cols * width + (cols + 1) * GAP, 3), 255, np.uint8)
    _label(img, title[:160], GAP, 18, 0.5)
    for c, name in enumerate(["before"] + [n for n, _ in pipelines]):
        _label(img, name[:40], GAP + c * (width + GAP), HEADER - 6)

    def put(row_top: int, col: int, pic: np.ndarray) -> None:
        x, y = GAP + col * (width + GAP), row_top + LABEL
        img[y:y + display_h, x:x + width] = cv2.resize(pic, (width, display_h), interpolation=cv2.INTER_AREA)

    done = 0
    for r, t in enumerate(picks):
        shot = max(i for i, s in enumerate(shot_starts) if s <= t)
        start = max(shot_starts[shot], t - lookback)
        top = HEADER + r * row_h
        _label(img, f"frame {t}   {timecode(t, info.fps)}   shot {shot + 1} of {len(shot_starts)}"
                    f"   (warm-up from frame {start})", GAP, top + 16)
        for c, (_, pipe) in enumerate(pipelines):
            before, after = _process(pipe, info, start, t)
            if c == 0:
                put(top, 0, before)
            put(top, c + 1, after)
            done += 1
            if progress:
                progress(done, len(picks) * len(pipelines))
    return img, picks


def write_png(img: np.ndarray, path: str | Path) -> None:
    from .errors import BadInput

    if not cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
        raise BadInput(f"cannot write {path}: choose another -o (a .png name in a folder you can write)")

"""Keyframes: the user's colour for chosen frames of a film, as images in a folder.

An image whose stem ends in ``f<N>`` (``shot0007_f004211.png``) is the colour of frame N (0-based).
An opaque image is a whole coloured frame; an image with an alpha channel is a *hint image*: only
pixels with alpha > 0 carry colour (scribbles or dots painted over the exported frame). Only the
chroma is used; the film's own luma is always kept.

:func:`export` writes one frame per shot (``oldfilm keyframes``) for the user to paint.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import files
from .errors import BadInput

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
_FRAME = re.compile(r"f(\d+)$")


@dataclass(frozen=True)
class Keyframe:
    frame: int
    path: Path
    rgb: np.ndarray            # (H, W, 3) uint8 at the film's size
    mask: np.ndarray | None    # (H, W) bool where a hint image carries colour; None: opaque


def find(folder: str | Path) -> dict[int, Path]:
    """Frame number -> image path for every keyframe image in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInput(f"--keyframes {folder}: no such folder")
    found: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        m = _FRAME.search(path.stem)
        if path.suffix.lower() not in IMAGE_EXTENSIONS or not m:
            continue
        n = int(m[1])
        if n in found:
            raise BadInput(f"{path.name} and {found[n].name} both colour frame {n}: keep one")
        found[n] = path
    if not found:
        raise BadInput(f"no keyframes in {folder}: name each image after its frame, stem ending in f + "
                       "the 0-based frame number (shot0007_f004211.png; `oldfilm keyframes` exports them)")
    return found


def load(path: Path, frame: int, width: int, height: int, frames: int) -> Keyframe:
    """Read and check one keyframe image for a film of ``width`` x ``height`` and ``frames`` frames."""
    if frame >= frames:
        raise BadInput(f"{path.name}: frame {frame} is beyond the film ({frames} frames, 0 to {frames - 1})")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim not in (2, 3):
        raise BadInput(f"{path.name}: cannot be read as an image (PNG, JPEG, TIFF, BMP or WebP)")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    h, w = img.shape[:2]
    if abs(w / h - width / height) > 0.01 * width / height:
        raise BadInput(f"{path.name} is {w}x{h} but the film is {width}x{height}: export the frame at the "
                       "film's size (oldfilm keyframes), or an image of the same shape")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    alpha = img[..., 3] if img.shape[2] == 4 else None
    rgb = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
    if (w, h) != (width, height):
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if w > width else cv2.INTER_LINEAR)
        if alpha is not None:
            alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_NEAREST)
    mask = None if alpha is None or alpha.min() == 255 else alpha > 0
    if mask is not None and not mask.any():
        raise BadInput(f"{path.name}: a hint image with no painted pixels (alpha is 0 everywhere): paint "
                       "colour over the frame, or save it without an alpha channel")
    px = rgb.astype(np.int16)
    spread = (px.max(-1) - px.min(-1))[mask if mask is not None else slice(None)]
    if mask is None and spread.mean() < 2 and np.percentile(spread, 99) < 8:
        raise BadInput(f"{path.name} has no colour (it is gray): colour it first, or paint hints "
                       "on a layer with alpha")
    return Keyframe(frame, path, rgb, mask)


def export(film: str | Path, out_dir: str | Path, *, per_shot: int = 1, overwrite: bool = False,
           colorize=None, progress: bool = False) -> list[dict]:
    """One PNG per shot (``per_shot`` for long shots: at the starts of equal parts) named
    ``shot<S>_f<N>.png``, and ``keyframes.json`` with each shot's first and last frame and
    timecodes. ``colorize``: a function (B, H, W, 3) uint8 -> same, e.g. the automatic
    colorizer, so the user paints over a starting point. Returns the shots."""
    from tqdm import tqdm

    from .scenes import detect_scenes
    from .video import FrameReader, probe

    info = probe(film)
    out_dir = Path(out_dir)
    index = out_dir / "keyframes.json"
    if index.exists() and not overwrite:
        raise BadInput(f"{index} exists: pass --overwrite to replace the keyframes there, or choose another -o")
    cuts = detect_scenes(film)
    bounds = [0] + cuts + [info.frames]
    shots, wanted = [], {}
    for s, (a, b) in enumerate(zip(bounds, bounds[1:])):
        parts = max(1, min(per_shot, (b - a) // 2 or 1))
        picks = sorted({a + min(2, b - a - 1) + (b - a) * k // parts for k in range(parts)})
        shots.append({"shot": s, "first": a, "last": b - 1, "start": timecode(a, info.fps),
                      "end": timecode(b - 1, info.fps), "keyframes": [f"shot{s:04d}_f{n:06d}.png" for n in picks]})
        wanted.update({n: name for n, name in zip(picks, shots[-1]["keyframes"])})
    out_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=info.frames, unit="frame", disable=not progress, desc="keyframes")
    with FrameReader(info, 16) as reader:
        n = 0
        for batch in reader:
            for i in [i for i in range(len(batch)) if n + i in wanted]:
                frame = batch[i:i + 1] if colorize is None else colorize(batch[i:i + 1])
                ok, data = cv2.imencode(".png", cv2.cvtColor(frame[0], cv2.COLOR_RGB2BGR))
                files.write_bytes(out_dir / wanted[n + i], data.tobytes())   # whole or not at all
            n += len(batch)
            bar.update(len(batch))
    bar.close()
    files.write_text(index, json.dumps({"film": str(film), "fps": str(info.fps), "frames": info.frames,
                                        "width": info.width, "height": info.height, "shots": shots}, indent=1))
    return shots


def timecode(frame: int, fps) -> str:
    """HH:MM:SS.mmm of a frame number."""
    t = float(frame / fps)
    return f"{int(t // 3600):02d}:{int(t // 60 % 60):02d}:{t % 60:06.3f}"

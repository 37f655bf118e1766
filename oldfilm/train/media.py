"""What the trainers read: one list of picture and film extensions, one downscale, stills, and
film frames decoded by :class:`oldfilm.video.FrameReader` (the runtime's own reader)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
VIDEO_EXTS = frozenset({".mp4", ".mkv", ".avi", ".mov", ".m4v"})
GRAY_MODES = ("L", "LA", "1", "I", "I;16", "F")


def find_media(root: Path, exts: frozenset[str] = IMAGE_EXTS | VIDEO_EXTS) -> list[Path]:
    """Files under ``root`` (recursively) with one of ``exts``, in a stable order."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTS


def downscale(im: Image.Image, max_side: int | None) -> Image.Image:
    """``im`` with its long side at most ``max_side`` (Lanczos); never enlarged."""
    s = max_side / max(im.size) if max_side else 1
    if s < 1:
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
    return im


def to_tensor(im: Image.Image | np.ndarray) -> torch.Tensor:
    """uint8 (3, H, W) from a PIL RGB picture or an (H, W, 3) array."""
    return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).contiguous()


def read_still(path: Path, max_side: int | None) -> torch.Tensor | None:
    """RGB uint8 (3, H, W), long side <= ``max_side``; None for gray or unreadable pictures."""
    try:
        with Image.open(path) as im:
            if max_side:
                im.draft("RGB", (max_side, max_side))
            if im.mode in GRAY_MODES:
                return None
            return to_tensor(downscale(im.convert("RGB"), max_side))
    except OSError:
        return None


def video_frames(path: Path, *, fps: float | None = None, max_side: int | None = None,
                 limit: int | None = None) -> list[tuple[float, torch.Tensor]]:
    """[(time in s, uint8 (3, H, W))]: every frame, or the first frame of each 1/``fps`` second,
    at most ``limit`` of them, long side <= ``max_side``."""
    from oldfilm.video import FrameReader, probe

    info = probe(path)
    out: list[tuple[float, torch.Tensor]] = []
    i, tick = 0, -1
    with FrameReader(info, batch_size=8) as reader:
        for batch in reader:
            for frame in batch:
                t = float(i / info.fps)
                i += 1
                if fps is not None:
                    if int(t * fps + 1e-6) == tick:
                        continue
                    tick = int(t * fps + 1e-6)
                out.append((t, to_tensor(downscale(Image.fromarray(frame), max_side))))
                if limit and len(out) >= limit:
                    return out
    return out

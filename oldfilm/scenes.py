"""Scene cuts: where one shot ends and the next begins.

A streaming hard-cut detector on the decoded frames (no look-ahead, so it runs inside the
pipeline as frames arrive): each frame is reduced to a 64-pixel-wide gray thumbnail, and a cut is
declared where the mean absolute difference to the previous thumbnail is both large in itself
(``threshold``, in [0, 1]) and several times (``ratio``) the recent average, so fast pans do not
count, and where the picture's structure has changed too: the thumbnails' correlation (which a
gain and an offset do not move) is under ``1 - change``, so an old print's exposure flicker, a
light switched on or a fade is not a cut (within a shot 1 - correlation stays under ~0.2 even
with fast motion; at a cut it is ~1). Where the structure changes that much (``sure``) and
``ratio`` times its recent average (content that changes all the time, a swarm, snow, is no cut
at every frame), the mean difference need not be ``ratio`` times its own: amid fast motion that
average is high, and a cut out of it was missed (bikes.mp4's cut at frame 76, out of a taxi
crossing close to the camera, on one aging of bench/restore.py: its ratio 2.0; the restore stage
then carried its path across the cut and moved the next frames by up to 6 px). Temporal stages
reset at cuts, so no colour bleeds from one shot into the next.
"""
from __future__ import annotations

from collections import deque
from pathlib import Path

import cv2
import numpy as np
import torch

from .ops.color import luma


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images (0 where one is flat)."""
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / max(float(np.sqrt((a * a).sum() * (b * b).sum())), 1e-6))


class SceneDetector:
    def __init__(self, threshold: float = 0.12, ratio: float = 2.5, min_scene: int = 6, window: int = 8,
                 change: float = 0.4, sure: float = 0.8):
        self.threshold, self.ratio, self.min_scene, self.change = threshold, ratio, min_scene, change
        self.sure = sure
        self._recent: deque = deque(maxlen=window)
        self._recent_change: deque = deque(maxlen=window)
        self._prev = None
        self._last_cut = 0

    @staticmethod
    def _thumb(frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        if w >= 1024:   # halved first: OpenCV's area average over 30x30 pixels (1080p) costs 6.6 ms
            # a frame, the halving (its 2x2 fast path) then 15x15 1.3 ms; thumbnails within 1/255
            frame = cv2.resize(frame, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        small = cv2.resize(frame, (64, max(8, round(64 * h / w))), interpolation=cv2.INTER_AREA)
        return luma(torch.from_numpy(small).permute(2, 0, 1).float() / 255)[0].numpy()

    def __call__(self, batch: np.ndarray, start: int) -> list[int]:
        """Frame indices (film numbering; ``start`` is the batch's first) where a new shot begins."""
        cuts = []
        for i, frame in enumerate(batch):
            thumb = self._thumb(frame)
            if self._prev is not None:
                score = float(np.abs(thumb - self._prev).mean())
                recent = (sum(self._recent) / len(self._recent)) if self._recent else 0.0
                index = start + i
                changed = 1 - _correlation(thumb, self._prev)
                usual = (sum(self._recent_change) / len(self._recent_change)) if self._recent_change else 0.0
                sure = changed > self.sure and changed > self.ratio * usual
                if (score > self.threshold and (score > self.ratio * recent or sure)
                        and index - self._last_cut >= self.min_scene and changed > self.change):
                    cuts.append(index)
                    self._last_cut = index
                    self._recent.clear()
                    self._recent_change.clear()
                else:
                    self._recent.append(score)
                    self._recent_change.append(changed)
            self._prev = thumb
        return cuts


def detect_scenes(path: str | Path, batch_size: int = 32, width: int | None = None) -> list[int]:
    """The cuts of a whole film: the first frame index of every shot after the first. ``width``:
    decode the frames that small (ffmpeg scales them: much faster; the detector looks at 64 px)."""
    from .video import FrameReader, probe

    info = probe(path)
    size = None if width is None else (width, max(2, round(width * info.height / info.width / 2) * 2))
    detector, cuts, index = SceneDetector(), [], 0
    with FrameReader(info, batch_size, size=size) as reader:
        for batch in reader:
            cuts += detector(batch, index)
            index += len(batch)
    return cuts

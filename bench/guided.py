"""Guided colorization against colour truth: the figures of bench/README.md's "Guided colorization".

    python bench/guided.py --photos DIR --clips bikes.mp4 bigbuckbunny.mp4 [--out DIR] [--only NAME...]

Clips with colour truth: synthetic camera moves over colour photos from DIR (a pan; a pan where
objects cut from other photos enter and cross; a 24 s shot where six enter), and real colour
video (every clip given with --clips, shrunk to 640 px wide, first 10 s). Each is turned gray
and colorized from the truth:
- ``first``: the truth's first frame of each shot as an opaque keyframe;
- ``ends``: its first and last frames;
- ``dots``: 20 dots of 5 px of the truth's colour on each shot's first frame (a hint image);
- ``reference``: a colour photo of the scene that is not a frame of the clip (the truth 3 s into
  each shot, flipped and cropped), and an unrelated photo;
beside the gray film, the automatic colorizer and the naive baseline (the keyframe's chroma
carried along DIS flow, frame to frame, and nothing else). Scores: mean CIEDE2000 to the truth
over the shot, as a ratio to the gray film's, and warping error as a ratio to the truth's.
Timing (--speed): plain ``colorize`` against ``colorize --keyframes`` at 640x480, one run.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from oldfilm.metrics import delta_e2000, video_warping_error
from oldfilm.ops.color import cbcr_to_rgb_delta, rgb_to_lab, rgb_to_ycbcr
from oldfilm.ops.flow import DISFlow, flow_tensor, warp
from oldfilm.video import FrameWriter
from oldfilm.video.ffmpeg import ffmpeg_exe

FPS = 25
SIZE = (640, 360)


def ff(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def read_photo(path: Path, long_side: int) -> np.ndarray:
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    s = long_side / max(img.shape[:2])
    return cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)


def camera_move(background: np.ndarray, objects: list[np.ndarray], seconds: float, seed: int) -> np.ndarray:
    """Frames (T, H, W, 3) of a slow pan and zoom over ``background`` while each of ``objects``
    (RGBA cut-outs) enters from a side at its own time and crosses the frame."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    n = round(seconds * FPS)
    bh, bw = background.shape[:2]
    frames = np.empty((n, h, w, 3), np.uint8)
    enters = np.sort(rng.uniform(0.05, 0.7, len(objects))) * n
    paths = []
    for k, obj in enumerate(objects):
        oh, ow = obj.shape[:2]
        y0, y1 = rng.uniform(0.1, 0.9, 2) * h - oh / 2
        left = k % 2 == 0
        x0, x1 = (-ow, w) if left else (w, -ow)
        paths.append((enters[k], rng.uniform(4, 8) * FPS, x0, x1, y0, y1))
    for t in range(n):
        u = t / max(1, n - 1)
        zoom = 1.0 + 0.15 * np.sin(np.pi * u)
        cx = bw / 2 + (u - 0.5) * (bw - w * 1.3) * 0.9
        cy = bh / 2 + 0.1 * bh * np.sin(2 * np.pi * u)
        angle = 2.0 * np.sin(np.pi * u * 1.5)
        m = cv2.getRotationMatrix2D((cx, cy), angle, zoom)
        m[:, 2] += (w / 2 - cx, h / 2 - cy)
        frame = cv2.warpAffine(background, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        for obj, (start, dur, x0, x1, y0, y1) in zip(objects, paths):
            p = (t - start) / dur
            if not 0 <= p <= 1:
                continue
            mo = np.float32([[1, 0, x0 + p * (x1 - x0)], [0, 1, y0 + p * (y1 - y0)]])
            layer = cv2.warpAffine(obj, mo, (w, h), flags=cv2.INTER_LINEAR)
            a = layer[..., 3:].astype(np.float32) / 255
            frame = (frame * (1 - a) + layer[..., :3] * a).round().astype(np.uint8)
        frames[t] = frame
    return frames


def cut_out(photo: np.ndarray, size: int, seed: int) -> np.ndarray:
    """An elliptical RGBA piece of ``photo`` about ``size`` px, soft-edged."""
    rng = np.random.default_rng(seed)
    ph, pw = photo.shape[:2]
    oh, ow = int(size * rng.uniform(0.7, 1.0)), int(size * rng.uniform(0.7, 1.3))
    y, x = rng.integers(0, ph - oh), rng.integers(0, pw - ow)
    piece = photo[y:y + oh, x:x + ow]
    mask = np.zeros((oh, ow), np.uint8)
    cv2.ellipse(mask, (ow // 2, oh // 2), (ow // 2 - 2, oh // 2 - 2), 0, 0, 360, 255, -1)
    mask = cv2.GaussianBlur(mask, (5, 5), 1.2)
    return np.dstack([piece, mask])


def encode(frames: np.ndarray, path: Path) -> Path:
    """Colour truth as a file, encoded like every version (libx264 CRF 10, 4:2:0)."""
    with FrameWriter(path, frames.shape[2], frames.shape[1], Fraction(FPS), crf=10) as w:
        w.write(frames)
        w.close()
    return path

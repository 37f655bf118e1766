"""Restore: repair the print itself before anything colours it.

Shot-aware and motion-compensated, reset at every scene cut. As frames arrive, vertical
scratches are taken out (a thin line down most of the frame, at nearly the same column as in the
frame before) and DIS flow to the previous frame is computed at a small working size. From the
flows come, per frame, the exposure relative to the previous frame (gain and offset fitted on
the pixels the motion matches) and the global motion (the median flow). A frame leaves the stage
once ``max(radius, flicker_radius)`` later frames have arrived:

- exposure flicker: the chained exposures are smoothed by a local quadratic fit over the shot's
  ``2 * flicker_radius + 1`` nearest frames and the frame is mapped onto the smooth curve: pumping
  goes, fades and slow lighting changes (ramps, and a fade's start and end) stay; nothing is
  smoothed across a cut;
- dust and dirt: specks in this frame alone, against the motion-compensated previous and next
  frames, replaced from them (where the motion failed round a speck, from the neighbours moved as
  its surroundings moved; see :func:`oldfilm.ops.restore.dust_mask` for what is kept);
- grain: a gentle motion-compensated temporal average with the same neighbours (``denoise``);
- gate weave and shake: the frame is moved from its jittering path onto the smoothed path
  (intended pans and tilts are ramps, kept), borders mirrored: no black edges.

Interlaced films are deinterlaced by ffmpeg's ``bwdif`` as they are decoded (field order from
the probe). The stage works on the CPU with OpenCV (see :mod:`oldfilm.ops.restore`), on one
channel for a black-and-white shot and on all three for a colour one. Its output is also the
film's new ``source``: later stages (colorize, stabilize) see the repaired print and its motion.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..errors import OldfilmError
from ..ops import restore as ops
from ..ops.color import luma
from ..ops.flow import DISFlow, remap, resize_flow, work_dims
from ..video import ffmpeg
from . import Frames, Stage

DEINTERLACE = ("auto", "yes", "no")


def _luma(img: np.ndarray) -> np.ndarray:
    """Y' of an (H, W, 3) frame, by the one gray of oldfilm; a one-channel frame is its own."""
    return img if img.ndim == 2 else luma(torch.from_numpy(img).permute(2, 0, 1))[0].numpy()


def _levelled(x: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """``x * gain + offset`` (with one new array, not two)."""
    out = x * gain
    out += offset
    return out


@dataclass
class _Frame:
    img: np.ndarray            # (H, W) or (H, W, 3) float32, scratches taken out
    y: np.ndarray              # its luma
    gray: np.ndarray           # uint8 luma at the working size, for the flow
    small: np.ndarray          # float32 luma at the working size
    to_prev: np.ndarray | None = None   # flow t -> t-1 at the working size
    to_next: np.ndarray | None = None   # flow t -> t+1


class Restore(Stage):
    name = "restore"

    def __init__(self, *, deflicker: bool = True, dust: bool = True, scratches: bool = True,
                 denoise: float = 0.4, deshake: bool = True, deinterlace: str = "auto",
                 radius: int = 6, flicker_radius: int = 12, work_size: int = 400, preset: str = "ultrafast"):
        if deinterlace not in DEINTERLACE:
            raise ValueError(f"deinterlace must be one of {DEINTERLACE}, not {deinterlace!r}")
        if not 0 <= denoise <= 1:
            raise ValueError(f"denoise strength must be in [0, 1], not {denoise}")
        if radius < 1 or flicker_radius < 0:
            raise ValueError(f"radius must be 1 or more and flicker_radius 0 or more, "
                             f"not {radius} and {flicker_radius}")
        self.deflicker, self.dust, self.scratches, self.denoise = deflicker, dust, scratches, denoise
        self.deshake, self.deinterlace, self.radius, self.work_size = deshake, deinterlace, radius, work_size
        # the exposure's smooth curve looks twice as far as the path's: the flicker is independent
        # from frame to frame, so the curve's error falls with the frames it is fitted on (over 13
        # frames bikes' restored frames stayed 0.013 off the truth's mean level, about 1 dB of its
        # PSNR; bench/README.md, session 19)
        self.flicker_radius = flicker_radius if deflicker else 0
        self._hold = max(radius, self.flicker_radius)   # frames a frame waits for
        self.flow = DISFlow(preset)
        self._device = torch.device("cpu")
        self._pool: ThreadPoolExecutor | None = None   # emits frames while the next batch arrives
        self._pending: list[Future] = []
        self.reset()

    @property
    def warmup(self) -> int:
        """A frame's repairs look at the 2 * max(radius, flicker_radius) + 1 frames of its shot
        nearest it (and the scratches at the frame before)."""
        return 2 * self._hold + 2

    @property
    def lookahead(self) -> int:
        return 2 * self._hold

    def decode_filters(self, info) -> list[tuple[str, dict]]:
        interlaced = info.field_order in ("tff", "bff")
        if self.deinterlace == "no" or (self.deinterlace == "auto" and not interlaced):
            return []
        if not ffmpeg.has_filter("bwdif"):
            raise OldfilmError("this ffmpeg has no bwdif filter to deinterlace with: install an ffmpeg "
                               "with it (set OLDFILM_FFMPEG), or pass --deinterlace no")
        parity = info.field_order if interlaced else "auto"
        return [("bwdif", {"mode": "send_frame", "parity": parity, "deint": "all"})]

    def reset(self) -> None:
        wait(self._pending)   # a run broken off mid-shot: let the worker finish before forgetting
        self._pending = []
        self._frames: dict[int, _Frame] = {}    # the shot's frames still needed, by index
        self._exposure: list[tuple[float, float]] = []   # (gain, offset) of each frame vs the shot's first
        self._path: list[tuple[float, float]] = []       # where the picture sits, full-res pixels
        self._count = 0            # frames of the shot received
        self._done = 0             # frames of the shot sent on
        self._channels = None      # 1 (black and white) or 3, decided on the shot's first frame
        self._score = None         # previous frame's scratch profile

    # -- arrival ---------------------------------------------------------------------------
    def _receive(self, rgb: torch.Tensor) -> None:
        if self._channels is None:
            chroma = (rgb - rgb.mean(0, keepdim=True)).abs().max()
            self._channels = 1 if chroma < 2 / 255 else 3
        # a copy, not a view: a view of one channel would keep the whole batch of three alive as
        # long as the frame is held (25 frames at a shot's start)
        img = rgb[0].numpy().copy() if self._channels == 1 else np.ascontiguousarray(rgb.permute(1, 2, 0).numpy())
        y = _luma(img)
        if self.scratches:
            score, frac = ops.scratch_profile(y)
            columns = ops.scratch_columns(score, frac, self._score)
            self._score = score
            if columns:
                img = ops.fill_scratches(img, y, columns, score)
                y = _luma(img)
        h, w = y.shape
        # by area: a wide 640x272 frame's flow at 531x226 (at 320 by the long side it was 320x136,
        # where thin things in motion were lost), a 640x480 one's at 400x300; at 400 rather than
        # 320 the compensated neighbours are closer: more of the grain averaged away, fewer moving
        # objects' pieces taken for dirt (bench/README.md, sessions 17 and 18)
        dims = work_dims(h, w, self.work_size, by_area=True)[::-1]   # (width, height) for OpenCV
        small = cv2.resize(y, dims, interpolation=cv2.INTER_AREA) if dims != (w, h) else y
        frame = _Frame(img, y, np.clip(small * 255 + 0.5, 0, 255).astype(np.uint8), small)
        t = self._count
        prev = self._frames.get(t - 1)
        if prev is None:
            self._exposure.append((1.0, 0.0))
            self._path.append((0.0, 0.0))
        else:
            frame.to_prev, prev.to_next = self.flow.both(frame.gray, prev.gray)
            a, b = ops.fit_exposure(remap(prev.small, frame.to_prev), frame.small)
            a_prev, b_prev = self._exposure[-1]
            self._exposure.append((a * a_prev, a * b_prev + b))
            fx = frame.to_prev[::4, ::4].reshape(-1, 2)
            mx, my = np.median(fx, 0) / (dims[0] / w, dims[1] / h)   # in full-size pixels
            px, py = self._path[-1]
            self._path.append((px - mx, py - my))
        self._frames[t] = frame
        self._count += 1

    # -- departure -------------------------------------------------------------------------
    @staticmethod
    def _smooth(track: list, t: int, radius: int, sigma: float, degree: int, count: int) -> np.ndarray:
        """``track``'s value at frame t on its smooth curve: a local fit over the 2 * radius + 1
        frames of the shot nearest t among its first ``count`` (shifted inwards at its ends)."""
        n = 2 * radius + 1
        start = min(max(0, t - radius), max(0, count - n))
        values = np.array(track[start:start + n])
        return ops.local_fit(values, t - start, sigma, degree, centre=(len(values) - 1) / 2)

    def _levels(self, t: int, count: int) -> tuple[float, float]:
        """(A, B): frame t's exposure put onto the shot's smooth exposure curve (of its first
        ``count`` frames) is A * x + B."""
        if not self.deflicker:
            return 1.0, 0.0
        # the gain itself is smoothed, not its log: a fade (to or from black) is a straight line
        # in it, and a straight line is what the local fit keeps
        a, b = self._exposure[t]
        smooth = self._smooth(self._exposure, t, self.radius, self.radius / 2, 1, count)
        r = self.flicker_radius
        if r > self.radius:
            # the wider fit where it agrees with the narrow one: on a steady shot the level wobbles
            # a fifth less (test_a_steady_shot_is_held_at_one_level), but where a fade starts or
            # ends (a bend within 25 frames) it cuts into the bend, and the line is kept there
            wide = self._smooth(self._exposure, t, r, 0.75 * r, 2, count)
            # the jitter measured over ~100 frames (over 25 it is itself ~30% off)
            lo, hi = max(0, t - 4 * r), min(count, t + 4 * r + 1)
            smooth = ops.where_agreeing(smooth, wide, ops.jitter(np.array(self._exposure[lo:hi])))
        smooth_a, smooth_b = smooth
        gain = float(smooth_a / max(a, 1e-6))
        return gain, float(smooth_b - gain * b)

    @staticmethod
    def _moved(frame: _Frame, move) -> tuple[np.ndarray, np.ndarray]:
        """(picture, luma) of ``frame`` moved by ``move``; a black-and-white frame is its own luma."""
        img = move(frame.img)
        return img, img if frame.y is frame.img else move(frame.y)

    def _neighbours(self, t: int) -> list[tuple[int, np.ndarray]]:
        """(step, flow at the working size) of the frames of the shot frame t is compared with: the
        frames before and after it, or at the shot's first or last frame the next two or the
        previous two (the flow to the second chained through the first)."""
        cur = self._frames[t]
        near = [(s, f) for s, f in ((-1, cur.to_prev), (1, cur.to_next)) if f is not None and t + s in self._frames]
        if self.dust and len(near) == 1 and t + 2 * near[0][0] in self._frames:
            s, f = near[0]
            on = self._frames[t + s].to_prev if s < 0 else self._frames[t + s].to_next
            near.append((2 * s, f + remap(on, f)))
        return near

    def _further(self, t: int, step: int, count: int) -> np.ndarray | None:
        """The luma of the frame ``2 * step`` frames from t, levelled and moved only as the whole
        picture moved (as the raw neighbours are), or None outside the shot."""
        k = t + 2 * step
        other = self._frames.get(k)
        if other is None:
            return None
        g, o = self._levels(k, count)
        dx, dy = np.subtract(self._path[k], self._path[t])
        return _levelled(ops.translate(other.y, float(dx), float(dy)), g, o)

    def _emit(self, t: int, count: int) -> np.ndarray:
        """Frame t repaired, as seen when the shot's first ``count`` frames had arrived (the same
        result whenever it runs)."""
        cur = self._frames[t]
        gain, offset = self._levels(t, count)
        img = _levelled(cur.img, gain, offset)
        y = img if cur.y is cur.img else _levelled(cur.y, gain, offset)
        h, w = y.shape
        steps, sides, raw = [], [], []
        for step, flow in self._neighbours(t) if (self.dust or self.denoise) else ():
            g, o = self._levels(t + step, count)
            full = resize_flow(flow, h, w)
            other = self._frames[t + step]
            steps.append(step)
            sides.append(self._moved(other, lambda x: _levelled(remap(x, full), g, o)))
            # the neighbour as it is, moved only as the whole picture moved: where a thing
            # the flow did not follow is looked for
            mx, my = np.median(full[::8, ::8].reshape(-1, 2), 0)
            raw.append(self._moved(other, lambda x: _levelled(ops.translate(x, float(mx), float(my)), g, o)))
        if sides:
            noise = ops.noise_level(y, sides[0][1])
            if self.dust and len(sides) == 2:
                further = (lambda step: self._further(t, step, count)) if tuple(steps) == (-1, 1) else None
                # the fastest thing looked for crosses the frame in 14 frames either way: on a wide
                # frame (2.35:1, 640x272) 19 px a frame down, 45 across (one square of 45 made a
                # speck near the top or bottom edge a thing entering at a speed no shot has)
                aligned = []
                masks = ops.dust_mask(y, sides[0][1], sides[1][1], [r[1] for r in raw], steps=tuple(steps),
                                      reach=(max(4, round(0.07 * h)), max(4, round(0.07 * w))), further=further,
                                      aligned=aligned)
                if masks is not None:
                    for mask, (before, after) in zip(masks, (sides, raw)):   # compensated, then as they are
                        if not mask.any():   # nothing found in this pass: nothing to fill
                            continue
                        fill = 0.5 * (before[0] + after[0])
                        img = img + (mask[..., None] if img.ndim == 3 else mask) * (fill - img)
                    # specks where the motion failed: from the neighbours as they are, moved as their surroundings
                    for rows, columns, mask, shifts in aligned:
                        fill = 0.5 * sum(ops.shifted(r[0], rows, columns, dy, dx) for r, (dy, dx) in zip(raw, shifts))
                        img[rows, columns] += (mask[..., None] if img.ndim == 3 else mask) * (fill - img[rows, columns])
                    y = _luma(img)
            sides = [side for side, step in zip(sides, steps) if abs(step) == 1]   # the grain is averaged with these
            if self.denoise:
                img = ops.temporal_denoise(img, y, sides, noise, self.denoise)
        if self.deshake and count > 1:
            # weave is jitter from frame to frame; a camera's pans, tilts and their starts and
            # stops are smooth (degree 2 keeps accelerations, which a line would cut into)
            smooth = self._smooth(self._path, t, self.radius, self.radius, 2, count)
            dx, dy = np.array(self._path[t]) - smooth
            img = ops.translate(img, float(dx), float(dy))
        self._frames.pop(t - 2, None)   # no frame still to go needs it
        return np.clip(img, 0, 1, out=img)   # img is this frame's own new array

    def _out(self, imgs: list[np.ndarray]) -> Frames | None:
        if not imgs:
            return None
        x = torch.from_numpy(np.stack(imgs))
        x = x[:, None].expand(-1, 3, -1, -1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        x = x.to(self._device)
        return Frames(x, x)

    def _ready(self) -> list[np.ndarray]:
        """The frames emitted so far, in order (waiting for those still being made)."""
        outs = [f.result() for f in self._pending]
        self._pending = []
        return outs

    def process(self, frames: Frames) -> Frames | None:
        # A frame's repair reads only what arrived before it (its shot's frames, their flows and
        # exposures), so it runs on a worker thread while the next frames arrive and the rest of
        # the pipeline works (OpenCV and numpy release the GIL): this batch's frames go on with
        # the next call. One worker, in order: each frame's repair frees what the next no longer needs.
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="restore")
        rgb = frames.rgb.float().cpu()
        outs = self._ready()
        for i in range(len(rgb)):
            self._receive(rgb[i])
            # the first frames of a shot wait for a full window: their smooth curve is a fit over
            # the same number of frames as in mid-shot, not extrapolated from a few
            while self._done + self._hold < self._count and self._count > 2 * self._hold:
                self._pending.append(self._pool.submit(self._emit, self._done, self._count))
                self._done += 1
        return self._out(outs)

    def flush(self) -> Frames | None:
        outs = self._ready()
        while self._done < self._count:
            outs.append(self._emit(self._done, self._count))
            self._done += 1
        return self._out(outs)

    def to(self, device: torch.device) -> "Restore":
        self._device = device
        return self

    def describe(self) -> str:
        parts = [p for p, on in (("deflicker", self.deflicker), ("dust", self.dust), ("scratches", self.scratches),
                                 ("deshake", self.deshake)) if on]
        if self.denoise:
            parts.append(f"denoise={self.denoise}")
        return f"restore({', '.join(parts) or 'nothing'}, deinterlace={self.deinterlace})"

"""Optical flow, warping and occlusion on tensors.

Convention: ``flow`` is (B, 2, H, W) in pixels, channel 0 = x, 1 = y. ``warp(img, flow)`` samples
``img`` at ``x + flow(x)``: with the flow from frame t to frame t-1 it brings frame t-1 onto t.
"""
from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .color import downsample, luma

_GRIDS: dict = {}


def _grid(h: int, w: int, device, dtype) -> torch.Tensor:
    # also called on the flow's worker threads (DISFlow's trust): read once, never after a clear
    key = (h, w, device, dtype)
    grid = _GRIDS.get(key)
    if grid is None:
        ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype),
                                torch.arange(w, device=device, dtype=dtype), indexing="ij")
        grid = torch.stack([xs, ys])[None]
        if len(_GRIDS) >= 8:
            _GRIDS.clear()
        _GRIDS[key] = grid
    return grid


def warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``img`` (B, C, H, W) by ``flow``; samples outside the frame take the edge value.
    On the CPU, outside autograd, OpenCV's remap does it (~10x faster than grid_sample at the
    flow's working size; coordinates to 1/32 px)."""
    if img.device.type == "cpu" and not (torch.is_grad_enabled() and (img.requires_grad or flow.requires_grad)):
        return _remap_tensor(img, flow)
    h, w = img.shape[-2:]
    pos = _grid(h, w, img.device, flow.dtype) + flow
    gx = pos[:, 0] * (2 / max(w - 1, 1)) - 1
    gy = pos[:, 1] * (2 / max(h - 1, 1)) - 1
    return F.grid_sample(img, torch.stack([gx, gy], -1).to(img.dtype), mode="bilinear",
                         padding_mode="border", align_corners=True)


def _remap_tensor(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """:func:`warp` through :func:`remap`, frame by frame."""
    pixels = img.detach().float().permute(0, 2, 3, 1).numpy()
    flows = flow.detach().float().permute(0, 2, 3, 1).numpy()
    out = [remap(np.ascontiguousarray(x), np.ascontiguousarray(f)) for x, f in zip(pixels, flows)]
    out = np.stack([o if o.ndim == 3 else o[..., None] for o in out])
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(img.dtype)


@functools.lru_cache(maxsize=4)
def _np_grid(h: int, w: int) -> list[np.ndarray]:
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def remap(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """:func:`warp` for numpy frames on the CPU: ``img`` (H, W) or (H, W, C) float32 sampled at
    ``x + flow(x)`` (``flow`` (H, W, 2) in pixels, bilinear, edges replicated). OpenCV's remap:
    ~20x faster there than grid_sample (640x480: 0.6 ms against 12 ms)."""
    gx, gy = _np_grid(*flow.shape[:2])
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """A (h, w, 2) flow in pixels brought to (height, width), its vectors scaled with it."""
    h, w = flow.shape[:2]
    if (h, w) == (height, width):
        return flow
    out = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    if width / w == height / h:   # one contiguous multiply, 3x faster than two strided ones
        out *= width / w
    else:
        out[..., 0] *= width / w
        out[..., 1] *= height / h
    return out


def gaussian(diff: torch.Tensor, sigma: float) -> torch.Tensor:
    """exp(-(diff / sigma)^2), the similarity of two values ``diff`` apart: 1 when equal, near 0
    beyond a few ``sigma``. The exponent is capped at 80 (exp(-80) ~ 2e-35: nothing is lost), as
    torch's exp takes ~10x longer on the CPU for arguments far below that."""
    return torch.exp(-(diff / sigma).square_().clamp_(max=80))


def inside(flow: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) mask of pixels whose flow target lies inside the frame."""
    h, w = flow.shape[-2:]
    pos = _grid(h, w, flow.device, flow.dtype) + flow
    ok = (pos[:, 0] >= 0) & (pos[:, 0] <= w - 1) & (pos[:, 1] >= 0) & (pos[:, 1] <= h - 1)
    return ok[:, None].to(flow.dtype)


def round_trip_error(fw: torch.Tensor, bw: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) squared distance, in pixels, by which going along ``fw`` then back along
    ``bw`` misses the start; and the squared flow lengths it is judged against."""
    bw_w = warp(bw, fw)
    mag = lambda f: (f ** 2).sum(1, keepdim=True)  # noqa: E731
    return mag(fw + bw_w), mag(fw) + mag(bw_w)


def non_occlusion(fw: torch.Tensor, bw: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) mask, 1 where frame t's pixel is visible in frame t+1 (Ruder et al. 2016).

    ``fw``: flow t -> t+1, ``bw``: flow t+1 -> t. Occluded where the forward-backward round trip
    does not return (|fw + bw(x + fw)|^2 > 0.01 (|fw|^2 + |bw(x+fw)|^2) + 0.5) or on motion
    boundaries (|grad u|^2 + |grad v|^2 > 0.01 |fw|^2 + 0.002); the thresholds of Lai et al. 2018.
    """
    miss, length = round_trip_error(fw, bw)
    round_trip = miss > 0.01 * length + 0.5
    mag = lambda f: (f ** 2).sum(1, keepdim=True)  # noqa: E731
    dx = F.pad(fw[..., :, 1:] - fw[..., :, :-1], (0, 1))
    dy = F.pad(fw[..., 1:, :] - fw[..., :-1, :], (0, 0, 0, 1))
    boundary = mag(dx) + mag(dy) > 0.01 * mag(fw) + 0.002
    return (~(round_trip | boundary)).to(fw.dtype) * inside(fw)


def flow_trust(bw: torch.Tensor, fw: torch.Tensor, gray: torch.Tensor, gray_prev: torch.Tensor,
               sigma: float = 0.08) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1]: how far frame t-1 brought onto frame t by ``bw`` (flow t -> t-1;
    ``fw`` the flow t-1 -> t) can be believed: visible in both (:func:`non_occlusion`) and the gray
    frames agree after warping (Gaussian in their difference, ``sigma`` on a [0, 1] scale)."""
    agree = gaussian(warp(gray_prev, bw) - gray, sigma)
    return non_occlusion(bw, fw) * agree


def pair_trust(ab: np.ndarray, ba: np.ndarray, a: np.ndarray, b: np.ndarray, sigma: float) -> torch.Tensor:
    """:func:`flow_trust` (1, 1, H, W) on the CPU of gray frame ``b`` brought onto gray frame ``a``
    (uint8), from the flows ``ab`` (a -> b) and ``ba`` as (H, W, 2) arrays. The same maths in
    numpy and OpenCV, which release the GIL and run on the calling thread (the flow's workers):
    torch's two-thread kernels on these small frames cost ~3x the CPU on 2 busy cores."""
    h, w = ab.shape[:2]
    gx, gy = _np_grid(h, w)
    u, v = ab[..., 0], ab[..., 1]
    mx, my = gx + u, gy + v   # where each pixel of a lands in b: one pair of maps for both remaps
    back = cv2.remap(ba, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    fa, fb = u * u + v * v, back[..., 0] ** 2 + back[..., 1] ** 2
    miss = (u + back[..., 0]) ** 2 + (v + back[..., 1]) ** 2
    round_trip = miss > 0.01 * (fa + fb) + 0.5            # non_occlusion's tests, in its float32
    grad = np.zeros((h, w), np.float32)
    du, dv = u[:, 1:] - u[:, :-1], v[:, 1:] - v[:, :-1]
    grad[:, :-1] = du * du + dv * dv
    du, dv = u[1:] - u[:-1], v[1:] - v[:-1]
    grad[:-1] += du * du + dv * dv
    boundary = grad > 0.01 * fa + 0.002
    ok = ~(round_trip | boundary) & (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    warped = cv2.remap(b.astype(np.float32) / 255, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    diff = (warped - a.astype(np.float32) / 255) / np.float32(sigma)
    trust = np.exp(-(diff * diff)) * ok
    return torch.from_numpy(trust.astype(np.float32, copy=False))[None, None]


def gray_tensor(gray: np.ndarray, device) -> torch.Tensor:
    """(H, W) uint8 -> (1, 1, H, W) float in [0, 1]."""
    return torch.from_numpy(gray).to(device, torch.float32)[None, None] / 255


class DISFlow:
    """Dense optical flow on gray uint8 frames with OpenCV's DIS (fast, CPU)."""

    # name -> OpenCV's preset and settings changed from it
    PRESETS = {"ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, {}), "fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, {}),
               "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, {}),
               # medium's finest scale with fast's patch stride and descent, and no variational
               # refinement: 0.39x medium's time at 256x192 (guided colour's match straight to the
               # keyframe, where it scored as medium and "fast" lost 5% on bigbuckbunny; bench/README.md)
               "lean": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, {"PatchStride": 4, "GradientDescentIterations": 16,
                                                            "VariationalRefinementIterations": 0})}

    def __init__(self, preset: str = "fast", memory: int = 32, trust_sigma: float | None = None):
        self._preset = self.PRESETS[preset]
        # with ``trust_sigma``, each pair's :func:`flow_trust` is computed on the worker threads
        # too, after its flows (:meth:`trust`): it depends on the two frames only
        self.trust_sigma = trust_sigma
        self._local = threading.local()   # one DIS object per thread: calc is not reentrant
        self._pool: ThreadPoolExecutor | None = None
        # the pairs' flows (futures), by content: stages sharing this object (colorize carrying
        # colour, then the stabilizer) compute each pair once, and pairs asked for ahead
        # (:meth:`prefetch`) are computed on worker threads while the caller does other work
        self._memo: OrderedDict = OrderedDict()
        self._memory = memory
        # the memo is read and changed from more than one thread (guided colour's worker and the
        # stabilizer on the caller's): each look-up or change under this lock, the waits outside it
        self._lock = threading.Lock()

    MIN_SIDE = 16   # DIS refuses frames under 12 px; smaller ones are padded (edges repeated)

    @classmethod
    def _fit(cls, *frames: np.ndarray) -> list[np.ndarray]:
        h, w = frames[0].shape[:2]
        ph, pw = max(0, cls.MIN_SIDE - h), max(0, cls.MIN_SIDE - w)
        return [np.ascontiguousarray(cv2.copyMakeBorder(f, 0, ph, 0, pw, cv2.BORDER_REPLICATE) if ph or pw else f)
                for f in frames]

    def _calc(self, a: np.ndarray, b: np.ndarray, h: int, w: int) -> np.ndarray:
        dis = getattr(self._local, "dis", None)
        if dis is None:
            preset, settings = self._preset
            dis = self._local.dis = cv2.DISOpticalFlow_create(preset)
            for name, value in settings.items():
                getattr(dis, "set" + name)(value)
        return dis.calc(a, b, None)[:h, :w]

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow (H, W, 2) float32 from gray frame ``a`` to gray frame ``b``."""
        return self._calc(*self._fit(a, b), *a.shape[:2])

    def _tasks(self, a: np.ndarray, b: np.ndarray) -> tuple:
        """The pair's futures (a -> b, b -> a, the trust of b onto a or None), its two flows started
        on the worker threads if new. Both directions run at once (OpenCV releases the GIL): ~30%
        less wall time on 2 cores."""
        h, w = a.shape[:2]
        a, b = self._fit(a, b)
        key = (a.tobytes(), b.tobytes())
        with self._lock:
            if key not in self._memo and key[::-1] not in self._memo:
                self._submit(key, a, b, h, w)
            return self._memo[key] if key in self._memo else self._memo[key[::-1]][1::-1] + (None,)

    def _submit(self, key, a, b, h, w) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(2, thread_name_prefix="dis")
        ab, ba = self._pool.submit(self._calc, a, b, h, w), self._pool.submit(self._calc, b, a, h, w)
        # the trust task waits on the two flows, submitted before it: a worker that takes it finds
        # them running or done (the pool's queue is first in, first out), so it cannot deadlock
        trust = (self._pool.submit(self._trust, ab, ba, a[:h, :w], b[:h, :w], self.trust_sigma)
                 if self.trust_sigma is not None else None)
        self._memo[key] = (ab, ba, trust)
        while len(self._memo) > self._memory:
            self._memo.popitem(last=False)

    @staticmethod
    def _trust(ab, ba, a: np.ndarray, b: np.ndarray, sigma: float) -> torch.Tensor:
        return pair_trust(ab.result(), ba.result(), a, b, sigma)

    def prefetch(self, pairs) -> None:
        """Start computing the flows of ``pairs`` ((a, b) gray frames) now; :meth:`both` returns
        them when asked. At most ``memory`` pairs are kept."""
        for a, b in pairs:
            self._tasks(a, b)

    def remember(self, pairs: int) -> None:
        """Keep at least the last ``pairs`` pairs (a stage that holds frames back keeps their
        flows for the stages after it)."""
        self._memory = max(self._memory, pairs)

    def forget(self, a: np.ndarray, b: np.ndarray) -> None:
        """Drop the pair (a, b) (one no later stage asks for) so that it takes no other's place."""
        a, b = self._fit(a, b)
        with self._lock:
            for key in ((a.tobytes(), b.tobytes()), (b.tobytes(), a.tobytes())):
                self._memo.pop(key, None)

    def both(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The flows a -> b and b -> a."""
        ab, ba, _ = self._tasks(a, b)
        return ab.result(), ba.result()

    def trust(self, a: np.ndarray, b: np.ndarray, sigma: float) -> torch.Tensor:
        """:func:`flow_trust` of frame ``b`` brought onto frame ``a`` (1, 1, H, W) on the CPU; from
        the worker threads when this object computes it with this ``sigma``."""
        task = self._tasks(a, b)[2]
        if task is not None and sigma == self.trust_sigma:
            return task.result()
        return pair_trust(*self.both(a, b), a, b, sigma)


class ModelFlow(torch.nn.Module):
    """A flow network (``net(a, b)``: frames (B, 1, H, W) in [0, 1] -> flow (B, 2, H, W), e.g.
    RAFT) behind :class:`DISFlow`'s interface: gray uint8 arrays in, (H, W, 2) float32 flow out."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    @torch.inference_mode()
    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.both(a, b)[0]

    def prefetch(self, pairs) -> None:
        """DISFlow's interface; a network's flow is computed when asked, on its device."""

    def remember(self, pairs: int) -> None:
        """DISFlow's interface; nothing is kept."""

    def forget(self, a: np.ndarray, b: np.ndarray) -> None:
        """DISFlow's interface; nothing is kept."""

    def trust(self, a: np.ndarray, b: np.ndarray, sigma: float) -> torch.Tensor:
        """DISFlow's interface: :func:`flow_trust` of frame ``b`` brought onto frame ``a``."""
        return pair_trust(*self.both(a, b), a, b, sigma)

    @torch.inference_mode()
    def both(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The flows a -> b and b -> a, as one batch of two."""
        device = next(self.net.parameters()).device
        a, b = (torch.from_numpy(np.ascontiguousarray(x)).to(device, torch.float32)[None, None] / 255 for x in (a, b))
        flows = self.net(torch.cat([a, b]), torch.cat([b, a])).float().permute(0, 2, 3, 1).cpu().numpy()
        return flows[0], flows[1]


def small_grays(rgb: torch.Tensor, size: int) -> list[np.ndarray]:
    """The flow's input: (B, 3, H, W) RGB in [0, 1] -> B gray uint8 frames at the working size
    (long side ``size``); luma first, so one channel is shrunk rather than three."""
    return shrink_gray(luma(rgb.float()).mul_(255), size)


def shrink_gray(y255: torch.Tensor, size: int) -> list[np.ndarray]:
    """:func:`small_grays` of the luma (B, 1, H, W) on a 0-255 scale."""
    dims = work_dims(*y255.shape[-2:], size)
    return list(downsample(y255, dims).round().clamp(0, 255).to(torch.uint8).cpu().numpy()[:, 0])


def to_gray_u8(rgb: torch.Tensor) -> np.ndarray:
    """(3, H, W) RGB in [0, 1] -> (H, W) uint8 BT.601 luma on the CPU."""
    y = luma(rgb)[0]
    return y.mul(255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def work_dims(height: int, width: int, size: int, by_area: bool = False) -> tuple[int, int]:
    """The flow's working size (height, width), aspect kept, never enlarged: long side ``size``,
    or ``by_area``, as many pixels as ``size`` x 3/4 ``size`` (640x480 at 320: 320x240 either way;
    a wide 640x272 frame 181x425 by area, 136x320 by the long side)."""
    scale = min(1.0, size * (0.75 / (height * width)) ** 0.5 if by_area else size / max(height, width))
    return (height, width) if scale == 1 else (max(8, round(height * scale)), max(8, round(width * scale)))


def flow_tensor(flow: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(flow).permute(2, 0, 1)[None].to(device)

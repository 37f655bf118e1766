"""Chroma carried through a shot along optical flow, and spread within a frame along its edges.

The building blocks of guided colorization (keyframes, hint images), and of anything that
computes colour on some frames only and fills the others:

- :func:`spread`: edge-aware interpolation of sparse or partly trusted chroma over a frame. Levin
  et al. 2004's premise (neighbours of similar luma get similar colour) as a screened Laplace
  problem on the 4-neighbour grid, solved by cascadic multigrid: Jacobi sweeps from a coarse level
  down to the finest, each level starting from the one above, so ~20 full-size sweeps suffice.
- :class:`Track`: one direction of propagation. It holds a chroma estimate and its confidence on
  the last frame it saw and carries both to the next frame along the flow; the confidence falls
  at occlusions and where the gray frames disagree after warping
  (:func:`~oldfilm.ops.flow.flow_trust`), and where too little arrives (new content) the colour is
  filled from its surroundings with :func:`spread`.
- :func:`pull_to_hints`: sparse colours (hint images, reference photos' trusted matches) over a
  frame, through a model's estimate where it agrees with them, spread on their own where not.
- :func:`merge`: a forward and a backward estimate blended by time distance and confidence.
- :func:`propagate`: all of it over a run of gray frames with chroma anchors at some of them.

Tensors are (1, C, h, w) float at a small working size: luma in [0, 1], chroma as Cb/Cr in
[-0.5, 0.5], confidence in [0, 1]; gray frames for the flow are (h, w) uint8.

>>> track = Track(DISFlow("medium"))                        # doctest: +SKIP
>>> track.start(gray0, Chroma(cbcr0, torch.ones_like(cbcr0[:, :1])))
>>> later = [track.step(g) for g in grays[1:]]               # Chroma of each following frame
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .flow import DISFlow, flow_tensor, gaussian, gray_tensor, inside, round_trip_error, warp


@dataclass
class Chroma:
    """A chroma estimate of one frame: Cb/Cr (1, 2, h, w) and its confidence (1, 1, h, w)."""

    cbcr: torch.Tensor
    conf: torch.Tensor

    def half(self) -> "Chroma":
        """A compact copy for holding many frames (float16)."""
        return Chroma(self.cbcr.half(), self.conf.half())

    def float(self) -> "Chroma":
        return Chroma(self.cbcr.float(), self.conf.float())


def _affinities(luma: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights between each pixel and its right / lower neighbour: near 1 across flat luma, near 0
    across an edge."""
    return (gaussian(luma[..., :, 1:] - luma[..., :, :-1], sigma),
            gaussian(luma[..., 1:, :] - luma[..., :-1, :], sigma))


def _sweeps(u: torch.Tensor, data: torch.Tensor, weight: torch.Tensor, wx: torch.Tensor, wy: torch.Tensor,
            n: int) -> torch.Tensor:
    """``n`` Jacobi sweeps of min sum weight (u - data)^2 + sum_neighbours w (u_r - u_s)^2."""
    wl, wr, wu, wd = F.pad(wx, (1, 0)), F.pad(wx, (0, 1)), F.pad(wy, (0, 0, 1, 0)), F.pad(wy, (0, 0, 0, 1))
    inv = 1 / (weight + wl + wr + wu + wd).clamp(min=1e-6)
    wl, wr, wu, wd = wl * inv, wr * inv, wu * inv, wd * inv
    fixed = weight * data * inv
    if n == 0:
        return u
    # two zero-bordered buffers, each sweep reading one and writing the other's inside: five fused
    # multiply-adds a sweep and no allocation (1.5x faster than padding and summing anew); the
    # views (inside, left, right, up, down) made once, as at the coarse levels a sweep is mostly
    # the cost of calls
    bufs = [F.pad(u, (1, 1, 1, 1)), u.new_zeros((*u.shape[:-2], u.shape[-2] + 2, u.shape[-1] + 2))]
    views = [(b[..., 1:-1, 1:-1], b[..., 1:-1, :-2], b[..., 1:-1, 2:], b[..., :-2, 1:-1], b[..., 2:, 1:-1])
             for b in bufs]
    for i in range(n):
        (_, left, right, up, down), out = views[i % 2], views[1 - i % 2][0]
        torch.addcmul(fixed, wl, left, out=out).addcmul_(wr, right).addcmul_(wu, up).addcmul_(wd, down)
    return views[n % 2][0]


def _coarser(wx, wy, vc, c):
    """The next level: 2x2 blocks; a coarse edge weighs the mean of the fine edges it crosses (so an
    edge in the picture stays an edge at every level), the data terms add up."""
    ph, pw = c.shape[-2] % 2, c.shape[-1] % 2
    wx, wy, vc, c = (F.pad(x, (0, pw, 0, ph)) for x in (wx, wy, vc, c))
    return (F.avg_pool2d(wx[..., 1::2], (2, 1)), F.avg_pool2d(wy[..., 1::2, :], (1, 2)),
            4 * F.avg_pool2d(vc, 2), 4 * F.avg_pool2d(c, 2))


def spread(luma: torch.Tensor, values: torch.Tensor, conf: torch.Tensor, *, sigma: float = 0.04,
           strength: float = 50.0, sweeps: int = 10, coarsest: int = 3) -> torch.Tensor:
    """Dense ``values`` (1, C, h, w) from the trusted ones: pixels with confidence near 1 keep
    theirs (``strength`` weighs them against smoothness), the others take the colour of the
    region they belong to, following ``luma``'s edges (``sigma``: the luma step, on [0, 1], at
    which an edge stops colour). ``conf`` may be a sparse hint mask."""
    levels = [(*_affinities(luma, sigma), values * conf, conf)]
    while min(levels[-1][3].shape[-2:]) >= 2 * coarsest:
        levels.append(_coarser(*levels[-1]))
    u = None
    for depth in range(len(levels) - 1, -1, -1):
        wx, wy, vc, c = levels[depth]
        data = vc / c.clamp(min=1e-6)
        if u is None:   # the coarsest level starts from the mean of the trusted values
            mean = vc.sum((2, 3), keepdim=True) / c.sum((2, 3), keepdim=True).clamp(min=1e-6)
            u, n = mean.expand_as(vc).clone(), 5 * sweeps
        else:
            h, w = c.shape[-2:]
            u, n = F.interpolate(u, scale_factor=2, mode="nearest")[..., :h, :w], sweeps << min(depth, 1)
        u = _sweeps(u, data, strength * c, wx, wy, n)
    return u


def pull_to_hints(luma: torch.Tensor, hints: torch.Tensor, weight: torch.Tensor, model: torch.Tensor, *,
                  agree: float = 0.0, disagree: float = 1.0, reach: float = 0.0) -> torch.Tensor:
    """Dense chroma (1, C, h, w) from sparse ``hints`` (trusted where ``weight`` > 0) and a model's
    dense estimate ``model``: the hints' own colours :func:`spread` edge-aware, and the model's
    colour pulled toward them (the hints' difference from it spread and added), mixed by how well
    the model already explains the hints. Its miss at the hints relative to their own chroma (0:
    exact, 1: no nearer them than gray is): up to ``agree`` the model pulled only, from
    ``disagree`` the hints' own colours only, linear between, so a model that is wrong on this film
    leaves the hints alone. ``reach`` > 0: the pull fades to the model's own colour away from the
    hints (a weight toward it everywhere; the smaller, the farther the pull reaches)."""
    miss = (weight * (hints - model).norm(dim=1, keepdim=True)).sum() / \
        (weight * hints.norm(dim=1, keepdim=True)).sum().clamp(min=1e-6)
    pull = float(((disagree - miss) / (disagree - agree)).clamp(0, 1))
    out = 0
    if pull > 0:
        near = weight > 0
        out = model + spread(luma, (hints - model) * near, weight.clamp(min=reach) if reach else weight)
    if pull < 1:
        out = pull * out + (1 - pull) * spread(luma, hints, weight)
    return out


class Track:
    """Chroma carried frame by frame, in whichever direction the frames are given.

    ``fill_below``: where the carried confidence is under it, the colour is replaced by the colour
    spread from the trusted surroundings, which then travels on with confidence ``fill_conf``.
    """

    SIGMA = 0.08   # the gray frames' agreement after warping (flow_trust's sigma)

    def __init__(self, flow=None, *, sigma: float = SIGMA, fill_below: float = 0.3, fill_conf: float = 0.4,
                 spread_sigma: float = 0.04, slip: float = 2.0, direct: bool = True, direct_flow=None):
        self.flow = flow if flow is not None else DISFlow("medium")
        self.direct_flow = direct_flow if direct_flow is not None else self.flow
        self.sigma, self.fill_below, self.fill_conf, self.spread_sigma = sigma, fill_below, fill_conf, spread_sigma
        self.slip = slip   # px: a round trip missing by more is an occlusion
        self.direct = direct   # also match each frame straight to the anchor
        self.gray: np.ndarray | None = None
        self.state: Chroma | None = None

    def start(self, gray: np.ndarray, chroma: Chroma) -> None:
        self.gray, self.state = gray, chroma.float()
        self.anchor = (gray, self.state)

    def prefetch(self, grays: list[np.ndarray], after: np.ndarray | None = None) -> None:
        """Start the flows :meth:`step` will ask for on the frames ``grays`` that follow ``after``
        (by default the last frame it saw), on the flows' worker threads while the caller works."""
        before = self.gray if after is None else after
        for g, prev in zip(grays, [before] + grays[:-1]):   # to the frame before, and to the anchor
            self.flow.prefetch([(g, prev)])
            if self.direct and not np.array_equal(prev, self.anchor[0]):   # (else the chain's pair)
                self.direct_flow.prefetch([(g, self.anchor[0])])

    def _direct(self, gray: np.ndarray, now: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The anchor's chroma brought straight onto ``gray`` by one flow, and its trust: where the
        anchor's content is visible again (after an occlusion, or the camera came back) it has the
        anchor's colour exactly, with none of the frame-to-frame chain's drift."""
        a_gray, a = self.anchor
        chain = np.array_equal(a_gray, self.gray)   # the frame after the anchor: the chain's own pair
        flow = self.flow if chain else self.direct_flow
        bw = flow_tensor(flow.both(gray, a_gray)[0], now.device)
        trust = flow.trust(gray, a_gray, self.sigma).to(now.device) * warp(a.conf, bw)
        if not chain:   # asked for once
            flow.forget(gray, a_gray)
        return warp(a.cbcr, bw), trust

    def step(self, gray: np.ndarray) -> Chroma:
        """Carry the state onto the next frame ``gray`` and return it (also the new state)."""
        device = self.state.cbcr.device
        bw, fw = (flow_tensor(f, device) for f in self.flow.both(gray, self.gray))   # new -> last, last -> new
        now = gray_tensor(gray, device)
        trust = self.flow.trust(gray, self.gray, self.sigma).to(device)   # from the flow's workers when it can
        cbcr = warp(self.state.cbcr, bw)
        conf = warp(self.state.conf, bw) * trust
        if self.direct:
            d_cbcr, d_trust = self._direct(gray, now)
            # only where the chain lost track: a long match can be fooled by repeating texture
            take = d_trust * (1 - conf)
            cbcr = cbcr + take * (d_cbcr - cbcr)
            conf = conf + take * (d_trust - conf)
        # nothing came from the last frame (new content, a clear occlusion, the gray disagrees):
        # fill. The occlusion test of the confidence also flags small flow slips, where the carried
        # colour is still better than a filled one.
        miss, length = round_trip_error(bw, fw)
        agree = gaussian(warp(gray_tensor(self.gray, device), bw) - now, self.sigma)
        low = (inside(bw) < 0.5) | (agree < self.fill_below) | (miss > 0.05 * length + self.slip ** 2)
        if self.direct:
            low &= d_trust < self.fill_below
        if low.any():
            cbcr = torch.where(low, self._fill(now, cbcr, trust), cbcr)
            conf = torch.where(low, conf.clamp(min=self.fill_conf), conf)
        self.gray, self.state = gray, Chroma(cbcr, conf)
        return self.state

    def _fill(self, now: torch.Tensor, cbcr: torch.Tensor, trust: torch.Tensor) -> torch.Tensor:
        """The colour spread from the trusted surroundings, solved at half the working size and
        upsampled bilinearly: it replaces only the few cells where nothing arrived (3-9 % of the
        frame on bikes), and the same scores as the full size's at under half its cost (bench/README.md)."""
        half = lambda x: F.avg_pool2d(x, 2, ceil_mode=True)  # noqa: E731
        weight = half(trust)
        filled = spread(half(now), half(cbcr * trust) / weight.clamp(min=1e-6), weight, sigma=self.spread_sigma)
        return F.interpolate(filled, size=now.shape[-2:], mode="bilinear", align_corners=False)


def merge(a: Chroma, b: Chroma, dist_a: float, dist_b: float, floor: float = 0.0) -> Chroma:
    """Blend two estimates of one frame made ``dist_a`` and ``dist_b`` frames from their anchors:
    each weighs by its confidence and by the other's distance (the nearer anchor counts more).
    ``floor``: a confidence counts for at least this much. Guided colour's tracks need it (0.2):
    along thin edges their trust drops to near 0 and comes back (the straight match to the
    keyframe) from one frame to the next, and a blend that followed it switched between the two
    estimates there: the pan's output flickered (warping error 1.36x the truth's with keyframes at
    both ends, 1.05x with the floor; bench/README.md)."""
    wa = (a.conf.clamp(min=floor) + 1e-3) * dist_b
    wb = (b.conf.clamp(min=floor) + 1e-3) * dist_a
    total = wa + wb
    return Chroma((wa * a.cbcr + wb * b.cbcr) / total, (wa * a.conf + wb * b.conf) / total)


def propagate(grays: list[np.ndarray], anchors: dict[int, Chroma], flow=None, **track) -> list[Chroma]:
    """The chroma of every frame of a run of gray frames (one shot, or part of one) from the
    chroma known at some of them (``anchors``: index -> Chroma): carried forward and backward from
    the anchors along the flow, and between two anchors both directions merged. Frames before the
    first anchor get the backward estimate alone, frames after the last the forward one."""
    if not anchors:
        raise ValueError("propagate needs at least one anchor")
    flow = flow if flow is not None else DISFlow("medium")

    def one_way(order: list[int]) -> dict[int, tuple[Chroma, int]]:
        out, t, last = {}, Track(flow, **track), None
        for i in order:
            if i in anchors:
                t.start(grays[i], anchors[i])
                out[i], last = (anchors[i].float(), 0), i
            elif last is not None:
                out[i] = (t.step(grays[i]), abs(i - last))
        return out

    n = len(grays)
    fwd, bwd = one_way(list(range(n))), one_way(list(range(n - 1, -1, -1)))
    result = []
    for i in range(n):
        if i in anchors:
            result.append(anchors[i].float())
        elif i in fwd and i in bwd:
            result.append(merge(fwd[i][0], bwd[i][0], fwd[i][1], bwd[i][1]))
        else:
            result.append((fwd.get(i) or bwd[i])[0])
    return result


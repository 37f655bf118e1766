"""Image-quality metrics shared by evaluation, benchmarks and tests: pure torch functions.

All functions work on (..., C, H, W) tensors and reduce only where stated.
"""
from __future__ import annotations

import math

import torch

__all__ = ["delta_e2000", "colourfulness", "psnr", "exposure_flicker", "spot_contrast"]


def delta_e2000(lab_a: torch.Tensor, lab_b: torch.Tensor, *, kL: float = 1.0, kC: float = 1.0,
                kH: float = 1.0) -> torch.Tensor:
    """CIEDE2000 colour difference per pixel between two CIE L*a*b* tensors (..., 3, H, W).

    Returns (..., H, W). Follows Sharma, Wu & Dalal (2005), including their notes on hue
    angles near 0/360 degrees and on mean hue when one chroma is zero.
    """
    L1, a1, b1 = lab_a.unbind(-3)
    L2, a2, b2 = lab_b.unbind(-3)
    C1 = torch.sqrt(a1 ** 2 + b1 ** 2)
    C2 = torch.sqrt(a2 ** 2 + b2 ** 2)
    Cbar7 = ((C1 + C2) / 2) ** 7
    G = 0.5 * (1 - torch.sqrt(Cbar7 / (Cbar7 + 25.0 ** 7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p = torch.sqrt(a1p ** 2 + b1 ** 2)
    C2p = torch.sqrt(a2p ** 2 + b2 ** 2)
    h1p = torch.remainder(torch.atan2(b1, a1p), 2 * math.pi)
    h2p = torch.remainder(torch.atan2(b2, a2p), 2 * math.pi)
    h1p = torch.where(C1p == 0, torch.zeros_like(h1p), h1p)
    h2p = torch.where(C2p == 0, torch.zeros_like(h2p), h2p)

    dLp = L2 - L1
    dCp = C2p - C1p
    dh = h2p - h1p
    dh = torch.where(dh > math.pi, dh - 2 * math.pi, dh)
    dh = torch.where(dh < -math.pi, dh + 2 * math.pi, dh)
    zero_c = (C1p * C2p) == 0
    dh = torch.where(zero_c, torch.zeros_like(dh), dh)
    dHp = 2 * torch.sqrt(C1p * C2p) * torch.sin(dh / 2)

    Lbp = (L1 + L2) / 2
    Cbp = (C1p + C2p) / 2
    hsum = h1p + h2p
    hbp = torch.where((h1p - h2p).abs() > math.pi,
                      torch.where(hsum < 2 * math.pi, hsum + 2 * math.pi, hsum - 2 * math.pi), hsum) / 2
    hbp = torch.where(zero_c, hsum, hbp)

    T = (1 - 0.17 * torch.cos(hbp - math.radians(30)) + 0.24 * torch.cos(2 * hbp)
         + 0.32 * torch.cos(3 * hbp + math.radians(6)) - 0.20 * torch.cos(4 * hbp - math.radians(63)))
    dtheta = math.radians(30) * torch.exp(-(((torch.rad2deg(hbp) - 275) / 25) ** 2))
    Cbp7 = Cbp ** 7
    Rc = 2 * torch.sqrt(Cbp7 / (Cbp7 + 25.0 ** 7))
    Sl = 1 + 0.015 * (Lbp - 50) ** 2 / torch.sqrt(20 + (Lbp - 50) ** 2)
    Sc = 1 + 0.045 * Cbp
    Sh = 1 + 0.015 * Cbp * T
    Rt = -torch.sin(2 * dtheta) * Rc
    tl, tc, th = dLp / (kL * Sl), dCp / (kC * Sc), dHp / (kH * Sh)
    return torch.sqrt((tl ** 2 + tc ** 2 + th ** 2 + Rt * tc * th).clamp(min=0))


def colourfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler & Süsstrunk (2003) colourfulness M of RGB images in [0, 1], shaped (..., 3, H, W).

    Computed on 0..255 values as in the paper; returns one value per image, shape (...).
    A gray image scores 0; the paper rates about 33 "moderately" and 59 "quite" colourful.
    """
    r, g, b = (rgb * 255.0).unbind(-3)
    rg = (r - g).flatten(-2)
    yb = (0.5 * (r + g) - b).flatten(-2)
    std = torch.sqrt(rg.var(-1, unbiased=False) + yb.var(-1, unbiased=False))
    mean = torch.sqrt(rg.mean(-1) ** 2 + yb.mean(-1) ** 2)
    return std + 0.3 * mean


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image over the last 3 dims (C, H, W); shape (...)."""
    mse = ((a.float() - b.float()) ** 2).flatten(-3).mean(-1)
    return 10 * torch.log10(peak ** 2 / mse)


def exposure_flicker(frames: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Exposure flicker of a clip (T, C, H, W) against its truth: the standard deviation of the
    frame-to-frame changes of mean luma (first channel), less the truth's own changes, so that
    motion, fades and lighting changes in the truth do not count. 0 is no flicker; same units
    as the frames."""
    m, n = frames[:, 0].float().mean((-2, -1)), truth[:, 0].float().mean((-2, -1))
    return ((m[1:] - m[:-1]) - (n[1:] - n[:-1])).std()


def spot_contrast(frame: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor, ring: int = 4) -> torch.Tensor:
    """How much a spot (``mask``, (H, W) bool) stands out in ``frame`` from a ``ring`` of pixels
    around it, beyond what it does in ``truth`` (both (..., C, H, W)): the mean absolute
    difference of (spot - surroundings) between the two. A removed speck scores near 0."""
    import torch.nn.functional as F

    m = mask.float()[None, None]
    k = 2 * ring + 1
    around = (F.max_pool2d(m, k, 1, ring) - m).clamp(min=0)

    def lift(x: torch.Tensor) -> torch.Tensor:
        x = x.float().reshape(-1, *x.shape[-2:])[:, None]
        return (x * m).sum((-2, -1)) / m.sum() - (x * around).sum((-2, -1)) / around.sum().clamp(min=1)

    return (lift(frame) - lift(truth)).abs().mean()


def warping_error(frame: torch.Tensor, next_frame: torch.Tensor, fw_flow: torch.Tensor,
                  mask: torch.Tensor) -> torch.Tensor:
    """Warping error of one frame pair as in Lai et al. 2018 (their evaluate_WarpError.py).

    ``frame``, ``next_frame``: (B, 3, H, W) RGB in [0, 1]; ``fw_flow``: flow frame -> next_frame;
    ``mask``: (B, 1, H, W) non-occlusion mask. ``next_frame`` is warped onto ``frame`` and the
    squared difference is averaged over the trusted pixels and channels. Returns shape (B,).
    """
    from .ops.flow import warp

    diff = (warp(next_frame.float(), fw_flow) - frame.float()) ** 2 * mask
    n = mask.flatten(1).sum(1) * frame.shape[1]
    n = torch.where(n > 0, n, torch.full_like(n, float(diff[0].numel())))
    return diff.flatten(1).sum(1) / n


def video_warping_error(frames: torch.Tensor, source: torch.Tensor | None = None,
                        preset: str = "medium") -> torch.Tensor:
    """Per-pair warping errors (T-1,) of a clip (T, 3, H, W), flow from ``source``'s gray frames
    (the film the clip was made from; default the clip itself), masks by forward-backward
    consistency and motion boundaries. The mean is the seed's E_warp."""
    from .ops.flow import DISFlow, flow_tensor, non_occlusion, to_gray_u8

    source = frames if source is None else source
    dis = DISFlow(preset)
    errors = []
    prev = to_gray_u8(source[0])
    for t in range(len(frames) - 1):
        cur = to_gray_u8(source[t + 1])
        fw = flow_tensor(dis(prev, cur), frames.device)
        bw = flow_tensor(dis(cur, prev), frames.device)
        errors.append(warping_error(frames[t:t + 1], frames[t + 1:t + 2], fw, non_occlusion(fw, bw))[0])
        prev = cur
    return torch.stack(errors) if errors else torch.zeros(0)

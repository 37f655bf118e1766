"""Image filters on (B, C, H, W) tensors, batched, on any device."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, edges replicated; running sums, so O(1) per pixel."""
    k = 2 * r + 1
    c = F.pad(x, (r + 1, r, 0, 0), mode="replicate").cumsum(-1)
    x = (c[..., k:] - c[..., :-k]) / k
    c = F.pad(x, (0, 0, r + 1, r), mode="replicate").cumsum(-2)
    return (c[..., k:, :] - c[..., :-k, :]) / k


def guided_filter(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    """He et al.'s guided filter: edge-preserving smoothing of ``src`` following the edges of a
    one-channel ``guide``. O(N) whatever the radius."""
    mean_i, mean_p = box(guide, r), box(src, r)
    cov = box(guide * src, r) - mean_i * mean_p
    var = box(guide * guide, r) - mean_i ** 2
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    return box(a, r) * guide + box(b, r)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur as weighted sums of shifted slices (fast on CPUs, where a
    depthwise convolution is not), edges replicated."""
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    k = (k / k.sum()).tolist()
    h, w = x.shape[-2:]
    p = F.pad(x, (r, r, 0, 0), mode="replicate")
    x = sum(k[i] * p[..., :, i:i + w] for i in range(2 * r + 1))
    p = F.pad(x, (0, 0, r, r), mode="replicate")
    return sum(k[i] * p[..., i:i + h, :] for i in range(2 * r + 1))


def ink_lines(gray: torch.Tensor, sigma: float = 1.0, k: float = 1.6, threshold: float = 0.012,
              softness: float = 0.006) -> torch.Tensor:
    """Line strength in [0, 1] (1 = ink) on the dark side of edges: a thresholded difference of
    Gaussians (the core of XDoG, Winnemöller 2012), independent of how dark the area is."""
    dog = gaussian_blur(gray, sigma) - gaussian_blur(gray, sigma * k)
    return torch.sigmoid((-dog - threshold) / softness)


def kmeans(points: torch.Tensor, k: int, iters: int = 12, seed: int = 0) -> torch.Tensor:
    """Centres (k, D) of ``points`` (N, D) by Lloyd's algorithm, deterministic (quantile init)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    order = points[:, 0].argsort()
    idx = order[torch.linspace(0, len(points) - 1, k).round().long()]
    centres = points[idx].clone()
    for _ in range(iters):
        nearest = torch.cdist(points, centres).argmin(1)
        for j in range(k):
            mine = points[nearest == j]
            centres[j] = mine.mean(0) if len(mine) else points[torch.randint(len(points), (1,), generator=g)].squeeze(0).to(points.device)
    return centres

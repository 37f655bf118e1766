"""Colour-space conversions on (..., 3, H, W) tensors.

sRGB values are in [0, 1]; CIE L*a*b* uses D65 white, L in [0, 100], a/b roughly in [-110, 110].
Y'CbCr is BT.601 full range with Y' in [0, 1] and Cb/Cr in [-0.5, 0.5].
"""
from __future__ import annotations

import functools

import cv2
import numpy as np
import torch
import torch.nn.functional as F

_RGB2XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
_XYZ2RGB = torch.linalg.inv(_RGB2XYZ.double())   # inverted once, in double: a float32 inverse is
# off by ~1e-7 and by different amounts on different CPUs (a Lab round trip missed by 2e-6 on one)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])
_RGB2YCC = torch.tensor([[0.299, 0.587, 0.114],
                         [-0.168736, -0.331264, 0.5],
                         [0.5, -0.418688, -0.081312]])
_YCC2RGB = torch.linalg.inv(_RGB2YCC.double())
_EPS = 216 / 24389
_KAPPA = 24389 / 27


def _exact(fn):
    """Run a colour map outside any autocast: under a bf16 autocast its matmul would round every
    pixel to bf16 (8 bits of mantissa: a gray off by up to 2 levels) and give numpy a dtype it cannot
    take. The map keeps its input's dtype."""
    @functools.wraps(fn)
    def run(*args):
        with torch.autocast(args[-1].device.type, enabled=False):
            return fn(*args)
    return run


@_exact
def _mix(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """3x3 colour matrix times every pixel (a matmul: an order of magnitude faster than einsum)."""
    return (m.to(x.device, x.dtype) @ x.flatten(-2)).view(x.shape)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    rgb = rgb.clamp(0, 1)
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = _mix(_RGB2XYZ, lin) / _WHITE.to(rgb.device, rgb.dtype).view(3, 1, 1)
    f = torch.where(xyz > _EPS, xyz.clamp(min=1e-12) ** (1 / 3), (_KAPPA * xyz + 16) / 116)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=-3)
    xyz = torch.where(f ** 3 > _EPS, f ** 3, (116 * f - 16) / _KAPPA)
    xyz = xyz * _WHITE.to(lab.device, lab.dtype).view(3, 1, 1)
    lin = _mix(_XYZ2RGB, xyz).clamp(0, 1)
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp(min=1e-12) ** (1 / 2.4) - 0.055, 12.92 * lin).clamp(0, 1)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    return _mix(_RGB2YCC, rgb)


def ycbcr_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    return _mix(_YCC2RGB, ycc).clamp(0, 1)


@_exact
def luma(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 Y' of an RGB tensor, keeping the channel dim: (..., 1, H, W). oldfilm's one gray."""
    return (_RGB2YCC[:1].to(rgb.device, rgb.dtype) @ rgb.flatten(-2)).view(*rgb.shape[:-3], 1, *rgb.shape[-2:])


def gray_lightness(y: torch.Tensor) -> torch.Tensor:
    """CIE L* (..., 1, H, W) of the sRGB gray whose R = G = B = ``y`` (a luma, (..., 1, H, W))."""
    return rgb_to_lab(y.expand(*y.shape[:-3], 3, *y.shape[-2:]))[..., :1, :, :]


@_exact
def cbcr_to_rgb_delta(dcbcr: torch.Tensor) -> torch.Tensor:
    """The RGB change (..., 3, H, W) that moves Cb/Cr by ``dcbcr`` (..., 2, H, W) and keeps Y'."""
    m = _YCC2RGB[:, 1:].to(dcbcr.device, dcbcr.dtype)   # (3, 2)
    return (m @ dcbcr.flatten(-2)).view(*dcbcr.shape[:-3], 3, *dcbcr.shape[-2:])


def downsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (B, C, H, W) to ``size``, bilinear: without aliasing when it shrinks."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", antialias=shrink, align_corners=False)


def with_chroma(rgb: torch.Tensor, cbcr: torch.Tensor) -> torch.Tensor:
    """The picture with ``rgb``'s own Y' and the Cb/Cr ``cbcr`` (B, 2, h, w at any size,
    bilinear-upsampled), clamped to [0, 1]. Y' plus the RGB change of the new chroma is the same as
    changing ``rgb``'s chroma to it; the change is made at ``cbcr``'s size (the maps are linear and
    commute), so at full resolution there is one luma, one upsampling and one sum."""
    delta = downsample(cbcr_to_rgb_delta(cbcr.float()), rgb.shape[-2:])
    return delta.add_(luma(rgb.float())).clamp_(0, 1)


def to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] to (B, H, W, 3) uint8 on the CPU, rounded. A gray picture (one
    channel expanded to three) is rounded once and handed on in the writer's layout."""
    if rgb.stride(1) == 0:
        gray = rgb[:, 0].float().mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()
        out = np.empty(gray.shape + (3,), np.uint8)
        for g, o in zip(gray, out):
            cv2.cvtColor(g, cv2.COLOR_GRAY2RGB, dst=o)
        return out
    return rgb.float().mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def with_chroma_u8(rgb: torch.Tensor, cbcr: torch.Tensor) -> np.ndarray:
    """:func:`with_chroma` as (B, H, W, 3) uint8, rounded: the writer's layout (:func:`compose_u8`
    on the CPU)."""
    if rgb.device.type != "cpu":
        return to_uint8(with_chroma(rgb, cbcr))
    return compose_u8(luma(rgb.float()).mul_(255)[:, 0].numpy(), cbcr)


def luma_u8(frames: np.ndarray) -> np.ndarray:
    """:func:`luma` of decoded (B, H, W, 3) uint8 RGB frames as (B, H, W) float32 on a 0-255 scale
    (to float32 rounding), by OpenCV: a tenth of the CPU of making the frames float first."""
    out = np.empty(frames.shape[:3], np.float32)
    for i, frame in enumerate(frames):
        cv2.cvtColor(frame.astype(np.float32), cv2.COLOR_RGB2GRAY, dst=out[i])   # BT.601's weights
    return out


def compose_u8(y255: np.ndarray, cbcr: torch.Tensor) -> np.ndarray:
    """The pictures of Y' ``y255`` ((B, H, W) float32 on a 0-255 scale) with the Cb/Cr ``cbcr``
    (B, 2, h, w at any size) as :func:`with_chroma` makes them, in the writer's (B, H, W, 3) uint8,
    rounded. The chroma's RGB change is upsampled by OpenCV straight into that layout (torch's
    bilinear upsampling and the permute to it cost ~3x more at 640x480), and added to the luma
    with OpenCV's saturating, rounding conversion (~40% less CPU than numpy's add, clip and cast)."""
    b, h, w = y255.shape
    delta = cbcr_to_rgb_delta(cbcr.float()).mul_(255).permute(0, 2, 3, 1).contiguous().numpy()
    out = np.empty((b, h, w, 3), np.uint8)
    for i in range(b):
        up = cv2.resize(delta[i], (w, h), interpolation=cv2.INTER_LINEAR) if delta.shape[1:3] != (h, w) else delta[i]
        cv2.add(up, cv2.merge((y255[i],) * 3), dst=out[i], dtype=cv2.CV_8U)
    return out

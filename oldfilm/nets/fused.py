"""Convolution + ReLU in one oneDNN call at inference on the CPU (what ``torch.compile`` would fuse).

In eager PyTorch a ``Conv2d`` then a ``ReLU`` pass the activations through memory twice; oneDNN's
``mkldnn._convolution_pointwise(..., "relu")`` applies the ReLU inside the convolution. Its
output equals ``relu(conv2d(x))`` bit for bit (tests/test_fused.py), with no compile step. A
BatchNorm between them (the decoder's blocks) is folded into the convolution's weight and bias
first (equal to rounding). Outside inference (autograd on), on other devices, under autocast or
where this torch has no such op, the plain modules run instead.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_OP = getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None)


def fusable(x: torch.Tensor) -> bool:
    """Whether the fused kernels serve this input: fp32 inference on a CPU with oneDNN."""
    return (_OP is not None and x.device.type == "cpu" and x.dtype == torch.float32
            and not torch.is_grad_enabled() and not torch.is_autocast_enabled("cpu")
            and torch.backends.mkldnn.is_available())


def conv_relu(conv: nn.Conv2d, x: torch.Tensor, bn: nn.BatchNorm2d | None = None) -> torch.Tensor:
    """``relu(bn(conv(x)))`` (``bn`` in eval mode, optional) as one oneDNN convolution where
    :func:`fusable`, else by the modules themselves."""
    if not fusable(x) or conv.padding_mode != "zeros" or isinstance(conv.padding, str) or (bn is not None and bn.training):
        y = conv(x)
        return F.relu(bn(y) if bn is not None else y, inplace=True)
    weight, bias = conv.weight, conv.bias
    if bn is not None:
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weight = weight * scale.view(-1, 1, 1, 1)
        bias = bn.bias - bn.running_mean * scale + (bias * scale if bias is not None else 0)
    return _OP(x, weight, bias, list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups,
               "relu", [], "")


def block(seq: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """A ``Sequential(Conv2d, BatchNorm2d, ReLU)`` block (vggcolor's decoder) through :func:`conv_relu`."""
    conv, bn, _ = seq
    return conv_relu(conv, x, bn)

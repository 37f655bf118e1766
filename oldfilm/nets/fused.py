"""Convolution + ReLU in one oneDNN call at inference on the CPU (what ``torch.compile`` would fuse).

In eager PyTorch a ``Conv2d`` then a ``ReLU`` pass the activations through memory twice; oneDNN's
``mkldnn._convolution_pointwise(..., "relu")`` applies the ReLU inside the convolution. Its
output equals ``relu(conv2d(x))`` bit for bit (tests/test_fused.py), with no compile step. A
BatchNorm between them (the decoder's blocks) is folded into the convolution's weight and bias
first (equal to rounding). Under the CPU's bf16 autocast (``--precision auto`` on a CPU with
native bf16) the op runs on the bf16 casts that autocast itself would give the convolution, so its
output again equals the modules' bit for bit; a block with a BatchNorm then runs as modules.
Outside inference (autograd on), on other devices, under any other autocast or where this torch
has no such op, the plain modules run instead.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_OP = getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None)


def fused_dtype(x: torch.Tensor) -> torch.dtype | None:
    """The dtype the fused kernels run this input in: fp32 at inference on a CPU with oneDNN, or
    bf16 under the CPU's bf16 autocast on a CPU with native bf16; None where they do not serve."""
    if (_OP is None or x.device.type != "cpu" or torch.is_grad_enabled()
            or not torch.backends.mkldnn.is_available()):
        return None
    if not torch.is_autocast_enabled("cpu"):
        return torch.float32 if x.dtype == torch.float32 else None
    bf16 = torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return torch.bfloat16 if bf16 else None


def fusable(x: torch.Tensor) -> bool:
    """Whether the fused kernels serve this input (:func:`fused_dtype`)."""
    return fused_dtype(x) is not None


def conv_relu(conv: nn.Conv2d, x: torch.Tensor, bn: nn.BatchNorm2d | None = None) -> torch.Tensor:
    """``relu(bn(conv(x)))`` (``bn`` in eval mode, optional) as one oneDNN convolution where
    :func:`fusable`, else by the modules themselves."""
    dtype = fused_dtype(x)
    if (dtype is None or conv.padding_mode != "zeros" or isinstance(conv.padding, str)
            or (bn is not None and (bn.training or dtype != torch.float32))):
        y = conv(x)
        return F.relu(bn(y) if bn is not None else y, inplace=True)
    weight, bias = conv.weight, conv.bias
    if dtype != torch.float32:   # the casts autocast makes for a convolution
        x, weight = x.to(dtype), weight.to(dtype)
        bias = bias.to(dtype) if bias is not None else None
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

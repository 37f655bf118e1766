"""The colorizer's fast inference paths give the reference paths' results."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from oldfilm.nets import fused
from oldfilm.nets.vggcolor import vggcolor

needs_onednn = pytest.mark.skipif(fused._OP is None or not torch.backends.mkldnn.is_available(),
                                  reason="this torch has no oneDNN fused convolution")


@needs_onednn
@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_conv_relu_is_the_modules_bit_for_bit(channels_last):
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3, padding=1)
    x = torch.randn(2, 16, 20, 28)
    if channels_last:
        conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert fused.fusable(x)
        assert torch.equal(fused.conv_relu(conv, x), torch.relu(conv(x)))


needs_bf16 = pytest.mark.skipif(fused._OP is None or not torch.backends.mkldnn.is_available()
                                or not torch.ops.mkldnn._is_mkldnn_bf16_supported(),
                                reason="this CPU has no native bf16 (oneDNN)")


@needs_bf16
def test_under_bf16_autocast_the_fused_trunk_is_the_modules_bit_for_bit():
    """``--precision auto`` on a CPU with bf16: the VGG16 trunk's fused convolutions give exactly
    what autocast gives the modules (bf16 outputs), and a BatchNorm block runs as modules."""
    torch.manual_seed(0)
    net = vggcolor(width=16).eval()
    rgb = torch.rand(1, 3, 40, 56).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert fused.fused_dtype(rgb) == torch.bfloat16
        fast = net.trunk(rgb, ("relu3_3", "relu5_3"))
        fast_logits = net.logits(rgb[:, :1] * 100)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(fused, "_OP", None)   # the plain modules under autocast
            slow = net.trunk(rgb, ("relu3_3", "relu5_3"))
            slow_logits = net.logits(rgb[:, :1] * 100)
    assert all(a.dtype == torch.bfloat16 and torch.equal(a, b) for a, b in zip(fast, slow))
    assert torch.equal(fast_logits, slow_logits)


def test_other_autocasts_take_the_modules():
    x = torch.randn(1, 3, 8, 8)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.float16):
        assert fused.fused_dtype(x) is None


@needs_onednn
def test_a_folded_batchnorm_block_matches_the_sequential():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
    with torch.no_grad():   # BatchNorm statistics that do something
        bn = seq[1]
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.uniform_(0.5, 2), bn.bias.uniform_(-1, 1)
    seq.eval()
    x = torch.randn(1, 8, 12, 16)
    with torch.inference_mode():
        assert torch.allclose(fused.block(seq, x), seq(x), atol=1e-5)


def test_training_and_autograd_take_the_modules():
    """With gradients on (training, perceptual losses) the plain modules run, and gradients flow."""
    conv = nn.Conv2d(3, 4, 3, padding=1)
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    assert not fused.fusable(x)
    fused.conv_relu(conv, x).sum().backward()
    assert x.grad is not None and conv.weight.grad is not None


@needs_onednn
def test_vggcolor_fast_inference_equals_the_reference_path():
    """Trunk and decoder with the fused kernels against the same network with them off."""
    torch.manual_seed(0)
    net = vggcolor(width=16, gain=0.8, calibration=2.0).eval()
    for m in net.modules():   # non-trivial BatchNorm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 2)
    L = torch.rand(1, 1, 48, 64) * 100
    with torch.inference_mode():
        fast = net.logits(L)
    with torch.inference_mode(), pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused, "_OP", None)   # the plain modules
        slow = net.logits(L)
    assert torch.allclose(fast, slow, atol=1e-4 * slow.abs().max())

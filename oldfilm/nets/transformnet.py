"""TransformNet: the blind video temporal-consistency network of Lai et al. 2018 (ECCV).

Written from the public code (github.com/phoenix104104/fast_blind_video_consistency, MIT) so that
its weights, ``ECCV18_blind_consistency.pth``, load strictly after :func:`convert_lai`.

Contract, one frame at a time (t >= 1; frame 0 is passed through, O_0 = P_0)::

    x = cat(P_t, O_{t-1}, I_t, I_{t-1})        # (B, 12, H, W), RGB in [0, 1], H and W multiples of 4
    y, state = net(x, state)                   # state None at the first frame of a shot
    O_t = P_t + y                              # y = tanh(...) in (-1, 1)

P is the per-frame processed video (colorized, cartoonized...), I the original input video (a gray
film as 3 equal channels), O the output. The public test feeds back O_{t-1} as read from the saved
8-bit frame, i.e. clamped to [0, 1].

Architecture facts (public code, options nf=32, blocks=5, norm="IN"): two 7x7 stride-1 encoders
(``conv1a`` on P_t, O_{t-1}; ``conv1b`` on I_t, I_{t-1}), two 3x3 stride-2 convs, a 3x3 stride-2
conv on their concatenation, ``blocks`` residual blocks (conv, LeakyReLU, conv, + input; no
activation after the sum), a ConvLSTM (one 3x3 zero-padded ``Gates`` conv over cat(input, hidden),
gate chunks in the order input, remember, output, cell), two nearest-x2-upsample + 3x3 convs with
skip concatenations of the ``a`` branch, a 7x7 conv to 3 channels, tanh. Every other conv is
reflection-padded; activations are LeakyReLU(0.2).

Normalisation: the public ``ConvLayer`` builds an ``InstanceNorm2d(track_running_stats=True)``
``norm_layer`` for norm="IN" but applies it only ``if self.norm in ["BN" or "IN"]``, which is
``in ["BN"]``: for the released model (norm="IN", hence ``use_bias = True``) the norm layers are
never run and their buffers (running_mean 0, running_var 1, num_batches_tracked 0) hold nothing.
This module therefore has no norm layers, and :func:`convert_lai` drops those buffers after
checking they are still at their initial values.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from ..weights import ModelEntry

State = tuple[torch.Tensor, torch.Tensor]   # (hidden, cell) of the ConvLSTM


class ReflectConv(nn.Module):
    """Reflection pad + conv, optionally after a nearest x2 upsampling (public ``ConvLayer`` and
    ``UpsampleConvLayer``; the conv is kept under the name ``conv2d`` for the public keys)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, upsample: bool = False):
        super().__init__()
        self.pad = kernel // 2
        self.upsample = upsample
        self.conv2d = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv2d(F.pad(x, (self.pad,) * 4, mode="reflect"))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ReflectConv(channels, channels, 3)
        self.conv2 = ReflectConv(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.2))


class ConvLSTM(nn.Module):
    """Convolutional LSTM cell; gates = Gates(cat(x, h)) chunked as input, forget, output, cell."""

    def __init__(self, channels: int, hidden: int, kernel: int = 3):
        super().__init__()
        self.hidden = hidden
        self.Gates = nn.Conv2d(channels + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, state: State | None = None) -> State:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden, *x.shape[2:])
            state = (zeros, zeros)
        h, c = state
        i, f, o, g = self.Gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class TransformNet(nn.Module):
    def __init__(self, *, nf: int = 32, blocks: int = 5):
        super().__init__()
        self.conv1a = ReflectConv(6, nf, 7)            # P_t, O_{t-1}
        self.conv1b = ReflectConv(6, nf, 7)            # I_t, I_{t-1}
        self.conv2a = ReflectConv(nf, nf * 2, 3, 2)
        self.conv2b = ReflectConv(nf, nf * 2, 3, 2)
        self.conv3 = ReflectConv(nf * 4, nf * 4, 3, 2)
        self.ResBlocks = nn.ModuleList(ResidualBlock(nf * 4) for _ in range(blocks))
        self.convlstm = ConvLSTM(nf * 4, nf * 4)
        self.deconv1 = ReflectConv(nf * 4, nf * 2, 3, upsample=True)
        self.deconv2 = ReflectConv(nf * 4, nf, 3, upsample=True)
        self.deconv3 = ReflectConv(nf * 2, 3, 7)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """``x`` (B, 12, H, W) as in the module docstring -> (residual in (-1, 1), new state)."""
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"TransformNet needs sizes that are multiples of 4, got {tuple(x.shape[-2:])}")
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        e1a, e1b = act(self.conv1a(x[:, :6])), act(self.conv1b(x[:, 6:]))
        e2a, e2b = act(self.conv2a(e1a)), act(self.conv2b(e1b))
        r = act(self.conv3(torch.cat([e2a, e2b], 1)))
        for block in self.ResBlocks:
            r = block(r)
        state = self.convlstm(r, state)
        d2 = act(self.deconv1(state[0]))
        d1 = act(self.deconv2(torch.cat([d2, e2a], 1)))
        return torch.tanh(self.deconv3(torch.cat([d1, e1a], 1))), state

    def step(self, p: torch.Tensor, o_prev: torch.Tensor, i: torch.Tensor, i_prev: torch.Tensor,
             state: State | None = None) -> tuple[torch.Tensor, State]:
        """One frame: (B, 3, H, W) tensors in [0, 1] -> (O_t = P_t + residual, unclamped; state)."""
        y, state = self(torch.cat([p, o_prev, i, i_prev], 1), state)
        return p + y, state


def transformnet(*, nf: int = 32, blocks: int = 5) -> TransformNet:
    return TransformNet(nf=nf, blocks=blocks)


# ----------------------------------------------------------------------------- public weights

def convert_lai(path: str | Path) -> dict[str, torch.Tensor]:
    """Read Lai et al.'s ``ECCV18_blind_consistency.pth`` (a user's download) into a state dict
    for :class:`TransformNet`, ready for safetensors.

    The file is untrusted: it is read with ``weights_only=True`` (plain tensors and containers,
    no code); anything else raises :class:`WeightsError`. The public ``train.py`` saves
    ``{'model': state_dict, 'optimizer': ...}`` from an unwrapped model; a bare state dict and a
    DataParallel ``module.`` prefix are accepted too. The norm layers' buffers are dropped (see
    the module docstring) once checked unused; a file whose norm layers were trained (norm="BN",
    applied in the public forward) is refused.
    """
    from .public import read_public_state

    state = read_public_state(path, "Lai et al. TransformNet", container_key="model")
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if ".norm_layer." in key:
            name = key.rsplit(".", 1)[1]
            initial = {"running_mean": 0.0, "running_var": 1.0, "num_batches_tracked": 0}.get(name)
            if initial is None or not bool((value == initial).all()):
                raise WeightsError(f"{path}: {key} was trained (a norm='BN' model); only the released "
                                   f"norm='IN' model, whose norm layers are never applied, is supported")
            continue
        out[key] = value.detach().float().contiguous()
    return out


def lai_config(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """Builder keywords (nf, blocks) implied by a converted state dict."""
    blocks = {k.split(".")[1] for k in state if k.startswith("ResBlocks.")}
    return {"nf": int(state["conv1a.conv2d.weight"].shape[0]), "blocks": len(blocks)}


MODELS = [ModelEntry(
    name="lai-eccv18", task="stabilize", builder=transformnet, file="lai-eccv18.safetensors",
    license="MIT", source="https://github.com/phoenix104104/fast_blind_video_consistency "
    "(ECCV18_blind_consistency.pth, Lai et al. 2018; install with `oldfilm models import lai-eccv18 FILE`)",
    config={"nf": 32, "blocks": 5}, convert=convert_lai,
    url="http://vllab.ucmerced.edu/wlai24/video_consistency/models/ECCV18_blind_consistency.pth",
)]

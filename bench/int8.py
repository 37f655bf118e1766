"""An int8 VGG16 trunk for vggcolor, measured against quality (issue 15; not shipped: see bench/README.md).

    python bench/int8.py --calibrate 64 [--float-ends] --speed
    python bench/int8.py --calibrate 64 [--float-ends] -- --data /work/data/colorizer --half calibration \\
        --clips /work/data/val/bikes.mp4 --models vggcolor-v2

Post-training static quantization with PyTorch's eager x86 backend (fbgemm; AVX2 is enough):
conv + ReLU fused, weights per output channel, activations by histogram observers calibrated on
``--calibrate`` pictures of the training split of /work/data/colorizer (never the held-out split),
at the model's render size. ``--float-ends``: conv1_1 and the conv5 block stay in float (the
cheapest layers, the input's and the deepest features). ``--speed``: the trunk's time per call at
192x144, float (fused, as shipped) and int8 alternated. Otherwise the arguments after ``--`` go
to bench/colorizers.py, run with the int8 trunk in the model.
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from pathlib import Path

import torch
import torch.ao.quantization as tq
from torch import nn

from oldfilm import weights
from oldfilm.nets.vgg16 import CONV_INDEX
from oldfilm.train.colorizer import _collect, in_val_split, load_items

TAPS = [CONV_INDEX[n] + 1 for n in ("conv3_3", "conv4_3", "conv5_3")]
CONV5 = CONV_INDEX["conv5_1"]


class Int8Trunk(nn.Module):
    """The trunk's taps relu3_3, relu4_3, relu5_3 from a quantized copy of ``vgg``'s features."""

    def __init__(self, vgg: nn.Module, float_ends: bool):
        super().__init__()
        self.register_buffer("mean", vgg.mean.clone())
        self.first, self.last = (2, CONV5) if float_ends else (0, len(vgg.features))
        self.quant, self.dequant = tq.QuantStub(), nn.ModuleList([tq.DeQuantStub() for _ in range(3)])
        self.features = copy.deepcopy(vgg.features[:TAPS[-1] + 1])
        convs = [i for i, m in enumerate(self.features) if isinstance(m, nn.Conv2d)]
        tq.fuse_modules(self.features, [[str(i), str(i + 1)] for i in convs], inplace=True)
        self.qconfig = tq.get_default_qconfig("x86")
        for i, m in enumerate(self.features):
            if not self.first <= i < self.last:
                m.qconfig = None

    def forward(self, rgb: torch.Tensor, layers=None) -> list[torch.Tensor]:
        x, out = rgb.flip(1) * 255.0 - self.mean, []
        for i, m in enumerate(self.features):
            if i == self.first:
                x = self.quant(x)
            if i == self.last:
                x = self.dequant[2](x)
            x = m(x)
            if i in TAPS:
                out.append(self.dequant[len(out)](x) if i < self.last else x)
        return out


def quantize(net: nn.Module, pictures: int, float_ends: bool) -> Int8Trunk:
    torch.backends.quantized.engine = "x86"
    q = tq.prepare(Int8Trunk(net.trunk, float_ends).eval())
    files = [f for f in _collect((Path("/work/data/colorizer"),)) if not in_val_split(f[1], 0.15)]
    random.Random(0).shuffle(files)
    transforms = weights.get("vggcolor-v2").transforms
    with torch.inference_mode():
        for item in load_items(files[:pictures], 384, 1.0)[0]:
            q(net.gray_rgb(transforms.pre(item.rgb[None].float() / 255)))
    return tq.convert(q)


def speed(net: nn.Module, q: nn.Module, reps: int = 10) -> None:
    rgb = net.gray_rgb(torch.rand(1, 1, 144, 192) * 100).contiguous(memory_format=torch.channels_last)
    runs = {"float": lambda: net.trunk(rgb, ("relu3_3", "relu4_3", "relu5_3")), "int8": lambda: q(rgb)}
    times = {k: [] for k in runs}
    with torch.inference_mode():
        for f in runs.values():
            f()
        for _ in range(reps):
            for k, f in runs.items():
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
    med = {k: sorted(v)[reps // 2] * 1000 for k, v in times.items()}
    print(f"trunk at 192x144, {torch.get_num_threads()} threads: float {med['float']:.0f} ms, int8 {med['int8']:.0f} ms "
          f"per call (median of {reps}, alternated): {med['int8'] / med['float']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calibrate", type=int, default=64, help="training-split pictures to calibrate on")
    ap.add_argument("--float-ends", action="store_true")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("rest", nargs=argparse.REMAINDER, help="-- then bench/colorizers.py's arguments")
    args = ap.parse_args()
    load = weights.load

    def int8_load(name, **kw):
        net = load(name, **kw)
        net.trunk = quantize(net, args.calibrate, args.float_ends)
        return net

    if args.speed:
        net = load("vggcolor-v2")
        torch.set_num_threads(2)
        speed(net, quantize(net, args.calibrate, args.float_ends))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    import colorizers

    colorizers.weights.load = int8_load
    sys.argv = [sys.argv[0]] + [a for a in args.rest if a != "--"]
    colorizers.main()


if __name__ == "__main__":
    main()

"""The colorizer network's cost per call, split into trunk, decoder and decoding (issue 15).

    python bench/netcost.py [--model vggcolor-v2] [--size 192x144] [--reps 10] [--threads 2]

One key-frame call of a vggcolor model at its render size (192x144 for a 4:3 film), timed in one
run with the paths alternated, so the ratios hold on a loaded machine: ``plain`` (each
Conv2d/BatchNorm/ReLU module on its own, as before issue 15) and ``fused`` (conv + ReLU, with the
decoder's BatchNorm folded, as one oneDNN call: ``oldfilm/nets/fused.py``; the default at CPU
inference). Parts: trunk (VGG16 conv1_1..conv5_3), decoder (to the last features), decoding
(head, annealed mean, the expected-CIEDE2000 safest-scale rule, upsampling), and the whole
``forward``. ``bf16 plain`` / ``bf16 fused``: the same under bf16 autocast (what ``--precision
auto`` runs on a CPU with native bf16; the trunk's fused kernels then run in bf16). Prints the
CPU, its bf16 support and the torch threads.
"""
from __future__ import annotations

import argparse
import contextlib
import time

import torch

from oldfilm import weights
from oldfilm.nets import fused
from oldfilm.pipeline import cpu_bf16_supported, cpu_name

LAYERS = ("relu3_3", "relu4_3", "relu5_3")


PATHS = ("plain", "fused", "bf16 plain", "bf16 fused")


@contextlib.contextmanager
def path(name: str):
    """``plain``: the fused kernels switched off (the modules run one by one); ``fused``: as
    shipped; ``bf16 ...``: the same under the pipeline's bf16 autocast (``--precision auto`` on a
    CPU with native bf16)."""
    op = fused._OP
    if name.endswith("plain"):
        fused._OP = None
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name.startswith("bf16")):
            yield
    finally:
        fused._OP = op


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=weights.default("colorize"))
    ap.add_argument("--size", default="192x144", help="WxH the network sees")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = weights.load(args.model)
    w, h = map(int, args.size.split("x"))
    L = torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(0)) * 100
    rgb = net.gray_rgb(L).contiguous(memory_format=torch.channels_last)
    parts = {
        "trunk": lambda: net.trunk(rgb, LAYERS),
        "trunk+decoder": lambda: net.features(L),
        "decoding": lambda: net.chroma(net.head(feats), L, feats),
        "forward": lambda: net(L),
    }
    times = {(p, k): [] for p in PATHS for k in parts}
    with torch.inference_mode():
        feats = net.features(L)
        for p in PATHS:
            with path(p):
                for f in parts.values():
                    f()   # warm-up (and the one-time CIEDE2000 table)
                    f()
        for _ in range(args.reps):
            for p, k in times:
                with path(p):
                    t0 = time.perf_counter()
                    parts[k]()
                    times[p, k].append(time.perf_counter() - t0)
    med = {key: sorted(v)[len(v) // 2] * 1000 for key, v in times.items()}
    print(f"{args.model} at {w}x{h}, {torch.get_num_threads()} threads, {cpu_name()}, bf16 {cpu_bf16_supported()}, "
          f"torch {torch.__version__}; ms per call, median of {args.reps}, alternated")
    print("| part | " + " | ".join(PATHS) + " | fused / plain | bf16 fused / plain | bf16 fused / fp32 fused |")
    print("|---" * (len(PATHS) + 4) + "|")
    for k in parts:
        label = "decoder" if k == "trunk+decoder" else k
        a, b, c, d = (med[p, k] - (med[p, "trunk"] if k == "trunk+decoder" else 0) for p in PATHS)
        print(f"| {label} | {a:.0f} | {b:.0f} | {c:.0f} | {d:.0f} | {b / a:.2f} | {d / c:.2f} | {d / b:.2f} |")


if __name__ == "__main__":
    main()

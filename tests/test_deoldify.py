"""DeOldify's public generators: exact key layout, outputs against the public code (run once outside
this repository, stored as a golden fixture), safe conversion of fastai saves, installation, and
``oldfilm colorize --model deoldify-*`` on a tiny clip."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from safetensors.torch import load_file

from conftest import ff, decode

from oldfilm import weights
from oldfilm.errors import WeightsError
from oldfilm.nets.deoldify import DeOldify, convert_deoldify, deoldify
from oldfilm.ops.color import rgb_to_lab

FIXTURES = Path(__file__).parent / "fixtures"
BACKBONE = {"video": "resnet101", "stable": "resnet101", "artistic": "resnet34"}


def _fixture(name: str) -> dict[str, tuple[int, ...]]:
    return {k: tuple(s) for k, s in json.loads((FIXTURES / name).read_text())["keys"].items()}


KEYS = {b: _fixture(f"deoldify_{b}_keys.json") for b in ("resnet101", "resnet34")}


def fixed_state(keys: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Fixed random values for every key of a public file. Convs ~ N(0, 2/fan_in); a spectral-norm
    conv's weight_orig is that times a factor s in [0.5, 1.5) and its stored u, v give
    sigma = u . W v = s exactly (so a missing division shows); weight-norm g = |v|; BatchNorm
    weights around 0.5 and running variances in [1, 3) (activations stay O(0.1), the output's
    sigmoid far from saturation); self-attention gamma 3 (so its path shows in the output)."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    sigma: dict[str, torch.Tensor] = {}
    for key, shape in keys.items():
        prefix, name = key.rsplit(".", 1)
        spectral = f"{prefix}.weight_orig" in keys
        if name in ("weight_u", "weight_g") or (name == "weight_v" and spectral):
            continue                                          # derived below
        if name == "num_batches_tracked":
            sd[key] = torch.tensor(1000)
        elif len(shape) >= 3:                                 # conv weights (2-d and the attention's 1-d)
            sd[key] = torch.randn(shape, generator=g) * math.sqrt(2 / math.prod(shape[1:]))
            if name == "weight_orig":
                sigma[prefix] = 0.5 + torch.rand((), generator=g)
                sd[key] *= sigma[prefix]
        elif name == "gamma":
            sd[key] = torch.full(shape, 3.0)
        elif name == "running_var":
            sd[key] = 1.0 + 2.0 * torch.rand(shape, generator=g)
        elif name == "weight":
            sd[key] = 0.5 + 0.05 * torch.randn(shape, generator=g)
        else:                                                 # biases, running means
            sd[key] = 0.1 * torch.randn(shape, generator=g)
    for key, shape in keys.items():
        prefix, name = key.rsplit(".", 1)
        if name == "weight_u":
            w = sd[f"{prefix}.weight_orig"]
            v = torch.randn(math.prod(w.shape[1:]), generator=g)
            v = v / v.norm()
            wv = w.flatten(1) @ v
            sd[key] = wv * (sigma[prefix] / wv.dot(wv))       # u . W v = s
            sd[f"{prefix}.weight_v"] = v
        elif name == "weight_g":
            sd[key] = torch.linalg.vector_norm(sd[f"{prefix}.weight_v"], dim=(1, 2, 3), keepdim=True)
    return {k: sd[k] for k in keys}


def golden_input() -> torch.Tensor:
    """A gray picture (1, 3, 48, 64) in [0.05, 0.95]: smooth blobs plus fine texture. 48 is a
    multiple of 16 but not of 32, so the decoder's nearest-neighbour fix-up runs."""
    g = torch.Generator().manual_seed(7)
    coarse = F.interpolate(torch.rand(1, 1, 6, 8, generator=g), size=(48, 64), mode="bilinear", align_corners=False)
    x = 0.05 + 0.9 * (0.8 * coarse + 0.2 * torch.rand(1, 1, 48, 64, generator=g))
    return x.expand(-1, 3, -1, -1).contiguous()


@pytest.fixture(scope="module")
def states() -> dict[str, dict[str, torch.Tensor]]:
    torch.set_num_threads(1)
    return {b: fixed_state(k) for b, k in KEYS.items()}


# ----------------------------------------------------------------------------- (a) key layout

@pytest.mark.parametrize("variant", ["video", "stable", "artistic"])
def test_keys_and_shapes_are_the_public_ones(variant):
    with torch.device("meta"):
        ours = {k: tuple(v.shape) for k, v in DeOldify(variant=variant).state_dict().items()}
    want = KEYS[BACKBONE[variant]]
    assert len(want) == {"resnet101": 754, "resnet34": 378}[BACKBONE[variant]]
    assert list(ours.items()) == list(want.items())


def test_parameter_counts_are_the_public_ones():
    for variant, backbone in (("video", "resnet101"), ("artistic", "resnet34")):
        with torch.device("meta"):
            n = sum(p.numel() for p in DeOldify(variant=variant).parameters())
        assert n == json.loads((FIXTURES / f"deoldify_{backbone}_keys.json").read_text())["parameters"]


# ----------------------------------------------------------------------------- (b) outputs

GOLDEN = FIXTURES / "deoldify_golden.safetensors"


@pytest.mark.parametrize("variant", ["video", "artistic"])
def test_output_equals_the_public_code(states, variant):
    """The golden RGB was computed by DeOldify's own code (see the fixture's note) from the same
    fixed weights and picture: their normalisation, DynamicUnet, de-normalisation, clamp."""
    want = load_file(GOLDEN)[BACKBONE[variant]]
    net = deoldify(variant=variant, square=False, weights=states[BACKBONE[variant]]).eval()
    x = golden_input()
    t = dataclasses.replace(weights.get(f"deoldify-{variant}").transforms, render_size=64)   # 48x64: no resize
    with torch.inference_mode():
        rgb = net(x)
        ab = t.post(net(t.pre(x)), x)   # the stage's path: the frame's luma in, a*b* out
    assert want.std() > 0.01 and (want - want.mean((2, 3), keepdim=True)).abs().max() > 0.02   # not a flat output
    torch.testing.assert_close(rgb, want, atol=2e-5, rtol=0)
    torch.testing.assert_close(ab, rgb_to_lab(want)[:, 1:], atol=2e-3, rtol=0)


def test_square_stretch_is_deoldify_s(states):
    """A non-square frame goes through the network as a square of its long side, and back."""
    net = deoldify(variant="artistic", weights=states["resnet34"]).eval()
    x = golden_input()
    with torch.inference_mode():
        got = net(x)
        net.square = False
        sq = net(F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False))
    assert got.shape == x.shape
    torch.testing.assert_close(got, F.interpolate(sq, size=(48, 64), mode="bilinear", align_corners=False).clamp(0, 1))


# ----------------------------------------------------------------------------- (c) weight files

def _fastai_save(sd: dict[str, torch.Tensor], path: Path) -> None:
    """What fastai's Learner.save(with_opt=True) writes: the model's and the optimiser's state."""
    opt = {"state": {}, "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.99), "eps": 1e-5, "weight_decay": 1e-3,
                                          "amsgrad": False, "params": [0, 1, 2]}]}
    torch.save({"model": sd, "opt": opt}, path)


def test_convert_accepts_fastai_and_bare_saves_and_picks_the_backbone(tmp_path, states):
    sd = states["resnet34"]
    _fastai_save(sd, tmp_path / "learner.pth")
    torch.save(sd, tmp_path / "bare.pth")
    for name in ("learner.pth", "bare.pth"):
        state = convert_deoldify(tmp_path / name)   # no variant: ResNet-34 -> artistic
        assert list(state) == list(KEYS["resnet34"])
        assert all(torch.equal(state[k], sd[k].float()) and state[k].dtype == torch.float32 for k in sd)
    with pytest.raises(WeightsError, match=r"layers\.0\.4\.0\.conv1\.weight has shape .* for DeOldify video"):
        convert_deoldify(tmp_path / "bare.pth", variant="video")
    torch.save({k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}, tmp_path / "old.pth")
    state = convert_deoldify(tmp_path / "old.pth", variant="artistic")   # saved before torch 0.4.1
    assert state["layers.1.num_batches_tracked"].device.type == "cpu" and state["layers.1.num_batches_tracked"] == 0


def test_altered_shape_or_key_is_refused_in_one_line(tmp_path, states):
    sd = dict(states["resnet34"])
    key = "layers.5.conv2.3.query.weight_orig"
    sd[key] = torch.zeros(95, 768, 1)
    _fastai_save(sd, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match=rf"{key} has shape \(95, 768, 1\), expected \(96, 768, 1\)") as err:
        convert_deoldify(tmp_path / "shape.pth")
    assert "\n" not in str(err.value)
    torch.save({**states["resnet34"], "layers.12.weight": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(WeightsError, match=r"unexpected key layers\.12\.weight"):
        convert_deoldify(tmp_path / "extra.pth")
    torch.save({"model": [1, 2], "opt": {}}, tmp_path / "nostate.pth")
    with pytest.raises(WeightsError, match="holds no state dict"):
        convert_deoldify(tmp_path / "nostate.pth")


def test_import_and_colorize_end_to_end(tmp_path, states):
    """`oldfilm models import deoldify-artistic FILE` on a fastai save, then `oldfilm colorize
    --model deoldify-artistic` on a 64x64 gray clip: the frames gain colour, their luma stays.
    (The ResNet-34 variant keeps this quick; video/stable go through the same code.)"""
    from oldfilm.cli import cli

    src = tmp_path / "ColorizeArtistic_gen.pth"
    _fastai_save(states["resnet34"], src)
    models = tmp_path / "models"
    runner = CliRunner()
    res = runner.invoke(cli, ["models", "import", "deoldify-artistic", str(src), "--models-dir", str(models)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in models.iterdir()) == ["deoldify-artistic.safetensors"]
    net = weights.load("deoldify-artistic", models_dir=models)
    assert isinstance(net, DeOldify) and net.variant == "artistic" and not net.training
    for k, v in net.state_dict().items():
        assert torch.equal(v.float(), states["resnet34"][k].float()), k
    res = runner.invoke(cli, ["models", "import", "deoldify-video", str(src), "--models-dir", str(tmp_path / "v")])
    assert res.exit_code != 0 and "for DeOldify video" in res.output

    clip, out = tmp_path / "gray.mp4", tmp_path / "colour.mp4"
    ff("-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10:duration=0.2,hue=s=0", "-c:v", "libx264",
       "-pix_fmt", "yuv444p", str(clip))
    res = runner.invoke(cli, ["colorize", str(clip), "-o", str(out), "--model", "deoldify-artistic", "--render-size",
                              "64", "--no-stabilize", "--models-dir", str(models)])
    assert res.exit_code == 0, res.output
    before, after = decode(clip).astype(np.float32), decode(out).astype(np.float32)
    assert after.shape == before.shape
    to_yuv = np.array([[0.299, -0.169, 0.5], [0.587, -0.331, -0.419], [0.114, 0.5, -0.081]], np.float32)
    before, after = before @ to_yuv, after @ to_yuv
    assert np.abs(after[..., 1:]).mean() > np.abs(before[..., 1:]).mean() + 1.0
    assert np.abs(after[..., 0] - before[..., 0]).mean() < 4.0


def test_registry_entries():
    for variant, file, factor in (("video", "ColorizeVideo_gen.pth", 21), ("stable", "ColorizeStable_gen.pth", 35),
                                  ("artistic", "ColorizeArtistic_gen.pth", 35)):
        e = weights.get(f"deoldify-{variant}")
        assert e.task == "colorize" and e.builder is deoldify and e.config == {"variant": variant}
        assert e.file == f"deoldify-{variant}.safetensors" and e.transforms.render_size == factor * 16
        assert file in e.source and f"oldfilm models import deoldify-{variant} {file}" in e.source
        assert e.url.startswith("https://") and file in e.url and "MIT" in e.license

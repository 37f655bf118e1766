"""Public cartoon generators (CartoonGAN, AnimeGANv2): exact key layout, outputs against an
independent functional re-implementation, safe weight conversion and installation; and the
``oldfilm train cartoon`` command on tiny data."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image

from conftest import ff

from oldfilm import weights
from oldfilm.errors import BadInput, WeightsError
from oldfilm.nets.animegan import (AnimeGANTransforms, animegan2, animegan_apply, animegan_post, animegan_pre,
                                   convert_animegan)
from oldfilm.nets.cartoon_disc import cartoon_discriminator
from oldfilm.nets.cartoongan import (CartoonGANTransforms, cartoongan, cartoongan_apply, cartoongan_post, cartoongan_pre,
                                     convert_cartoongan, public_resize_shape)

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture(name: str) -> dict[str, tuple[int, ...]]:
    return {k: tuple(s) for k, s in json.loads((FIXTURES / name).read_text())["keys"].items()}


CARTOONGAN_KEYS = _fixture("cartoongan_keys.json")
ANIMEGAN_KEYS = _fixture("animegan2_keys.json")


def public_state(keys: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Fixed random values for every key of a public file: convs ~ N(0, 1/fan_in), norm scales
    around 1, biases and shifts small."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in keys.items():
        if len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            if key in ("deconv01_1.weight", "deconv02_1.weight"):
                fan_in = shape[0] * shape[2] * shape[3]   # ConvTranspose2d: (in, out, kh, kw)
            sd[key] = torch.randn(shape, generator=g) / math.sqrt(fan_in)
        elif key.endswith(".scale") or (key.endswith(".weight") and len(shape) == 1):
            sd[key] = 1.0 + 0.2 * torch.randn(shape, generator=g)
        else:
            sd[key] = 0.1 * torch.randn(shape, generator=g)
    return sd


# ----------------------------------------------------------------------------- (a) key layout

def test_cartoongan_keys_and_shapes_are_the_public_ones():
    ours = {k: tuple(v.shape) for k, v in cartoongan().state_dict().items()}
    assert len(CARTOONGAN_KEYS) == 94
    assert list(ours.items()) == list(CARTOONGAN_KEYS.items())


def test_animegan2_keys_and_shapes_are_the_public_ones():
    ours = {k: tuple(v.shape) for k, v in animegan2().state_dict().items()}
    assert len(ANIMEGAN_KEYS) == 77
    assert list(ours.items()) == list(ANIMEGAN_KEYS.items())


# ----------------------------------------------------------------------------- (b) outputs

def reference_cartoongan(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """From the public Transformer.py, with plain functional ops: reflection-padded 7x7 convs at
    both ends, zero-padded stride-2 convs, 8 residual blocks, transposed convs (stride 2, pad 1,
    output_padding 1), instance norm = (x - mean) / sqrt(biased var + 1e-9) * scale + shift."""
    def conv(name, t, stride=1, padding=0, reflect=0):
        if reflect:
            t = F.pad(t, (reflect,) * 4, mode="reflect")
        return F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], stride=stride, padding=padding)

    def deconv(name, t):
        return F.conv_transpose2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], stride=2, padding=1,
                                  output_padding=1)

    def norm(name, t):
        mean = t.mean(dim=(2, 3), keepdim=True)
        var = ((t - mean) ** 2).mean(dim=(2, 3), keepdim=True)
        y = (t - mean) / torch.sqrt(var + 1e-9)
        return y * sd[f"{name}.scale"].view(1, -1, 1, 1) + sd[f"{name}.shift"].view(1, -1, 1, 1)

    y = F.relu(norm("in01_1", conv("conv01_1", x, reflect=3)))
    y = F.relu(norm("in02_1", conv("conv02_2", conv("conv02_1", y, 2, 1), 1, 1)))
    y = F.relu(norm("in03_1", conv("conv03_2", conv("conv03_1", y, 2, 1), 1, 1)))
    for i in range(4, 12):
        r = F.relu(norm(f"in{i:02d}_1", conv(f"conv{i:02d}_1", y, reflect=1)))
        y = norm(f"in{i:02d}_2", conv(f"conv{i:02d}_2", r, reflect=1)) + y
    y = F.relu(norm("in12_1", conv("deconv01_2", deconv("deconv01_1", y), 1, 1)))
    y = F.relu(norm("in13_1", conv("deconv02_2", deconv("deconv02_1", y), 1, 1)))
    return torch.tanh(conv("deconv03_1", y, reflect=3))


def reference_animegan(sd: dict[str, torch.Tensor], x: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """From the public model.py, with plain functional ops: reflection pad, conv, GroupNorm with one
    group (mean/var over C, H, W, eps 1e-5, per-channel affine), LeakyReLU 0.2; stride-2 convs pad
    right/bottom by 1 only; decoder upsamples x2 (scale_factor, align_corners=False) or to the exact
    sizes (align_corners=True)."""
    def gn(p, t):
        mean = t.mean(dim=(1, 2, 3), keepdim=True)
        var = ((t - mean) ** 2).mean(dim=(1, 2, 3), keepdim=True)
        y = (t - mean) / torch.sqrt(var + 1e-5)
        return y * sd[f"{p}.weight"].view(1, -1, 1, 1) + sd[f"{p}.bias"].view(1, -1, 1, 1)

    def cnl(p, t, pad=(1, 1, 1, 1), stride=1, groups=1):
        w = sd[f"{p}.1.weight"]
        t = F.conv2d(F.pad(t, pad, mode="reflect"), w, sd.get(f"{p}.1.bias"), stride=stride, groups=groups)
        return F.leaky_relu(gn(f"{p}.2", t), 0.2)

    def irb(p, t):
        y = cnl(f"{p}.layers.0", t, pad=(0, 0, 0, 0))
        y = cnl(f"{p}.layers.1", y, groups=y.shape[1])
        y = gn(f"{p}.layers.3", F.conv2d(y, sd[f"{p}.layers.2.weight"]))
        return y + t if y.shape == t.shape else y

    def up(t, size):
        if align_corners:
            return F.interpolate(t, size, mode="bilinear", align_corners=True)
        return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

    a = cnl("block_a.0", x, pad=(3, 3, 3, 3))
    a = cnl("block_a.1", a, pad=(0, 1, 0, 1), stride=2)
    a = cnl("block_a.2", a)
    y = cnl("block_b.0", a, pad=(0, 1, 0, 1), stride=2)
    y = cnl("block_c.0", cnl("block_b.1", y))
    for i in range(1, 5):
        y = irb(f"block_c.{i}", y)
    y = cnl("block_c.5", y)
    y = cnl("block_d.1", cnl("block_d.0", up(y, a.shape[-2:])))
    y = up(y, x.shape[-2:])
    y = cnl("block_e.2", cnl("block_e.1", cnl("block_e.0", y)), pad=(3, 3, 3, 3))
    return torch.tanh(F.conv2d(y, sd["out_layer.0.weight"]))


@pytest.mark.parametrize("size", [(32, 32), (30, 26)])
def test_cartoongan_matches_the_reference(size):
    torch.manual_seed(0)
    sd = public_state(CARTOONGAN_KEYS)
    net = cartoongan(weights=sd).eval()
    x = torch.rand(1, 3, *size) * 2 - 1
    with torch.no_grad():
        ours, ref = net(x), reference_cartoongan(sd, x)
    h, w = size
    assert ours.shape == ref.shape == (1, 3, 4 * math.ceil(h / 4), 4 * math.ceil(w / 4))
    assert ours.abs().mean() > 0.05                      # not a degenerate (saturated/zero) output
    # 5e-5: fp32 sums in another order on another CPU (AVX2 vs AVX-512); a wrong layer is off by > 0.01
    torch.testing.assert_close(ours[0, :, :8, :8], ref[0, :, :8, :8], atol=5e-5, rtol=0)
    torch.testing.assert_close(ours, ref, atol=5e-5, rtol=0)


def test_cartoongan_default_init_runs_and_is_deterministic():
    torch.manual_seed(0)
    a = cartoongan().eval()
    torch.manual_seed(0)
    b = cartoongan().eval()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), atol=0, rtol=0)
        torch.testing.assert_close(a(x), reference_cartoongan(a.state_dict(), x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("align_corners", [False, True])
def test_animegan2_matches_the_reference(align_corners):
    torch.manual_seed(0)
    sd = public_state(ANIMEGAN_KEYS)
    net = animegan2(weights=sd, align_corners=align_corners).eval()
    x = torch.rand(1, 3, 32, 36) * 2 - 1                 # multiples of 4: both public modes are exact
    with torch.no_grad():
        ours, ref = net(x), reference_animegan(sd, x, align_corners)
    assert ours.shape == ref.shape == x.shape
    assert ours.abs().mean() > 0.05
    # 5e-5: fp32 sums in another order on another CPU (AVX2 vs AVX-512); a wrong layer is off by > 0.01
    torch.testing.assert_close(ours[0, :, :8, :8], ref[0, :, :8, :8], atol=5e-5, rtol=0)
    torch.testing.assert_close(ours, ref, atol=5e-5, rtol=0)


def test_animegan2_any_size_keeps_the_input_size():
    net = animegan2().eval()
    x = torch.rand(2, 3, 30, 26)
    with torch.no_grad():
        y = animegan_apply(net, x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1


def test_pre_and_post_processing_follow_the_public_scripts():
    rgb = torch.rand(2, 3, 9, 11)
    bgr = cartoongan_pre(rgb)
    torch.testing.assert_close(bgr[:, 0], rgb[:, 2] * 2 - 1)          # channel 0 is blue
    torch.testing.assert_close(bgr[:, 2], rgb[:, 0] * 2 - 1)
    torch.testing.assert_close(cartoongan_post(bgr), rgb)              # exact inverse
    big = torch.zeros(2, 3, 12, 12)
    assert cartoongan_post(big, (9, 11)).shape == (2, 3, 9, 11)
    torch.testing.assert_close(animegan_post(animegan_pre(rgb)), rgb)
    assert animegan_post(torch.full((1, 3, 2, 2), 3.0)).max() == 1.0   # clipped as test.py
    y = cartoongan_apply(cartoongan().eval(), torch.rand(1, 3, 30, 26))
    assert y.shape == (1, 3, 30, 26) and 0 <= y.min() and y.max() <= 1
    # test.py: long side 450, the other side truncated; square/portrait -> height 450
    assert public_resize_shape(1080, 1920) == (253, 450)
    assert public_resize_shape(640, 480) == (450, 337)
    assert public_resize_shape(300, 300) == (450, 450)


def test_discriminator_scores_patches():
    d = cartoon_discriminator()
    assert d(torch.zeros(2, 3, 64, 48)).shape == (2, 1, 16, 12)


# ----------------------------------------------------------------------------- (c, d) conversion

CONVERT = [(convert_cartoongan, CARTOONGAN_KEYS, cartoongan), (convert_animegan, ANIMEGAN_KEYS, animegan2)]


@pytest.mark.parametrize("convert,keys,builder", CONVERT)
@pytest.mark.parametrize("prefix", ["", "module."])
def test_convert_loads_public_files_strictly(tmp_path, convert, keys, builder, prefix):
    sd = public_state(keys, seed=1)
    path = tmp_path / "net.pth"
    torch.save({prefix + k: v for k, v in sd.items()}, path)
    state = convert(path)
    assert list(state) == list(keys)
    for k in keys:
        assert torch.equal(state[k], sd[k]) and state[k].dtype == torch.float32
    builder(weights=state)   # strict


@pytest.mark.parametrize("convert,keys,builder", CONVERT)
def test_convert_names_the_bad_key(tmp_path, convert, keys, builder):
    sd = public_state(keys)
    first, last = list(keys)[0], list(keys)[-1]
    wrong = dict(sd)
    wrong[last] = torch.zeros(5)
    torch.save(wrong, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match=f"{last} has shape"):
        convert(tmp_path / "shape.pth")
    missing = {k: v for k, v in sd.items() if k != first}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(WeightsError, match=f"missing key {first}"):
        convert(tmp_path / "missing.pth")
    torch.save({**sd, "extra.weight": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(WeightsError, match="unexpected key extra.weight"):
        convert(tmp_path / "extra.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a weight file")
    with pytest.raises(WeightsError, match="not a readable"):
        convert(tmp_path / "junk.pth")


@pytest.mark.parametrize("name,keys", [("cartoongan-shinkai", CARTOONGAN_KEYS),
                                       ("animegan2-face_paint_512_v2", ANIMEGAN_KEYS)])
def test_install_public_file_gives_a_loadable_model(tmp_path, name, keys):
    sd = public_state(keys, seed=2)
    src = tmp_path / "download.pth"
    torch.save(sd, src)
    models = tmp_path / "models"
    dest = weights.install(name, src, models)
    assert dest == models / weights.get(name).file and sorted(p.name for p in models.iterdir()) == [dest.name]
    net = weights.load(name, models_dir=models)
    for k, v in net.state_dict().items():
        assert torch.equal(v, sd[k])

    torch.save({k: v for k, v in list(sd.items())[1:]}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError):
        weights.install(name, tmp_path / "bad.pth", tmp_path / "other")
    assert not (tmp_path / "other").exists() or not any((tmp_path / "other").iterdir())
    with pytest.raises(BadInput):
        weights.install("colornet-v1", src, models)


def test_registry_entries():
    for style in ("hayao", "hosoda", "paprika", "shinkai"):
        e = weights.get(f"cartoongan-{style}")
        assert e.task == "cartoonize" and e.builder is cartoongan and e.license == "MIT"
        assert e.transforms == CartoonGANTransforms(long_side=450) and e.file == f"cartoongan-{style}.safetensors"
    for name in ("paprika", "face_paint_512_v2", "celeba_distill", "face_paint_512_v1"):
        e = weights.get(f"animegan2-{name}")
        assert e.task == "cartoonize" and e.builder is animegan2 and e.transforms == AnimeGANTransforms(size_multiple=4)


# ----------------------------------------------------------------------------- (e) training

def test_edge_promotion_blurs_only_the_edge_band():
    from oldfilm.train.cartoon import edge_promote

    img = np.full((64, 64, 3), 40, np.uint8)
    img[:, 32:] = 220                                    # one vertical edge
    out = edge_promote(img)
    assert (out[:, :24] == img[:, :24]).all() and (out[:, 40:] == img[:, 40:]).all()   # flat: untouched
    assert (out[:, 30:34] != img[:, 30:34]).any()                                         # edge: blurred
    assert out.dtype == np.uint8 and out.shape == img.shape


@pytest.fixture()
def tiny_data(tmp_path):
    rng = np.random.default_rng(0)
    for sub in ("cartoons", "photos"):
        (tmp_path / sub).mkdir()
    for i in range(3):
        cartoon = np.zeros((64, 64, 3), np.uint8)
        cartoon[:] = rng.integers(0, 255, 3)
        cartoon[16:48, 16 + 4 * i:48] = rng.integers(0, 255, 3)        # flat regions, hard edges
        Image.fromarray(cartoon).save(tmp_path / "cartoons" / f"c{i}.png")
        photo = np.clip(rng.normal(128, 40, (64, 64, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(photo).save(tmp_path / "photos" / f"p{i}.png")
    # A cartoon film: 3.5 s of black (dropped), then 4 s of picture; the first frame of every 3 s is taken.
    ff("-f", "lavfi", "-i", "color=c=black:s=80x64:r=10:d=3.5[a];testsrc2=s=80x64:r=10:d=4[b];[a][b]concat=n=2",
       "-pix_fmt", "yuv420p", str(tmp_path / "cartoons" / "film.mp4"))
    # The real VGG16 trunk (a converted HED file) is not in the repository: a VGG16 with random weights.
    from safetensors.torch import save_file

    from oldfilm.nets.vgg16 import vgg16

    torch.manual_seed(0)
    save_file({k: v.half().contiguous() for k, v in vgg16().state_dict().items()}, str(tmp_path / "vgg.safetensors"))
    return tmp_path


def test_train_cartoon_runs_and_resumes(tiny_data):
    from safetensors import safe_open

    from oldfilm.train import cartoon as _cartoon  # noqa: F401  (registers the command)
    from oldfilm.train import train

    out = tiny_data / "out" / "cartoongan-tiny.safetensors"
    ck = tiny_data / "ckpt"
    common = ["cartoon", "--style", "tiny", "--cartoons", str(tiny_data / "cartoons"),
              "--photos", str(tiny_data / "photos"), "--vgg", str(tiny_data / "vgg.safetensors"),
              "--out", str(out), "--crop", "64", "--batch-size", "1", "--threads", "1",
              "--checkpoint-dir", str(ck), "--init-steps", "2"]
    result = CliRunner().invoke(train, common + ["--steps", "2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["arch"] == "cartoongan" and meta["style"] == "tiny" and meta["steps"] == "4"
    assert meta["init_steps"] == "2" and meta["adversarial_steps"] == "2"
    # the film's frames at 0, 3 and 6 s: two black ones dropped
    assert meta["cartoon_frames"] == "4" and "cartoons: 4 frames (2 black/credit/unreadable dropped)" in result.output
    assert [p.name for p in ck.glob("ckpt-*.pt")] == ["ckpt-0000004.pt"]
    first = cartoongan(weights=_load(out))

    result = CliRunner().invoke(train, common + ["--steps", "3"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "resuming from" in result.output and "(step 4)" in result.output
    with safe_open(str(out), "pt") as f:
        assert f.metadata()["steps"] == "5"
    second = _load(out)
    assert any(not torch.equal(second[k], v) for k, v in first.state_dict().items())


def _load(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))

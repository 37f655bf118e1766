"""RAFT (torchvision's architecture and weight files) as the stabilizer's optical flow: exact key
layout, output against torchvision's own model and transforms, safe install, the stabilizer using
it, and the sha256-prefix check of a pull."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from oldfilm import weights
from oldfilm.errors import WeightsError
from oldfilm.nets.raft import RAFTFlow, convert_raft
from oldfilm.ops.flow import ModelFlow
from oldfilm.stages import Frames
from oldfilm.stages.stabilize import Stabilize

FIXTURES = Path(__file__).parent / "fixtures"


def keys(size: str) -> dict[str, tuple[int, ...]]:
    return {k: tuple(s) for k, s in json.loads((FIXTURES / f"raft_{size}_keys.json").read_text())["keys"].items()}


def seeded_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Fixed values for a RAFT state dict (the golden fixture was computed with exactly these)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, shape in shapes.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.zeros(shape, dtype=torch.long)
        elif k.endswith("running_var"):
            out[k] = 1 + 0.2 * torch.rand(shape, generator=g)
        elif len(shape) == 4:
            out[k] = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
        elif k.endswith("weight") and len(shape) == 1:
            out[k] = 1 + 0.2 * torch.randn(shape, generator=g)
        else:
            out[k] = 0.1 * torch.randn(shape, generator=g)
    return out


def frames() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    a = F.avg_pool2d(torch.rand(1, 1, 124, 140, generator=g), 5, 1)   # 120 x 136: padded to 128 rows
    return a, torch.roll(a, (1, 2), (2, 3))


@pytest.mark.parametrize("size,count", [("small", 106), ("large", 169)])
def test_keys_and_shapes_are_torchvisions(size, count):
    ours = {k.removeprefix("raft."): tuple(v.shape) for k, v in RAFTFlow(size=size).state_dict().items()}
    assert len(ours) == count and list(ours.items()) == list(keys(size).items())


@pytest.mark.parametrize("size", ["small", "large"])
def test_output_equals_torchvision_with_its_transforms(size):
    """The golden flow was computed by torchvision's raft_* with its OpticalFlow() transforms and an
    explicit pad to 128 rows; ours must pad, normalise and crop the same way."""
    torch.set_num_threads(1)
    golden = json.loads((FIXTURES / "raft_golden.json").read_text())[size]
    net = RAFTFlow(size=size, iters=4).eval()
    net.load_state_dict({f"raft.{k}": v for k, v in seeded_state(keys(size)).items()})
    a, b = frames()
    with torch.no_grad():
        flow = net(a, b)
    assert list(flow.shape) == golden["shape"] == [1, 2, 120, 136]
    want = torch.tensor(golden["every_8th_pixel"]).view(1, 2, 15, 17)
    assert torch.allclose(flow[..., ::8, ::8], want, atol=2e-3, rtol=1e-3)
    assert flow.abs().mean().item() == pytest.approx(golden["mean_abs"], rel=1e-4)


def test_install_a_torchvision_file_and_stabilize_with_it(tmp_path):
    torch.set_num_threads(1)
    sd = seeded_state(keys("small"), seed=3)
    src = tmp_path / "raft_small_C_T_V2-01064c6d.pth"
    torch.save(sd, src)
    models = tmp_path / "models"
    weights.install("raft-small", src, models)
    net = weights.load("raft-small", models_dir=models)
    assert all(torch.equal(v, sd[k.removeprefix("raft.")]) for k, v in net.state_dict().items())

    stage = Stabilize(mode="rgb", flow="raft-small", models_dir=models)
    assert isinstance(stage.flow, ModelFlow) and "flow=raft-small" in stage.describe()
    flow = stage.flow(np.full((40, 48), 100, np.uint8), np.full((40, 48), 110, np.uint8))
    assert flow.shape == (40, 48, 2) and flow.dtype == np.float32 and np.isfinite(flow).all()
    clip = torch.rand(3, 3, 40, 48)
    out = stage.process(Frames(clip, clip))
    assert out.rgb.shape == clip.shape and torch.isfinite(out.rgb).all()

    torch.save({k: v for k, v in list(sd.items())[:-1]}, tmp_path / "short.pth")
    with pytest.raises(WeightsError, match="missing key"):
        convert_raft(tmp_path / "short.pth", "small")
    torch.save(seeded_state(keys("large")), tmp_path / "large.pth")
    with pytest.raises(WeightsError):
        convert_raft(tmp_path / "large.pth", "small")


def test_auto_flow_is_dis_on_the_cpu_even_when_raft_is_installed(tmp_path):
    torch.save(seeded_state(keys("small")), tmp_path / "r.pth")
    weights.install("raft-small", tmp_path / "r.pth", tmp_path / "models")
    stage = Stabilize(models_dir=tmp_path / "models").to(torch.device("cpu"))
    assert not isinstance(stage.flow, ModelFlow) and "flow=dis" in stage.describe()


def test_unknown_flow_is_one_clear_line():
    from oldfilm.errors import BadInput

    with pytest.raises(BadInput, match="unknown flow 'nope': use auto, dis, raft-small, raft-large"):
        Stabilize(flow="nope")
    with pytest.raises(BadInput, match="unknown flow 'zhang-eccv16'"):
        Stabilize(flow="zhang-eccv16")


def test_registry_entries_and_hash_prefix():
    for size in ("small", "large"):
        e = weights.get(f"raft-{size}")
        assert e.task == "flow" and e.config == {"size": size} and e.license == "BSD-3-Clause"
        assert e.url.startswith("https://download.pytorch.org/models/raft_") and len(e.sha256) == 8
        assert e.url.rsplit("-", 1)[1] == e.sha256 + ".pth"


def test_dis_pair_is_the_two_directions_in_order():
    """DISFlow.both computes a -> b and b -> a in parallel; each must equal its one-way call."""
    from oldfilm.ops.flow import DISFlow

    rng = np.random.default_rng(0)
    a = (F.avg_pool2d(torch.from_numpy(rng.random((1, 1, 68, 84))), 5, 1)[0, 0].numpy() * 255).astype(np.uint8)
    b = np.roll(a, (1, 3), (0, 1))
    dis = DISFlow("medium")
    ab, ba = dis.both(a, b)
    assert np.array_equal(ab, dis(a, b)) and np.array_equal(ba, dis(b, a))
    assert ab[20:40, 20:40, 0].mean() > 1 and ba[20:40, 20:40, 0].mean() < -1   # b is a moved right by 3

"""Zhang et al.'s public colorizers (ECCV16, SIGGRAPH17): exact key layout, outputs equal to the
public implementation's (golden values computed once from it, see the fixture's note), safe
weight conversion, and installation into the colorize stage."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open

from oldfilm import weights
from oldfilm.errors import WeightsError
from oldfilm.nets.transforms import Lightness
from oldfilm.nets.zhang import convert_eccv16, convert_siggraph17, eccv16, siggraph17

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "zhang_golden.safetensors"


def _fixture(name: str) -> tuple[dict[str, tuple[int, ...]], int]:
    data = json.loads((FIXTURES / name).read_text())
    return {k: tuple(s) for k, s in data["keys"].items()}, data["parameters"]


ECCV16_KEYS, ECCV16_PARAMS = _fixture("zhang_eccv16_keys.json")
SIGGRAPH17_KEYS, SIGGRAPH17_PARAMS = _fixture("zhang_siggraph17_keys.json")
MODELS = {"eccv16": (eccv16, ECCV16_KEYS, convert_eccv16),
          "siggraph17": (siggraph17, SIGGRAPH17_KEYS, convert_siggraph17)}


def zhang_state(keys: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Fixed random values for every key of a public file, drawn in key order: convs
    ~ N(0, 2/fan_in) (fan_in = dim 1 x kernel, also for the transposed convs), biases small,
    BatchNorm scales around 1, running variances in [0.2, 0.4) (so that activations keep
    their size and the ECCV16 softmax is not flat), num_batches_tracked 0.
    zhang_golden.safetensors was computed from the public classes with exactly these values."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in keys.items():
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(0)
        elif len(shape) == 4:
            sd[key] = torch.randn(shape, generator=g) * math.sqrt(2.0 / (shape[1] * shape[2] * shape[3]))
        elif key.endswith("running_var"):
            sd[key] = 0.2 + 0.2 * torch.rand(shape, generator=g)
        elif key.endswith("running_mean"):
            sd[key] = 0.1 * torch.randn(shape, generator=g)
        elif _is_norm(key, keys) and key.endswith(".weight"):
            sd[key] = 1.0 + 0.2 * torch.randn(shape, generator=g)
        else:
            sd[key] = 0.1 * torch.randn(shape, generator=g)
    return sd


def _is_norm(key: str, keys) -> bool:
    return key.rsplit(".", 1)[0] + ".running_var" in keys


def golden_inputs() -> dict[str, torch.Tensor]:
    """The inputs zhang_golden.safetensors was computed for: L* (1, 1, 32, 48) and SIGGRAPH17 hints
    (a few points with ab in Lab units, mask 1 there)."""
    g = torch.Generator().manual_seed(1)
    L = torch.rand(1, 1, 32, 48, generator=g) * 100
    mask = torch.zeros(1, 1, 32, 48)
    mask[..., 5, 7] = mask[..., 20, 30] = mask[..., 11, 40] = 1
    ab = (torch.rand(1, 2, 32, 48, generator=g) * 2 - 1) * 80 * mask
    return {"L": L, "hint_ab": ab, "hint_mask": mask}


# ----------------------------------------------------------------------------- (a) key layout

@pytest.mark.parametrize("name", MODELS)
def test_keys_and_shapes_are_the_public_ones(name):
    builder, keys, _ = MODELS[name]
    net = builder()
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert list(ours.items()) == list(keys.items())          # names, order, shapes
    assert sum(p.numel() for p in net.parameters()) == {"eccv16": ECCV16_PARAMS,
                                                         "siggraph17": SIGGRAPH17_PARAMS}[name]


def test_fixture_sizes():
    assert (len(ECCV16_KEYS), ECCV16_PARAMS) == (82, 32_236_011)
    assert (len(SIGGRAPH17_KEYS), SIGGRAPH17_PARAMS) == (107, 34_187_027)
    assert ECCV16_KEYS["model_out.weight"] == (2, 313, 1, 1) and "model_out.bias" not in ECCV16_KEYS
    assert SIGGRAPH17_KEYS["model1.0.weight"] == (64, 4, 3, 3)             # L, hint ab, hint mask
    assert SIGGRAPH17_KEYS["model_class.0.weight"] == (529, 256, 1, 1)


# ----------------------------------------------------------------------------- (b) outputs

@pytest.fixture(scope="module")
def golden() -> dict[str, torch.Tensor]:
    with safe_open(str(GOLDEN), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def test_golden_inputs_are_the_stored_ones(golden):
    for k, v in golden_inputs().items():
        torch.testing.assert_close(v, golden[k], atol=0, rtol=0)


@pytest.mark.parametrize("name", MODELS)
def test_output_equals_the_public_implementation(golden, name):
    torch.set_num_threads(1)
    builder, keys, _ = MODELS[name]
    net = builder(weights=zhang_state(keys)).eval()
    L = golden["L"]
    with torch.no_grad():
        ab = net(L)
    ref = golden[name]
    assert ab.shape == ref.shape == (1, 2, 32, 48)
    assert ref.std() > 0.5 and (ref.abs() > 100).float().mean() < 0.5   # varied, mostly not saturated
    # fp32 sums run in another order on another CPU (AVX2 vs AVX-512 kernels): allow that, scaled
    # to the output's range (ab up to ~110); a wrong layer is off by whole units
    torch.testing.assert_close(ab, ref, atol=2e-5 * float(ref.abs().max()), rtol=0)


def test_siggraph17_hints_equal_the_public_implementation(golden):
    torch.set_num_threads(1)
    net = siggraph17(weights=zhang_state(SIGGRAPH17_KEYS)).eval()
    with torch.no_grad():
        ab = net(golden["L"], golden["hint_ab"], golden["hint_mask"])
    ref = golden["siggraph17_hints"]
    torch.testing.assert_close(ab, ref, atol=2e-5 * float(ref.abs().max()), rtol=0)   # as above
    assert (golden["siggraph17_hints"] - golden["siggraph17"]).abs().max() > 10   # hints matter


def test_shapes_and_batches():
    torch.set_num_threads(1)
    for builder in (eccv16, siggraph17):
        net = builder().eval()
        L = torch.rand(2, 1, 16, 32) * 100
        with torch.no_grad():
            ab = net(L)
            torch.testing.assert_close(ab[1:], net(L[1:]), atol=1e-4, rtol=0)   # per-sample
        assert ab.shape == (2, 2, 16, 32)


# ----------------------------------------------------------------------------- (c) conversion

@pytest.mark.parametrize("name", MODELS)
def test_convert_loads_public_files_strictly(tmp_path, name):
    builder, keys, convert = MODELS[name]
    sd = zhang_state(keys, seed=1)
    torch.save(sd, tmp_path / "net.pth")
    state = convert(tmp_path / "net.pth")
    assert list(state) == list(keys)
    for k in keys:
        assert torch.equal(state[k], sd[k]) and state[k].dtype == sd[k].dtype
    builder(weights=state)   # strict


@pytest.mark.parametrize("name", MODELS)
def test_convert_names_the_bad_key(tmp_path, name):
    _, keys, convert = MODELS[name]
    sd = zhang_state(keys)
    wrong = dict(sd)
    wrong["model_out.weight" if name == "eccv16" else "model_out.0.weight"] = torch.zeros(2, 312, 1, 1)
    torch.save(wrong, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match="model_out.*has shape") as err:
        convert(tmp_path / "shape.pth")
    assert "\n" not in str(err.value)
    missing = {k: v for k, v in sd.items() if k != "model1.4.running_var"}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(WeightsError, match="missing key model1.4.running_var"):
        convert(tmp_path / "missing.pth")
    other = "siggraph17" if name == "eccv16" else "eccv16"       # the other model's file
    torch.save(zhang_state(MODELS[other][1]), tmp_path / "other.pth")
    with pytest.raises(WeightsError):
        convert(tmp_path / "other.pth")


# ----------------------------------------------------------------------------- (d) installation

def oldfilm(*args):
    from oldfilm.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_import_command_then_colorize(tmp_path):
    from oldfilm.stages.colorize import Colorize

    sd = zhang_state(ECCV16_KEYS, seed=2)
    src = tmp_path / "colorization_release_v2-9b330a0b.pth"
    torch.save(sd, src)
    models = tmp_path / "models"
    run = oldfilm("models", "import", "zhang-eccv16", src, "--models-dir", models)
    assert run.exit_code == 0, run.output
    assert sorted(p.name for p in models.iterdir()) == ["zhang-eccv16.safetensors"]

    stage = Colorize(model="zhang-eccv16", models_dir=str(models))
    for k, v in stage.net.state_dict().items():
        assert torch.equal(v, sd[k])
    assert stage.render_size == 256
    stage.transforms = Lightness(render_size=32)                 # small and fast
    torch.manual_seed(0)
    gray = torch.rand(1, 1, 24, 40).expand(-1, 3, -1, -1)
    with torch.no_grad():
        out = stage.colorize(gray)
    assert out.shape == gray.shape and 0 <= out.min() and out.max() <= 1



def test_registry_entries():
    for name, builder, convert in (("zhang-eccv16", eccv16, convert_eccv16),
                                   ("zhang-siggraph17", siggraph17, convert_siggraph17)):
        e = weights.get(name)
        assert e.task == "colorize" and e.builder is builder and e.convert is convert
        assert e.license == "BSD-2-Clause" and e.transforms == Lightness(render_size=256)
        assert e.file == f"{name}.safetensors" and e.url.startswith("https://colorizers.s3.us-east-2.amazonaws.com/")
        assert f"oldfilm models import {name} " in e.source and e.config == {}

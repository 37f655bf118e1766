"""The flow-guided stabilizer: flicker removed, luma kept, scene cuts respected."""
import json
from fractions import Fraction

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import audio_md5, decode, ff
from oldfilm.cli import cli
from oldfilm.metrics import psnr, video_warping_error
from oldfilm.ops.color import luma
from oldfilm.stages import Frames
from oldfilm.stages.stabilize import Stabilize
from oldfilm.video import FrameWriter, probe


def tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255


def jitter(clean: np.ndarray, seed: int = 0) -> np.ndarray:
    """Random per-frame colour gain and offset, as a flickering per-frame process would add."""
    rng = np.random.default_rng(seed)
    t = len(clean)
    gain = 1 + 0.12 * rng.standard_normal((t, 1, 1, 3))
    offset = 12 * rng.standard_normal((t, 1, 1, 3))
    return np.clip(clean * gain + offset, 0, 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def flicker(tmp_path_factory):
    """A moving colour clip with sound, and a copy with per-frame colour jitter (same sound).

    The clip's values stay within [50, 203], as in natural footage: where jitter clips a value at
    0 or 255 the information is gone and no stabilizer can bring it back."""
    d = tmp_path_factory.mktemp("flicker")
    clean = d / "clean.mp4"
    ff("-f", "lavfi", "-i", "testsrc2=size=192x144:rate=25:duration=2,lutrgb=r=val*0.6+50:g=val*0.6+50:b=val*0.6+50",
       "-f", "lavfi", "-i",
       "sine=frequency=300:duration=2", "-c:v", "libx264", "-crf", "12", "-c:a", "aac", str(clean))
    frames = decode(clean)
    shaky = d / "shaky.mp4"
    with FrameWriter(shaky, 192, 144, Fraction(25), source=clean, crf=12) as w:
        w.write(jitter(frames))
        w.close()
    return clean, shaky


def test_stabilize_command_removes_jitter(flicker, tmp_path):
    clean, shaky = flicker
    out = tmp_path / "steady.mp4"
    r = CliRunner().invoke(cli, ["stabilize", str(shaky), "--source", str(clean), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    truth, before, after = (tensor(decode(p)) for p in (clean, shaky, out))
    gain = psnr(after, truth).mean() - psnr(before, truth).mean()
    assert gain >= 3.0, f"PSNR gain {gain:.2f} dB"
    assert video_warping_error(after, truth).mean() < 0.4 * video_warping_error(before, truth).mean()
    assert probe(out).frames == probe(shaky).frames == 50
    assert audio_md5(out) == audio_md5(shaky)


def test_chroma_mode_keeps_luma_and_steadies_colour():
    torch.manual_seed(0)
    gray = (0.1 + 0.8 * torch.rand(1, 1, 48, 64)).expand(12, 3, -1, -1).contiguous()   # inside the gamut
    tint = torch.tensor([0.1, -0.05, 0.0]).view(1, 3, 1, 1) * torch.randn(12, 1, 1, 1)
    frames = (gray + tint).clamp(0, 1)
    out = Stabilize(mode="chroma").process(Frames(frames, gray)).rgb
    assert torch.allclose(luma(out), luma(frames), atol=2e-3)
    spread = lambda x: (x - x.mean(0)).abs().mean()  # noqa: E731
    assert spread(out) < 0.5 * spread(frames)


def test_pending_chroma_of_another_size_is_steadied_as_the_composed_picture():
    """A colorizer's chroma still pending at its own size (smaller than the stabilizer's): the
    correction is made there and gives the picture the composed path gives, and steadies it."""
    from oldfilm.ops.color import with_chroma

    torch.manual_seed(1)
    gray = (0.3 + 0.4 * torch.rand(1, 1, 48, 64)).expand(12, 3, -1, -1).contiguous()   # no colour clipped
    cbcr = torch.tensor([0.06, -0.05]).view(1, 2, 1, 1) * (1 + 0.3 * torch.randn(12, 1, 1, 1))
    cbcr = cbcr.expand(-1, -1, 12, 16).contiguous()   # a quarter of the picture's size
    pending = Stabilize(mode="chroma").process(Frames(gray, gray).with_chroma(cbcr))
    assert pending.chroma is not None and pending.chroma.shape[-2:] == (12, 16)   # still pending, at its size
    composed = Stabilize(mode="chroma").process(Frames(with_chroma(gray, cbcr), gray)).rgb
    out = pending.rgb
    assert (out - composed).abs().max() < 2e-3
    spread = lambda x: (x - x.mean(0)).abs().mean()  # noqa: E731
    assert spread(out) < 0.5 * spread(with_chroma(gray, cbcr))


def test_scene_reset_forgets_the_last_shot():
    stab = Stabilize(mode="rgb")
    red = torch.zeros(4, 3, 32, 32)
    red[:, 0] = 0.8
    stab.process(Frames(red, red))
    stab.reset()
    blue = torch.zeros(2, 3, 32, 32)
    blue[:, 2] = 0.8
    out = stab.process(Frames(blue, blue)).rgb
    assert torch.allclose(out, blue, atol=1e-4)


def test_moving_object_leaves_no_ghost():
    """A bright square moves over a flat background; its colour must not trail behind it."""
    frames = torch.full((10, 3, 64, 96), 0.3)
    for t in range(10):
        frames[t, :, 20:40, 5 + 6 * t:25 + 6 * t] = torch.tensor([0.9, 0.2, 0.2]).view(3, 1, 1)
    out = Stabilize(mode="rgb").process(Frames(frames, frames)).rgb
    background = out[-1, :, 20:40, :50]                # where the square was, frames ago
    assert (background - 0.3).abs().max() < 0.05


def test_eval_reports_and_plots(flicker, tmp_path):
    clean, shaky = flicker
    js, png = tmp_path / "s.json", tmp_path / "s.png"
    r = CliRunner().invoke(cli, ["eval", str(shaky), "--source", str(clean), "--truth", str(clean),
                                 "--json", str(js), "--plot", str(png), "-q"])
    assert r.exit_code == 0, r.output
    report = json.loads(js.read_text())
    assert report["frames"] == 50 and len(report["per_frame"]["warping_error"]) == 49
    assert report["delta_e2000"] > 1 and report["psnr"] < 35
    assert png.stat().st_size > 1000
    same = json.loads(CliRunner().invoke(cli, ["eval", str(clean), "--truth", str(clean), "-q"]).output)
    assert same["delta_e2000"] < 1e-3 and same["warping_error"] < report["warping_error"]


def test_learned_method_runs_with_installed_weights(flicker, tmp_path):
    from safetensors.torch import save_file

    from oldfilm import weights
    entry = weights.get("lai-eccv18")
    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in entry.builder(**entry.config).state_dict().items()},
              str(tmp_path / entry.file))
    clean, shaky = flicker
    out = tmp_path / "lai.mp4"
    r = CliRunner().invoke(cli, ["stabilize", str(shaky), "--source", str(clean), "--method", "lai",
                                 "--models-dir", str(tmp_path), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert probe(out).frames == 50
    r = CliRunner().invoke(cli, ["stabilize", str(shaky), "--source", str(clean), "--method", "lai",
                                 "--models-dir", str(tmp_path / "empty"), "-o", str(tmp_path / "x.mp4")])
    assert r.exit_code == 1 and "not installed" in r.output

"""Cartoonize: styles, per-shot palettes, steady output, the CLI chain."""
import pytest
import torch
from click.testing import CliRunner

from conftest import audio_md5, decode, ff
from oldfilm.cli import cli
from oldfilm.metrics import colourfulness, video_warping_error
from oldfilm.stages import Frames
from oldfilm.stages.cartoonize import STYLES, Cartoonize


def tensor(frames):
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255


@pytest.fixture(scope="module")
def colour_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("cartoon") / "colour.mp4"
    ff("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1.6,lutrgb=r=val*0.6+50:g=val*0.6+50:b=val*0.6+50",
       "-f", "lavfi", "-i", "sine=frequency=700:duration=1.6", "-c:v", "libx264", "-crf", "14",
       "-c:a", "aac", str(path))
    return path


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_changes_the_picture_and_keeps_its_shape(colour_clip, style):
    x = tensor(decode(colour_clip)[:4])
    y = Cartoonize(style).process(Frames(x, x)).rgb
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert (y - x).abs().mean() > 0.02


def test_styles_differ(colour_clip):
    x = tensor(decode(colour_clip)[:2])
    outs = {s: Cartoonize(s).stylize(x) for s in STYLES}
    assert colourfulness(outs["paprika"]).mean() > colourfulness(outs["hayao"]).mean()
    for a in STYLES:
        for b in STYLES:
            if a < b:
                assert (outs[a] - outs[b]).abs().mean() > 0.01


def test_palette_is_fixed_within_a_shot_and_refit_after_a_cut(colour_clip):
    x = tensor(decode(colour_clip)[:6])
    c = Cartoonize("hosoda")
    c.stylize(x[:3])
    palette = c._palette.clone()
    c.stylize(x[3:] * 0.6)                       # a darker batch in the same shot: same palette
    assert torch.equal(palette, c._palette)
    c.reset()
    c.stylize(x[3:] * 0.6)
    assert not torch.equal(palette, c._palette)


def test_cartoon_is_as_steady_as_its_input(colour_clip, tmp_path):
    out = tmp_path / "cartoon.mp4"
    r = CliRunner().invoke(cli, ["cartoonize", str(colour_clip), "--colorize", "no", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    src, cartoon = tensor(decode(colour_clip)), tensor(decode(out))
    assert cartoon.shape == src.shape
    ratio = video_warping_error(cartoon, src).mean() / video_warping_error(src, src).mean()
    assert ratio <= 1.5, f"warping error {ratio:.2f}x the input's"
    assert audio_md5(out) == audio_md5(colour_clip)


def test_black_and_white_film_is_colorized_then_cartoonized(clips, tiny_models, tmp_path):
    out = tmp_path / "toon.mp4"
    r = CliRunner().invoke(cli, ["cartoonize", str(clips["gray"]), "--style", "shinkai", "-o", str(out),
                                 "--models-dir", str(tiny_models), "-q"])
    assert r.exit_code == 0, r.output
    frames = decode(out)
    assert len(frames) == 60 and audio_md5(out) == audio_md5(clips["gray"])
    assert colourfulness(tensor(frames)).mean() > 5


def test_list_styles_and_bad_style():
    r = CliRunner().invoke(cli, ["cartoonize", "--list-styles"])
    assert r.exit_code == 0 and all(name in r.output for name in STYLES)
    r = CliRunner().invoke(cli, ["cartoonize", "x.mp4", "--style", "disney"])
    assert r.exit_code == 2


@pytest.mark.parametrize("name", ["cartoongan-shinkai", "animegan2-paprika"])
def test_public_generator_runs_in_the_stage(tmp_path, name):
    from safetensors.torch import save_file

    from oldfilm import weights

    entry = weights.get(name)
    torch.manual_seed(0)
    net = entry.builder(**entry.config)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / entry.file))
    stage = Cartoonize(model=name, models_dir=str(tmp_path))
    x = torch.rand(2, 3, 90, 130)
    y = stage.process(Frames(x, x)).rgb
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert "model=" + name in stage.describe()

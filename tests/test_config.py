"""oldfilm.toml, --config and --quality feed the options' defaults; the command line wins."""
import json

from click.testing import CliRunner

from oldfilm.cli import cli

TOML = 'quality = "draft"\ndevice = "cpu"\n[colorize]\nstrength = 0.5\ncrf = 20\n'


def oldfilm(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_config_file_preset_and_command_line(clips, tiny_models, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "oldfilm.toml").write_text(TOML)
    r = oldfilm("colorize", clips["noaudio"], "-o", "out.mkv", "--render-size", "160", "--models-dir", tiny_models, "-q")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "out.report.json").read_text())
    assert rep["settings"]["render_size"] == 160                  # the command line
    assert rep["settings"]["strength"] == 0.5 and rep["run"]["crf"] == 20 and rep["run"]["device"] == "cpu"  # the file
    assert rep["settings"]["flow_quality"] == "ultrafast" and rep["run"]["preset"] == "superfast"   # draft
    assert rep["settings"]["flow_size"] == 128 and rep["settings"]["net_every"] == 32
    assert any(c.startswith("stabilize(mode=chroma, strength=0.5, work_size=128") for c in rep["chain"])   # reached


def test_oldfilm_config_says_where_each_setting_comes_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text(TOML)
    r = oldfilm("config", "colorize", "--config", "mine.toml")
    assert r.exit_code == 0, r.output
    rows = {line.split()[0]: line.split()[1:] for line in r.output.splitlines() if line.startswith("  --")}
    assert rows["--strength"] == ["0.5", "mine.toml"] and rows["--crf"] == ["20", "mine.toml"]
    assert rows["--render-size"] == ["128", "--quality", "draft"] and rows["--batch-size"] == ["8", "default"]
    r = oldfilm("config", "colorize", "--config", "mine.toml", "--quality", "best")
    assert "--quality best" in r.output and "draft" not in r.output.replace("mine.toml", "")


def test_bad_config_files_are_one_line(clips, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for text, words in [("[colorize]\nrender-sise = 1\n", "no such option"), ("crf = [", "not valid TOML"),
                        ("[colourise]\ncrf = 1\n", "no oldfilm command")]:
        (tmp_path / "oldfilm.toml").write_text(text)
        r = oldfilm("colorize", clips["gray"])
        assert r.exit_code == 2 and words in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_quality_on_the_command_line_fills_what_is_not_given():
    from oldfilm.cli.colorize import command

    def params(*args):
        ctx = command.make_context("colorize", list(args))
        return {k: ctx.params[k] for k in ("crf", "preset", "render_size", "flow_quality", "flow_size", "net_every")}

    assert params("x.mp4", "--quality", "draft") == {"crf": 23, "preset": "superfast", "render_size": 128,
                                                     "flow_quality": "ultrafast", "flow_size": 128, "net_every": 32}
    assert params("--quality", "best", "x.mp4", "--crf", "30")["crf"] == 30
    assert params("x.mp4") == {"crf": 18, "preset": "medium", "render_size": None, "flow_quality": "medium",
                               "flow_size": 256, "net_every": 16}

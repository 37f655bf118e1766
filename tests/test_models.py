"""The model registry and model files: list, import, pull (local HTTP server), verify, safety."""
import dataclasses
import hashlib
import http.server
import threading

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from oldfilm import weights
from oldfilm.cli import cli
from oldfilm.nets.transforms import Lightness, Transforms


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def public_pth(tmp_path, name="cartoongan-hayao", seed=0):
    entry = weights.get(name)
    torch.manual_seed(seed)
    path = tmp_path / "Hayao_net_G_float.pth"
    torch.save(entry.builder(**entry.config).state_dict(), path)
    return path


def test_every_entry_is_complete_and_stays_in_its_folder():
    for entry in weights.REGISTRY.values():
        assert entry.license and entry.source and entry.task
        assert "/" not in entry.file and "\\\\" not in entry.file and ".." not in entry.file
        assert entry.file.endswith(".safetensors")
        if entry.url:
            assert entry.convert is not None or entry.url.endswith(".safetensors")
        if entry.task in ("colorize", "cartoonize"):   # the stages run the entry's transforms
            assert isinstance(entry.transforms, Transforms)
    with pytest.raises(ValueError, match="twice"):
        weights.register(weights.get("colornet-v1"))
    assert weights.default("colorize") in weights.REGISTRY


def test_adding_a_model_is_a_net_and_an_entry(tmp_path, monkeypatch):
    """A colorizer with its own conventions (gray RGB in, a fixed a*b* out) runs in the colorize
    stage through its entry's transforms alone: the stage never asks which family it is."""
    from oldfilm.ops.color import rgb_to_lab
    from oldfilm.stages.colorize import Colorize

    class Tint(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ab = torch.nn.Parameter(torch.tensor([20.0, 30.0]))

        def forward(self, gray_rgb):
            return self.ab.view(1, 2, 1, 1).expand(len(gray_rgb), 2, *gray_rgb.shape[-2:])

    @dataclasses.dataclass(frozen=True)
    class GrayRGB(Lightness):
        def pre(self, rgb):
            return self.gray(rgb).expand(-1, 3, -1, -1)

    entry = weights.ModelEntry(name="tint-v1", task="colorize", builder=Tint, file="tint-v1.safetensors",
                               license="MIT", source="this test", transforms=GrayRGB(render_size=32))
    monkeypatch.setitem(weights.REGISTRY, entry.name, entry)
    save_file(Tint().state_dict(), str(tmp_path / entry.file))
    stage = Colorize("tint-v1", models_dir=str(tmp_path))
    seen = []
    stage.net.register_forward_hook(lambda m, args, out: seen.append(tuple(args[0].shape)))
    out = stage.colorize(torch.full((2, 3, 40, 64), 0.5))
    assert seen == [(2, 3, 16, 32)] and stage.describe() == "colorize(model=tint-v1, render_size=32)"
    torch.testing.assert_close(rgb_to_lab(out)[:, 1:].mean((0, 2, 3)), torch.tensor([20.0, 30.0]), atol=3, rtol=0)
    assert Colorize("tint-v1", render_size=64, models_dir=str(tmp_path)).transforms == GrayRGB(render_size=64)


def test_import_then_verify_then_break(tmp_path):
    models = tmp_path / "models"
    r = run("models", "import", "cartoongan-hayao", public_pth(tmp_path), "--models-dir", models)
    assert r.exit_code == 0, r.output
    installed = models / "cartoongan-hayao.safetensors"
    assert installed.is_file()
    assert "installed" in run("models", "info", "cartoongan-hayao", "--models-dir", models).output
    r = run("models", "verify", "--models-dir", models)
    assert r.exit_code == 0 and "ok      cartoongan-hayao" in r.output
    installed.write_bytes(installed.read_bytes()[:1000])        # damaged on disk
    r = run("models", "verify", "--models-dir", models)
    assert r.exit_code == 1 and "broken  cartoongan-hayao" in r.output


def test_wrong_architecture_is_refused(tmp_path):
    bad = tmp_path / "bad.safetensors"
    save_file({"conv01_1.weight": torch.zeros(1)}, str(bad))
    r = run("models", "import", "cartoongan-hayao", bad, "--models-dir", tmp_path / "m")
    assert r.exit_code == 1 and "does not fit" in r.output
    assert not (tmp_path / "m" / "cartoongan-hayao.safetensors").exists()


class Evil:
    def __reduce__(self):
        return (print, ("this would have run code",))


def test_pickle_that_runs_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"model": Evil()}, path)
    r = run("models", "import", "lai-eccv18", path, "--models-dir", tmp_path / "m")
    assert r.exit_code == 1 and "this would have run code" not in r.output
    assert "refus" in r.output.lower() or "weights_only" in r.output.lower() or "cannot" in r.output.lower()
    assert "this would have run code" not in capsys.readouterr().out


@pytest.mark.parametrize("name", [n for n, e in weights.REGISTRY.items() if e.convert])
def test_every_converter_refuses_a_pickle_that_runs_code(tmp_path, capsys, name):
    """Each public format's converter reads with weights_only=True: the payload never runs."""
    from oldfilm.errors import WeightsError

    path = tmp_path / "evil.pth"
    torch.save({"model": {"conv.weight": torch.zeros(1)}, "payload": Evil()}, path)
    with pytest.raises(WeightsError, match="refused, loading it would call print") as err:
        weights.get(name).convert(path)
    assert "\n" not in str(err.value)
    assert "this would have run code" not in capsys.readouterr().out


class Server:
    """Serves one file on 127.0.0.1 with HTTP Range; can drop the first connection half-way."""

    def __init__(self, payload: bytes, drop_first: bool = False):
        self.payload, self.drops = payload, int(drop_first)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                start = 0
                if "Range" in self.headers:
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                body = outer.payload[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.drops:
                    outer.drops -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.close()
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/Hayao_net_G_float.pth"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.mark.parametrize("case", ["good", "corrupt", "dropped", "hash prefix"])
def test_pull_from_a_local_server(tmp_path, monkeypatch, case):
    payload = public_pth(tmp_path).read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    served = payload if case != "corrupt" else payload[:-10] + b"0123456789"
    server = Server(served, drop_first=case == "dropped")
    entry = weights.get("cartoongan-hayao")
    monkeypatch.setitem(weights.REGISTRY, entry.name, dataclasses.replace(entry, url=server.url, sha256=digest[:8] if case == "hash prefix" else digest))
    models = tmp_path / "models"
    try:
        r = run("models", "pull", "cartoongan-hayao", "--models-dir", models, "-q")
    finally:
        server.close()
    installed = models / "cartoongan-hayao.safetensors"
    if case == "corrupt":
        assert r.exit_code == 1 and "sha256" in r.output
        assert not installed.exists()
    else:
        assert r.exit_code == 0, r.output
        assert installed.is_file()
        assert run("models", "verify", "--models-dir", models).exit_code == 0
    assert not list((models / ".downloads").glob("*")) if (models / ".downloads").exists() else True


def test_offline_pull_says_what_to_do(tmp_path, monkeypatch):
    entry = weights.get("cartoongan-hayao")
    monkeypatch.setitem(weights.REGISTRY, entry.name,
                        dataclasses.replace(entry, url="http://127.0.0.1:9/none.pth"))
    r = run("models", "pull", "cartoongan-hayao", "--models-dir", tmp_path, "-q")
    assert r.exit_code == 1 and "oldfilm models import" in r.output


def test_a_model_of_another_task_or_not_installed_is_one_clear_line(tmp_path):
    from oldfilm.errors import BadInput, WeightsError

    with pytest.raises(BadInput, match="raft-small is a flow model: choose one of colornet-v1"):
        weights.get("raft-small", "colorize")
    r = run("colorize", "nothing.mp4", "--model", "cartoongan-hayao")
    assert r.exit_code == 2 and "cartoongan-hayao is a cartoonize model" in r.output
    assert len(r.output.strip().splitlines()) == 1
    with pytest.raises(WeightsError, match="install it with `oldfilm models pull zhang-eccv16`"):
        weights.load("zhang-eccv16", models_dir=tmp_path)


def test_the_default_colorizer_loads_without_torchvision():
    """torchvision takes ~2 s to import; only the models built on it (RAFT, DeOldify) may load it."""
    import subprocess
    import sys

    code = ("import sys; from oldfilm import recipes, weights; weights.REGISTRY; recipes.colorize(); "
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

"""The command table: every command is one module, film commands carry their recipe, and the
CLI answers --help and --version without importing torch."""
import inspect
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from oldfilm import commands, recipes
from oldfilm.cli import cli


@pytest.mark.parametrize("name", list(commands.COMMANDS))
def test_every_command_is_a_module_with_help_and_an_example(name):
    entry = commands.COMMANDS[name]
    assert isinstance(entry.module.command, click.Command)
    r = CliRunner().invoke(cli, [name, "--help"])
    assert r.exit_code == 0 and "Example" in r.output, r.output
    assert entry.summary in " ".join(CliRunner().invoke(cli, ["--help"]).output.split())


@pytest.mark.parametrize("entry", commands.film_commands(), ids=lambda c: c.name)
def test_film_commands_carry_their_recipe(entry):
    mod = entry.module
    params = inspect.signature(mod.recipe).parameters
    assert all(p.kind is p.KEYWORD_ONLY for p in params.values())
    if entry.batch:   # batch offers every recipe option of the command
        names = {p.name for p in commands.get("batch").module.command.params}
        assert set(params) <= names, set(params) - names


def test_recipe_options_keep_only_what_the_recipe_takes():
    opts = {"model": "x", "style": "hayao", "crf": 18, "models_dir": None}
    assert commands.recipe_options("colorize", opts) == {"model": "x", "models_dir": None}
    assert commands.recipe_options("cartoonize", opts) == {"style": "hayao", "models_dir": None}


def test_the_python_api_builds_the_commands_recipes(tiny_models):
    stages = recipes.colorize(models_dir=str(tiny_models), stabilize=False)
    assert [s.name for s in stages] == ["colorize"]
    assert [s.name for s in recipes.build("colorize", {"models_dir": str(tiny_models)})] == ["colorize", "stabilize"]
    with pytest.raises(AttributeError):
        recipes.info   # not a film command


def test_unknown_command_is_one_line():
    from oldfilm.errors import BadInput
    with pytest.raises(BadInput, match="choose one of"):
        commands.get("colourise")


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["colorize", "--help"]])
def test_help_and_version_do_not_import_torch(args):
    code = ("import sys; from oldfilm.cli import cli\n"
            "try:\n    cli(args=sys.argv[1:], prog_name='oldfilm')\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

"""The one table of oldfilm's commands, read by the CLI, ``batch``, the Python API and Ray.

Each command is a module ``oldfilm/cli/<name>.py`` that defines ``command`` (a click command). A
*film command* (a film in, a film out: colorize, cartoonize, ...) also defines
``recipe(**options) -> list[Stage]`` (its stages, built from plain options, so a recipe can travel
to another process or machine and be rebuilt there) and ``OPTIONS``, the click options of the
recipe, which ``oldfilm batch`` offers too. Adding a command: its module and one line here.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Command:
    name: str
    summary: str                 # one line for `oldfilm --help`, shown without importing the module
    suffix: str | None = None    # film commands: the output is NAME.<suffix>.EXT
    batch: bool = False          # offered by `oldfilm batch --command`

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(f"oldfilm.cli.{self.name.replace('-', '_')}")


COMMANDS: dict[str, Command] = {c.name: c for c in [
    Command("restore", "Repair the print: exposure flicker, dust, scratches, grain, weave, interlacing.",
            "restored", batch=True),
    Command("colorize", "Colorize black-and-white films; sound and streams copied.", "colorized", batch=True),
    Command("cartoonize", "Turn films into animated cartoons in an artist's style.", "cartoon", batch=True),
    Command("stabilize", "Remove flicker from any per-frame-processed film, guided by its original.",
            "stabilized"),
    Command("keyframes", "Export one frame per shot to colour, for colorize --keyframes."),
    Command("preview", "A contact sheet of frames sampled across a film, before | after, in seconds."),
    Command("batch", "Process every film in a folder; resumable after a crash or a reboot."),
    Command("config", "Print the effective settings (oldfilm.toml, --quality presets) and where each came from."),
    Command("eval", "Score a film: flicker, colourfulness, distance to a colour truth."),
    Command("info", "Show what a film holds: size, exact frame rate, frames, streams."),
    Command("models", "The models oldfilm knows: installed or not, where from, how they score."),
    Command("train", "Train oldfilm's own models (see each model card for the recipe)."),
]}


def get(name: str) -> Command:
    from .errors import BadInput

    if name not in COMMANDS:
        raise BadInput(f"unknown command {name!r}: choose one of {', '.join(COMMANDS)}")
    return COMMANDS[name]


def film_commands(*, batch: bool = False) -> list[Command]:
    """The commands that turn a film into a film (``batch=True``: those batch can run)."""
    return [c for c in COMMANDS.values() if c.suffix and (c.batch or not batch)]


def recipe_options(name: str, options: dict) -> dict:
    """The part of ``options`` (a command line's values) that command ``name``'s recipe takes."""
    params = inspect.signature(get(name).module.recipe).parameters
    return {k: v for k, v in options.items() if k in params}


def recipe(name: str, **options):
    """Command ``name``'s stages, built from its recipe options (what ``oldfilm NAME`` runs)."""
    return get(name).module.recipe(**options)

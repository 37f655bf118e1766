"""What each command runs, for the Python API: ``recipes.colorize(**options)`` is the list of
stages ``oldfilm colorize`` runs (any film command of :mod:`oldfilm.commands` works the same)."""
from __future__ import annotations

from functools import partial

from . import commands


def build(command: str, options: dict):
    return commands.recipe(command, **options)


def __getattr__(name: str):
    if name in commands.COMMANDS and commands.COMMANDS[name].suffix:
        return partial(commands.recipe, name)
    raise AttributeError(f"module 'oldfilm.recipes' has no attribute {name!r}")

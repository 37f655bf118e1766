"""Training commands. Only the CLI's ``train`` command imports this package; the runtime never does."""
from __future__ import annotations

import click


@click.group(name="train", help="Train oldfilm's models.")
def train() -> None:
    pass


# Commands register themselves on the group when their module is imported.
from oldfilm.train import cartoon as _cartoon  # noqa: E402,F401
from oldfilm.train import colorizer as _colorizer  # noqa: E402,F401
from oldfilm.train import confidence as _confidence  # noqa: E402,F401
from oldfilm.train import hed as _hed  # noqa: E402,F401
from oldfilm.train import stabilizer as _stabilizer  # noqa: E402,F401

__all__ = ["train"]

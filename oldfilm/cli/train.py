"""oldfilm train: the training commands, imported only when asked for."""
from __future__ import annotations

import click


class _LazyTrain(click.Group):
    def _group(self) -> click.Group:
        from ..train import train
        return train

    def list_commands(self, ctx):
        return self._group().list_commands(ctx)

    def get_command(self, ctx, name):
        return self._group().get_command(ctx, name)


command = _LazyTrain("train", help="""Train oldfilm's own models (see each model card for the recipe).

\b
Example:
  oldfilm train colorizer --help""")

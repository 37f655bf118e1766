"""oldfilm info: what a film holds."""
from __future__ import annotations

import json

import click


@click.command("info")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def command(inputs, as_json):
    """Show what a film holds: size, exact frame rate, frames, duration, streams.

    \b
    Example:
      oldfilm info movie.mp4
    """
    from ..video import probe

    found = [probe(i).describe() for i in inputs]
    if as_json:
        click.echo(json.dumps(found if len(found) > 1 else found[0], indent=2))
        return
    for d in found:
        click.echo(d.pop("path"))
        streams = d.pop("streams")
        for k, v in d.items():
            click.echo(f"  {k:20} {v}")
        for s in streams:
            click.echo(f"  stream {s}")

"""oldfilm models: list, show, import, pull and verify models."""
from __future__ import annotations

from pathlib import Path

import click

from . import options
from .. import weights
from ..errors import BadInput, OldfilmError


@click.group("models", invoke_without_command=True)
@click.pass_context
def command(ctx):
    """The models oldfilm knows: installed or not, where they come from, how they score.

    \b
    Examples:
      oldfilm models                                  # same as `oldfilm models list`
      oldfilm models info colornet-v1                 # its card: data, recipe, metrics
      oldfilm models import cartoongan-hayao Hayao_net_G_float.pth
      oldfilm models pull animegan2-paprika           # download, check, convert, install
      oldfilm models verify
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(models_list)


@command.command("list")
@options.models_dir
def models_list(models_dir=None):
    """Every model: task, installed or not, licence, and its card's metrics."""
    click.echo(f"{'name':28} {'task':10} {'default':8} {'installed':10} licence")
    for entry in weights.REGISTRY.values():
        path = weights.find(entry.name, models_dir)
        default = "yes" if weights.DEFAULTS.get(entry.task) == entry.name else ""
        click.echo(f"{entry.name:28} {entry.task:10} {default:8} {'yes' if path else 'no':10} {entry.license}")
        lines = [ln for ln in (weights.card(entry.name, models_dir) or "").splitlines()
                 if ln.lower().startswith("metrics:")]
        for line in lines or ([f"Metrics: {entry.metrics}"] if entry.metrics else []):
            click.echo(f"    {line}")


@command.command("info")
@click.argument("name")
@options.models_dir
def models_info(name, models_dir):
    """One model: where it comes from, where it is installed, and its card."""
    entry = weights.get(name)
    path = weights.find(name, models_dir)
    click.echo(f"name:      {entry.name}\ntask:      {entry.task}\nlicence:   {entry.license}\n"
               f"source:    {entry.source}\nurl:       {entry.url or '-'}\nsha256:    {entry.sha256 or '-'}\n"
               f"installed: {path or 'no (oldfilm models pull/import ' + name + ')'}")
    card = weights.card(name, models_dir)
    if card:
        click.echo("\n" + card)


@command.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@options.models_dir
def models_import(name, file, models_dir):
    """Install a weight file you have (a published .pth or a .safetensors) for model NAME.

    The file is loaded safely (never runs code), checked against NAME's architecture key by key,
    and stored as safetensors in the models folder.

    \b
    Example:
      oldfilm models import lai-eccv18 ECCV18_blind_consistency.pth
    """
    click.echo(f"installed {weights.install(name, file, models_dir)}")


@command.command("pull")
@click.argument("name")
@options.models_dir
@options.quiet
def models_pull(name, models_dir, quiet):
    """Download model NAME from its published address, check it, and install it.

    \b
    Example:
      oldfilm models pull animegan2-paprika
    """
    from ..download import download

    entry = weights.get(name)
    if entry.url is None:
        raise BadInput(f"{name} has no download address; {entry.source}")
    folder = weights.models_dirs(models_dir)[0]
    raw = folder / ".downloads" / Path(entry.url).name
    download(entry.url, raw, expected_sha256=entry.sha256, progress=not quiet)
    click.echo(f"installed {weights.install(name, raw, models_dir)}")
    raw.unlink()


@command.command("verify")
@options.models_dir
def models_verify(models_dir):
    """Load every installed model strictly; exit 1 if any is broken."""
    bad = 0
    for entry in weights.REGISTRY.values():
        if weights.find(entry.name, models_dir) is None:
            continue
        try:
            weights.load(entry.name, models_dir=models_dir)
            click.echo(f"ok      {entry.name}")
        except OldfilmError as e:
            bad += 1
            click.echo(f"broken  {entry.name}: {e}")
    if bad:
        raise SystemExit(1)

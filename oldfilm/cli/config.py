"""Settings from a file and presets: ``oldfilm.toml`` (or ``--config FILE``) and ``--quality`` feed
every option's default through click's ``default_map``; the command line still wins.

Precedence, first wins: the command line; the config file (its ``[COMMAND]`` table, then its
top-level keys); the ``--quality`` preset; the built-in default. ``oldfilm config`` prints the
effective settings of the film commands and where each came from.

    # oldfilm.toml
    quality = "draft"          # top-level keys: every command that has the option
    device = "cpu"
    [colorize]                 # one command's table
    render-size = 256
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import BadInput

if sys.version_info >= (3, 11):
    import tomllib
else:   # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

FILE = "oldfilm.toml"
# measured in bench/README.md ("Quality presets"): what each costs per frame against standard
QUALITY = {
    "draft": {"render_size": 128, "flow_quality": "ultrafast", "flow_size": 128, "net_every": 32,
              "preset": "superfast", "crf": 23},
    "standard": {},
    "best": {"render_size": 256, "preset": "slow", "crf": 16},
}


def read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise BadInput(f"cannot read the config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"{path} is not valid TOML: {e}") from None


def file_defaults(data: dict, command: click.Command, name: str, path: Path) -> dict:
    """The values ``data`` (a parsed config file) gives to ``command``'s options, by parameter name."""
    from ..commands import COMMANDS

    for key, value in data.items():
        if isinstance(value, dict) and key not in COMMANDS:
            raise BadInput(f"{path}: [{key}] is no oldfilm command: use a table named after one of {', '.join(COMMANDS)}")
    names = {p.name for p in command.params if isinstance(p, click.Option)}
    out = {k.replace("-", "_"): v for k, v in data.items() if not isinstance(v, dict) and k.replace("-", "_") in names}
    for key, value in data.get(name, {}).items():
        if key.replace("-", "_") not in names:
            known = sorted(p.opts[-1].lstrip("-") for p in command.params
                           if isinstance(p, click.Option) and p.name not in ("config", "help"))
            raise BadInput(f"{path}: [{name}] {key}: {name} has no such option; known: {', '.join(known)}")
        out[key.replace("-", "_")] = value
    return out


def _apply(ctx: click.Context) -> None:
    values = ctx.meta.get("oldfilm.file", {})
    quality = ctx.meta.get("oldfilm.quality") or values.get("quality") or "standard"
    names = {p.name for p in ctx.command.params}
    ctx.default_map = {**{k: v for k, v in QUALITY[quality].items() if k in names}, **values}


def _config(ctx: click.Context, param, value):
    path = Path(value) if value else (Path(FILE) if Path(FILE).is_file() else None)
    ctx.meta["oldfilm.file"] = file_defaults(read(path), ctx.command, ctx.info_name, path) if path else {}
    _apply(ctx)


def _quality(ctx: click.Context, param, value):
    if value is not None:   # given, or the config file's (None: neither; the default is standard)
        ctx.meta["oldfilm.quality"] = value
    _apply(ctx)


config_option = click.option(
    "--config", type=click.Path(dir_okay=False, path_type=str), is_eager=True, expose_value=False,
    callback=_config, help=f"Take option defaults from this TOML file (default: ./{FILE} when there is one); "
                           "the command line still wins. Example: oldfilm colorize movie.mp4 --config archive.toml")
quality_option = click.option(
    "--quality", type=click.Choice(list(QUALITY)), default=None, is_eager=True,
    expose_value=False, callback=_quality,
    help="A preset of render size, motion (flow quality and size, --net-every) and encoder settings: "
         "draft (about 0.4x the CPU per frame, for a first look), standard, best (finer colour, "
         "more work). Options you give, or the config file gives, win over it. "
         "Default: standard. Example: oldfilm colorize movie.mp4 --quality draft")


def effective(command: click.Command, name: str, path: Path | None, quality: str | None) -> list[tuple]:
    """``(option, value, source)`` of each of ``command``'s options."""
    values = file_defaults(read(path), command, name, path) if path else {}
    given, quality = quality is not None, quality or values.get("quality") or "standard"
    rows = []
    for p in command.params:
        if not isinstance(p, click.Option) or p.name in ("help", "config", None):
            continue
        if p.name == "quality":
            value, source = quality, ("--quality" if given else str(path) if "quality" in values else "default")
        elif p.name in values:
            value, source = values[p.name], str(path)
        elif p.name in QUALITY[quality]:
            value, source = QUALITY[quality][p.name], f"--quality {quality}"
        else:
            value, source = p.get_default(click.Context(command), call=True), "default"
        rows.append((p.opts[-1], value, source))
    return rows


@click.command("config")
@click.argument("names", nargs=-1, metavar="[COMMAND]...")
@click.option("--config", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help=f"The config file to read (default: ./{FILE} when there is one).")
@click.option("--quality", type=click.Choice(list(QUALITY)), default=None, help="As the commands' --quality.")
def command(names, path, quality):
    """Print the effective settings of commands and where each came from.

    Sources: the config file (./oldfilm.toml or --config), a --quality preset, or the built-in
    default. Options given on a command line win over all of these.

    \b
    Examples:
      oldfilm config                      # every film command, batch and preview
      oldfilm config colorize --quality draft
      oldfilm config batch --config archive.toml
    """
    from ..commands import COMMANDS, get

    path = path or (Path(FILE) if Path(FILE).is_file() else None)
    names = names or [n for n, c in COMMANDS.items() if c.suffix or n in ("batch", "preview")]
    click.echo(f"config file: {path or f'none (no ./{FILE})'}")
    for name in names:
        cmd = get(name).module.command
        click.echo(f"\n[{name}]")
        for opt, value, source in effective(cmd, name, path, quality):
            click.echo(f"  {opt:22} {str(value):24} {source}")

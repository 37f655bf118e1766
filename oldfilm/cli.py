"""The command line: the one place where exceptions become messages and exit codes.

Exit codes: 0 done; 1 processing failed (ffmpeg, model, disk); 2 bad command line or input;
130 interrupted (Ctrl-C). Set OLDFILM_DEBUG=1 to see tracebacks.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from . import __version__, options, weights
from .errors import BadInput, OldfilmError
from .video import probe
from .video.writer import CONTAINERS


class OldfilmGroup(click.Group):
    """Turns every known error into one line and an exit code; Ctrl-C into exit 130."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except OldfilmError as e:
            if os.environ.get("OLDFILM_DEBUG"):
                raise
            click.echo(f"oldfilm: error: {e}", err=True)
            ctx.exit(e.exit_code)
        except BrokenPipeError:   # output piped into `head` and the like
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("\noldfilm: interrupted; no partial output was left", err=True)
            ctx.exit(130)
        except Exception as e:
            if os.environ.get("OLDFILM_DEBUG"):
                raise
            click.echo(f"oldfilm: unexpected error: {type(e).__name__}: {e} "
                       "(run again with OLDFILM_DEBUG=1 for the traceback, and please report it)", err=True)
            ctx.exit(1)


@click.group(cls=OldfilmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="oldfilm")
def cli():
    """Bring old black-and-white films back to life.

    \b
    Examples:
      oldfilm colorize movie.mp4               # writes movie.colorized.mp4, sound kept
      oldfilm colorize a.mkv b.avi -o done/    # several films into a folder
      oldfilm colorize movie.mp4 --no-stabilize  # per-frame colour, to compare
      oldfilm stabilize other.mp4 --source movie.mp4   # de-flicker anyone's per-frame output
      oldfilm eval movie.colorized.mp4 --source movie.mp4  # flicker and colour scores
      oldfilm info movie.mp4                   # what a film holds
      oldfilm models                           # installed models and their scores
    """


def output_for(input: Path, output: str | None, suffix: str, many: bool) -> Path:
    """Where INPUT's result goes: ``-o`` file or folder, else ``NAME.<suffix>.EXT`` beside it."""
    ext = input.suffix if input.suffix.lower() in CONTAINERS else ".mkv"
    name = f"{input.stem}.{suffix}{ext}"
    if output is None:
        return input.with_name(name)
    out = Path(output)
    if out.is_dir():
        return out / name
    if many:
        raise BadInput(f"-o {output} must be an existing folder when several films are given")
    if out.suffix.lower() not in CONTAINERS:
        raise BadInput(f"-o {output}: oldfilm writes {', '.join(sorted(CONTAINERS))} files: "
                       "give a name with one of these extensions, or an existing folder")
    return out


def run_films(inputs: tuple[str, ...], stages_factory, suffix: str, opts: dict, source: str | None = None) -> None:
    """Process each film with one pipeline of the given stages (the shared path of commands)."""
    from .pipeline import Pipeline

    films = [Path(i) for i in inputs]
    plans = []
    for film in films:
        info = probe(film)
        out = output_for(film, opts["output"], suffix, many=len(films) > 1)
        if out.exists() and not opts["overwrite"]:
            raise BadInput(f"{out} exists: pass --overwrite to replace it, or choose another -o")
        plans.append((film, info, out))
    pipe = Pipeline(stages_factory(), device=opts["device"], batch_size=opts["batch_size"],
                    precision=opts["precision"], progress=not opts["quiet"])
    if not opts["quiet"]:
        click.echo(f"oldfilm: {pipe.describe()}", err=True)
    for film, info, out in plans:
        for stage in pipe.stages:
            stage.reset()
        result = pipe.run(film, out, crf=opts["crf"], preset=opts["preset"], overwrite=opts["overwrite"],
                          info=info, source=source)
        if abs(result.frames_out - info.frames) > 1:
            click.echo(f"oldfilm: warning: {film.name}: its index lists {info.frames} frames but "
                       f"{result.frames_out} could be decoded (a damaged file?)", err=True)
        if not opts["quiet"]:
            click.echo(f"wrote {out} ({result.frames_out} frames, {len(pipe.cuts) + 1} shots, "
                       f"{result.seconds:.1f} s, {result.fps:.1f} frames/s)", err=True)


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@options.colorizing
@options.processing
def colorize(inputs, model, render_size, stabilize, strength, **opts):
    """Colorize black-and-white films; sound, subtitles and chapters are copied unchanged.

    The model predicts colour at a small size and the film's own full-resolution luma is kept,
    so detail and grain are untouched; the stabilizer then removes colour flicker along the
    film's motion. Output goes to a hidden partial file that is renamed only when complete.

    \b
    Examples:
      oldfilm colorize movie.mp4
      oldfilm colorize movie.mkv -o restored.mp4 --crf 16
      oldfilm colorize reel1.mp4 reel2.mp4 -o out/ --device cuda --batch-size 32
      oldfilm colorize movie.mp4 --no-stabilize     # per-frame colour, to compare
      oldfilm colorize -- -leading-dash.mp4
    """
    from . import recipes

    weights.get(model or weights.default("colorize"), "colorize")   # a wrong name fails before any work
    recipe = dict(model=model, render_size=render_size, models_dir=opts["models_dir"],
                  stabilize=stabilize, strength=strength)
    run_films(inputs, lambda: recipes.colorize(**recipe), "colorized", opts)


def _list_styles(ctx, param, value):
    if not value or ctx.resilient_parsing:
        return
    from .stages.cartoonize import STYLES
    for name, style in STYLES.items():
        click.echo(f"{name:8} {style.description}")
    ctx.exit()


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--list-styles", is_flag=True, expose_value=False, is_eager=True, callback=_list_styles,
              help="Say what each style looks like, and exit.")
@options.cartoonizing
@options.processing
def cartoonize(inputs, style, colorize, cartoon_model, colorizer, render_size, strength, **opts):
    """Turn films into animated cartoons in an artist's style, steady from frame to frame.

    On a black-and-white film the chain is colorize -> stabilize -> cartoonize -> stabilize; on a
    colour film it starts at cartoonize (--colorize no forces that). The built-in stylizer needs no
    downloads: edge-preserving smoothing, flat shading and a palette fixed per shot, ink lines and
    the style's look. Sound, subtitles and chapters are copied unchanged.

    \b
    Examples:
      oldfilm cartoonize movie.mp4 --style shinkai
      oldfilm cartoonize colour.mkv --style paprika --colorize no
      oldfilm cartoonize movie.mp4 --cartoon-model cartoongan-hayao
      oldfilm cartoonize --list-styles
    """
    from . import recipes

    for name, task in ((colorizer, "colorize"), (cartoon_model, "cartoonize")):
        if name:
            weights.get(name, task)
    recipe = dict(style=style, colorize=colorize, colorizer=colorizer, model=cartoon_model,
                  render_size=render_size, models_dir=opts["models_dir"], strength=strength)
    run_films(inputs, lambda: recipes.cartoonize(**recipe), "cartoon", opts)


@cli.command()
@click.argument("processed", metavar="PROCESSED")
@click.option("--source", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The original film PROCESSED was made from (its motion guides the stabilizer).")
@click.option("--mode", type=click.Choice(["auto", "chroma", "rgb"]), default="auto", show_default=True,
              help="chroma: smooth colour only, keep the luma (colorized films); rgb: all channels "
                   "(cartoons, grading); auto: chroma when PROCESSED keeps the source's luma.")
@click.option("--method", type=click.Choice(["flow", "lai"]), default="flow", show_default=True,
              help="flow: oldfilm's training-free flow-guided stabilizer; lai: the learned network of "
                   "Lai et al. 2018 (needs its weights: oldfilm models import lai-eccv18 FILE).")
@click.option("--flow", default="auto", show_default=True, metavar="auto|dis|raft-small|raft-large",
              help="Optical flow of the flow method: dis (OpenCV, fast on a CPU) or torchvision's RAFT "
                   "(oldfilm models pull raft-small); auto: RAFT on a GPU when installed, else dis.")
@options.strength
@options.processing
def stabilize(processed, source, mode, method, flow, strength, **opts):
    """Remove flicker from any per-frame-processed film, guided by its original.

    Works on the output of any tool that treats frames one by one (a DeOldify colorization, a
    graded or style-transferred copy): optical flow on the original's frames tells where each
    pixel moves, and colours are held along that motion, reset at scene cuts. The sound comes from
    PROCESSED, or from the original when PROCESSED has none.

    \b
    Examples:
      oldfilm stabilize deoldified.mp4 --source original.mp4
      oldfilm stabilize graded.mkv --source original.mkv -o steady.mkv --mode rgb
    """
    from .stages.stabilize import Stabilize

    if Path(processed).resolve() == Path(source).resolve():
        raise BadInput("PROCESSED and --source are the same file: give the original film as --source")
    run_films((processed,), lambda: [Stabilize(mode=mode, strength=strength, method=method, flow=flow,
                                               models_dir=opts["models_dir"])], "stabilized", opts, source=source)


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info(inputs, as_json):
    """Show what a film holds: size, exact frame rate, frames, duration, streams.

    \b
    Example:
      oldfilm info movie.mp4
    """
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


@cli.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder; the input tree is mirrored there. Default: FOLDER.colorized beside FOLDER.")
@click.option("-r", "--recursive", is_flag=True, help="Also take films in sub-folders.")
@click.option("--command", type=click.Choice(["colorize", "cartoonize"]), default="colorize", show_default=True,
              help="What to do to each film (its options below apply).")
@click.option("--style", type=click.Choice(["shinkai", "hayao", "hosoda", "paprika"]), default="shinkai",
              show_default=True, help="With --command cartoonize: the artist's look.")
@click.option("--colorize", "colorize_mode", type=click.Choice(["auto", "yes", "no"]), default="auto",
              show_default=True, help="With --command cartoonize: colorize black-and-white shots first.")
@click.option("--cartoon-model", default=None, metavar="NAME",
              help="With --command cartoonize: a public cartoon generator instead of the built-in stylizer.")
@click.option("--force", is_flag=True, help="Redo films whose output already exists.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Chunks processed at once on this machine, each in its own process.")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="Run the chunks as tasks on a Ray cluster (ADDRESS, 'auto', or 'local' for one here). "
                   "Needs pip install 'oldfilm[ray]'.")
@click.option("--chunk-seconds", type=click.FloatRange(0.1), default=300, show_default=True,
              help="Long films are cut into chunks of about this length, at scene cuts; finished "
                   "chunks survive a crash.")
@options.colorizing
@options.compute
def batch(folder, out_dir, recursive, command, style, colorize_mode, cartoon_model, force, workers, ray_address,
          chunk_seconds, model, render_size, stabilize, strength, **opts):
    """Process every film in a folder; resumable after a crash or a reboot.

    Films are found by content, not by extension. Each long film is cut at scene boundaries into
    chunks that are processed (in parallel with --workers or --ray) and kept in a work folder beside
    its output until the film is joined and its sound muxed in. Run the same command again after
    an interruption: finished films are skipped and finished chunks are not redone. A film that
    fails is reported and the others go on; the exit code is 1 if any failed.

    \b
    Examples:
      oldfilm batch films/                      # -> films.colorized/
      oldfilm batch films/ -o restored/ --recursive --workers 2
      oldfilm batch films/ --ray auto --device cuda
      oldfilm batch films/ --command cartoonize --style hayao
    """
    from . import batch as runner

    name = model or weights.default("colorize")
    if weights.find(name, opts["models_dir"]) is None:
        weights.load(name, models_dir=opts["models_dir"])   # raises: says where it looked
    folder = folder.resolve()
    out_dir = (out_dir or folder.with_name(f"{folder.name}.{recipes_suffix(command)}")).resolve()
    films = runner.find_films(folder, out_dir, recipes_suffix(command), recursive)
    if not films:
        raise BadInput(f"no films found in {folder}" + ("" if recursive else " (add --recursive for sub-folders)"))
    if command == "colorize":
        recipe = dict(model=model, render_size=render_size, models_dir=opts["models_dir"],
                      stabilize=stabilize, strength=strength)
    else:
        recipe = dict(style=style, colorize=colorize_mode, colorizer=model, model=cartoon_model,
                      render_size=render_size, models_dir=opts["models_dir"], strength=strength)
    executor = runner.RayExecutor(ray_address) if ray_address else runner.LocalExecutor(workers)
    from tqdm import tqdm
    total = sum(f.frames for f in films if f.status != "failed")
    bar = tqdm(total=total, unit="frame", disable=opts["quiet"], desc="all films", dynamic_ncols=True)
    runner.run_batch(
        films, command, recipe, device=opts["device"], batch_size=opts["batch_size"],
        precision=opts["precision"], crf=opts["crf"], preset=opts["preset"], force=force,
        chunk_seconds=chunk_seconds, executor=executor,
        on_chunk=lambda film, chunk: (bar.update(chunk.count), bar.set_postfix_str(film.input.name[:30])),
        on_film=lambda film: None)
    for film in films:
        if film.status == "skipped":
            bar.update(film.frames)
    bar.close()
    width = max(len(str(f.input.relative_to(folder))) for f in films)
    click.echo(f"\n{'film':{width}}  {'result':8} {'frames':>7} {'after s':>8}  output / reason")
    for f in films:
        where = f.error if f.status == "failed" else str(f.output)
        secs = f"{f.seconds:8.1f}" if f.status == "done" else " " * 8
        click.echo(f"{str(f.input.relative_to(folder)):{width}}  {f.status:8} {f.frames:7} {secs}  {where}")
    failed = sum(f.status == "failed" for f in films)
    if failed:
        click.echo(f"oldfilm: {failed} of {len(films)} films failed", err=True)
        raise SystemExit(1)


def recipes_suffix(command: str) -> str:
    from .recipes import SUFFIX
    return SUFFIX[command]


@cli.command("eval")
@click.argument("video")
@click.option("--source", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="The original film VIDEO was made from: its motion is used for the warping error "
                   "(default: VIDEO's own).")
@click.option("--truth", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="A colour truth of the same frames: adds CIEDE2000 and PSNR against it.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the scores, with every frame's, to this JSON file (else printed).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write a per-frame chart of every score to this PNG.")
@options.quiet
def eval_(video, source, truth, json_path, plot_path, quiet):
    """Score a film: flicker (warping error), colourfulness, and distance to a colour truth.

    Warping error (Lai et al. 2018): each frame is warped onto the previous one by optical flow
    computed on the source's gray frames, and the squared difference is averaged over pixels that
    are visible in both (forward-backward consistent, not on a motion boundary), RGB in [0, 1];
    pairs across a scene cut are skipped. Lower is steadier. Colourfulness: Hasler & Süsstrunk
    (0 for gray, about 33 is "moderately colourful"). CIEDE2000 and PSNR need --truth.

    \b
    Examples:
      oldfilm eval movie.colorized.mp4 --source movie.mp4
      oldfilm eval gray.colorized.mp4 --source gray.mp4 --truth colour.mp4 --json s.json --plot s.png
    """
    from .evaluate import evaluate, save

    report = evaluate(video, source, truth, progress=not quiet)
    save(report, json_path, plot_path)
    summary = {k: report[k] for k in ("frames", "cuts", "warping_error", "colourfulness", "delta_e2000", "psnr")}
    click.echo(json.dumps(summary if json_path else report, indent=2))


@cli.group(invoke_without_command=True)
@click.pass_context
def models(ctx):
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


@models.command("list")
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


@models.command("info")
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


@models.command("import")
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


@models.command("pull")
@click.argument("name")
@options.models_dir
@options.quiet
def models_pull(name, models_dir, quiet):
    """Download model NAME from its published address, check it, and install it.

    \b
    Example:
      oldfilm models pull animegan2-paprika
    """
    from .download import download

    entry = weights.get(name)
    if entry.url is None:
        raise BadInput(f"{name} has no download address; {entry.source}")
    folder = weights.models_dirs(models_dir)[0]
    raw = folder / ".downloads" / Path(entry.url).name
    download(entry.url, raw, expected_sha256=entry.sha256, progress=not quiet)
    click.echo(f"installed {weights.install(name, raw, models_dir)}")
    raw.unlink()


@models.command("verify")
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


class _LazyTrain(click.Group):
    """`oldfilm train ...`: the training code is imported only when asked for."""

    def _group(self) -> click.Group:
        from .train import train
        return train

    def list_commands(self, ctx):
        return self._group().list_commands(ctx)

    def get_command(self, ctx, name):
        return self._group().get_command(ctx, name)


cli.add_command(_LazyTrain("train", help="Train oldfilm's own models (see each model card for the recipe)."))


def main() -> None:
    cli(prog_name="oldfilm")

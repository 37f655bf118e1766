"""The options several commands share, each declared once with its default (one table).

A command's own options live in its module (``oldfilm/cli/<command>.py``)."""
from __future__ import annotations

import click

from ..video.writer import CONTAINERS

DEFAULTS = {
    "device": "auto",
    "batch_size": 8,
    "precision": "auto",
    "crf": 18,
    "preset": "medium",
    "strength": 0.9,
    "colour_strength": 1.0,
    "denoise": 0.4,
    "net_every": 16,
    "flow_size": 256,
}

PRESETS = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]

output = click.option(
    "-o", "--output", type=click.Path(dir_okay=True, path_type=str), default=None,
    help="Output file, or an existing folder. Default: beside INPUT, named after it and the command "
         "(movie.colorized.mp4, movie.stabilized.mp4), "
         f"in the same container (one of {', '.join(sorted(CONTAINERS))}; others become .mkv).")
overwrite = click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
compare = click.option(
    "--compare", type=click.Choice(["side", "wipe"]), is_flag=False, flag_value="side", default=None,
    help="Also write NAME.compare.EXT beside the output for review: the input and the output side by "
         "side (--compare, or --compare side) or a split wipe at the film's size (--compare wipe); "
         "sound kept. Example: oldfilm colorize movie.mp4 --compare wipe")
report = click.option(
    "--report/--no-report", default=True, show_default=True,
    help="Write a run report beside each output: NAME.report.json and a self-contained NAME.report.html "
         "(streams, chain, settings, model hashes, time, per-shot thumbnails and scores, charts with "
         "oldfilm[report]). Example: oldfilm colorize movie.mp4 --no-report")
quiet = click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary; errors only.")
device = click.option(
    "--device", default=DEFAULTS["device"], show_default=True, metavar="auto|cpu|cuda[:N]|mps",
    help="Where the models run. auto: the first GPU if there is one, else the CPU.")
batch_size = click.option(
    "--batch-size", type=click.IntRange(1, 256), default=DEFAULTS["batch_size"], show_default=True,
    help="Frames per batch: larger is faster on a GPU and uses more memory.")
precision = click.option(
    "--precision", type=click.Choice(["auto", "fp32", "fp16", "bf16"]), default=DEFAULTS["precision"],
    show_default=True, help="Arithmetic precision of the networks (colour maths stays fp32). auto: fp16 on a GPU, bf16 on a CPU with native bfloat16 (AVX512-BF16/AMX), else fp32.")
crf = click.option(
    "--crf", type=click.IntRange(0, 51), default=DEFAULTS["crf"], show_default=True,
    help="H.264 quality: 0 is lossless, 18 looks like the input, higher is smaller.")
preset = click.option(
    "--preset", type=click.Choice(PRESETS), default=DEFAULTS["preset"], show_default=True,
    help="H.264 speed preset: faster makes bigger files.")
models_dir = click.option(
    "--models-dir", type=click.Path(file_okay=False, path_type=str), default=None, envvar="OLDFILM_MODELS_DIR",
    help="Folder of extra model weights (env OLDFILM_MODELS_DIR; default ~/.cache/oldfilm/models). "
         "The models shipped with oldfilm are always available.")
render_size = click.option(
    "--render-size", type=click.IntRange(64, 2048), default=None,
    help="Long side, in pixels, at which the model predicts colour (the model's default if not given). "
         "Larger gives finer colour detail and is slower; the film's own luma is always kept at full size.")
colour_strength = click.option(
    "--colour-strength", type=click.FloatRange(0, 2), default=DEFAULTS["colour_strength"], show_default=True,
    help="Scale the model's colour: 0 keeps the film gray, 1 is the model as measured on its card, "
         "e.g. 0.6 for paler colour or 1.3 for bolder; the model still leaves gray where it is unsure.")
net_every = click.option(
    "--net-every", type=click.IntRange(1, 64), default=DEFAULTS["net_every"], show_default=True, metavar="N",
    help="Run the colour network on at least every Nth frame of a shot, half-way between where the "
         "carried colour starts to slip, and sooner where the motion cannot be trusted (new content, "
         "occlusions); between, its colour is carried along the film's motion. 1 runs it on every "
         "frame (slowest). Example: --net-every 4")
stabilize = click.option(
    "--stabilize/--no-stabilize", default=True, show_default=True,
    help="Remove frame-to-frame colour flicker, guided by the film's own motion (resets at scene cuts).")
strength = click.option(
    "--strength", type=click.FloatRange(0, 1), default=DEFAULTS["strength"], show_default=True,
    help="How strongly the stabilizer holds colours along the motion: 0 changes nothing, "
         "1 never lets a colour change where motion is tracked.")
model = click.option("--model", default=None, metavar="NAME",
                     help="Colorization model (see `oldfilm models`). Default: the registry's default.")


flow_quality = click.option(
    "--flow-quality", type=click.Choice(["ultrafast", "fast", "medium"]), default="medium", show_default=True,
    help="How carefully the stabilizer measures motion (OpenCV DIS presets): ultrafast is quicker and "
         "steadies less. Example: oldfilm colorize movie.mp4 --flow-quality fast")
flow_size = click.option(
    "--flow-size", type=click.IntRange(64, 1024), default=DEFAULTS["flow_size"], show_default=True, metavar="PX",
    help="Long side, in pixels, at which motion is measured and colour is carried and steadied; colour is "
         "smooth, so this is far below the film's size. Smaller is faster and follows small moving things "
         "less well. Example: oldfilm colorize movie.mp4 --flow-size 128")
restore = click.option(
    "--restore", is_flag=True,
    help="Repair the print before anything else: exposure flicker, dust, scratches, grain, gate weave, "
         "interlacing, as `oldfilm restore` does (its options below tune it), e.g. --restore --denoise 0.6.")
deflicker = click.option(
    "--deflicker/--no-deflicker", default=True, show_default=True,
    help="Even out exposure flicker along the shot; fades and slow lighting changes stay "
         "(e.g. --no-deflicker for a film whose pumping is wanted).")
dust = click.option(
    "--dust/--no-dust", default=True, show_default=True,
    help="Remove dust and dirt: specks of one frame, replaced from the motion-compensated neighbours "
         "(e.g. --no-dust where sparks or snow must stay).")
scratches = click.option(
    "--scratches/--no-scratches", default=True, show_default=True,
    help="Remove vertical scratches: thin lines down the frame at nearly the same column frame after "
         "frame (e.g. --no-scratches for a film of railings or masts in a still shot).")
denoise = click.option(
    "--denoise", type=click.FloatRange(0, 1), default=DEFAULTS["denoise"], show_default=True, metavar="STRENGTH",
    help="Grain removal along the motion, 0 (off) to 1 (a full three-frame mean); grain is part of a "
         "film's look, so the default is gentle (e.g. --denoise 0.8 for a grainy print, 0 to keep it).")
deshake = click.option(
    "--deshake/--no-deshake", default=True, show_default=True,
    help="Smooth away gate weave and shake; intended pans and tilts are kept, edges mirrored, never "
         "black (e.g. --no-deshake to keep the frame where it is).")
deinterlace = click.option(
    "--deinterlace", type=click.Choice(["auto", "yes", "no"]), default="auto", show_default=True,
    help="Deinterlace with ffmpeg's bwdif: auto when the film says it is interlaced, yes for a film "
         "that is but does not say so (e.g. --deinterlace yes for a telecined transfer).")
REPAIRS = [deflicker, dust, scratches, denoise, deshake, deinterlace]


def apply(f, opts):
    for opt in reversed(opts):
        f = opt(f)
    return f


def compute(f):
    """Where and how the models run, and how the film is encoded."""
    from .config import config_option, quality_option

    return apply(f, [config_option, quality_option, device, batch_size, precision, crf, preset, models_dir, quiet])


def processing(f):
    """The options every film-processing command takes."""
    return apply(compute(f), [output, overwrite, compare, report])

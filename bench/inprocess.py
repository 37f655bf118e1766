"""Wall and CPU time of one in-process ``Pipeline.run`` of colorize (+ stabilize) or restore, as shipped.
Run by hand, alternating commits with ``PYTHONPATH`` (bench/README.md, issue 15 "Session 8"):

    PYTHONPATH=. python bench/inprocess.py CLIP [KEYFRAMES_DIR]
    PYTHONPATH=. python bench/inprocess.py CLIP --restore      # `oldfilm restore` with the defaults
    PYTHONPATH=. python bench/inprocess.py CLIP --identity     # the pipeline's own cost (bench.py's identity)

Prints the wall time, this process's CPU time (the pipeline's threads) and its ffmpeg children's
(decode and x264). Load inflates wall time far more than CPU time, so two commits run in turn in
one window compare fairly on either figure.
"""
from __future__ import annotations

import os
import sys
import time

from oldfilm import Pipeline, commands, recipes   # oldfilm before torch: it sets OpenMP's passive wait


def main() -> None:
    clip, rest = sys.argv[1], sys.argv[2:]
    if rest == ["--restore"]:
        stages = commands.recipe("restore")
    elif rest == ["--identity"]:
        from oldfilm.stages import Identity
        stages = [Identity()]
    else:
        stages = recipes.colorize(**({"keyframes": rest[0]} if rest else {}))
    pipe = Pipeline(stages, device="cpu", batch_size=8, progress=False)
    out = os.path.join(os.path.dirname(os.path.abspath(clip)), "inprocess-out.mp4")
    t0, c0 = time.perf_counter(), time.process_time()
    res = pipe.run(clip, out, overwrite=True)
    wall, cpu, kids = time.perf_counter() - t0, time.process_time() - c0, os.times()
    print(f"wall {wall:.2f} s, frames {res.frames_out}, process CPU {cpu:.2f} s, "
          f"children {kids.children_user + kids.children_system:.2f} s")


if __name__ == "__main__":
    main()

"""oldfilm: bring old black-and-white films back to life (colorize, stabilize, cartoonize)."""
import os
import sys

__version__ = "0.1.0"

# OpenMP's idle threads spin by default, taking the cores that ffmpeg's x264 encoder needs while the
# pipeline waits on I/O (identity pass 72-86% of ffmpeg alone -> 83-107% with passive waiting on 2
# cores, bench/README.md). The policy is read once, when torch loads its OpenMP runtime, so it is set
# here, before oldfilm imports torch, unless the user chose one or torch is already loaded.
if "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["Pipeline", "__version__"]


def __getattr__(name: str):   # torch is imported only when the pipeline is asked for
    if name == "Pipeline":
        from .pipeline import Pipeline
        return Pipeline
    raise AttributeError(f"module 'oldfilm' has no attribute {name!r}")

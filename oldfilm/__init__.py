"""oldfilm: bring old black-and-white films back to life (colorize, stabilize, cartoonize)."""
__version__ = "0.1.0"

__all__ = ["Pipeline", "__version__"]


def __getattr__(name: str):   # torch is imported only when the pipeline is asked for
    if name == "Pipeline":
        from .pipeline import Pipeline
        return Pipeline
    raise AttributeError(f"module 'oldfilm' has no attribute {name!r}")

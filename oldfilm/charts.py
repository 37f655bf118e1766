"""Charts of scores over a film, drawn by matplotlib (the optional extra ``oldfilm[report]``)."""
from __future__ import annotations

import io

from .errors import OldfilmError

HOW = "pip install 'oldfilm[report]'"


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def line_chart(panels: list[tuple[str, list[tuple[str, list, list]]]], *, cuts=(), xlabel: str = "frame",
               title: str = "", width: float = 9.0) -> bytes:
    """A PNG with one panel per ``(name, [(label, xs, ys), ...])``, the lines of each panel
    sharing its y axis; ``cuts`` (x positions) are drawn as thin vertical lines."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise OldfilmError(f"charts need matplotlib, which is not installed: {HOW}") from None
    fig = Figure(figsize=(width, 1.0 + 1.9 * len(panels)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, lines) in zip(axes, panels):
        for label, xs, ys in lines:
            ax.plot(xs, ys, linewidth=0.9, label=label)
        for cut in cuts:
            ax.axvline(cut, color="0.75", linewidth=0.6, zorder=0)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel(xlabel + ("   (grey lines: scene cuts)" if len(cuts) else ""))
    if title:
        fig.suptitle(title, fontsize="medium")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96)
    return buf.getvalue()

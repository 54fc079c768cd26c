"""``squeeze bench --plot``: curves of any suite, one panel per measure (matplotlib,
from the ``bench`` extra, imported only when a plot is asked for)."""

from __future__ import annotations

from typing import Sequence


def curves(path: str, panels: Sequence[tuple[str, dict[str, list[tuple[float, float]]]]], *,
           title: str = "", xlabel: str = "", xlog: bool = False,
           xlim: tuple[float, float] | None = None, xticks: Sequence[float] | None = None,
           highlight: str | None = None) -> None:
    """Write a PNG with one panel per ``(y label, {series: [(x, y), ...]})``.

    ``highlight`` names the series drawn bold (squeeze's own, against its peers).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, len(panels), figsize=(16 * len(panels) / 3, 5), squeeze=False)
    for ax, (ylabel, series) in zip(axes[0], panels):
        for label, pts in series.items():
            pts = sorted(pts)
            bold = label == highlight
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if bold else ".",
                    lw=2.5 if bold else 1.2, color="black" if bold else None, label=label)
        if xlog:
            ax.set_xscale("log")
        if xlim:
            ax.set_xlim(*xlim)
        if xticks:
            ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(list(xticks)))
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.xaxis.set_major_formatter(
                matplotlib.ticker.FixedFormatter([f"{t:g}" for t in xticks]))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table_curves(results) -> dict:
    """The default plot of a side-by-side table: bits per byte against compression speed
    (totals over the inputs), one point per codec or peer."""
    from frappe_cli.bench.runner import summarize

    series = {}
    for codec, t in summarize(results).items():
        if t["csize"] and t["comp_s"]:
            series[codec] = [(t["usize"] / t["comp_s"] / 1e6, 8 * t["csize"] / t["usize"])]
    return {"panels": [("bits per byte (total)", series)],
            "title": f"{len({r.file for r in results})} inputs, totals",
            "xlabel": "compression MB/s (total)", "xlog": True}

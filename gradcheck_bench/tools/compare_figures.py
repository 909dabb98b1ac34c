"""The pictures of ``compare``: the outcome heatmap, the cost chart, and ADBench's gradient/objective figure.

* ``heatmap.png``: cases (one row per case and derivative kind checked on it,
  ``softmax-k5-d4-m6 jvp``) x (candidate, reference); colour is log10 of the
  relative difference on a diverging scale that breaks at the threshold
  (greens below it, reds above), and each cell says its verdict, or why it
  has none (TIMEOUT, ERROR, UNAVAILABLE).
* ``cost.png``: seconds per gradient against parameters, log-log, one line
  per source and one panel per model (gradients only: the other kinds' times
  are in the reports' tables); a TIMEOUT is drawn as an open triangle
  in the source's colour at the budget, which the true time exceeds.
* ``cost_ratio.png``: the same times over one evaluation of the cost (what
  ADBench plots as "Jacobian / objective"); the fd oracle's counted forward
  passes are drawn as a dashed guide, so its slope of one pass pair per
  parameter shows as the line it follows.

matplotlib is optional: figures are drawn with its object API on the Agg
canvas (no pyplot, no global backend), and without it :func:`draw` returns
nothing and :func:`missing_matplotlib` says what to install.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..kinds import GRADIENT
from .compare_cells import FAIL, PASS, TIMEOUT
from .compare_summary import derivatives_of

if TYPE_CHECKING:
    from matplotlib.artist import Artist

HEATMAP, COST, COST_RATIO = "heatmap.png", "cost.png", "cost_ratio.png"
SHORT = {"UNAVAILABLE": "n/i", "TIMEOUT": "TIME", "ERROR": "ERR"}
"""Heatmap labels of cells without a difference (n/i: framework not installed)."""
SMALLEST_DIFFERENCE = 1e-17
"""Differences below this (exact agreement) are drawn at it: log10(0) has no colour."""
DPI = 110


def missing_matplotlib() -> str | None:
    """None when matplotlib can be imported; otherwise the one line that says how to get the pictures."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "pictures skipped: matplotlib is not installed (pip install matplotlib); the tables are written"
    return None


def draw(table: pd.DataFrame, sources: pd.DataFrame, budget: float) -> dict[str, bytes]:
    """Every picture as PNG bytes by file name; empty without matplotlib or without rows."""
    if missing_matplotlib() or table.empty:
        return {}
    pictures = {HEATMAP: png(heatmap_figure(table))}
    if not sources.empty:
        pictures[COST] = png(cost_figure(sources, budget))
        pictures[COST_RATIO] = png(cost_figure(sources, budget, ratio=True))
    return pictures


def png(figure: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


# --------------------------------------------------------------------------
# The heatmap
# --------------------------------------------------------------------------


def threshold_colormap() -> Any:
    """Greens (deep far below the threshold, pale at it), then reds (pale at it, deep far above)."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    greens = colormaps["Greens"](np.linspace(0.85, 0.3, 128))
    reds = colormaps["Reds"](np.linspace(0.3, 0.9, 128))
    return ListedColormap(np.vstack([greens, reds]), name="below-green-above-red").with_extremes(bad="#d0d0d0")


def heatmap_figure(table: pd.DataFrame) -> Any:
    """Cases (and kinds) x (candidate, reference), coloured by log10 relative difference, broken at the threshold."""
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure

    table = table.assign(row=[case if kind == GRADIENT else f"{case} {kind}"
                              for case, kind in zip(table["case"], derivatives_of(table))])
    cases = list(dict.fromkeys(table["row"]))
    candidates, references = _run_order(table, "candidate"), _run_order(table, "reference")
    pairs = sorted(dict.fromkeys(zip(table["candidate"], table["reference"])),
                   key=lambda pair: (candidates.index(pair[0]), references.index(pair[1])))
    thresholds = table["threshold"].unique()
    relative = len(thresholds) > 1  # mixed thresholds: colour difference / threshold instead
    values = np.full((len(cases), len(pairs)), np.nan)
    labels = np.full((len(cases), len(pairs)), "n/a", dtype=object)
    for row in table.itertuples():
        i, j = cases.index(row.row), pairs.index((row.candidate, row.reference))
        if row.verdict in (PASS, FAIL) and np.isfinite(row.difference):
            scaled = row.difference / row.threshold if relative else row.difference
            values[i, j] = math.log10(max(scaled, SMALLEST_DIFFERENCE))
            labels[i, j] = row.verdict + ("" if row.as_expected else "!")
        else:
            labels[i, j] = SHORT.get(row.verdict, row.verdict)
    centre = 0.0 if relative else math.log10(float(thresholds[0]))
    finite = values[np.isfinite(values)]
    low = min(finite.min(initial=centre), centre) - 1
    high = max(finite.max(initial=centre), centre) + 1
    figure = Figure(figsize=(3.5 + 0.62 * len(pairs), 2.2 + 0.34 * len(cases)))
    axes = figure.add_subplot()
    image = axes.imshow(np.ma.masked_invalid(values), cmap=threshold_colormap(),
                        norm=TwoSlopeNorm(vcenter=centre, vmin=low, vmax=high), aspect="auto")
    size = 7 if len(pairs) < 16 else 6
    for (i, j), label in np.ndenumerate(labels):
        if np.isfinite(values[i, j]):
            red, green, blue, _ = image.to_rgba(values[i, j])
        else:
            red, green, blue = 0.8, 0.8, 0.8
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        axes.text(j, i, label, ha="center", va="center", fontsize=size, color="white" if dark else "black",
                  fontweight="bold" if label.endswith("!") else "normal")
    axes.set_xticks(range(len(pairs)), [f"{c}\nvs {r}" for c, r in pairs], rotation=60, ha="right", fontsize=7)
    axes.set_yticks(range(len(cases)), cases, fontsize=7)
    for boundary in _model_boundaries(table, cases):
        axes.axhline(boundary - 0.5, color="black", linewidth=1)
    colorbar = figure.colorbar(image, ax=axes, fraction=0.03, pad=0.02)
    colorbar.set_label("log10(difference / threshold)" if relative else "log10 relative difference", fontsize=8)
    colorbar.ax.axhline(centre, color="black", linewidth=1.5)
    threshold_text = "difference = threshold" if relative else f"threshold {float(thresholds[0]):.0e}"
    kinds = ("\nA row named with a derivative kind compares that derivative, the others the gradient; n/a also "
             "where a source gives no such derivative" if (derivatives_of(table) != GRADIENT).any() else "")
    axes.set_title(f"Relative difference per case and pair: green below the {threshold_text}, red above "
                   "(planted bugs should be red); ! verdict not as expected\nGrey, no difference: TIME timeout, "
                   f"ERR error, n/i framework not installed, n/a pair does not apply{kinds}", fontsize=8)
    figure.tight_layout()
    return figure


def _run_order(table: pd.DataFrame, column: str) -> list[str]:
    """The sources of ``column`` in the run's order: as the case that has the most of them lists them."""
    groups = sorted((group[column] for _, group in table.groupby("case", sort=False)), key=lambda g: -g.nunique())
    return list(dict.fromkeys(name for group in groups for name in group))


def _model_boundaries(table: pd.DataFrame, rows: list[str]) -> list[int]:
    model_of = table.drop_duplicates("row").set_index("row")["model"]
    return [i for i in range(1, len(rows)) if model_of[rows[i]] != model_of[rows[i - 1]]]


# --------------------------------------------------------------------------
# The cost charts
# --------------------------------------------------------------------------


def cost_figure(sources: pd.DataFrame, budget: float, ratio: bool = False) -> Any:
    """Seconds per gradient (or over one cost evaluation, ``ratio``) against parameters, per model, log-log."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    timed = sources[(sources["kind"] != "planted-bug") & (derivatives_of(sources) == GRADIENT)]
    models = list(dict.fromkeys(timed["model"]))
    names = list(dict.fromkeys(timed["source"]))
    colours = dict(zip(names, colormaps["tab10"](np.linspace(0, 1, 10))[: len(names)] if len(names) <= 10
                       else colormaps["turbo"](np.linspace(0, 1, len(names)))))
    columns = min(2, len(models))
    rows = math.ceil(len(models) / columns)
    figure = Figure(figsize=(5.8 * columns, 4.0 * rows + 1.0))
    for number, model in enumerate(models, start=1):
        axes = figure.add_subplot(rows, columns, number)
        _cost_panel(axes, timed[timed["model"] == model], colours, budget, ratio)
        axes.set_title(model, fontsize=10)
    handles: dict[str, Artist] = {}
    for axes in figure.axes:
        for handle, label in zip(*axes.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    handles = dict(sorted(handles.items(), key=lambda item: names.index(item[0]) if item[0] in names else len(names)))
    if (timed["outcome"] == TIMEOUT).any():
        handles[f"{TIMEOUT}: slower than the budget"] = Line2D([], [], linestyle="none", marker="^", markersize=7,
                                                               markerfacecolor="none", color="black")
    figure.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(5, len(handles)), fontsize=8,
                  frameon=False)
    figure.suptitle("Gradient time / objective time (one cost evaluation)" if ratio
                    else "Seconds per gradient (median of warm calls)", fontsize=11)
    legend_rows = math.ceil(len(handles) / 5)
    figure.tight_layout(rect=(0, (0.25 + 0.2 * legend_rows) / (4.0 * rows + 1.0), 1, 0.97))
    return figure


def _cost_panel(axes: Any, rows: pd.DataFrame, colours: dict[str, Any], budget: float, ratio: bool) -> None:
    """One model: a line per source through its finished cases, triangles at the budget for its timeouts."""
    measure = "cost_ratio" if ratio else "seconds"
    for name, group in rows.groupby("source", sort=False):
        done = group[group["outcome"] == "OK"].sort_values(["parameters", measure])
        axes.plot(done["parameters"], done[measure], marker="o", markersize=4, linewidth=1.4,
                  color=colours[name], label=name)
        late = group[group["outcome"] == TIMEOUT]
        if len(late):
            bound = budget / late["cost_seconds"] if ratio else pd.Series(budget, index=late.index)
            axes.plot(late["parameters"], bound, linestyle="none", marker="^", markersize=7, markerfacecolor="none",
                      color=colours[name])
    fd = rows[(rows["source"] == "fd") & (rows["outcome"] == "OK")].sort_values("parameters")
    if ratio and len(fd):
        axes.plot(fd["parameters"], fd["forward_passes"], linestyle="--", color="grey", linewidth=1,
                  label="fd's counted forward passes")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("parameters", fontsize=9)
    axes.set_ylabel("gradient time / one cost evaluation" if ratio else "seconds per gradient", fontsize=9)
    axes.grid(True, which="major", linewidth=0.4, alpha=0.6)
    axes.tick_params(labelsize=8)

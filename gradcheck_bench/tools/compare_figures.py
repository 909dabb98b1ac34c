"""The pictures of ``compare``: the outcome heatmap, the research figure, and the workloads x sources matrix.

Everywhere PASS is green and FAIL red; whether a verdict was the expected one is a separate mark, ✓ or !
(:data:`~.compare_summary.MARKS`), since a planted bug is expected to FAIL.

* ``heatmap.png``: cases (one row per case and derivative kind checked on it,
  ``softmax-k5-d4-m6 jvp``) x (candidate, reference); a PASS cell is green and
  a FAIL cell red, deeper the further log10 of its relative difference lies
  from the threshold, and each cell says its verdict and mark, or why it has
  none (TIMEOUT, ERROR, UNAVAILABLE: grey).
* ``cost.png``: gradbench's and ADBench's research figure. Per model (a row),
  the derivative time, the primal time (one evaluation of ``model.cost``) and
  their ratio against the model's size (:func:`size_axis`: its parameters
  where they tell its cases apart, else parameters plus data values, the
  size of the input a tool is given), log-log, one colour per source; a line
  joins the cases of one family (:func:`case_families`: the sizes of one
  problem), every other case is a point; a TIMEOUT is an open
  triangle at the budget (gradients only: the other kinds' times are in the
  reports' tables).
* ``matrix.png``: gradbench's evals x tools matrix: one row per model, one
  column per source, each cell the source's gradient outcome on the model
  (:func:`~.compare_summary.workload_outcomes`) in its colour, shaded deeper
  the larger the time over one primal evaluation, with that ratio as text.

matplotlib is optional: figures are drawn with its object API on the Agg
canvas (no pyplot, no global backend), and without it :func:`draw` returns
nothing and :func:`missing_matplotlib` says what to install.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pandas as pd

from ..kinds import GRADIENT
from .compare_cells import ERROR, FAIL, PASS, TIMEOUT, UNAVAILABLE
from .compare_summary import MARKS, derivatives_of, workload_outcomes

HEATMAP, COST, MATRIX = "heatmap.png", "cost.png", "matrix.png"
CAPTIONS = {
    HEATMAP: "Every cell: case (and derivative kind) x (candidate, reference). PASS green, FAIL red, deeper the "
             "further the relative difference is from the threshold; grey: no verdict (TIME timeout, ERR error, "
             "n/i not installed, n/a pair does not apply); ✓ verdict as expected, ! not.",
    COST: "The research figure: per model, the gradient's time, one primal evaluation's time (model.cost) and "
          "their ratio against the model's size, log-log, one colour per source. The size is the number of "
          "parameters where that tells the model's cases apart (ADBench's axis); otherwise the problem size, "
          "parameters plus data values (every element of X and Y, the whole input as gradbench hands it to a "
          "tool), so a case whose data grows while its parameters stay (llsq's n samples at m = 128) moves "
          "right. A line joins the sizes of one family of cases (the case name without the one size token in "
          "which they differ); other cases are points; an open triangle is a TIMEOUT drawn at the budget.",
    MATRIX: "Workloads x sources: each source's gradient outcome on each model (the worst over its cells there, "
            "planted-bug partners left out), PASS green, FAIL red, TIMEOUT and ERROR orange, UNAVAILABLE grey; the "
            "deeper the shade, the more primal evaluations its time is worth (the ratio in the cell); ✓ as "
            "expected, ! not.",
}
"""What each picture shows, one caption each (report.html puts it under the picture)."""
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
        pictures[COST] = png(research_figure(sources, budget))
        pictures[MATRIX] = png(matrix_figure(table, sources))
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
    verdicts = np.full((len(cases), len(pairs)), "", dtype=object)
    for row in table.itertuples():
        i, j = cases.index(row.row), pairs.index((row.candidate, row.reference))
        if row.verdict in (PASS, FAIL) and np.isfinite(row.difference):
            scaled = row.difference / row.threshold if relative else row.difference
            values[i, j] = math.log10(max(scaled, SMALLEST_DIFFERENCE))
            verdicts[i, j] = row.verdict
            labels[i, j] = f"{row.verdict} {MARKS[bool(row.as_expected)]}"
        else:
            labels[i, j] = SHORT.get(row.verdict, row.verdict)
    centre = 0.0 if relative else math.log10(float(thresholds[0]))
    values = _verdict_side(values, verdicts, centre)
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
                  fontweight="bold" if label.endswith(MARKS[False]) else "normal")
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
    axes.set_title(f"Verdict per case and pair: PASS green, FAIL red, deeper the further the relative difference "
                   f"is from the {threshold_text}\n{MARKS[True]} as expected, {MARKS[False]} not (planted bugs are "
                   "expected to FAIL). Grey, no difference: TIME timeout,\n"
                   f"ERR error, n/i framework not installed, n/a pair does not apply{kinds}", fontsize=8)
    figure.tight_layout()
    return figure


def _verdict_side(values: np.ndarray, verdicts: np.ndarray, centre: float) -> np.ndarray:
    """Each checked cell's colour value on its verdict's side of the threshold: a PASS green and a FAIL red even
    where the check's second look overruled the first difference (a fd step across a kink, an error bar)."""
    edge = 0.05
    values = values.copy()
    values[verdicts == PASS] = np.minimum(values[verdicts == PASS], centre - edge)
    values[verdicts == FAIL] = np.maximum(values[verdicts == FAIL], centre + edge)
    return values


def _run_order(table: pd.DataFrame, column: str) -> list[str]:
    """The sources of ``column`` in the run's order: as the case that has the most of them lists them."""
    groups = sorted((group[column] for _, group in table.groupby("case", sort=False)), key=lambda g: -g.nunique())
    return list(dict.fromkeys(name for group in groups for name in group))


def _model_boundaries(table: pd.DataFrame, rows: list[str]) -> list[int]:
    model_of = table.drop_duplicates("row").set_index("row")["model"]
    return [i for i in range(1, len(rows)) if model_of[rows[i]] != model_of[rows[i - 1]]]


# --------------------------------------------------------------------------
# The research figure: derivative time, primal time and their ratio against problem size
# --------------------------------------------------------------------------


def case_family(case: str) -> str:
    """The family a case belongs to: its name without its last size token (``gmm-d10-k5`` -> ``gmm-d10``).

    Names are dash-separated tokens, and a size token is one with a digit in it (``k5``, ``c1024``, ``256``);
    a name of one token, or whose last token has no digit (``seed``), is a family of its own. The cases of one
    family differ in one size, so the research figure joins them with a line; a case alone in its family is a
    point. A new model gets lines by naming its cases this way, with no edit here.
    """
    tokens = case.split("-")
    return "-".join(tokens[:-1]) if len(tokens) > 1 and any(c.isdigit() for c in tokens[-1]) else case


def case_families(cases: list[str]) -> dict[str, str]:
    """Each of one model's cases by its family: :func:`case_family`, unless that leaves cases alone which
    dropping another size token joins (``llsq-n16-m128``, ``llsq-n32-m128``: m is the last size token and
    fixed, n the one that varies, so their family is ``llsq-m128``). A case already in a family of several
    stays there; the cases left alone join the largest such family first (the later token on a tie)."""
    usual = {case: case_family(case) for case in cases}
    alone = [case for case in cases if list(usual.values()).count(usual[case]) == 1]
    by_dropped: dict[tuple[int, str], list[str]] = {}
    for case in alone:
        tokens = case.split("-")
        for position in range(1, len(tokens)):
            if any(c.isdigit() for c in tokens[position]):
                rest = "-".join(tokens[:position] + tokens[position + 1:])
                by_dropped.setdefault((position, rest), []).append(case)
    families = dict(usual)
    joined: set[str] = set()
    for (position, rest), members in sorted(by_dropped.items(), key=lambda item: (-len(item[1]), -item[0][0])):
        free = [case for case in members if case not in joined]
        if len(free) > 1:
            families.update(dict.fromkeys(free, rest))
            joined.update(free)
    return families


PROBLEM_SIZE = "problem_size"
"""The research figure's x, a column it adds to the sources table (:func:`size_axis`)."""
PARAMETERS_LABEL = "parameters"
PROBLEM_SIZE_LABEL = "problem size: parameters + data values"


def size_axis(rows: pd.DataFrame) -> tuple[pd.Series, str]:
    """One model's x in the research figure, and its label: the parameters where they tell its cases apart
    (ADBench's axis, the independent variables), else the problem size, parameters plus data values.

    The problem size is the whole input, the point differentiated at and the data the cost is taken on, as
    gradbench sends it to a tool. The parameters alone put cases whose data grows while their parameters do
    not (llsq: n samples at m = 128; the LSTM's sequence length; the hand's correspondences) at one x; the
    problem size alone would crowd a model whose fixed data outweighs its parameters (GMM's 1,000 points: k5
    to k50 moves it from 2,030 to 2,300). A table without ``data_values`` (written before the column) gives
    the parameters.
    """
    per_case = rows.drop_duplicates("case")
    if per_case["parameters"].nunique() == len(per_case) or "data_values" not in rows:
        return rows["parameters"], PARAMETERS_LABEL
    return rows["parameters"] + rows["data_values"], PROBLEM_SIZE_LABEL


RESEARCH_PANELS = (("seconds", "derivative time (s)"), ("cost_seconds", "primal time (s)"),
                   ("cost_ratio", "derivative time / primal time"))
"""The research figure's columns: the sources table's column drawn, and its axis label."""
PRIMAL = "primal (model.cost)"
"""The primal time's one line: ``model.cost`` in NumPy, timed once per case for every source."""
FAMILY = "family"
"""The column the research figure adds for each case's family (:func:`case_families`)."""
FAMILY_MARKERS = "osDvP*Xph<>"
"""A marker per family within a model (no upward triangle: that is a TIMEOUT's)."""


def research_figure(sources: pd.DataFrame, budget: float) -> Any:
    """One row per model: derivative time, primal time and their ratio against the problem size
    (:func:`size_axis`), log-log, a line per source through each family of cases (:func:`case_families`), the
    other cases points; gradients only."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    timed = sources[(sources["kind"] != "planted-bug") & (derivatives_of(sources) == GRADIENT)]
    models = list(dict.fromkeys(timed["model"]))
    colours = source_colours(list(dict.fromkeys(timed["source"])))
    figure = Figure(figsize=(15.0, 3.3 * len(models) + 1.3))
    for row, model in enumerate(models):
        rows = timed[timed["model"] == model]
        size, size_label = size_axis(rows)
        family_of = case_families(list(dict.fromkeys(rows["case"])))
        rows = rows.assign(**{PROBLEM_SIZE: size, FAMILY: rows["case"].map(family_of)})
        families = list(dict.fromkeys(rows[FAMILY]))
        markers = {family: FAMILY_MARKERS[i % len(FAMILY_MARKERS)] for i, family in enumerate(families)}
        for column, (measure, label) in enumerate(RESEARCH_PANELS):
            axes = figure.add_subplot(len(models), len(RESEARCH_PANELS), row * len(RESEARCH_PANELS) + column + 1)
            if measure == "cost_seconds":
                primal = rows.drop_duplicates("case").assign(source=PRIMAL, outcome="OK")
                _research_panel(axes, primal, {PRIMAL: "black"}, markers, measure, budget)
            else:
                _research_panel(axes, rows, colours, markers, measure, budget)
            axes.set_xlabel(size_label, fontsize=8)
            axes.set_title(f"{model}: {label}", fontsize=9)
            axes.set_ylabel(label, fontsize=8)
        if len(families) > 1:  # which marker is which family, in the model's primal panel (one point per case)
            figure.axes[row * len(RESEARCH_PANELS) + 1].legend(
                [Line2D([], [], linestyle="none", marker=markers[f], color="dimgrey") for f in families], families,
                fontsize=6, loc="best", title="family", title_fontsize=6, framealpha=0.6)
    handles: dict[str, Any] = {name: Line2D([], [], color=colour, marker="o", markersize=4)
                               for name, colour in colours.items()}
    handles[PRIMAL] = Line2D([], [], color="black", marker="o", markersize=4)
    if (timed["outcome"] == TIMEOUT).any():
        handles[f"{TIMEOUT}: slower than the budget"] = Line2D([], [], linestyle="none", marker="^", markersize=7,
                                                               markerfacecolor="none", color="black")
    figure.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(6, len(handles)), fontsize=8,
                  frameon=False)
    figure.suptitle("Derivative time, primal time and their ratio against problem size (gradients; a line joins "
                    "one family's sizes, other cases are points)", fontsize=10, y=1 - 0.2 / (3.3 * len(models) + 1.3))
    legend_rows = math.ceil(len(handles) / 6)
    height = 3.3 * len(models) + 1.3
    # fixed margins in inches rather than tight_layout, which draws the whole figure once more to measure it
    figure.subplots_adjust(left=0.06, right=0.99, wspace=0.28, hspace=0.45,
                           bottom=(0.55 + 0.2 * legend_rows) / height, top=1 - 0.8 / height)
    return figure


def source_colours(names: list[str]) -> dict[str, Any]:
    """One colour per source, in the run's order (tab10, or turbo past ten sources)."""
    from matplotlib import colormaps

    palette = colormaps["tab10"](np.arange(10)) if len(names) <= 10 else colormaps["turbo"](
        np.linspace(0, 1, len(names)))
    return dict(zip(names, palette))


def _research_panel(axes: Any, rows: pd.DataFrame, colours: dict[str, Any], markers: dict[str, str], measure: str,
                    budget: float) -> None:
    """One model and measure: per source, a line through each family with several sizes, points otherwise; an
    open triangle at the budget for a TIMEOUT (its true time is above)."""
    for name, group in rows.groupby("source", sort=False):
        done = group[group["outcome"] == "OK"]
        for family, members in done.groupby(FAMILY, sort=False):
            members = members.sort_values(PROBLEM_SIZE)
            sized = members[PROBLEM_SIZE].nunique() == len(members) > 1  # one size varies the problem size
            axes.plot(members[PROBLEM_SIZE], members[measure], marker=markers[family], markersize=4,
                      linewidth=1.3 if sized else 0, linestyle="-" if sized else "none", color=colours[name])
        late = group[group["outcome"] == TIMEOUT]
        if len(late) and measure != "cost_seconds":
            bound = budget / late["cost_seconds"] if measure == "cost_ratio" else pd.Series(budget, index=late.index)
            axes.plot(late[PROBLEM_SIZE], bound, linestyle="none", marker="^", markersize=7, markerfacecolor="none",
                      color=colours[name])
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(count_label))  # sizes are counts: 18k, not 1.8 x 10^4
    axes.xaxis.set_minor_formatter(FuncFormatter(count_label))  # read under a decade (the hand's 17,612 to 24,004)
    for axis, (low, high) in ((axes.xaxis, axes.get_xlim()), (axes.yaxis, axes.get_ylim())):
        if high >= 10 * low:  # a decade or more has labelled decades: minor labels would only crowd them
            axis.set_minor_formatter(NullFormatter())
    axes.grid(True, which="major", linewidth=0.4, alpha=0.6)
    axes.tick_params(which="both", labelsize=7)


def count_label(value: float, position: Any = None) -> str:
    """A count on an axis, short: ``950``, ``2.5k``, ``18k``, ``1.1M`` (``position``: matplotlib's, unused)."""
    value = float(f"{value:.3g}")  # rounded first, so 999.9 is 1k, not 1e+03
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


# --------------------------------------------------------------------------
# The evals x sources matrix
# --------------------------------------------------------------------------


def matrix_figure(table: pd.DataFrame, sources: pd.DataFrame) -> Any:
    """Workloads (models) x sources: each cell's outcome (:func:`~.compare_summary.workload_outcomes`) as its
    colour, deeper where the derivative takes more primal evaluations, and its mark and ratio as text."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    outcomes = workload_outcomes(table, sources)
    models = list(dict.fromkeys(outcomes["model"]))
    names = list(dict.fromkeys(outcomes["source"]))
    ratios = outcomes["cost_ratio"][np.isfinite(outcomes["cost_ratio"])]
    low, high = (math.log10(ratios.min()), math.log10(ratios.max())) if len(ratios) else (0.0, 1.0)
    figure = Figure(figsize=(2.6 + 1.15 * len(names), 2.2 + 0.55 * len(models)))
    axes = figure.add_subplot()
    present = {(models.index(m), names.index(n)) for m, n in zip(outcomes["model"], outcomes["source"])}
    for i, j in set(np.ndindex(len(models), len(names))) - present:  # a source that does not handle the model
        axes.add_patch(_cell_patch(j, i, (0.97, 0.97, 0.97, 1.0)))
        axes.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="grey")
    for cell in outcomes.itertuples():
        i, j = models.index(cell.model), names.index(cell.source)
        depth = 0.5 if high == low or not np.isfinite(cell.cost_ratio) else (
            (math.log10(cell.cost_ratio) - low) / (high - low))
        colour = outcome_shade(cell.outcome, depth)
        axes.add_patch(_cell_patch(j, i, colour))
        mark = "" if cell.outcome not in (PASS, FAIL) else " " + MARKS[bool(cell.as_expected)]
        ratio = f"\nx{cell.cost_ratio:.3g}" if np.isfinite(cell.cost_ratio) else ""
        dark = sum(w * c for w, c in zip((0.299, 0.587, 0.114), colour[:3])) < 0.5
        axes.text(j, i, f"{cell.outcome}{mark}{ratio}", ha="center", va="center", fontsize=7,
                  color="white" if dark else "black", fontweight="bold" if mark == " " + MARKS[False] else "normal")
    axes.set_xlim(-0.5, len(names) - 0.5)
    axes.set_ylim(len(models) - 0.5, -0.5)
    axes.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    axes.set_yticks(range(len(models)), models, fontsize=8)
    axes.tick_params(length=0)
    patches = [Patch(facecolor=outcome_shade(outcome, 0.5), label=outcome) for outcome in MATRIX_OUTCOMES]
    patches.append(Patch(facecolor=(0.97, 0.97, 0.97), edgecolor="lightgrey", label="n/a: source does not apply"))
    figure.legend(handles=patches, loc="lower center", ncol=len(patches), fontsize=7, frameon=False)
    axes.set_title(f"Workloads x sources: the gradient's outcome, and x its time over one primal evaluation "
                   f"(median of the cases;\ndeeper shade: larger ratio, from x{10 ** low:.2g} to x{10 ** high:.2g}). "
                   f"{MARKS[True]} as expected, {MARKS[False]} not (planted bugs are expected to FAIL)", fontsize=8)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    return figure


MATRIX_OUTCOMES = (PASS, FAIL, TIMEOUT, ERROR, UNAVAILABLE)
SHADES = {PASS: "Greens", FAIL: "Reds", TIMEOUT: "Oranges", ERROR: "Oranges", UNAVAILABLE: "Greys"}


def outcome_shade(outcome: str, depth: float) -> Any:
    """The outcome's hue (PASS green, FAIL red, TIMEOUT and ERROR orange, UNAVAILABLE grey) at ``depth`` in [0, 1]:
    pale to deep."""
    from matplotlib import colormaps

    if outcome == UNAVAILABLE:
        return colormaps["Greys"](0.2)
    return colormaps[SHADES.get(outcome, "Greys")](0.35 + 0.5 * min(max(depth, 0.0), 1.0))


def _cell_patch(x: float, y: float, colour: Any) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1.0, 1.0, facecolor=colour, edgecolor="white", linewidth=2)

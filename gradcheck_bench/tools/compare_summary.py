"""What ``compare`` shows: the screen summary, the long table, and the Markdown report.

The screen is at most :data:`MAX_LINES` lines whatever the cases: per model a
candidate x reference matrix whose cell is the worst relative difference over
the model's cases and the verdict (and, where the model's cases were checked
for other derivative kinds, one more matrix over those kinds' cells; the
Markdown and HTML reports have one per kind), then one timing table (each
source's time per gradient over one cost evaluation and over the hand-written
backprop's), then what went wrong, if anything, and where the files are.
Every table is a pandas DataFrame rendered by pandas (``to_string``,
``to_markdown``); the HTML report (:mod:`.compare_html`) styles the same
frames.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import report as result_files
from ..gradbench import TOLERANCE as GRADBENCH_TOLERANCE
from ..kinds import GRADIENT
from ..kinds import kinds as kinds_in_order
from .compare_cells import ERROR, FAIL, INCOMPLETE, OUTCOMES, PASS, TIMEOUT, UNAVAILABLE

MAX_LINES = 40
LETTERS = {PASS: "P", FAIL: "F", UNAVAILABLE: "U", TIMEOUT: "T", ERROR: "E"}
LEGEND = ("cell: worst relative difference over the cases, and the verdict, or where cases differ one letter each "
          "(P PASS, F FAIL, T TIMEOUT, E ERROR, U UNAVAILABLE); ! not as expected")
KINDS_LEGEND = ("cell: worst relative difference over the cases (a matrix named by derivative kinds: over their "
                "cells), and the verdict, or where they differ one letter each in case then kind order (P PASS, "
                "F FAIL, T TIMEOUT, E ERROR, U UNAVAILABLE); ! not as expected")
TIMING_TITLE = "gradient time over one cost evaluation / over the numpy backprop's (median of the finished cases)"
KINDS_TIMING_TITLE = ("time per derivative of the other kinds over one cost evaluation / over the numpy source's "
                      "(median of the finished cases)")
KINK_WARNING_MARGIN = 1e-3
"""Below this ``relu_margin`` an unexpected fd verdict is explained as a kink crossing."""
CHECK_PREFIX = "the check: "
"""How a cell's message starts when its sources gave gradients but the check itself raised or ran out of time."""
GOOD, BAD, INCOMPLETE_STATE, NOT_RUN = "as expected", "unexpected", "incomplete", "unavailable"
"""The state of a matrix cell: whether its verdicts are the expected ones."""
MARKS = {True: "✓", False: "!"}
"""The mark beside a verdict: ✓ it is the expected one, ! it is not (the screen shows only the !)."""
MARK_LEGEND = ("✓ the verdict is the expected one, ! it is not: planted bugs (numpy-buggy) are expected to FAIL, "
               "every other source to PASS")
OUTCOME_COLOURS = {PASS: "#9fd88f", FAIL: "#ef8a8a", TIMEOUT: "#fbd38a", ERROR: "#fbd38a", UNAVAILABLE: "#dcdcdc"}
"""The background of an outcome in the HTML report: PASS green and FAIL red whatever was expected."""
WORST_FIRST = (FAIL, ERROR, TIMEOUT, UNAVAILABLE, PASS)
"""The outcome a matrix cell gathering several shows in colour: the first of these among them."""


# --------------------------------------------------------------------------
# The tables
# --------------------------------------------------------------------------


def derivatives_of(table: pd.DataFrame) -> pd.Series:
    """Each row's derivative kind ("gradient" for a table written before compare checked other kinds)."""
    if "derivative" in table:
        return table["derivative"]
    return pd.Series(GRADIENT, index=table.index)


def other_kinds(table: pd.DataFrame) -> list[str]:
    """The kinds beyond the gradient that the table's cells check, in :func:`~gradcheck_bench.kinds.kinds` order."""
    order = list(kinds_in_order())
    found = [kind for kind in dict.fromkeys(derivatives_of(table)) if kind != GRADIENT]
    return sorted(found, key=lambda kind: order.index(kind) if kind in order else len(order))


def legend(table: pd.DataFrame) -> str:
    """How to read a matrix cell: :data:`LEGEND`, or :data:`KINDS_LEGEND` where some cells check other kinds."""
    return KINDS_LEGEND if other_kinds(table) else LEGEND


def matrix_names(table: pd.DataFrame, each_kind: bool = False) -> pd.Series:
    """The verdict matrix each row belongs to: its model's (the model's name) for a gradient; for another kind
    ``"model kind"`` (``each_kind``) or one matrix per model for all its other kinds, ``"model jvp/vjp"``."""
    derivatives = derivatives_of(table)
    gathered = {model: "/".join(dict.fromkeys(group)) for model, group in
                derivatives[derivatives != GRADIENT].groupby(table["model"], sort=False)}
    return pd.Series([model if kind == GRADIENT else f"{model} {kind if each_kind else gathered[model]}"
                      for model, kind in zip(table["model"], derivatives)], index=table.index, dtype=object)


def unexpected_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Checked cells whose verdict is not the expected one (a planted bug passing, a real source failing)."""
    return table[table["verdict"].isin([PASS, FAIL]) & (table["verdict"] != table["expected"])]


def cell_summary(table: pd.DataFrame, each_kind: bool = False) -> pd.DataFrame:
    """One row per (matrix, candidate, reference) (:func:`matrix_names`): its model, the cells it gathers, the
    worst difference, the verdict text, its state."""
    rows = []
    named = table.assign(matrix=matrix_names(table, each_kind))
    for (matrix, model, candidate, reference), group in named.groupby(["matrix", "model", "candidate", "reference"],
                                                                       sort=False):
        verdicts = list(group["verdict"])
        checked = group[group["verdict"].isin([PASS, FAIL])]
        worst = float(checked["difference"].max()) if len(checked) else math.nan
        unexpected = not unexpected_rows(group).empty
        verdict = verdicts[0] if len(set(verdicts)) == 1 else "".join(LETTERS[v] for v in verdicts)
        text = (f"{worst:.0e} " if np.isfinite(worst) else "") + verdict + ("!" if unexpected else "")
        state = (BAD if unexpected else INCOMPLETE_STATE if any(v in INCOMPLETE for v in verdicts)
                 else NOT_RUN if set(verdicts) == {UNAVAILABLE} else GOOD)
        mark = f" {MARKS[not unexpected]}" if len(checked) else ""
        marked = (f"{worst:.0e} " if np.isfinite(worst) else "") + verdict + mark
        rows.append({"matrix": matrix, "model": model, "candidate": candidate, "reference": reference,
                     "cells": len(group), "worst_difference": worst, "text": text, "state": state,
                     "outcome": next(o for o in WORST_FIRST if o in verdicts), "marked": marked})
    return pd.DataFrame(rows, columns=["matrix", "model", "candidate", "reference", "cells", "worst_difference",
                                       "text", "state", "outcome", "marked"])


def verdict_matrices(table: pd.DataFrame, value: str = "text", each_kind: bool = False) -> dict[str, pd.DataFrame]:
    """Per matrix (:func:`matrix_names`: per model, and per model for its other kinds, or per model and kind
    with ``each_kind``), candidates x references of the cell summary's ``value`` ("" where a pair does not
    apply, or a source does not give the kind)."""
    cells = cell_summary(table, each_kind)
    names = matrix_names(table, each_kind)
    matrices = {}
    for name, group in cells.groupby("matrix", sort=False):
        cases = table.loc[names == name, "case"].nunique()
        matrix = group.pivot(index="candidate", columns="reference", values=value)
        matrix = matrix.reindex(index=list(dict.fromkeys(group["candidate"])),
                                columns=list(dict.fromkeys(group["reference"]))).fillna("")
        matrix.index.name = f"{name}, {cases} case{'s' if cases != 1 else ''}"
        matrix.columns.name = None
        matrices[name] = matrix
    return matrices


def workload_outcomes(table: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, source), gradbench's evals x tools cell: the source's gradient outcome on the model,
    whether it is the expected one, and its time over one primal evaluation (median of the cases it finished).

    The outcome is the worst (:data:`WORST_FIRST`) over the model's gradient cells the source is in, as candidate
    or reference, with a source that is not a planted bug (so an oracle is not failed by the bug it catches; a
    planted bug by its own cells); UNAVAILABLE, TIMEOUT or ERROR where the source itself has no gradient there
    (a cell that is not checked because its partner has none does not count against it).
    """
    grads = table[derivatives_of(table) == GRADIENT]
    timed = sources[derivatives_of(sources) == GRADIENT]
    bugs = set(timed.loc[timed["kind"] == "planted-bug", "source"])
    rows = []
    for (model, name), measured in timed.groupby(["model", "source"], sort=False):
        cells = grads[(grads["model"] == model) & ((grads["candidate"] == name)  # references are never bugs
                                                   | ((grads["reference"] == name) & ~grads["candidate"].isin(bugs)))]
        # its own measurement's problem, and the verdicts of its cells: a partner's ERROR is not its outcome
        verdicts = (set(cells["verdict"]) & {PASS, FAIL}) | (set(measured["outcome"]) - {"OK"})
        outcome = next((o for o in WORST_FIRST if o in verdicts), UNAVAILABLE)
        # a planted bug is expected to FAIL, unless it changes nothing at every case it was checked on (ode)
        expected = FAIL if name in bugs and not (len(cells) and (cells["expected"] == PASS).all()) else PASS
        finished = measured.loc[measured["outcome"] == "OK", "cost_ratio"]
        rows.append({"model": model, "source": name, "outcome": outcome, "expected": expected,
                     "as_expected": outcome == expected, "cells": len(cells),
                     "cost_ratio": float(finished.median()) if len(finished) else math.nan})
    return pd.DataFrame(rows, columns=["model", "source", "outcome", "expected", "as_expected", "cells",
                                       "cost_ratio"])


def timing_ratios(sources: pd.DataFrame, kinds: bool = False) -> pd.DataFrame:
    """Sources x (model, "x cost" / "x numpy"): medians over the cases each source finished; planted bugs left out.

    The gradients' times; ``kinds``: the other kinds', one column pair per ``"model kind"``.
    """
    derivatives = derivatives_of(sources)
    timed = sources[(sources["kind"] != "planted-bug") & (sources["outcome"] == "OK")
                    & ((derivatives != GRADIENT) if kinds else (derivatives == GRADIENT))]
    if timed.empty:
        return pd.DataFrame()
    if kinds:
        timed = timed.assign(model=timed["model"] + " " + timed["derivative"])
    medians = timed.groupby(["source", "model"], sort=False)[["cost_ratio", "baseline_ratio"]].median()
    frame = medians.rename(columns={"cost_ratio": "x cost", "baseline_ratio": "x numpy"}).unstack("model")
    frame = frame.swaplevel(axis=1)
    models = list(dict.fromkeys(timed["model"]))
    frame = frame.reindex(columns=pd.MultiIndex.from_product([models, ["x cost", "x numpy"]]))
    frame.index.name = "source"
    return frame


def _ratio(value: float) -> str:
    if not np.isfinite(value):
        return "-"
    if value < 10:
        return f"{value:.2g}"
    return f"{value:,.0f}" if value < 1e6 else f"{value:.1e}"


def timing_text(ratios: pd.DataFrame) -> pd.DataFrame:
    """The timing ratios as "x cost / x numpy" text, one column per model."""
    if ratios.empty:
        return ratios
    models = list(dict.fromkeys(ratios.columns.get_level_values(0)))
    return pd.DataFrame({model: [f"{_ratio(c)} / {_ratio(b)}" for c, b in
                                 zip(ratios[(model, "x cost")], ratios[(model, "x numpy")])]
                         for model in models}, index=ratios.index)


def outcome_counts(table: pd.DataFrame) -> str:
    counts = table["verdict"].value_counts()
    return ", ".join(f"{int(counts[o])} {o}" for o in OUTCOMES if o in counts) or "nothing to check"


# --------------------------------------------------------------------------
# The screen
# --------------------------------------------------------------------------


def screen_summary(table: pd.DataFrame, sources: pd.DataFrame, header: dict[str, Any], unavailable: dict[str, str],
                   directory: Path, pictures_note: str | None = None) -> str:
    """At most :data:`MAX_LINES` lines: headline, matrices per model, timings, problems, where the files are."""
    cases = table["case"].nunique() if len(table) else 0
    kinds = other_kinds(table)
    of_kinds = (f" ({int((derivatives_of(table) != GRADIENT).sum())} of them {_listed(kinds, 'or')})" if kinds
                else "")
    headline = (f"compare: {len(table)} checks{of_kinds} on {cases} cases in "
                f"{header.get('wall_seconds', math.nan):.0f} s: {outcome_counts(table)}; {_expectation(table)}")
    matrices = {name: _frame_lines(matrix) + [""] for name, matrix in verdict_matrices(table).items()}
    timing = timing_text(timing_ratios(sources))
    timing_block = [TIMING_TITLE, *_frame_lines(timing), ""] if not timing.empty else []
    footer = [*_unexpected_lines(table), *_incomplete_lines(table, sources, header)]
    if unavailable:
        footer.append("unavailable: " + ", ".join(f"{name} ({hint})" for name, hint in unavailable.items()))
    if pictures_note:
        footer.append(pictures_note)
    footer.append(f"full tables and pictures: {directory / 'report.html'} (and compare.csv, sources.csv, "
                  "compare.md beside it); --rows prints every row")
    body = _fit([headline, legend(table), ""], matrices, table, timing_block, footer)
    return "\n".join(body)


def _listed(items: list[str], conjunction: str) -> str:
    """``a, b or c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _frame_lines(frame: pd.DataFrame) -> list[str]:
    """A frame as plain left-aligned text lines, its index name heading the first column."""
    return frame.reset_index().to_markdown(index=False, tablefmt="plain", stralign="left").splitlines()


def _fit(head: list[str], matrices: dict[str, list[str]], table: pd.DataFrame, timing: list[str],
         footer: list[str]) -> list[str]:
    """Head, matrices, timing and footer within MAX_LINES: the matrices of a model with nothing to report (in
    any kind) fold into one line; if the rest still do not fit, each of those models gets one line."""
    lines = [*head, *(line for block in matrices.values() for line in block), *timing, *footer]
    if len(lines) <= MAX_LINES:
        return lines
    cells = cell_summary(table)
    quiet = [model for model, group in cells.groupby("model", sort=False) if (group["state"] == GOOD).all()]
    model_of = dict(zip(cells["matrix"], cells["model"]))
    kept = [block for name, block in matrices.items() if model_of[name] not in quiet]
    folded = [f"every cell as expected (matrices in the report): {', '.join(quiet)}", ""] if quiet else []
    lines = [*head, *folded, *(line for block in kept for line in block), *timing, *footer]
    if len(lines) <= MAX_LINES:
        return lines
    loud = list(dict.fromkeys(model for model in cells["model"] if model not in quiet))
    one_each = [_model_line(model, table[table["model"] == model]) for model in loud]
    lines = [*head, *folded, *one_each, "", *timing, *footer]
    if len(lines) <= MAX_LINES:
        return lines
    room = MAX_LINES - len(head) - len(footer) - 1
    middle = [*folded, *one_each, "", *timing]
    return [*head, *middle[:room], f"... {len(middle) - room} more lines in the report", *footer]


def _model_line(model: str, rows: pd.DataFrame) -> str:
    """A model whose matrices do not fit the screen, on one line: its counts and its unexpected cells."""
    cases = rows["case"].nunique()
    unexpected = unexpected_rows(rows)
    pairs = [f"{r.candidate} vs {r.reference} {r.verdict}!" for r in unexpected.itertuples()]
    counts = f"{model}, {cases} case{'s' if cases != 1 else ''}: {outcome_counts(rows)}"
    return _one_line(counts + ("; unexpected: " if pairs else ""), list(dict.fromkeys(pairs)))


def _expectation(table: pd.DataFrame) -> str:
    unexpected = len(unexpected_rows(table))
    if unexpected:
        return f"{unexpected} UNEXPECTED (marked !)"
    return "every verdict as expected (planted bugs fail, all others pass)"


def _unexpected_lines(table: pd.DataFrame) -> list[str]:
    """The unexpected cells on one line, and for cases near a ReLU kink why fd may be the one that is off."""
    unexpected = unexpected_rows(table)
    if unexpected.empty:
        return []
    pairs = [f"{_case_and_kind(r.case, kind)}: {r.candidate} vs {r.reference} {r.verdict}"
             for r, kind in zip(unexpected.itertuples(), derivatives_of(unexpected))]
    lines = [_one_line("UNEXPECTED: ", pairs)]
    near_kink = unexpected.groupby("case", sort=False)["relu_margin"].first()
    near_kink = near_kink[near_kink < KINK_WARNING_MARGIN]
    if len(near_kink):
        lines.append(
            f"  {', '.join(near_kink.index[:3])}: a hidden pre-activation is only |Z| = {near_kink.min():.2g} from "
            "the ReLU kink, so a finite-difference step there can cross it and measure a one-sided slope; where "
            "the autograd sources agree with each other, the mismatch is fd's, not the candidate's."
        )
    return lines


def _incomplete_lines(table: pd.DataFrame, sources: pd.DataFrame, header: dict[str, Any]) -> list[str]:
    """Which sources gave ERROR or TIMEOUT where (one line), and the exit status that follows."""
    if not table["verdict"].isin(INCOMPLETE).any():
        return []
    failed = sources[sources["outcome"].isin(INCOMPLETE)]
    items = [f"{_case_and_kind(r.case, kind)}: {r.source} {r.outcome}"
             for r, kind in zip(failed.itertuples(), derivatives_of(failed))]
    checks = table[table["verdict"].isin(INCOMPLETE) & table["message"].astype(str).str.startswith(CHECK_PREFIX)]
    items += [f"{_case_and_kind(r.case, kind)}: {r.candidate} vs {r.reference} {r.verdict}"
              for r, kind in zip(checks.itertuples(), derivatives_of(checks))]
    budget = header.get("settings", {}).get("budget")
    return [_one_line(f"not checked (budget {budget:g} s a cell; messages in compare.json; exit status 3): ", items)]


def _case_and_kind(case: str, kind: str) -> str:
    """How the screen names where a cell is: the case, and the kind where it is not the gradient."""
    return case if kind == GRADIENT else f"{case} {kind}"


def _one_line(prefix: str, items: list[str], width: int = 160) -> str:
    line = prefix
    for shown, item in enumerate(items):
        addition = ("; " if shown else "") + item
        if len(line) + len(addition) > width:
            return line + f"; and {len(items) - shown} more"
        line += addition
    return line


# --------------------------------------------------------------------------
# Every row, for --full
# --------------------------------------------------------------------------


def _milliseconds(seconds: float) -> str:
    return "-" if not np.isfinite(seconds) else f"{seconds * 1e3:.3g}"


def _gradbench_text(mismatch: float) -> str:
    """gradbench's figure and its verdict on the 1e-4 rule (``3.1e-02 >1e-4``), or ``-`` for a cell unchecked."""
    if not np.isfinite(mismatch):
        return "-"
    return f"{mismatch:.1e} {'ok' if mismatch <= GRADBENCH_TOLERANCE else '>1e-4'}"


def full_table(table: pd.DataFrame) -> str:
    """Every row as a compact terminal table (times in ms); unexpected verdicts marked (!)."""
    if table.empty:
        return "(no pairs to compare)"
    unexpected = table.index.isin(unexpected_rows(table).index)
    kinds = {"derivative": derivatives_of(table)} if other_kinds(table) else {}  # shown where it varies
    shown = pd.DataFrame({
        "case": table["case"],
        **kinds,
        "candidate": table["candidate"],
        "reference": table["reference"],
        "difference": [f"{d:.2e}" if np.isfinite(d) else "-" for d in table["difference"]],
        "verdict": [f"{v}(!)" if flag else v for v, flag in zip(table["verdict"], unexpected)],
        "gradbench": [_gradbench_text(m) for m in table.get("gradbench_mismatch", pd.Series(np.nan, table.index))],
        "worst": [f"{p} x{s:.3f}" if np.isfinite(s) else (f"{p} x nan" if p else "-")
                  for p, s in zip(table["worst_parameter"], table["worst_parameter_scale"])],
        "cand ms": [_milliseconds(s) for s in table["candidate_seconds"]],
        "ref ms": [_milliseconds(s) for s in table["reference_seconds"]],
        "ref 1st ms": [_milliseconds(s) for s in table["reference_first_call_seconds"]],
        "ref jit ms": [_milliseconds(s) for s in table["reference_compile_seconds"]],
        "relu margin": [f"{m:.1e}" if np.isfinite(m) else "-" for m in table["relu_margin"]],
        "ref passes": ["-" if not np.isfinite(p) else f"{int(p)}" for p in table["reference_forward_passes"]],
    })
    return shown.to_string(index=False)


# --------------------------------------------------------------------------
# The Markdown report
# --------------------------------------------------------------------------


def markdown_report(table: pd.DataFrame, sources: pd.DataFrame, header: dict[str, Any], pictures: list[str]) -> str:
    """``compare.md``: the matrices, the timings, the pictures (linked beside it), then every row."""
    lines = ["# gradcheck-bench compare", "", f"`{header.get('command', '')}` at commit `{header.get('commit', '')}`, "
             f"{header.get('started_utc', '')}: {outcome_counts(table)}; {_expectation(table)}.", "",
             legend(table) + ".", ""]
    for matrix in verdict_matrices(table, each_kind=True).values():
        lines += [result_files.table_to_markdown(matrix.reset_index()), ""]
    timings = ((TIMING_TITLE, timing_ratios(sources)), (KINDS_TIMING_TITLE, timing_ratios(sources, kinds=True)))
    for title, ratios in timings:
        if ratios.empty:
            continue
        flat = ratios.copy()
        flat.columns = [f"{model} {measure}" for model, measure in flat.columns]
        lines += [f"## {title[0].upper()}{title[1:]}", "", result_files.table_to_markdown(flat.reset_index()), ""]
    lines += [f"![{Path(name).stem}]({name})" for name in pictures]
    lines += ["", "## Every cell", "", result_files.table_to_markdown(table)]
    return "\n".join(lines)

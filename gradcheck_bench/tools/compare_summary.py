"""What ``compare`` shows: the screen summary, the long table, and the Markdown report.

The screen is at most :data:`MAX_LINES` lines whatever the cases: per model a
candidate x reference matrix whose cell is the worst relative difference over
the model's cases and the verdict, then one timing table (each source's time
per gradient over one cost evaluation and over the hand-written backprop's),
then what went wrong, if anything, and where the files are. Every table is a
pandas DataFrame rendered by pandas (``to_string``, ``to_markdown``); the HTML
report (:mod:`.compare_html`) styles the same frames.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import report as result_files
from .compare_cells import ERROR, FAIL, INCOMPLETE, OUTCOMES, PASS, TIMEOUT, UNAVAILABLE

MAX_LINES = 40
LETTERS = {PASS: "P", FAIL: "F", UNAVAILABLE: "U", TIMEOUT: "T", ERROR: "E"}
LEGEND = ("cell: worst relative difference over the cases, and the verdict, or where cases differ one letter each "
          "(P PASS, F FAIL, T TIMEOUT, E ERROR, U UNAVAILABLE); ! not as expected")
TIMING_TITLE = "gradient time over one cost evaluation / over the numpy backprop's (median of the finished cases)"
KINK_WARNING_MARGIN = 1e-3
"""Below this ``relu_margin`` an unexpected fd verdict is explained as a kink crossing."""
CHECK_PREFIX = "the check: "
"""How a cell's message starts when its sources gave gradients but the check itself raised or ran out of time."""
GOOD, BAD, INCOMPLETE_STATE, NOT_RUN = "as expected", "unexpected", "incomplete", "unavailable"
"""The state of a matrix cell, which the HTML report colours."""


# --------------------------------------------------------------------------
# The tables
# --------------------------------------------------------------------------


def unexpected_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Checked cells whose verdict is not the expected one (a planted bug passing, a real source failing)."""
    return table[table["verdict"].isin([PASS, FAIL]) & (table["verdict"] != table["expected"])]


def cell_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, candidate, reference): cases, worst difference, the verdict text, its state."""
    rows = []
    for (model, candidate, reference), group in table.groupby(["model", "candidate", "reference"], sort=False):
        verdicts = list(group["verdict"])
        checked = group[group["verdict"].isin([PASS, FAIL])]
        worst = float(checked["difference"].max()) if len(checked) else math.nan
        unexpected = not unexpected_rows(group).empty
        verdict = verdicts[0] if len(set(verdicts)) == 1 else "".join(LETTERS[v] for v in verdicts)
        text = (f"{worst:.0e} " if np.isfinite(worst) else "") + verdict + ("!" if unexpected else "")
        state = (BAD if unexpected else INCOMPLETE_STATE if any(v in INCOMPLETE for v in verdicts)
                 else NOT_RUN if set(verdicts) == {UNAVAILABLE} else GOOD)
        rows.append({"model": model, "candidate": candidate, "reference": reference, "cases": len(group),
                     "worst_difference": worst, "text": text, "state": state})
    return pd.DataFrame(rows, columns=["model", "candidate", "reference", "cases", "worst_difference", "text",
                                       "state"])


def verdict_matrices(table: pd.DataFrame, value: str = "text") -> dict[str, pd.DataFrame]:
    """Per model, candidates x references of the cell summary's ``value`` ("" where a pair does not apply)."""
    cells = cell_summary(table)
    matrices = {}
    for model, group in cells.groupby("model", sort=False):
        cases = table.loc[table["model"] == model, "case"].nunique()
        matrix = group.pivot(index="candidate", columns="reference", values=value)
        matrix = matrix.reindex(index=list(dict.fromkeys(group["candidate"])),
                                columns=list(dict.fromkeys(group["reference"]))).fillna("")
        matrix.index.name = f"{model}, {cases} case{'s' if cases != 1 else ''}"
        matrix.columns.name = None
        matrices[model] = matrix
    return matrices


def timing_ratios(sources: pd.DataFrame) -> pd.DataFrame:
    """Sources x (model, "x cost" / "x numpy"): medians over the cases each source finished; planted bugs left out."""
    timed = sources[(sources["kind"] != "planted-bug") & (sources["outcome"] == "OK")]
    if timed.empty:
        return pd.DataFrame()
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
    headline = (f"compare: {len(table)} checks on {cases} cases in {header.get('wall_seconds', math.nan):.0f} s: "
                f"{outcome_counts(table)}; {_expectation(table)}")
    matrices = [_frame_lines(matrix) + [""] for matrix in verdict_matrices(table).values()]
    timing = timing_text(timing_ratios(sources))
    timing_block = [TIMING_TITLE, *_frame_lines(timing), ""] if not timing.empty else []
    footer = [*_unexpected_lines(table), *_incomplete_lines(table, sources, header)]
    if unavailable:
        footer.append("unavailable: " + ", ".join(f"{name} ({hint})" for name, hint in unavailable.items()))
    if pictures_note:
        footer.append(pictures_note)
    footer.append(f"full tables and pictures: {directory / 'report.html'} (and compare.csv, sources.csv, "
                  "compare.md beside it); --full prints every row")
    body = _fit([headline, LEGEND, ""], matrices, table, timing_block, footer)
    return "\n".join(body)


def _frame_lines(frame: pd.DataFrame) -> list[str]:
    """A frame as plain left-aligned text lines, its index name heading the first column."""
    return frame.reset_index().to_markdown(index=False, tablefmt="plain", stralign="left").splitlines()


def _fit(head: list[str], matrices: list[list[str]], table: pd.DataFrame, timing: list[str],
         footer: list[str]) -> list[str]:
    """Head, matrices, timing and footer within MAX_LINES: matrices with nothing to report fold into one line."""
    lines = [*head, *(line for block in matrices for line in block), *timing, *footer]
    if len(lines) <= MAX_LINES:
        return lines
    cells = cell_summary(table)
    quiet = [model for model, group in cells.groupby("model", sort=False) if (group["state"] == GOOD).all()]
    kept = [block for block, model in zip(matrices, cells["model"].drop_duplicates()) if model not in quiet]
    folded = [f"every cell as expected (matrices in the report): {', '.join(quiet)}", ""] if quiet else []
    lines = [*head, *folded, *(line for block in kept for line in block), *timing, *footer]
    if len(lines) <= MAX_LINES:
        return lines
    room = MAX_LINES - len(head) - len(footer) - 1
    middle = [*folded, *(line for block in kept for line in block), *timing]
    return [*head, *middle[:room], f"... {len(middle) - room} more lines in the report", *footer]


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
    pairs = [f"{r.case}: {r.candidate} vs {r.reference} {r.verdict}" for r in unexpected.itertuples()]
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
    items = [f"{r.case}: {r.source} {r.outcome}" for r in failed.itertuples()]
    checks = table[table["verdict"].isin(INCOMPLETE) & table["message"].astype(str).str.startswith(CHECK_PREFIX)]
    items += [f"{r.case}: {r.candidate} vs {r.reference} {r.verdict}" for r in checks.itertuples()]
    budget = header.get("settings", {}).get("budget")
    return [_one_line(f"not checked (budget {budget:g} s a cell; messages in compare.json; exit status 3): ", items)]


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


def full_table(table: pd.DataFrame) -> str:
    """Every row as a compact terminal table (times in ms); unexpected verdicts marked (!)."""
    if table.empty:
        return "(no pairs to compare)"
    unexpected = table.index.isin(unexpected_rows(table).index)
    shown = pd.DataFrame({
        "case": table["case"],
        "candidate": table["candidate"],
        "reference": table["reference"],
        "difference": [f"{d:.2e}" if np.isfinite(d) else "-" for d in table["difference"]],
        "verdict": [f"{v}(!)" if flag else v for v, flag in zip(table["verdict"], unexpected)],
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
             f"{header.get('started_utc', '')}: {outcome_counts(table)}; {_expectation(table)}.", "", LEGEND + ".", ""]
    for matrix in verdict_matrices(table).values():
        lines += [result_files.table_to_markdown(matrix.reset_index()), ""]
    ratios = timing_ratios(sources)
    if not ratios.empty:
        flat = ratios.copy()
        flat.columns = [f"{model} {measure}" for model, measure in flat.columns]
        lines += [f"## {TIMING_TITLE[0].upper()}{TIMING_TITLE[1:]}", "",
                  result_files.table_to_markdown(flat.reset_index()), ""]
    lines += [f"![{Path(name).stem}]({name})" for name in pictures]
    lines += ["", "## Every cell", "", result_files.table_to_markdown(table)]
    return "\n".join(lines)

"""``report.html``: the comparison in one self-contained page that opens offline.

The page holds the summary tables (a verdict matrix per model and per
derivative kind its cases were checked for, the timings of the gradients and
of the other kinds; pandas' Styler, or plain
``DataFrame.to_html`` where jinja2, which the Styler needs, is missing), the
pictures as base64 ``data:`` URIs, the cells that could not be checked with
their messages, and every row in collapsed sections. No script, no font, no
stylesheet comes from anywhere else.
"""

from __future__ import annotations

import base64
import html
import importlib.util
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from .compare_cells import ERROR, FAIL, INCOMPLETE, PASS, TIMEOUT, UNAVAILABLE
from .compare_summary import (BAD, GOOD, INCOMPLETE_STATE, KINDS_TIMING_TITLE, NOT_RUN, TIMING_TITLE, legend,
                              outcome_counts, timing_ratios, verdict_matrices)

STATE_COLOURS = {GOOD: "#d8efd0", BAD: "#f3a5a5", INCOMPLETE_STATE: "#fbdc9c", NOT_RUN: "#e4e4e4"}
VERDICT_COLOURS = {PASS: "#d8efd0", FAIL: "#f3c7c7", UNAVAILABLE: "#e4e4e4", TIMEOUT: "#fbdc9c", ERROR: "#fbdc9c"}
PAGE_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1300px;
       padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.4em; font-size: 13px; }
th, td { border: 1px solid #c8c8c8; padding: 3px 8px; text-align: left; }
th { background: #f2f2f2; }
figure { margin: 1em 0 2em; }
img { max-width: 100%; border: 1px solid #ddd; }
.meta { color: #555; font-size: 13px; }
details { margin: 1em 0; }
summary { cursor: pointer; font-weight: 600; }
"""


def report_html(table: pd.DataFrame, sources: pd.DataFrame, header: Mapping[str, Any], unavailable: Mapping[str, str],
                pictures: Mapping[str, bytes], pictures_note: str | None = None) -> str:
    """The whole page as text."""
    parts = [
        "<h1>gradcheck-bench compare</h1>",
        f"<p class='meta'>{_meta(header)}</p>",
        f"<p><strong>{len(table)} checks</strong>: {html.escape(outcome_counts(table))}.</p>",
        "<h2>Verdicts per model and derivative: candidate (rows) against reference (columns)</h2>",
        f"<p>{html.escape(legend(table))}.</p>",
    ]
    states = verdict_matrices(table, "state", each_kind=True)
    for name, matrix in verdict_matrices(table, each_kind=True).items():
        parts += [f"<h3>{html.escape(str(matrix.index.name))}</h3>",
                  html_table(matrix.rename_axis(index=None), cell_colours=states[name].replace(STATE_COLOURS))]
    timings = ((TIMING_TITLE, timing_ratios(sources)), (KINDS_TIMING_TITLE, timing_ratios(sources, kinds=True)))
    for title, ratios in timings:
        if not ratios.empty:
            parts += [f"<h2>{html.escape(title[0].upper() + title[1:])}</h2>",
                      html_table(ratios, number_format="{:.3g}")]
    parts += _problems(sources, unavailable)
    parts.append("<h2>Pictures</h2>")
    if pictures_note:
        parts.append(f"<p>{html.escape(pictures_note)}.</p>")
    parts += [_figure(name, data) for name, data in pictures.items()]
    parts += [
        f"<details><summary>Every cell ({len(table)} rows; the same as compare.csv)</summary>",
        html_table(table, index=False, column_colours={"verdict": VERDICT_COLOURS}, number_format="{:.3g}"),
        "</details>",
        f"<details><summary>Every source on every case ({len(sources)} rows; sources.csv)</summary>",
        html_table(sources, index=False, column_colours={"outcome": VERDICT_COLOURS}, number_format="{:.3g}"),
        "</details>",
    ]
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
            f"<title>gradcheck-bench compare</title>\n<style>{PAGE_STYLE}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def _meta(header: Mapping[str, Any]) -> str:
    settings = header.get("settings", {})
    items = [("command", header.get("command")), ("commit", header.get("commit")),
             ("started (UTC)", header.get("started_utc")), ("machine", header.get("platform")),
             ("CPUs", header.get("cpu_count")), ("budget per cell", f"{settings.get('budget')} s"),
             ("timing", header.get("timing"))]
    return "<br>".join(f"{html.escape(k)}: <code>{html.escape(str(v))}</code>" for k, v in items if v is not None)


def _problems(sources: pd.DataFrame, unavailable: Mapping[str, str]) -> list[str]:
    parts = []
    failed = sources[sources["outcome"].isin(INCOMPLETE)]
    if len(failed):
        parts += ["<h2>Not checked: ERROR and TIMEOUT</h2>",
                  html_table(failed[["case", "derivative", "source", "outcome", "message"]], index=False,
                             column_colours={"outcome": VERDICT_COLOURS})]
    if unavailable:
        items = "".join(f"<li><code>{html.escape(name)}</code>: {html.escape(hint)}</li>"
                        for name, hint in unavailable.items())
        parts += ["<h2>Not installed</h2>", f"<ul>{items}</ul>"]
    return parts


def _figure(name: str, data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    stem = Path(name).stem
    return (f"<figure><img alt='{html.escape(stem)}' src='data:image/png;base64,{encoded}'>"
            f"<figcaption>{html.escape(name)}</figcaption></figure>")


def html_table(frame: pd.DataFrame, *, index: bool = True, cell_colours: pd.DataFrame | None = None,
               column_colours: Mapping[str, Mapping[str, str]] | None = None, number_format: str | None = None) -> str:
    """``frame`` as an HTML table: styled by pandas' Styler where jinja2 is installed, plain ``to_html`` if not.

    ``cell_colours`` (same shape as ``frame``) gives each cell a background;
    ``column_colours`` maps a column's values to backgrounds.
    """
    if importlib.util.find_spec("jinja2") is None:
        return frame.to_html(index=index, na_rep="", float_format=(number_format or "{}").format, border=0)
    styler = frame.style.format(na_rep="", escape="html")
    numbers = list(frame.select_dtypes("float").columns)
    if number_format and numbers:
        styler = styler.format(number_format, subset=numbers, na_rep="")
    if cell_colours is not None:
        styler = styler.apply(lambda _: cell_colours.map(lambda c: f"background-color: {c}" if c else ""), axis=None)
    for column, colours in (column_colours or {}).items():
        styler = styler.map(lambda value, colours=colours: f"background-color: {colours.get(value, 'transparent')}",
                            subset=[column])
    if not index:
        styler = styler.hide(axis="index")
    return styler.to_html()

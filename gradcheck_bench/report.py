"""Report files: a pandas table plus a header saying where and with what it was made.

Every report is written three ways, each file atomically (see
:mod:`gradcheck_bench.atomic_files`), so a crash or Ctrl-C leaves the previous
file or the new one, never half of one:

- ``<stem>.csv``: ``# key: value`` header lines, then the table
  (``pandas.read_csv(path, comment="#")`` reads it back);
- ``<stem>.json``: ``{"header": {...}, "rows": [{column: value}, ...]}``,
  NaN written as ``null``;
- ``<stem>.md``: the header as a list, then the table, for a person.
"""

from __future__ import annotations

import datetime as _datetime
import json
import math
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from .atomic_files import write_text_atomically

REPORTED_PACKAGES = ("gradcheck-bench", "numpy", "pandas", "torch", "jax", "jaxlib")


def package_version(name: str) -> str:
    """The installed version of ``name``, or ``"not installed"`` (never imports the package)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_description() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
    }


def command_line() -> str:
    """The command that made the report, as the user typed it (near enough)."""
    if not sys.argv or not sys.argv[0]:
        return ""
    program = Path(sys.argv[0]).name
    program = "python -m gradcheck_bench" if program == "__main__.py" else program
    return " ".join([program, *sys.argv[1:]])


def environment_header(**fields: Any) -> dict[str, Any]:
    """A report header: creation time (UTC), package versions, the machine, then ``fields``."""
    header: dict[str, Any] = {
        "created_utc": _datetime.datetime.now(_datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command_line(),
    }
    header.update({f"{name} version": package_version(name) for name in REPORTED_PACKAGES})
    header.update(machine_description())
    header.update(fields)
    return header


def _plain(value: Any) -> Any:
    """A JSON-ready value: NaN/inf as None, NumPy scalars as Python ones."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _header_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_header_text(v)}" for k, v in value.items())
    return str(value)


def table_to_csv(table: pd.DataFrame, header: Mapping[str, Any]) -> str:
    lines = [f"# {key}: {_header_text(value)}".replace("\n", " ") for key, value in header.items()]
    return "\n".join(lines) + "\n" + table.to_csv(index=False, float_format="%.6g")


def table_to_json(table: pd.DataFrame, header: Mapping[str, Any]) -> str:
    rows = [{column: _plain(value) for column, value in row.items()} for row in table.to_dict(orient="records")]
    return json.dumps({"header": _plain(dict(header)), "rows": rows}, indent=2) + "\n"


def _markdown_cell(value: Any, float_format: Callable[[float], str]) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else float_format(value)
    return str(value).replace("|", "\\|")


def markdown_table(table: pd.DataFrame, float_format: Callable[[float], str] = "{:.3g}".format) -> str:
    """A GitHub-flavoured Markdown table (no dependency on ``tabulate``)."""
    columns = [str(c) for c in table.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(_markdown_cell(v, float_format) for v in row) + " |")
    return "\n".join(lines)


def table_to_markdown(table: pd.DataFrame, header: Mapping[str, Any], title: str) -> str:
    facts = [f"- **{key}**: {_header_text(value)}" for key, value in header.items()]
    return f"# {title}\n\n" + "\n".join(facts) + "\n\n" + markdown_table(table) + "\n"


def write_report(
    table: pd.DataFrame, header: Mapping[str, Any], directory: str | os.PathLike[str], stem: str, title: str
) -> dict[str, Path]:
    """Write ``<directory>/<stem>.{csv,json,md}``, each atomically; return the paths by format.

    Every text is rendered before the first file is replaced, so a table that
    cannot be rendered changes nothing on disk.
    """
    directory = Path(directory)
    texts = {
        "csv": table_to_csv(table, header),
        "json": table_to_json(table, header),
        "md": table_to_markdown(table, header, title),
    }
    return {fmt: write_text_atomically(directory / f"{stem}.{fmt}", text) for fmt, text in texts.items()}

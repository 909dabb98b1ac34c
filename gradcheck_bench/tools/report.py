"""Result files: plain tables, and a ``provenance.json`` saying how the folder was made.

Every tool writes its tables into one folder of ``results/`` three ways, each
file atomically (:mod:`.atomic_files`): ``<stem>.csv`` (plain: ``pd.read_csv``
reads it with no options), ``<stem>.json`` (the rows) and ``<stem>.md`` (for
a person, rendered by ``DataFrame.to_markdown``). Beside them,
``provenance.json`` records the command, the commit, the time, the package
versions, the machine, its CPU count and the load average when the run
began, and the run's own settings.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from .atomic_files import write_text_atomically
from .invocation import command_line

REPORTED_PACKAGES = ("gradcheck-bench", "numpy", "pandas", "scipy", "matplotlib", "torch", "jax", "jaxlib",
                     "dask", "distributed", "asv")


def package_version(name: str) -> str:
    """The installed version of ``name``, or ``"not installed"`` (never imports the package)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit() -> str:
    """The checkout's commit, with ``+dirty`` when tracked files differ from it; ``unknown`` outside git.

    Files under ``results/`` do not count: they are what runs write (``regenerate`` rewrites one folder
    after another), not the code that made them.
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(top,exclude)results"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if commit.returncode != 0:
        return "unknown"
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the system does not say)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def provenance(command: str | None = None, **settings: Any) -> dict[str, Any]:
    """Where, when and with what a run is made; call it when the run begins (the load is read then)."""
    return {
        "command": command or command_line(),
        "commit": git_commit(),
        "started_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": {name: package_version(name) for name in REPORTED_PACKAGES},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
        "load_average_at_start": load_average(),
        "settings": plain(settings),
    }


def plain(value: Any) -> Any:
    """A JSON-ready value: NaN/inf as None, NumPy scalars as Python ones, paths as strings."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def write_provenance(directory: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """``<directory>/provenance.json``, with the time the run finished added."""
    finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = json.dumps({**plain(dict(record)), "finished_utc": finished}, indent=2) + "\n"
    return write_text_atomically(Path(directory) / "provenance.json", text)


def table_to_json(table: pd.DataFrame) -> str:
    rows = [{column: plain(value) for column, value in row.items()} for row in table.to_dict(orient="records")]
    return json.dumps(rows, indent=2) + "\n"


def table_to_markdown(table: pd.DataFrame, title: str = "") -> str:
    """A GitHub Markdown table via ``DataFrame.to_markdown`` (floats to 4 significant digits, NaN blank)."""
    shown = table.astype(object).where(table.notna(), None)  # tabulate blanks None, not NaN
    body = shown.to_markdown(index=False, floatfmt=".4g", missingval="")
    return (f"# {title}\n\n" if title else "") + body + "\n"


def write_table(table: pd.DataFrame, directory: str | os.PathLike[str], stem: str, title: str = "",
                formats: tuple[str, ...] = ("csv", "json", "md")) -> dict[str, Path]:
    """Write ``<directory>/<stem>.{csv,json,md}``, each atomically; return the paths by format.

    Every text is rendered before the first file is replaced, so a table that
    cannot be rendered changes nothing on disk.
    """
    render = {"csv": lambda: table.to_csv(index=False), "json": lambda: table_to_json(table),
              "md": lambda: table_to_markdown(table, title)}
    texts = {fmt: render[fmt]() for fmt in formats}
    return {fmt: write_text_atomically(Path(directory) / f"{stem}.{fmt}", text) for fmt, text in texts.items()}

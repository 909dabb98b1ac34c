"""``engine="auto"`` against the loop, in one process, on five costs written against ``xp``.

``gradcheck-bench engines`` builds each shape's fd oracle with ``engine="loop"``,
``engine="auto"`` and each engine ``auto`` may measure, calls each once
untimed (imports, ``auto``'s one-off measurement, jax's compile: what the
first check of a process pays), then times them in alternating rounds, so
every engine sees the same load, and reports medians and ``loop / engine``.
Each row also says which engine ``auto`` chose. The five shapes are a
tanh-logistic net, a deep narrow tanh net, a dense quadratic form, an
RBF-kernel objective and the ADBench LSTM (``gradcheck_bench.engine_examples``);
none has a structured engine, so ``auto`` chooses by timing.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ..differences.central import fd
from ..differences.driver import measured_choice
from ..differences.engines import fd_engines
from ..engine_examples import EXAMPLES
from ..ravel import parameter_count
from .peers import interleaved_medians
from .report import provenance, write_provenance, write_table

RESULTS = Path("results") / "engines"
MEASURED_ENGINES = ("incremental", "jax", "torch")
"""The engines ``auto`` times against the loop on these costs (``measured_only``), timed here on their own too."""


def time_engines(shape: str, rounds: int, progress: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One shape's rows: each engine's median over alternating rounds, and ``loop / engine``."""
    model, params, X, Y = EXAMPLES[shape]()
    engines = ["loop", "auto"] + [name for name in MEASURED_ENGINES if name in fd_engines()]
    calls = {engine: functools.partial(fd(model, engine=engine, progress=False), params, X, Y) for engine in engines}
    medians = interleaved_medians(calls, rounds,
                                  lambda number: progress(f"engines: {shape}, round {number + 1}/{rounds}"))
    chose = measured_choice(model, params, X, Y) or "ranked (not measured)"
    return [{"shape": shape, "parameters": parameter_count(params), "engine": engine,
             "auto_chose": chose if engine == "auto" else "", "median_s": median_s,
             "rounds": rounds, "loop_over_engine": medians["loop"] / median_s}
            for engine, median_s in medians.items()]


def run_auto_engine(out: Path = RESULTS, rounds: int = 5, shapes: list[str] | None = None,
                    progress: Callable[[str], None] = print) -> pd.DataFrame:
    """Time every shape, write ``auto_vs_loop.{csv,json,md}`` and ``provenance.json`` into ``out``."""
    record = provenance(rounds=rounds)
    rows = []
    for shape in shapes or list(EXAMPLES):
        rows += time_engines(shape, rounds, progress)
    table = pd.DataFrame(rows)
    write_table(table, out, "auto_vs_loop", "fd engines against the loop (loop_over_engine: higher is faster)")
    write_provenance(out, record)
    return table

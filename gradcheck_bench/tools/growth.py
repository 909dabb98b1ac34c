"""Does the oracle stay O(n)? Time per forward pass as n grows, and one 1,000,000-parameter run.

``gradcheck-bench growth`` times the fd gradient of 4-h-h/2-1 nets (m = 100)
from n = 47 to about 1e5 with each NumPy engine (the full-pass engines only
while they are quick), counting the forward passes each engine evaluates, and
plots seconds per forward pass against n in ``results/growth/growth.png`` (+
CSV). ``--scale`` runs a net of about 1e6 parameters with the automatic engine
under the default memory budget and records its time and peak traced memory
in ``results/growth/scale.csv``.
"""

from __future__ import annotations

import resource
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..counting import count_forward_passes
from ..differences.engines import DEFAULT_MEMORY_BUDGET, choose_engine
from ..models.mlp import MODEL as MLP, random_case, seed_case
from ..ravel import parameter_count
from ..differences.central import fd
from .atomic_files import atomic_open
from .report import provenance, write_provenance, write_table

RESULTS = Path("results") / "growth"
GROWTH_SIZES = [(4, 5, 3, 1), (4, 12, 6, 1), (4, 30, 15, 1), (4, 60, 30, 1), (4, 120, 60, 1),
                (4, 220, 110, 1), (4, 300, 200, 1), (4, 420, 210, 1)]
GROWTH_ENGINES = ("structured", "numpy-batched", "loop")
FULL_PASS_LIMIT = 10_000
"""Engines that evaluate every pass in full (loop, numpy-batched) are timed only up to this n:
their time per pass grows with the net (each pass is O(n) work), so beyond it one run takes minutes."""
MILLION_SIZES = (4, 1000, 996, 1)


def timed_gradient(params: Any, X: Any, Y: Any, engine: str, repeats: int) -> tuple[float, int]:
    """Median seconds of the fd gradient with ``engine``, and the forward passes one gradient counted."""
    oracle = fd(engine=engine, progress=False)
    times = []
    for _ in range(repeats):
        with count_forward_passes() as counter:
            start = time.perf_counter()
            oracle(params, X, Y)
            times.append(time.perf_counter() - start)
    return float(np.median(times)), counter.passes


def growth_table(examples: int = 100, repeats: int = 3) -> pd.DataFrame:
    """Seconds per forward pass of each engine for nets from n = 47 to ~1e5."""
    rows = []
    for sizes in GROWTH_SIZES:
        params, X, Y = seed_case() if sizes == (4, 5, 3, 1) else random_case(sizes, examples, seed=0)
        n = parameter_count(params)
        for engine in GROWTH_ENGINES:
            if engine != "structured" and n > FULL_PASS_LIMIT:
                continue
            seconds, passes = timed_gradient(params, X, Y, engine, repeats)
            rows.append({"sizes": "-".join(map(str, sizes)), "n": n, "m": X.shape[1], "engine": engine,
                         "median_s": seconds, "forward_passes": passes, "s_per_pass": seconds / passes})
    return pd.DataFrame(rows)


def plot_growth(table: pd.DataFrame, path: Path) -> Path:
    """Log-log plot of seconds per forward pass against n, one line per engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for engine, rows in table.groupby("engine", sort=False):
        axes.loglog(rows["n"], rows["s_per_pass"], marker="o", label=engine)
    axes.set_xlabel("parameters n (4-h-h/2-1 nets, m = 100; n = 47 is the seed case, m = 3)")
    axes.set_ylabel("seconds per forward pass")
    axes.set_title("Finite-difference gradient: time per forward pass as n grows")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=110)
    plt.close(figure)
    return path


def run_growth(out: Path = RESULTS, repeats: int = 5) -> pd.DataFrame:
    """Time the growth nets (median of ``repeats``) and write the tables and the plot."""
    record = provenance(repeats=repeats, sizes=["-".join(map(str, s)) for s in GROWTH_SIZES])
    table = growth_table(repeats=repeats)
    write_table(table, out, "growth", "Time per forward pass of the fd engines as n grows")
    plot_growth(table, out / "growth.png")
    write_provenance(out, record)
    return table


def run_scale(out: Path = Path("results") / "scale", memory_budget: int = DEFAULT_MEMORY_BUDGET) -> pd.DataFrame:
    """One fd gradient of a ~1e6-parameter net: time and peak traced memory under the budget."""
    record = provenance(memory_budget=memory_budget, sizes="-".join(map(str, MILLION_SIZES)))
    params, X, Y = random_case(MILLION_SIZES, 100, seed=0)
    n = parameter_count(params)
    engine = choose_engine("auto", MLP, params, X, Y).name
    tracemalloc.start()
    try:
        with count_forward_passes() as counter:
            start = time.perf_counter()
            fd(engine="auto", memory_budget=memory_budget)(params, X, Y)
            seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    table = pd.DataFrame([{
        "sizes": "-".join(map(str, MILLION_SIZES)), "n": n, "m": X.shape[1], "engine": engine,
        "seconds": seconds, "forward_passes": counter.passes, "memory_budget_mib": memory_budget / 2**20,
        "peak_traced_mib": peak / 2**20, "process_max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }])
    write_table(table, out, "scale", "One fd gradient of a 1e6-parameter net")
    write_provenance(out, record)
    return table

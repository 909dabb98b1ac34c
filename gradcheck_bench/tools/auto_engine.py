"""``engine="auto"`` against the loop, in one process, on five costs written against ``xp``.

``gradcheck-bench engines`` builds each shape's fd oracle with ``engine="loop"``,
``engine="auto"`` and each engine ``auto`` may measure, calls each once
untimed (imports, ``auto``'s one-off measurement, jax's compile: what the
first check of a process pays), then times them in alternating rounds, so
every engine sees the same load, and reports medians and ``loop / engine``.
Each row also says which engine ``auto`` chose. The five shapes are a
tanh-logistic net, a deep narrow tanh net, a dense quadratic form, an
RBF-kernel objective and the ADBench LSTM; none has a structured engine, so
``auto`` chooses by timing.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..differences.central import fd
from ..differences.driver import measured_choice
from ..differences.engines import fd_engines
from ..models import Model, Params, get_model
from ..ravel import parameter_count
from .report import provenance, write_provenance, write_table

RESULTS = Path("results") / "engines"
SEED = 0
MEASURED_ENGINES = ("incremental", "jax", "torch")
"""The engines ``auto`` times against the loop on these costs (``measured_only``), timed here on their own too."""


def tanh_logistic_cost(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    return xp.mean(xp.log(1 + xp.exp(-Y * (params["v"] @ xp.tanh(params["A"] @ X) + params["c"]))))


def deep_tanh_cost(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    layers = len(params) // 2
    A = X
    for l in range(1, layers):
        A = xp.tanh(params[f"W{l}"] @ A + params[f"b{l}"])
    return xp.mean((params[f"W{layers}"] @ A + params[f"b{layers}"] - Y) ** 2)


def quadratic_cost(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    return 0.5 * params["x"] @ (X @ params["x"]) - Y @ params["x"]


def rbf_cost(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    distances = xp.sum((params["c"][:, None, :] - X[None, :, :]) ** 2, axis=-1)
    return xp.sum(xp.exp(-distances)) / X.shape[0]


Shape = tuple[Model, Params, Any, Any]


def tanh_logistic() -> Shape:
    rng = np.random.default_rng(SEED)
    params = {"A": rng.standard_normal((500, 6)), "v": rng.standard_normal(500) / 20, "c": np.zeros(1)}
    return Model(name="bench-tanh-logistic", cost=tanh_logistic_cost), params, rng.standard_normal((6, 40)), \
        np.sign(rng.standard_normal(40))


def deep_tanh() -> Shape:
    rng = np.random.default_rng(SEED)
    sizes, params = (8, 30, 30, 30, 30, 1), {}
    for l in range(1, len(sizes)):
        params[f"W{l}"] = rng.standard_normal((sizes[l], sizes[l - 1])) / np.sqrt(sizes[l - 1])
        params[f"b{l}"] = 0.1 * rng.standard_normal((sizes[l], 1))
    return Model(name="bench-deep-tanh", cost=deep_tanh_cost), params, rng.standard_normal((8, 8)), \
        rng.standard_normal((1, 8))


def quadratic() -> Shape:
    rng = np.random.default_rng(SEED)
    M = rng.standard_normal((3000, 3000)) / 60
    return Model(name="bench-quadratic", cost=quadratic_cost), {"x": rng.standard_normal(3000)}, M @ M.T, \
        rng.standard_normal(3000)


def rbf() -> Shape:
    rng = np.random.default_rng(SEED)
    return Model(name="bench-rbf", cost=rbf_cost), {"c": rng.standard_normal((200, 3))}, \
        rng.standard_normal((50, 3)), None


def adbench_lstm() -> Shape:
    lstm = get_model("lstm")
    return (lstm, *lstm.cases[next(iter(lstm.cases))]())


SHAPES: dict[str, Callable[[], Shape]] = {
    "tanh-logistic-3501": tanh_logistic,
    "deep-tanh-3091": deep_tanh,
    "quadratic-3000": quadratic,
    "rbf-600": rbf,
    "adbench-lstm": adbench_lstm,
}
"""Issue 22's five shapes; the label carries the parameter count."""


def time_engines(shape: str, rounds: int, progress: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One shape's rows: each engine's median over alternating rounds, and ``loop / engine``."""
    model, params, X, Y = SHAPES[shape]()
    engines = ["loop", "auto"] + [name for name in MEASURED_ENGINES if name in fd_engines()]
    oracles = {engine: fd(model, engine=engine, progress=False) for engine in engines}
    for oracle in oracles.values():
        oracle(params, X, Y)  # untimed: imports, auto's measurement, compiles
    chose = measured_choice(model, params, X, Y) or "ranked (not measured)"
    times: dict[str, list[float]] = {engine: [] for engine in engines}
    for number in range(rounds):
        for engine, oracle in oracles.items():
            start = time.perf_counter()
            oracle(params, X, Y)
            times[engine].append(time.perf_counter() - start)
        progress(f"engines: {shape}, round {number + 1}/{rounds}")
    loop_s = statistics.median(times["loop"])
    return [{"shape": shape, "parameters": parameter_count(params), "engine": engine,
             "auto_chose": chose if engine == "auto" else "", "median_s": statistics.median(samples),
             "rounds": rounds, "loop_over_engine": loop_s / statistics.median(samples)}
            for engine, samples in times.items()]


def run_auto_engine(out: Path = RESULTS, rounds: int = 5, shapes: list[str] | None = None,
                    progress: Callable[[str], None] = print) -> pd.DataFrame:
    """Time every shape, write ``auto_vs_loop.{csv,json,md}`` and ``provenance.json`` into ``out``."""
    record = provenance(rounds=rounds)
    rows = []
    for shape in shapes or list(SHAPES):
        rows += time_engines(shape, rounds, progress)
    table = pd.DataFrame(rows)
    write_table(table, out, "auto_vs_loop", "fd engines against the loop (loop_over_engine: higher is faster)")
    write_provenance(out, record)
    return table

"""Shared pieces of the asv suite: the networks, fixed-seed cached data, skips.

Sizes are chosen per benchmark to keep a full ``asv run`` within about 15
minutes on a 2-core machine (see docs/benchmarks.md):

* ``NETWORKS`` runs from the exercise's fraud net (47 parameters) to about
  1e5 parameters, by widening the two hidden layers; the input stays the
  fraud net's 4 features and the output one sigmoid.
* The engines that run full forward passes are skipped above
  ``FULL_PASS_ENGINE_MAX_PARAMETERS``; ``structured`` runs at every size.
"""

from __future__ import annotations

import ast
import functools
import os
import time
import timeit
from pathlib import Path
from typing import Any, Callable

import numpy as np

import gradcheck_bench as gb

try:
    from gradcheck_bench.models import mlp as mlp_helpers  # the MLP's own helpers: random_case, numpy_backprop, ...
except ImportError:  # a commit from before the models/ package (f0e745f) exported them from gradcheck_bench itself
    mlp_helpers = gb  # type: ignore[assignment]

NETWORKS: dict[str, tuple[int, ...]] = {
    "fraud-47": (4, 5, 3, 1),
    "mlp-977": (4, 32, 24, 1),
    "mlp-9681": (4, 100, 90, 1),
    "mlp-92101": (4, 300, 300, 1),
}
"""Label -> layer sizes; the label carries the parameter count so graphs read on their own."""

EXAMPLES = 32
"""Examples m in every random case: enough that a forward pass is a real matmul."""

SEED = 0

SOURCES = ["numpy", "torch", "jax", "fd"]
"""Gradient sources timed against each other; absent ones show as n/a."""

CLOCK_VARIABLE = "GRADCHECK_BENCH_CLOCK"
"""``cpu`` makes every ``time_`` benchmark read this process's CPU time (the regression gate sets it for its
re-measurement, with one thread per library); unset or ``wall``, wall time, asv's default."""
CLOCKS: dict[str, Callable[[], float]] = {"wall": timeit.default_timer, "cpu": time.process_time}


def clock_from_environment() -> Callable[[], float]:
    """The clock the ``time_`` benchmarks read (each module's ``timer``, which asv takes for its benchmarks).

    Wall time by default. The gate re-measures in CPU time because on a loaded host wall time also counts the
    time a process waits for a core, which changes from one process to the next by more than the slowdowns the
    gate must see, while the CPU a single-threaded gradient uses does not (docs/benchmarks.md, 'The clock')."""
    name = os.environ.get(CLOCK_VARIABLE, "wall")
    if name not in CLOCKS:
        raise ValueError(f"{CLOCK_VARIABLE}={name!r} is not a clock the suite knows; set it to "
                         f"{' or '.join(CLOCKS)}, or unset it for wall time")
    return CLOCKS[name]


TIMER = clock_from_environment()
"""This run's clock (:func:`clock_from_environment`)."""



ENGINE_FILES = next((folder for folder in (Path(__file__).resolve().parents[1] / "gradcheck_bench" / "differences" / "engines",
                     Path(__file__).resolve().parents[1] / "gradcheck_bench" / "engines") if folder.is_dir()),
                    Path(__file__).resolve().parents[1] / "gradcheck_bench" / "differences" / "engines")
"""Where this checkout keeps its engine files (older commits kept them in gradcheck_bench/engines)."""
"""This checkout's engine files: the suite's own tree, whichever commit asv installs."""


def declared_engines(folder: Path = ENGINE_FILES) -> list[str]:
    """The in-process finite-difference engines this checkout declares, read from its source.

    asv discovers a parametrised benchmark's parameters once, then runs each combination by its
    position in the list, against every commit of a range. So the list must be the same whatever
    commit is installed: it comes from the files of this checkout (``ENGINE = FDEngine(name=...)``,
    so a new engine joins the suite with no edit here), not from the installed package, where an
    older commit would list other engines, or the same in another order, and each benchmark would
    run one engine under another's name. An engine that hands its chunks to other processes
    (``map_chunks``: dask, which would start a cluster per call) is left out; a commit without an
    engine shows it as n/a (``require_engine``).
    """
    names = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "FDEngine":
                keywords = {keyword.arg: keyword.value for keyword in node.keywords}
                name = keywords.get("name")
                if isinstance(name, ast.Constant) and "map_chunks" not in keywords:
                    names.append(name.value)
    return sorted(names)


FD_ENGINES = declared_engines()

FULL_PASS_ENGINE_MAX_PARAMETERS = 20_000
"""Above this, engines that run 2n *full* forward passes cost more than a few seconds per
gradient on a 2-core machine; only ``structured``, whose passes touch one row, runs at every size."""

FULL_PASS_EXEMPT = ("structured",)

ACCURACY_UNIT = "relative difference"
"""The unit of every accuracy ``track_``: ||g - r|| / (||g|| + ||r||), dimensionless, bigger is worse.
The regression gate (``gradcheck-bench gate``) recognises accuracy benchmarks by this unit."""


@functools.lru_cache(maxsize=None)
def network_case(label: str) -> tuple[gb.Params, np.ndarray, np.ndarray]:
    """The fixed-seed point ``(params, X, Y)`` of a network in ``NETWORKS``, built once per process.

    Callers must not modify the arrays (no source or oracle here does).
    """
    return mlp_helpers.random_case(NETWORKS[label], examples=EXAMPLES, seed=SEED)


@functools.lru_cache(maxsize=None)
def accuracy_case(label: str) -> tuple[gb.Params, np.ndarray, np.ndarray]:
    """``"seed"``: the exercise's seed case; otherwise a network of ``NETWORKS``."""
    return gb.seed_case() if label == "seed" else network_case(label)


def parameter_count(params: gb.Params) -> int:
    return sum(int(np.size(value)) for value in params.values())


def require_api(*names: str) -> None:
    """Skip (n/a in asv) on an older commit whose public API lacks ``names``.

    asv runs this checkout's suite against every commit of a range, so the
    suite must tolerate the API as it was when a commit was made.
    """
    missing = [name for name in names if not hasattr(gb, name)]
    if missing:
        raise NotImplementedError(f"this commit's gradcheck_bench has no {', '.join(missing)}")


def require_source(name: str) -> None:
    """Skip (n/a in asv) when the named gradient source is not usable here."""
    require_api("available_sources")
    if name not in gb.available_sources():
        raise NotImplementedError(f"gradient source {name!r} is not available here")


def require_engine(engine: str, params: gb.Params) -> None:
    """Skip an engine that is not there, or a full-pass engine where it would blow the budget."""
    require_api("fd", "fd_engines")
    if engine not in gb.fd_engines():
        raise NotImplementedError(f"finite-difference engine {engine!r} is not available here")
    if engine not in FULL_PASS_EXEMPT and parameter_count(params) > FULL_PASS_ENGINE_MAX_PARAMETERS:
        raise NotImplementedError(f"the {engine} engine is out of this suite's time budget at this size")


def build_named_source(name: str) -> gb.GradientSource:
    """The registry's source ``name`` for the MLP, with its default options."""
    require_source(name)
    require_api("build_source", "get_model")
    return gb.build_source(name, gb.get_model("mlp"))


def warm_up(source: Callable[..., Any], params: gb.Params, X: np.ndarray, Y: np.ndarray) -> None:
    """One call outside the timing, so jit compilation and first-touch costs are not measured."""
    source(params, X, Y)


def counted_passes(function: Callable[[], Any]) -> int:
    """Forward passes evaluated while ``function()`` ran, counted by the package's own counter."""
    with gb.count_forward_passes() as counter:
        function()
    return counter.passes


def fastest_seconds(function: Callable[[], Any], budget_seconds: float = 0.5, most: int = 50) -> float:
    """Fastest wall time of repeated calls (at least 3, up to ``most`` or ``budget_seconds``).

    For ``track_`` benchmarks that report a derived time, where asv keeps no
    samples: the minimum is the estimate least moved by other processes on a
    shared machine (a median of 3 varied x3 between identical runs here).
    """
    samples: list[float] = []
    while len(samples) < 3 or (len(samples) < most and sum(samples) < budget_seconds):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return min(samples)

"""``gradcheck-bench study``: how to choose the step, and what each check method catches.

Three measurements, written to ``results/study/`` as CSV, Markdown and PNG:

* **step sweep**: the relative difference of each oracle (centered ``fd``,
  ``richardson``, ``complex-step``) to the hand-written backprop (equal to
  autograd to ~1e-16) on the fraud net's seed case, for steps 1e-1 .. 1e-13
  in float64 and float32: truncation error falls with the step, round-off
  rises, and the V-curves show where the dtype table's defaults sit;
* **detection**: every bug of :data:`planted_bugs.CATALOGUE` against every
  check method (full ``fd``, ``complex-step``, ``richardson``, directional with
  k = 1, 4, 16) on several random nets: detection rate, whether the culprit
  tensors were named, false failures on the correct gradient, forward passes
  and time per check;
* **kinks**: false failures on correct ReLU nets with m = 100 of plain ``fd``
  at ``jax.test_util.check_grads``' step (1e-4), of ``fd-kink-safe`` at the
  same step, of the default ``fd``, and of ``check_grads`` itself (if JAX is
  installed).
"""

from __future__ import annotations

import io
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..check import check
from ..taylor import check_taylor
from ..judge import compare_gradients
from ..result import CheckResult
from ..counting import count_forward_passes
from ..directional import check_directional
from ..errors import InputError
from ..validation import is_count
from ..gradient import Gradient, kinks_of
from ..models import Params
from ..models.mlp import MODEL as MLP, numpy_backprop, random_case, seed_case
from ..progress import with_progress
from ..ravel import parameter_count
from ..sources.complex_step import complex_step
from ..differences.central import fd
from ..differences.kink_safe import KinkSafeDifference
from ..differences.richardson import richardson
from ..differences.steps import relative_steps
from ..tolerances import TOLERANCES, LowPrecisionWarning
from .atomic_files import write_bytes_atomically, write_text_atomically
from .interruption import saying_where
from .planted_bugs import CATALOGUE
from .report import provenance, table_to_markdown, write_provenance
from .smooth_costs import FAMILIES, smooth_point

STEP_GRID = np.logspace(-1, -13, 25)
"""Half-decade steps from 1e-1 down to 1e-13."""

SWEEP_ORACLES: dict[str, Callable[[float, Params], Any]] = {
    "fd (centered, h relative to each parameter)": lambda h, params: fd(eps=relative_steps(params, h)),
    "richardson (3 levels, coarsest step h)": lambda h, params: richardson(h=h),
    "complex-step": lambda h, params: complex_step(h=h),
}

DETECTION_SIZES = (4, 16, 16, 1)
DETECTION_EXAMPLES = 20
KINK_SIZES = (4, 30, 30, 1)
KINK_EXAMPLES = 100
JAX_CHECK_GRADS_STEP = 1e-4


# --------------------------------------------------------------------------
# (a) the step sweep
# --------------------------------------------------------------------------


def as_dtype(params: Params, X: np.ndarray, Y: np.ndarray, dtype: Any) -> tuple[Params, np.ndarray, np.ndarray]:
    return {k: v.astype(dtype) for k, v in params.items()}, X.astype(dtype), Y.astype(dtype)


def step_sweep(steps: np.ndarray = STEP_GRID, show: bool | None = None) -> pd.DataFrame:
    """One row per (oracle, dtype, step): relative difference to float64 backprop at the same point."""
    rows = []
    for dtype in (np.float64, np.float32):
        params, X, Y = as_dtype(*seed_case(), dtype)
        exact = numpy_backprop(*as_dtype(params, X, Y, np.float64))
        for oracle, build in with_progress(SWEEP_ORACLES.items(), len(SWEEP_ORACLES), f"step sweep {np.dtype(dtype)}", show):
            for h in steps:
                with np.errstate(all="ignore"):
                    estimate = build(float(h), params)(params, X, Y)
                difference = compare_gradients(estimate, exact).difference
                rows.append({"oracle": oracle, "dtype": np.dtype(dtype).name, "step": float(h), "difference": difference})
    return pd.DataFrame(rows)


def plot_step_sweep(sweep: pd.DataFrame) -> bytes:
    """The V-curves on one log-log plot, defaults marked; PNG bytes."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 7))
    colours = dict(zip(SWEEP_ORACLES, ("tab:blue", "tab:green", "tab:red")))
    floor = 1e-17
    for (oracle, dtype), group in sweep.groupby(["oracle", "dtype"], sort=False):
        axes.loglog(group["step"], np.maximum(group["difference"], floor), marker="o", markersize=3,
                    color=colours[oracle], linestyle="-" if dtype == "float64" else "--", label=f"{oracle}, {dtype}")
    for dtype, style in (("float64", "-"), ("float32", "--")):
        step = TOLERANCES[np.dtype(dtype)].fd_step
        axes.axvline(step, color="black", linestyle=style, linewidth=0.8)
        axes.annotate(f"fd default {dtype}\n2^{int(np.log2(step))} x scale", (step, 1e-16), fontsize=8,
                      xytext=(4, 0), textcoords="offset points")
    axes.axvline(TOLERANCES[np.dtype("float64")].richardson_step, color="tab:green", linestyle=":", linewidth=0.8)
    axes.annotate("richardson\ndefault 2^-6", (TOLERANCES[np.dtype("float64")].richardson_step, 1e-14), fontsize=8, color="tab:green",
                  xytext=(4, 0), textcoords="offset points")
    axes.axhline(TOLERANCES[np.dtype("float64")].threshold, color="grey", linewidth=0.6)
    axes.annotate("threshold 2e-7", (1e-13, 2.5e-7), fontsize=8, color="grey")
    axes.set_xlabel("step h")
    axes.set_ylabel("relative difference to backprop (= autograd)")
    axes.set_title("Step-size sweep on the fraud net (seed case): truncation vs round-off")
    axes.set_ylim(floor / 2, 2)
    axes.invert_xaxis()
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, handlelength=3.5)
    axes.grid(True, which="major", linewidth=0.3)
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


# --------------------------------------------------------------------------
# (b) detection power
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    passed: bool
    culprits: tuple[str, ...]
    forward_passes: int
    seconds: float


def _full(reference_builder: Callable[[], Any]) -> Callable[..., Outcome]:
    """A per-coordinate method: ``check`` against the reference's whole gradient (with its second look)."""

    def run(candidate: Callable, params: Params, X: np.ndarray, Y: np.ndarray, seed: int) -> Outcome:
        with count_forward_passes() as counter:
            start = time.perf_counter()
            result: CheckResult = check(candidate, reference_builder(), params, X, Y)
            seconds = time.perf_counter() - start
        return Outcome(result.passed, tuple(result.culprits), counter.passes, seconds)

    return run


def _float32_fd(candidate: Callable, params: Params, X: np.ndarray, Y: np.ndarray, seed: int) -> Outcome:
    """Both gradients in float32, judged by check's float32 rule (the mismatch its error bars leave)."""
    point = as_dtype(params, X, Y, np.float32)
    with count_forward_passes() as counter, warnings.catch_warnings():
        warnings.simplefilter("ignore", LowPrecisionWarning)
        start = time.perf_counter()
        result = check(candidate, "fd", *point)
        seconds = time.perf_counter() - start
    return Outcome(result.passed, tuple(result.culprits), counter.passes, seconds)


def _directional(k: int) -> Callable[..., Outcome]:
    def run(candidate: Callable, params: Params, X: np.ndarray, Y: np.ndarray, seed: int) -> Outcome:
        start = time.perf_counter()
        counted = check_directional(candidate, params, X, Y, directions=k, seed=seed, count_passes=True)
        seconds = time.perf_counter() - start
        result = counted.result
        return Outcome(result.passed, tuple(result.culprits), counted.forward_passes, seconds)
    return run


def _taylor(candidate: Callable, params: Params, X: np.ndarray, Y: np.ndarray, seed: int) -> Outcome:
    """The Taylor test's verdict (observed convergence order), which names no tensor."""
    with count_forward_passes() as counter:
        start = time.perf_counter()
        result = check_taylor(candidate, params, X, Y, model=MLP, seed=seed)
        seconds = time.perf_counter() - start
    return Outcome(result.passed, (), counter.passes, seconds)


METHODS: dict[str, Callable[..., Outcome]] = {
    "fd": _full(fd),
    "complex-step": _full(complex_step),
    "richardson": _full(richardson),
    "directional k=1": _directional(1),
    "directional k=4": _directional(4),
    "directional k=16": _directional(16),
    "fd, float32": _float32_fd,
    "taylor": _taylor,
}
"""Check methods of the detection study: name -> run(candidate, params, X, Y, seed)."""

CORRECT = "correct gradient (false failures)"


def detection(nets: int = 5, show: bool | None = None) -> pd.DataFrame:
    """One row per (net, gradient, method): verdict, culprits named, passes, seconds."""
    candidates: list[tuple[str, Callable, tuple[str, ...]]] = [(CORRECT, numpy_backprop, ())]
    candidates += [(bug.name, bug, bug.tensors) for bug in CATALOGUE]
    rows = []
    jobs = [(seed, c) for seed in range(nets) for c in candidates]
    for seed, (name, candidate, tensors) in with_progress(jobs, len(jobs), "detection", show):
        params, X, Y = random_case(DETECTION_SIZES, DETECTION_EXAMPLES, seed)
        for method, run in METHODS.items():
            outcome = run(candidate, params, X, Y, seed)
            named = bool(outcome.culprits) and set(outcome.culprits) <= set(tensors)
            rows.append({"net_seed": seed, "gradient": name, "method": method, "detected": not outcome.passed,
                         "named": (not outcome.passed) and named, "culprits": " ".join(outcome.culprits),
                         "forward_passes": outcome.forward_passes, "seconds": outcome.seconds})
    return pd.DataFrame(rows)


def detection_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Bugs x methods: 'detected/nets (named)' cells, then passes and time rows."""
    nets = raw["net_seed"].nunique()
    methods = list(METHODS)
    table = {}
    for gradient, group in raw.groupby("gradient", sort=False):
        cells = {}
        for method in methods:
            rows = group[group["method"] == method]
            cell = f"{int(rows['detected'].sum())}/{nets}"
            if gradient != CORRECT:
                cell += f" ({int(rows['named'].sum())} named)"
            cells[method] = cell
        table[gradient] = cells
    correct = raw[raw["gradient"] == CORRECT]
    table["forward passes, correct gradient (median)"] = {
        m: f"{int(correct[correct['method'] == m]['forward_passes'].median())}" for m in methods}
    buggy = raw[(raw["gradient"] != CORRECT) & raw["detected"]]
    table["forward passes when it fails, incl. localisation (median)"] = {
        m: f"{int(buggy[buggy['method'] == m]['forward_passes'].median())}" if (buggy["method"] == m).any() else "-"
        for m in methods}
    table["time per check on the correct gradient, ms (median)"] = {
        m: f"{1000 * statistics.median(correct[correct['method'] == m]['seconds']):.1f}" for m in methods}
    table["time per check that fails, incl. localisation, ms (median)"] = {
        m: f"{1000 * statistics.median(buggy[buggy['method'] == m]['seconds']):.1f}" if (buggy["method"] == m).any()
        else "-" for m in methods}
    frame = pd.DataFrame(table).T
    frame.index.name = "gradient"
    return frame


def detection_figure(raw: pd.DataFrame) -> Any:
    """Share of failing checks per gradient and method, coloured by whether failing is right.

    A bug's row is green where the checks fail (caught) and red where they
    pass (missed); the correct gradient's row and a control's (a change below
    any threshold) read the other way round, so a perfect 0% of false
    failures is green, not alarm red. The cells print the share that fails.
    """
    plt = _pyplot()
    rates = raw.pivot_table(index="gradient", columns="method", values="detected", aggfunc="mean", sort=False)
    rates = rates[list(METHODS)]
    should_pass = {CORRECT} | {bug.name for bug in CATALOGUE if bug.control}
    right = rates.to_numpy(dtype=float).copy()
    passing_rows = np.array([name in should_pass for name in rates.index])
    right[passing_rows] = 1 - right[passing_rows]
    figure, axes = plt.subplots(figsize=(8, 6))
    image = axes.imshow(right, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    axes.set_xticks(range(len(rates.columns)), rates.columns, rotation=30, ha="right", fontsize=8)
    axes.set_yticks(range(len(rates.index)), rates.index, fontsize=8)
    for (i, j), value in np.ndenumerate(rates.to_numpy(dtype=float)):
        red, green, blue, _ = image.to_rgba(right[i, j])
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        axes.text(j, i, f"{value:.0%}", ha="center", va="center", fontsize=7, color="white" if dark else "black")
    axes.set_title("Share of checks that fail: green where that is right (bugs caught; the correct\n"
                   "gradient and the below-threshold control pass), red where it is wrong", fontsize=10)
    colorbar = figure.colorbar(image, ax=axes, fraction=0.03)
    colorbar.set_label("share of checks with the right verdict", fontsize=8)
    figure.tight_layout()
    return figure


def plot_detection(raw: pd.DataFrame) -> bytes:
    """:func:`detection_figure` as PNG bytes."""
    figure = detection_figure(raw)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    _pyplot().close(figure)
    return buffer.getvalue()


# --------------------------------------------------------------------------
# (c) kinks
# --------------------------------------------------------------------------


def jax_check_grads_passes(params: Params, X: np.ndarray, Y: np.ndarray, eps: float) -> bool | None:
    """Whether ``jax.test_util.check_grads`` (reverse mode, order 1) passes; None without JAX."""
    try:
        import jax.numpy as jnp
        from jax.test_util import check_grads
    except ImportError:
        return None
    from ..models.mlp import mlp_cost
    from ..ravel import ravel
    from ..frameworks.jax import x64_scope

    flat, unravel = ravel(params)
    with x64_scope():  # float64 for this call only; the process's JAX settings stay as they were
        Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
        try:
            check_grads(lambda vector: mlp_cost(unravel(vector), Xj, Yj, jnp), (jnp.asarray(flat),),
                        order=1, modes=["rev"], eps=eps)
        except AssertionError:
            return False
    return True


def kinks(nets: int = 5, show: bool | None = None) -> pd.DataFrame:
    """False failures and kink crossings on correct nets KINK_SIZES with m = KINK_EXAMPLES."""
    rows = []
    for seed in with_progress(range(nets), nets, "kinks", show):
        params, X, Y = random_case(KINK_SIZES, KINK_EXAMPLES, seed)
        exact = numpy_backprop(params, X, Y)
        oracles: tuple[tuple[str, Callable[[Params, Any, Any], Gradient]], ...] = (
            ("fd, default step", fd()), ("fd, step 1e-4", fd(eps=JAX_CHECK_GRADS_STEP)),
            ("fd-kink-safe, step 1e-4", KinkSafeDifference(MLP, eps=JAX_CHECK_GRADS_STEP)))
        for method, source in oracles:
            gradient = source(params, X, Y)
            result = compare_gradients(exact, gradient)
            rows.append({"net_seed": seed, "method": method, "difference": result.difference,
                         "false_failure": not result.passed, "kink_crossings": len(kinks_of(gradient))})
        for eps in (JAX_CHECK_GRADS_STEP, 1e-6):
            passed = jax_check_grads_passes(params, X, Y, eps)
            if passed is not None:
                rows.append({"net_seed": seed, "method": f"jax check_grads, eps {eps:g}", "difference": float("nan"),
                             "false_failure": not passed, "kink_crossings": -1})
    return pd.DataFrame(rows)


def kinks_table(raw: pd.DataFrame) -> pd.DataFrame:
    grouped = raw.groupby("method", sort=False)
    return pd.DataFrame({
        "false failures": grouped["false_failure"].sum().astype(int).astype(str) + f"/{raw['net_seed'].nunique()}",
        "worst difference": grouped["difference"].max().map(lambda d: "-" if np.isnan(d) else f"{d:.1e}"),
        "kink crossings stepped around": grouped["kink_crossings"].sum().map(lambda c: "-" if c < 0 else str(c)),
    })


# --------------------------------------------------------------------------
# (d) parameters far from unit scale
# --------------------------------------------------------------------------

SCALE_EXPONENTS = range(-6, 7, 2)
SCALE_SIZES = (1, 10, 100)
FIXED_STEP = 2.0**-17
"""The default step before steps became relative to each parameter."""


def scales(nets: int = 3, show: bool | None = None) -> pd.DataFrame:
    """Exact gradients of smooth costs at parameter scales 1e-6..1e6: verdicts with a fixed and a relative step."""
    rows = []
    jobs = [(family, exponent, size, seed) for family in FAMILIES for exponent in SCALE_EXPONENTS
            for size in SCALE_SIZES for seed in range(nets)]
    for family, exponent, size, seed in with_progress(jobs, len(jobs), "scales", show):
        smooth = FAMILIES[family]
        params, X, Y = smooth_point(family, 10.0**exponent, size, seed)
        for step, oracle in (("fixed 2^-17", fd(smooth.cost, eps=FIXED_STEP)), ("relative (default)", fd(smooth.cost))):
            result = check(smooth.gradient, oracle, params, X, Y)
            rows.append({"family": family, "scale": 10.0**exponent, "parameters": parameter_count(params),
                         "seed": seed, "step": step, "difference": result.difference, "false_failure": not result.passed})
    return pd.DataFrame(rows)


def scales_table(raw: pd.DataFrame) -> pd.DataFrame:
    """False failures per step rule and scale (over families, sizes and seeds), and the worst difference."""
    grouped = raw.groupby(["step", "scale"], sort=False)
    table = pd.DataFrame({
        "false failures": grouped["false_failure"].sum().astype(int).astype(str) + "/" + grouped.size().astype(str),
        "worst difference": grouped["difference"].max().map(lambda d: f"{d:.1e}"),
    }).reset_index()
    table["scale"] = table["scale"].map(lambda s: f"{s:.0e}")
    return table


# --------------------------------------------------------------------------
# (e) optional: no false failures on nets up to ~10,000 parameters
# --------------------------------------------------------------------------

LARGE_SIZES = ((4, 30, 30, 1), (4, 120, 60, 1), (10, 80, 80, 1))


def large_nets(nets: int = 5, show: bool | None = None) -> pd.DataFrame:
    """Every oracle and directional check on correct nets of LARGE_SIZES with m = 100 (minutes)."""
    references: dict[str, Callable[[], Any]] = {
        "fd": fd, "fd, step 1e-4": lambda: fd(eps=JAX_CHECK_GRADS_STEP),
        "fd-kink-safe": lambda: KinkSafeDifference(MLP),
        "fd-kink-safe, step 1e-4": lambda: KinkSafeDifference(MLP, eps=JAX_CHECK_GRADS_STEP),
        "complex-step": complex_step, "richardson": richardson,
    }
    rows = []
    jobs = [(sizes, seed) for sizes in LARGE_SIZES for seed in range(nets)]
    for sizes, seed in with_progress(jobs, len(jobs), "large nets", show):
        params, X, Y = random_case(sizes, KINK_EXAMPLES, seed)
        exact = numpy_backprop(params, X, Y)
        results = {name: compare_gradients(exact, build()(params, X, Y)) for name, build in references.items()}
        for k in (1, 4, 16):
            results[f"directional k={k}"] = check_directional(exact_source(exact), params, X, Y, directions=k, seed=seed)
        for method, result in results.items():
            rows.append({"sizes": "-".join(map(str, sizes)), "parameters": parameter_count(params),
                         "net_seed": seed, "method": method, "difference": result.difference,
                         "false_failure": not result.passed})
    return pd.DataFrame(rows)


def exact_source(gradient: Params) -> Callable[[Params, Any, Any], Params]:
    """A source that returns an already computed gradient (so backprop runs once per net)."""
    return lambda params, X, Y: {name: value.copy() for name, value in gradient.items()}


def large_nets_table(raw: pd.DataFrame) -> pd.DataFrame:
    nets = raw["net_seed"].nunique()
    cells = {}
    for (sizes, parameters), group in raw.groupby(["sizes", "parameters"], sort=False):
        by_method = group.groupby("method", sort=False)
        cells[f"{sizes} ({parameters})"] = (
            by_method["false_failure"].sum().astype(int).astype(str) + f"/{nets}, worst "
            + by_method["difference"].max().map(lambda d: f"{d:.1e}")
        )
    frame = pd.DataFrame(cells)
    frame.index.name = "method"
    return frame


# --------------------------------------------------------------------------
# Writing it all
# --------------------------------------------------------------------------


def run_study(out: Path, nets: int = 10, show: bool | None = None, large: bool = False) -> list[Path]:
    """Run the measurements and write CSV, Markdown and PNG files under ``out``.

    ``large=True`` adds the false-failure table on nets up to ~8,000 parameters
    (several minutes).
    """
    if not is_count(nets):
        raise InputError(f"--nets must be a whole number of at least 1, got {nets!r}.")
    record = provenance(nets=nets, large=large)
    out.mkdir(parents=True, exist_ok=True)
    stage = ["the step sweep"]

    def where() -> str:
        return (f"study stopped during {stage[0]}; every file in {out} is whole "
                "(each is written in one step), but the ones of this run may not all be there.")

    with saying_where(where):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LowPrecisionWarning)
            sweep = step_sweep(show=show)
        stage[0] = "the detection table"
        raw = detection(nets, show)
        table = detection_table(raw)
        stage[0] = "the kink table"
        kink_raw = kinks(nets, show)
        stage[0] = "the scale table"
        scale_raw = scales(min(nets, 3), show)
    written = [
        write_text_atomically(out / "step_sweep.csv", sweep.to_csv(index=False)),
        write_bytes_atomically(out / "step_sweep.png", plot_step_sweep(sweep)),
        write_text_atomically(out / "detection_raw.csv", raw.to_csv(index=False)),
        write_text_atomically(out / "detection.csv", table.reset_index().to_csv(index=False)),
        write_bytes_atomically(out / "detection.png", plot_detection(raw)),
        write_text_atomically(out / "kinks.csv", kink_raw.to_csv(index=False)),
        write_text_atomically(out / "scales_raw.csv", scale_raw.to_csv(index=False)),
        write_text_atomically(out / "scales.csv", scales_table(scale_raw).to_csv(index=False)),
    ]
    markdown = study_markdown(sweep, table, kinks_table(kink_raw), nets) + "\n".join([
        "", "## Parameters far from unit scale", "",
        f"Exact gradients of smooth costs ({', '.join(FAMILIES)}) with parameters at each scale, "
        f"{len(SCALE_SIZES)} sizes ({', '.join(map(str, SCALE_SIZES))}) and {min(nets, 3)} seeds each: "
        "false failures of the default check with the old fixed step and with steps relative to each parameter.", "",
        markdown_table(scales_table(scale_raw), index=False), ""])
    if large:
        stage[0] = "the large-net table"
        with saying_where(where):
            large_raw = large_nets(min(nets, 5), show)
        written.append(write_text_atomically(out / "large_nets.csv", large_raw.to_csv(index=False)))
        markdown += "\n".join([
            "", f"## False failures on correct nets up to ~8,000 parameters (m = {KINK_EXAMPLES})", "",
            "Cells: false failures over the nets, and the worst relative difference to backprop.", "",
            markdown_table(large_nets_table(large_raw)), "",
        ])
    written.append(write_text_atomically(out / "study.md", markdown))
    written.append(write_provenance(out, record))
    return written


def best_steps(sweep: pd.DataFrame) -> pd.DataFrame:
    """The best step and difference per oracle and dtype, next to the default's."""
    rows = []
    for (oracle, dtype), group in sweep.groupby(["oracle", "dtype"], sort=False):
        best = group.loc[group["difference"].idxmin()]
        rows.append({"oracle": oracle, "dtype": dtype, "best step": f"{best['step']:.0e}",
                     "best difference": f"{best['difference']:.1e}"})
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame, index: bool = True) -> str:
    """A GitHub Markdown table of ``frame`` (its index as the first column, when ``index``)."""
    return table_to_markdown(frame.reset_index() if index else frame).rstrip()


def _pyplot() -> Any:
    """matplotlib's pyplot on the headless Agg backend, or a clear ImportError."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("the study's plots need matplotlib: pip install matplotlib "
                          "(or pip install 'gradcheck-bench[study]')") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def study_markdown(sweep: pd.DataFrame, table: pd.DataFrame, kink_table: pd.DataFrame, nets: int) -> str:
    params, X, Y = seed_case()
    defaults = {
        "fd, float64 (2^-17 relative)": compare_gradients(fd()(params, X, Y), numpy_backprop(params, X, Y)).difference,
        "richardson, float64 (2^-6 relative, 3 levels)": compare_gradients(richardson()(params, X, Y), numpy_backprop(params, X, Y)).difference,
        "complex-step, float64 (1e-20)": compare_gradients(complex_step()(params, X, Y), numpy_backprop(params, X, Y)).difference,
    }
    lines = [
        "# Gradient-check study (`gradcheck-bench study`)",
        "",
        "Reference: the hand-written NumPy backprop, equal to autograd to ~1e-16.",
        "",
        "## Step sweep (fraud net, seed case)",
        "",
        "![V-curves](step_sweep.png)",
        "",
        markdown_table(best_steps(sweep), index=False),
        "",
        "At the defaults (float64): " + "; ".join(f"{k}: {v:.1e}" for k, v in defaults.items()) + ".",
        "",
        f"## Detection power ({nets} random nets {'-'.join(map(str, DETECTION_SIZES))}, m = {DETECTION_EXAMPLES})",
        "",
        "Cells: nets on which the check failed, and on how many of those the culprit tensors it named are "
        "exactly among the corrupted ones. Each check is `gradcheck_bench.check` with default steps: float64 "
        "fails at a difference of 2e-7; the `fd, float32` column (both gradients computed in float32) fails where "
        "the mismatch beyond 10x the oracle's error bars reaches 1e-4.",
        "",
        markdown_table(table),
        "",
        "![detection](detection.png)",
        "",
        f"## Kinks ({nets} correct random ReLU nets {'-'.join(map(str, KINK_SIZES))}, m = {KINK_EXAMPLES})",
        "",
        markdown_table(kink_table),
        "",
    ]
    return "\n".join(lines)

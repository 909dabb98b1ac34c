"""How our finite-difference check compares with the checkers people use instead.

``gradcheck-bench peers`` times, in one process, on the same function (the
MLP cost) and the same point: our full check and each of our engines,
``torch.autograd.gradcheck`` (slow and fast mode, float64),
``jax.test_util.check_grads`` (order 1, reverse mode), ``scipy.optimize.check_grad``
and the seed-style loop (the exercise's ``gradient_check_n``). Each row gives
the median time of repeats, the forward passes (calls of the cost) and the
verdict; every gradient checked is correct, so a "fail" is a wrong verdict
and is flagged. On the 4-120-60-1 case it also measures the float64
matrix-multiply rate and the roofline of 2n forward passes.

Optional frameworks are imported only inside their contestant; a missing one
gives a row marked unavailable.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..check import check
from ..judge import DEFAULT_THRESHOLD
from ..metrics import relative_difference
from ..counting import CountingCost, count_forward_passes
from ..errors import InputError
from ..validation import is_count
from ..differences.engines import fd_engines
from ..differences.engines.incremental import replayable
from ..engine_examples import tanh_net_cost, tanh_net_point
from ..models import Model, Params, get_model, model_names
from ..models.mlp import exercise_cost, mlp_cost, numpy_backprop, random_case, seed_case
from ..ravel import parameter_count, ravel
from ..differences.central import fd
from .atomic_files import write_text_atomically
from .report import provenance, write_provenance, write_table

RESULTS = Path("results") / "peers"
SEED_EXERCISE_EPS = 1e-7
"""The exercise's step, used by the seed-style loop as the exercise wrote it."""


@dataclass(frozen=True)
class MLPCase:
    """A named point of the MLP that the checkers are timed on, with the sizes of its net."""

    name: str
    params: Params
    X: np.ndarray
    Y: np.ndarray

    @property
    def n(self) -> int:
        return parameter_count(self.params)

    @property
    def m(self) -> int:
        return self.X.shape[1]

    @property
    def sizes(self) -> list[int]:
        return [self.X.shape[0]] + [self.params[f"W{l}"].shape[0] for l in range(1, len(self.params) // 2 + 1)]


def cases() -> dict[str, MLPCase]:
    """The seed case (n=47, m=3) and a 4-120-60-1 net with m=100 (n=7,921)."""
    return {"seed": MLPCase("seed", *seed_case()),
            "4-120-60-1": MLPCase("4-120-60-1", *random_case((4, 120, 60, 1), 100, seed=0))}


Contestant = Callable[[MLPCase], Callable[[], tuple[bool, int]]]
"""``contestant(case)`` sets up (imports, tensors) and returns ``run() -> (passed, forward passes)``."""


def our_full_check(case: MLPCase) -> Callable[[], tuple[bool, int]]:
    """The default full check: NumPy backprop against the fd oracle (engine auto); passes counted."""
    def run() -> tuple[bool, int]:
        with count_forward_passes() as counter:
            passed = check("numpy", "fd", case.params, case.X, case.Y).passed
        return passed, counter.passes
    return run


def our_engine(engine: str) -> Contestant:
    """The fd gradient alone with one engine; the verdict compares it with the backprop."""
    def setup(case: MLPCase) -> Callable[[], tuple[bool, int]]:
        source, backprop = fd(engine=engine), numpy_backprop(case.params, case.X, case.Y)

        def run() -> tuple[bool, int]:
            with count_forward_passes() as counter:
                gradient = source(case.params, case.X, case.Y)
            flat = [np.concatenate([np.ravel(g[name]) for name in case.params]) for g in (gradient, backprop)]
            return relative_difference(*flat) < DEFAULT_THRESHOLD, counter.passes
        return run
    return setup


def seed_style_loop(case: MLPCase) -> Callable[[], tuple[bool, int]]:
    """The exercise's ``gradient_check_n``: per coordinate, copy the vector and rebuild a dict."""
    names = list(case.params)
    shapes = {name: case.params[name].shape for name in names}

    def vector_to_dictionary(theta: np.ndarray) -> Params:
        parameters, start = {}, 0
        for name in names:
            size = int(np.prod(shapes[name]))
            parameters[name] = theta[start:start + size].reshape(shapes[name])
            start += size
        return parameters

    cost = CountingCost(exercise_cost)

    def run() -> tuple[bool, int]:
        with count_forward_passes() as counter:
            passed = gradient_check_n()
        return passed, counter.passes

    def gradient_check_n() -> bool:
        gradients = numpy_backprop(case.params, case.X, case.Y)
        parameters_values = np.concatenate([case.params[n].reshape(-1, 1) for n in names])
        grad = np.concatenate([gradients[n].reshape(-1, 1) for n in names])
        gradapprox = np.zeros_like(grad)
        for i in range(parameters_values.shape[0]):
            thetaplus = np.copy(parameters_values)
            thetaplus[i][0] += SEED_EXERCISE_EPS
            J_plus = cost(vector_to_dictionary(thetaplus), case.X, case.Y)
            thetaminus = np.copy(parameters_values)
            thetaminus[i][0] -= SEED_EXERCISE_EPS
            J_minus = cost(vector_to_dictionary(thetaminus), case.X, case.Y)
            gradapprox[i] = (J_plus - J_minus) / (2 * SEED_EXERCISE_EPS)
        difference = np.linalg.norm(grad - gradapprox) / (np.linalg.norm(grad) + np.linalg.norm(gradapprox))
        return bool(difference < DEFAULT_THRESHOLD)
    return run


def torch_gradcheck(fast_mode: bool) -> Contestant:
    """``torch.autograd.gradcheck`` on the same MLP cost written with ``xp=torch``, float64."""
    def setup(case: MLPCase) -> Callable[[], tuple[bool, int]]:
        import torch

        names = list(case.params)
        X, Y = torch.from_numpy(case.X), torch.from_numpy(case.Y)
        inputs = tuple(torch.tensor(case.params[name], requires_grad=True) for name in names)
        cost = CountingCost(lambda *tensors: mlp_cost(dict(zip(names, tensors)), X, Y, xp=torch))

        def run() -> tuple[bool, int]:
            with count_forward_passes() as counter:
                passed = torch.autograd.gradcheck(cost, inputs, fast_mode=fast_mode, raise_exception=False)
            return bool(passed), counter.passes
        return run
    return setup


def jax_check_grads(case: MLPCase) -> Callable[[], tuple[bool, int]]:
    """``jax.test_util.check_grads(order=1, modes=("rev",))`` in float64 (random directions)."""
    import jax.numpy as jnp
    from jax.test_util import check_grads

    from ..frameworks.jax import x64_scope

    with x64_scope():
        X, Y = jnp.asarray(case.X), jnp.asarray(case.Y)
        point = ({name: jnp.asarray(value) for name, value in case.params.items()},)
    cost = CountingCost(lambda params: mlp_cost(params, X, Y, xp=jnp))

    def run() -> tuple[bool, int]:
        with count_forward_passes() as counter, x64_scope():
            try:
                check_grads(cost, point, order=1, modes=("rev",))
            except AssertionError:
                return False, counter.passes
        return True, counter.passes
    return run


def scipy_check_grad(case: MLPCase) -> Callable[[], tuple[bool, int]]:
    """``scipy.optimize.check_grad`` (forward differences) with our backprop as the gradient.

    It returns an absolute error; the verdict applies the exercise's threshold to
    it relative to the gradient's norm.
    """
    from scipy.optimize import check_grad

    flat, unravel = ravel(case.params)
    cost = CountingCost(lambda vector: float(mlp_cost(unravel(vector), case.X, case.Y)))

    def gradient(vector: np.ndarray) -> np.ndarray:
        return ravel(numpy_backprop(unravel(vector), case.X, case.Y))[0]

    def run() -> tuple[bool, int]:
        with count_forward_passes() as counter:
            error = check_grad(cost, gradient, flat.copy())
        return bool(error / np.linalg.norm(gradient(flat)) < DEFAULT_THRESHOLD), counter.passes
    return run


def contestants() -> dict[str, tuple[Contestant, str]]:
    """name -> (contestant, what it checks)."""
    table: dict[str, tuple[Contestant, str]] = {
        "gradcheck-bench check (default)": (our_full_check, "numpy backprop vs fd[auto], full check"),
    }
    for engine in fd_engines():
        if engine == "dask":  # a cluster per call is not an in-process peer; see dask_bench
            continue
        table[f"gradcheck-bench fd[{engine}]"] = (our_engine(engine), "fd gradient only")
    table.update({
        "seed-style loop": (seed_style_loop, "exercise gradient_check_n, eps=1e-7"),
        "torch gradcheck (slow)": (torch_gradcheck(False), "torch autograd vs its fd"),
        "torch gradcheck (fast)": (torch_gradcheck(True), "torch autograd, random projection"),
        "jax check_grads (rev)": (jax_check_grads, "jax vjp vs fd, random direction"),
        "scipy check_grad": (scipy_check_grad, "numpy backprop vs forward differences"),
    })
    return table


def median_time(run: Callable[[], Any], repeats: int, budget_s: float) -> tuple[float, int, Any]:
    """Median wall time of up to ``repeats`` runs after a warm-up (imports, caches, JIT).

    Repeating stops once ``budget_s`` is spent (after at least 3 runs); a
    checker whose warm-up alone exceeds the budget is timed by that one run.
    Returns ``(median seconds, runs timed, last result)``.
    """
    start = time.perf_counter()
    result = run()
    warm_up = time.perf_counter() - start
    if warm_up > budget_s:
        return warm_up, 1, result
    times: list[float] = []
    while len(times) < repeats and (len(times) < 3 or sum(times) < budget_s):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(times), result


def time_contestants(case: MLPCase, repeats: int, budget_s: float, skip_slow: Set[str] = frozenset()) -> pd.DataFrame:
    """One row per contestant on ``case``: median time, forward passes, verdict."""
    rows = []
    for name, (contestant, what) in contestants().items():
        row: dict[str, Any] = {"case": case.name, "n": case.n, "m": case.m, "checker": name, "checks": what}
        if name in skip_slow:
            rows.append({**row, "status": "skipped (too slow at this n)"})
            continue
        try:
            seconds, runs, (passed, passes) = median_time(contestant(case), repeats, budget_s)
        except ImportError as missing:
            rows.append({**row, "status": f"unavailable ({missing})"})
            continue
        rows.append({**row, "status": "ok", "median_s": seconds, "runs": runs, "forward_passes": passes,
                     "verdict": "pass" if passed else "FAIL", "wrong_verdict": not passed})
    return pd.DataFrame(rows)


def matmul_rate(size: int = 1024, repeats: int = 7) -> float:
    """This machine's float64 matrix-multiply rate in FLOP/s (median of square products)."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    seconds, _, _ = median_time(lambda: A @ B, repeats, budget_s=5.0)
    return 2 * size**3 / seconds


def forward_flops(widths: list[int], m: int) -> int:
    """Floating-point work of one MLP forward pass, counted as its matrix products: 2 m sum(n_l n_{l-1})."""
    return 2 * m * sum(widths[l] * widths[l - 1] for l in range(1, len(widths)))


def roofline_rows(case: MLPCase, table: pd.DataFrame, rate: float) -> pd.DataFrame:
    """Roofline time of 2n forward passes at ``rate``, and each fd engine's time over it."""
    roofline_s = 2 * case.n * forward_flops(case.sizes, case.m) / rate
    engines = table[table["checker"].str.startswith("gradcheck-bench fd[") & (table["status"] == "ok")]
    return pd.DataFrame({
        "case": case.name, "checker": engines["checker"], "median_s": engines["median_s"],
        "matmul_gflops": rate / 1e9, "roofline_s": roofline_s,
        "time_over_roofline": engines["median_s"] / roofline_s,
    })


PEERS = ("torch gradcheck (slow)", "torch gradcheck (fast)", "jax check_grads (rev)", "scipy check_grad",
         "seed-style loop")


def ratio_lines(table: pd.DataFrame) -> list[str]:
    """The issue's targets as measured ratios: each peer's time over our default full check,
    and over our fastest fd gradient alone (the check adds validation and the per-tensor table)."""
    lines = []
    for case, rows in table.groupby("case", sort=False):
        times = rows.set_index("checker")["median_s"].dropna()
        engines = times[times.index.str.startswith("gradcheck-bench fd[")]
        ours = {"our default full check": times.get("gradcheck-bench check (default)")}
        if len(engines):
            ours[f"our fastest fd gradient alone ({engines.idxmin()})"] = engines.min()
        for label, mine in ours.items():
            for peer in (p for p in PEERS if p in times and mine is not None):
                lines.append(f"{case}: {peer} takes {times[peer] / mine:.3g}x the time of {label} "
                             f"({times[peer]:.3g} s vs {mine:.3g} s)")
    return lines


# --------------------------------------------------------------------------
# Side by side: how a test suite meets a check, and fd on costs written against xp
# --------------------------------------------------------------------------


def alternating(first: Callable[[], Any], second: Callable[[], Any], rounds: int) -> pd.DataFrame:
    """Time ``first`` then ``second``, round after round, so each runs right after the other (as in a
    test suite, where one check follows another, not in a warm loop of its own)."""
    first(), second()  # imports, caches, compilation
    rows = []
    for number in range(rounds):
        start = time.perf_counter()
        first()
        middle = time.perf_counter()
        second()
        end = time.perf_counter()
        rows.append({"round": number, "first_s": middle - start, "second_s": end - middle})
    table = pd.DataFrame(rows)
    table["ratio"] = table["second_s"] / table["first_s"]
    return table


def seed_check_against_torch(rounds: int = 200) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Our default full check of the seed case against ``torch.autograd.gradcheck`` (slow mode), alternating."""
    case = cases()["seed"]
    torch_run = torch_gradcheck(fast_mode=False)(case)
    table = alternating(our_full_check(case), torch_run, rounds)
    table = table.rename(columns={"first_s": "ours_s", "second_s": "torch_gradcheck_s"})
    summary = {"comparison": "seed case: gradcheck-bench check (numpy vs fd) alternating with torch gradcheck (slow)",
               "rounds": rounds, "ours_median_s": table["ours_s"].median(),
               "torch_median_s": table["torch_gradcheck_s"].median(), "median_ratio": table["ratio"].median()}
    return table, summary


TANH = Model(name="tanh", cost=tanh_net_cost)
XP_COSTS = {
    "tanh 4-60-60-1, m=4": lambda: (TANH, *tanh_net_point((4, 60, 60, 1), 4)),
    "tanh 4-20x10-1, m=4": lambda: (TANH, *tanh_net_point((4,) + (20,) * 10 + (1,), 4)),
    "tanh 8-30x4-1, m=8": lambda: (TANH, *tanh_net_point((8, 30, 30, 30, 30, 1), 8)),
}
"""Costs written against xp, about 3,000-4,000 parameters, that no structured engine knows."""


ENGINES_COMPARED: tuple[str, ...] = ("loop", "torch", "jax", "incremental")
"""The fd engines timed against each other on XP_COSTS and the workloads (those installed; the incremental
engine where every primitive of the cost has a NumPy rule, as ``auto`` does: elsewhere JAX runs the replay op by
op, which on the LSTM's unrolled program takes far longer than the loop)."""


def interleaved_medians(calls: Mapping[str, Callable[[], Any]], rounds: int,
                        after_round: Callable[[int], None] | None = None) -> dict[str, float]:
    """Median seconds of each call: every call once untimed (imports, compilation, memory measurement), then
    each in turn, round after round, so all see the same load. ``after_round(number)`` follows each round."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for number in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
        if after_round is not None:
            after_round(number)
    return {name: statistics.median(samples) for name, samples in times.items()}


def xp_cost_engines(repeats: int = 5) -> pd.DataFrame:
    """The fd gradient of each cost with each engine of ENGINES_COMPARED, interleaved; medians and ratios."""
    rows = []
    for name, build in {**XP_COSTS, **workload_costs()}.items():
        model, params, X, Y = build()
        calls = {engine: functools.partial(fd(model, engine=engine, progress=False), params, X, Y)
                 for engine in ENGINES_COMPARED
                 if engine in fd_engines() and (engine != "incremental" or replayable(model, params, X, Y))}
        medians = interleaved_medians(calls, repeats)
        for engine, median_s in medians.items():
            rows.append({"cost": name, "parameters": parameter_count(params), "engine": engine, "median_s": median_s,
                         "repeats": repeats, "loop_over_engine": medians["loop"] / median_s})
    return pd.DataFrame(rows)


def workload_costs() -> dict[str, Callable[[], tuple[Model, Params, Any, Any]]]:
    """ADBench's test inputs as costs for the same comparison, where those models are installed."""
    found: dict[str, Callable[[], tuple[Model, Params, Any, Any]]] = {}
    for name in ("lstm", "gmm"):
        if name in model_names():
            model = get_model(name)
            case = next(case for case in model.cases if "adbench" in case)  # the input ADBench's tests use
            found[f"{name} ({case})"] = _case_with_model(model, case)
    return found


def _case_with_model(model: Model, case: str) -> Callable[[], tuple[Model, Params, Any, Any]]:
    return lambda: (model, *model.cases[case]())


def run_peers(out: Path = RESULTS, repeats: int = 15, budget_s: float = 20.0) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Time every contestant on both cases, the roofline, the seed check alternating with torch's
    gradcheck and the fd engines on costs written against xp; write ``results/peers/``."""
    if not is_count(repeats):
        raise InputError(f"repeats must be a whole number of at least 1, got {repeats!r}.")
    record = provenance(repeats=repeats, budget_s=budget_s)
    tables, rooflines = [], []
    for case in cases().values():
        tables.append(time_contestants(case, repeats, budget_s))
        if case.name != "seed":
            rooflines.append(roofline_rows(case, tables[-1], matmul_rate()))
    table, roofline = pd.concat(tables, ignore_index=True), pd.concat(rooflines, ignore_index=True)
    notes = ratio_lines(table) + [
        f"{row.case}: {row.checker} takes {row.time_over_roofline:.2f}x the roofline "
        f"({row.median_s:.3g} s vs {row.roofline_s:.3g} s at {row.matmul_gflops:.1f} GFLOP/s)"
        for row in roofline.itertuples()
    ]
    if "torch" in fd_engines():
        rounds, summary = seed_check_against_torch()
        write_table(rounds, out, "seed_vs_torch_gradcheck", "Seed case: our check alternating with torch gradcheck")
        notes.append(f"seed case, alternating {summary['rounds']} rounds: torch gradcheck (slow) takes "
                     f"{summary['median_ratio']:.3g}x the time of our full check (median of per-round ratios; "
                     f"medians {summary['torch_median_s'] * 1e3:.3g} ms vs {summary['ours_median_s'] * 1e3:.3g} ms)")
    engines = xp_cost_engines()
    write_table(engines, out, "xp_cost_engines", "fd engines on costs written against xp")
    notes += [f"{row.cost}: loop takes {row.loop_over_engine:.3g}x the time of the {row.engine} engine"
              for row in engines[engines["engine"] != "loop"].itertuples()]
    write_results(out, table, roofline, notes)
    write_provenance(out, {**record, "notes": notes})
    return table, roofline, notes


def write_results(out: Path, table: pd.DataFrame, roofline: pd.DataFrame, notes: list[str]) -> list[Path]:
    """The comparison and the roofline as CSV, JSON and Markdown; the ratios below the comparison's table."""
    written = [*write_table(table, out, "peers", "Peer comparison").values(),
               *write_table(roofline, out, "roofline", "Roofline of the fd engines").values()]
    markdown = out / "peers.md"
    write_text_atomically(markdown, markdown.read_text() + "\n" + "".join(f"- {line}\n" for line in notes))
    return written

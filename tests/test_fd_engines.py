"""Every finite-difference engine against the loop reference; memory budget, auto choice, Ctrl-C."""

from __future__ import annotations

import importlib
import tracemalloc

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.models.mlp import exercise_cost, mlp_cost, random_case
import gradcheck_bench.differences.engines as engines_module
from gradcheck_bench.metrics import relative_difference
from gradcheck_bench.errors import InputError
from gradcheck_bench.models import cost_model
from gradcheck_bench.ravel import parameter_count
from gradcheck_bench.differences import driver as fdmod
from gradcheck_bench.differences.driver import central_differences

ENGINES = engines_module.engines()
MLP = gb.get_model("mlp")
DEFAULT_EPS = 2.0**-17
LOCAL_ENGINES = [name for name in ENGINES if name != "dask"]
"""The in-process engines; dask (same contract, one shared cluster) is tested in test_dask_engine.py."""
FAST_ENGINES = [name for name in LOCAL_ENGINES if name != "loop"]


def usable(engine: str) -> str:
    """Skip (never fail) a test of an engine whose framework is not installed."""
    for module in ENGINES[engine].requires:
        pytest.importorskip(module)
    return engine
CASES = {
    "seed": gb.seed_case,
    "fraud-random": lambda: random_case((4, 5, 3, 1), 3, seed=1),
    "deep": lambda: random_case((4, 12, 9, 6, 1), 30, seed=2),
    "shallow": lambda: random_case((6, 1), 25, seed=3),
    "wide": lambda: random_case((3, 40, 1), 10, seed=4),
}
COMPARISON_EPS = 1e-2
"""A step at which the loop's own float64 rounding (~ulp(J) / eps) is far below 1e-12.

At the default 1e-5 the loop itself carries ~1e-11 of rounding noise
(measured against a long-double loop), so no two orderings of the same
arithmetic can agree to 1e-12 there; that case is tested against the rounding
bound below instead."""


def rounding_bound(cost_value: float, eps: float) -> float:
    """Per-coordinate disagreement two float64 evaluations of one difference quotient may show."""
    return 256 * np.finfo(np.float64).eps * max(abs(cost_value), 1.0) / eps


@pytest.mark.parametrize("engine", FAST_ENGINES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_engine_agrees_with_loop_to_1e_12(engine: str, case: str) -> None:
    usable(engine)
    params, X, Y = CASES[case]()
    reference = central_differences(MLP, params, X, Y, COMPARISON_EPS, "loop")
    result = central_differences(MLP, params, X, Y, COMPARISON_EPS, engine)
    assert relative_difference(result, reference) <= 1e-12


@pytest.mark.parametrize("engine", FAST_ENGINES)
def test_engine_agrees_with_loop_on_scattered_coordinates(engine: str) -> None:
    # What a second look asks for: a few coordinates from several tensors, not every one (the torch engine
    # once sized its chunks for the wrong number of coordinates there).
    usable(engine)
    params, X, Y = CASES["deep"]()
    indices = np.array([0, 7, 49, 60, 61, 150, parameter_count(params) - 1])
    steps = np.full(indices.size, COMPARISON_EPS)
    reference = fdmod.perturbed_costs(MLP, params, X, Y, indices, steps, "loop").costs
    costs = fdmod.perturbed_costs(MLP, params, X, Y, indices, steps, engine).costs
    assert costs.shape == (2, indices.size)
    assert np.max(np.abs(costs - reference)) <= 1e-12 * np.max(np.abs(reference))


@pytest.mark.parametrize("engine", FAST_ENGINES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_engine_agrees_with_loop_at_default_eps_to_rounding(engine: str, case: str) -> None:
    usable(engine)
    params, X, Y = CASES[case]()
    reference = central_differences(MLP, params, X, Y, DEFAULT_EPS, "loop")
    result = central_differences(MLP, params, X, Y, DEFAULT_EPS, engine)
    bound = rounding_bound(float(mlp_cost(params, X, Y)), DEFAULT_EPS)
    assert np.max(np.abs(result - reference)) <= bound
    assert relative_difference(result, reference) <= 1e-9


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
def test_per_coordinate_steps_match_the_loop(engine: str) -> None:
    usable(engine)
    params, X, Y = random_case((4, 6, 3, 1), 8, seed=5)
    steps = np.geomspace(1e-3, 3e-2, 24 + 6 + 18 + 3 + 3 + 1)
    reference = central_differences(MLP, params, X, Y, steps, "loop")
    assert relative_difference(central_differences(MLP, params, X, Y, steps, engine), reference) <= 1e-12
    uniform = central_differences(MLP, params, X, Y, 1e-3, "loop")
    assert np.array_equal(central_differences(MLP, params, X, Y, np.full(steps.size, 1e-3), "loop"), uniform)


def test_a_step_per_coordinate_changes_the_result_where_it_should() -> None:
    params, X, Y = gb.seed_case()
    steps = np.full(47, 1e-5)
    steps[0] = 0.5  # a huge step on W1[0, 0] only
    gradient = central_differences(MLP, params, X, Y, steps, "structured")
    default = central_differences(MLP, params, X, Y, 1e-5, "structured")
    assert gradient[0] != pytest.approx(default[0], rel=1e-6)
    np.testing.assert_array_equal(gradient[1:], default[1:])


@pytest.mark.parametrize("eps", [np.full(46, 1e-5), np.full((47, 1), 1e-5), -1e-5, np.r_[np.full(46, 1e-5), 0.0]])
def test_bad_steps_are_refused(eps: object) -> None:
    with pytest.raises(InputError, match="eps must"):
        gb.check("numpy", gb.fd(eps=eps), *gb.seed_case())


@pytest.mark.parametrize("engine", FAST_ENGINES + ["loop"])
def test_a_small_budget_chunks_without_changing_the_result(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    usable(engine)
    params, X, Y = random_case((4, 10, 6, 1), 12, seed=6)
    whole = central_differences(MLP, params, X, Y, 1e-3, engine)
    n = whole.size
    chosen = ENGINES[engine]
    need = np.broadcast_to(chosen.bytes_per_coordinate(MLP, params, X, Y), (n,))
    chunks: list[np.ndarray] = []
    original_prepare = chosen.prepare

    def spying_prepare(*args):
        evaluate = original_prepare(*args)
        return lambda indices, steps: (chunks.append(indices), evaluate(indices, steps))[1]

    monkeypatch.setitem(ENGINES, engine, gb.FDEngine(**{**chosen.__dict__, "prepare": spying_prepare}))
    budget = 7 * max(int(need.max()), 1)
    chunked = central_differences(MLP, params, X, Y, 1e-3, engine, memory_budget=budget)
    assert np.array_equal(np.concatenate(chunks), np.arange(n))
    if engine == "loop":
        assert len(chunks) == 1  # the loop needs no memory: one chunk of up to 256 coordinates
    else:
        assert len(chunks) >= n // 7 // 2 and all(need[chunk].sum() <= budget for chunk in chunks)
        assert max(chunk.size for chunk in chunks) >= 7
    assert relative_difference(chunked, whole) <= 1e-15


@pytest.mark.parametrize("engine", ["structured", "numpy-batched"])
def test_peak_memory_stays_under_the_budget(engine: str) -> None:
    params, X, Y = random_case((4, 60, 50, 1), 64, seed=7)
    n = parameter_count(params)
    budget = 2**20
    activation_bytes = 8 * X.shape[1] * (4 + 60 + 50 + 1)
    fixed = 4 * 8 * n + 4 * activation_bytes  # flat copies, gradient, base forward pass (Z and A)
    assert fixed < budget // 2
    # A first run in the process imports modules lazily (np.unique imports numpy.ma): not the engine's memory.
    central_differences(MLP, params, X, Y, 1e-5, engine, memory_budget=budget)
    tracemalloc.start()
    try:
        central_differences(MLP, params, X, Y, 1e-5, engine, memory_budget=budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    whole = np.broadcast_to(ENGINES[engine].bytes_per_coordinate(MLP, params, X, Y), (n,)).sum()
    assert whole > 4 * budget  # unchunked, the run would need several budgets
    assert peak <= budget + fixed


def wide_tanh_cost(params, X, Y, xp=np):
    return xp.mean((params["v"] @ xp.tanh(params["W"] @ X) - Y) ** 2)


@pytest.mark.parametrize("engine", ["jax", "numpy-batched"])
def test_engines_that_batch_whole_vectors_budget_a_whole_vector_for_every_coordinate(engine: str) -> None:
    # A chunk of k coordinates holds 2k perturbed copies of all n parameters, whichever tensor a
    # coordinate belongs to: the small tensor "v" must not be budgeted as if only it were copied.
    usable(engine)
    rng = np.random.default_rng(8)
    if engine == "jax":
        model = gb.Model(name="wide-tanh", cost=wide_tanh_cost)
        params = {"W": rng.standard_normal((60, 50)), "v": rng.standard_normal((1, 60))}
        X, Y = rng.standard_normal((50, 4)), rng.standard_normal((1, 4))
    else:
        model, (params, X, Y) = MLP, random_case((50, 60, 1), 4, seed=8)
    n = parameter_count(params)
    need = np.broadcast_to(ENGINES[engine].bytes_per_coordinate(model, params, X, Y), (n,))
    assert need.min() >= 2 * 8 * n


def test_too_small_a_budget_says_what_to_do() -> None:
    with pytest.raises(InputError, match="memory_budget=16 bytes is too small"):
        gb.check("numpy", "fd", *gb.seed_case(), engine="structured", memory_budget=16)
    with pytest.raises(InputError, match="memory_budget must be a positive number of bytes"):
        gb.fd(memory_budget=0)


def test_auto_picks_the_fastest_engine_that_can_evaluate_the_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    choose = engines_module.choose_engine
    params, X, Y = gb.seed_case()
    assert choose("auto", MLP, params, X, Y).name == "numpy-batched"
    assert choose("auto", MLP, *random_case((4, 30, 15, 1), 100)).name == "structured"
    as_float32 = {name: value.astype(np.float32) for name, value in params.items()}
    assert choose("auto", MLP, as_float32, X, Y).name == "loop"
    without_xp = cost_model(lambda p, X, Y: mlp_cost(p, X, Y))  # no xp: only the loop can run it
    assert choose("auto", without_xp, params, X, Y).name == "loop"
    with_xp = cost_model(exercise_cost)  # written against xp, but no dense layers declared: torch only if timed
    assert choose("auto", with_xp, params, X, Y).name == "loop"
    timed = [engine.name for engine in engines_module.auto_order(with_xp, params, X, Y, measuring=True)]
    assert timed[-1] == "loop" and ("torch" in timed) == ("torch" in gb.fd_engines())


def test_a_fast_engine_refuses_a_cost_it_cannot_evaluate() -> None:
    with pytest.raises(InputError, match="cannot evaluate model 'exercise_cost'"):
        gb.check("numpy", gb.fd(exercise_cost, engine="structured"), *gb.seed_case())


def test_float32_points_are_checked_by_the_loop_under_auto() -> None:
    params, X, Y = random_case((4, 5, 3, 1), 20, seed=8)
    params32 = {name: value.astype(np.float32) for name, value in params.items()}
    result = gb.fd(eps=1e-2)(params32, X.astype(np.float32), Y.astype(np.float32))
    reference = gb.fd(eps=1e-2, engine="loop")(params32, X.astype(np.float32), Y.astype(np.float32))
    assert all(np.array_equal(result[name], reference[name]) for name in params)


def test_check_routes_engine_and_budget_options() -> None:
    for engine in (name for name in gb.fd_engines() if name in LOCAL_ENGINES):
        assert gb.check("numpy", "fd", *gb.seed_case(), engine=engine, memory_budget=2**16).passed
    assert not gb.check("numpy-buggy", "fd", *gb.seed_case(), engine="structured").passed


def test_unknown_engine_names_the_choices() -> None:
    with pytest.raises(InputError, match="unknown finite-difference engine 'fast'; choose auto or one of .*loop"):
        gb.fd(engine="fast")


def test_engines_list_only_what_is_usable(hide_modules) -> None:
    hide_modules("torch", "jax")
    usable_here = gb.fd_engines()
    assert {"loop", "structured", "numpy-batched"} <= set(usable_here)
    assert "torch" not in usable_here and "jax" not in usable_here
    with pytest.raises(ImportError, match="pip install torch"):
        gb.fd(engine="torch")


class InterruptAfter:
    """A cost that behaves like the MLP's until its k-th call, then acts as if Ctrl-C was pressed."""

    def __init__(self, calls: int) -> None:
        self.calls_left = calls

    def __call__(self, params, X, Y):
        self.calls_left -= 1
        if self.calls_left < 0:
            raise KeyboardInterrupt
        return mlp_cost(params, X, Y)


def test_ctrl_c_closes_the_bar_and_leaves_the_point_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    params, X, Y = random_case((4, 100, 1), 5, seed=9)
    before = {name: value.copy() for name, value in params.items()}
    bars = []

    def recording_bar(*args, **kwargs):
        bars.append(fdmod.progress_bar.__wrapped__(*args, **{**kwargs, "show": True}))
        return bars[-1]

    recording_bar.__wrapped__ = fdmod.progress_bar  # type: ignore[attr-defined]
    monkeypatch.setattr(fdmod, "progress_bar", recording_bar)
    with pytest.raises(KeyboardInterrupt):
        gb.fd(InterruptAfter(1 + 2 * 300), engine="loop", progress=True)(params, X, Y)
    assert len(bars) == 1 and bars[0].disable  # tqdm marks a closed bar disabled
    assert 0 < bars[0].n < parameter_count(params)
    assert all(np.array_equal(params[name], before[name]) for name in params)


def test_check_accepts_a_step_per_parameter() -> None:
    params, X, Y = gb.seed_case()
    assert gb.check("numpy", "fd", params, X, Y, eps=np.full(47, 1e-6)).passed
    assert not gb.check("numpy-buggy", "fd", params, X, Y, eps=np.geomspace(1e-7, 1e-4, 47)).passed


def test_chunks_stay_cache_sized_for_an_engine_that_asks_for_it() -> None:
    params, X, Y = random_case((4, 120, 60, 1), 100, seed=0)
    engine = ENGINES["structured"]
    need = engine.bytes_per_coordinate(MLP, params, X, Y)
    ranges = fdmod.chunk_ranges(engine, MLP, params, X, Y, np.arange(need.size), engines_module.DEFAULT_MEMORY_BUDGET)
    assert [r[0] for r in ranges[1:]] == [r[1] for r in ranges[:-1]] and ranges[-1][1] == need.size
    for start, stop in ranges:
        assert stop - start == 1 or need[start:stop].sum() <= engine.fast_chunk_bytes
    assert need.sum() > engines_module.DEFAULT_MEMORY_BUDGET / 100  # the budget alone would allow far larger chunks


def tanh_logistic_cost(params, X, Y, xp=np):
    """A user's cost written against xp (issue 22's shape, smaller): no engine knows its structure."""
    return xp.mean(xp.log(1 + xp.exp(-Y * (params["v"] @ xp.tanh(params["A"] @ X) + params["c"]))))


def rbf_cost(params, X, Y, xp=np):
    distances = xp.sum((params["c"][:, None, :] - X[None, :, :]) ** 2, axis=-1)
    return xp.sum(xp.exp(-distances)) / X.shape[0]


def xp_point(cost_name: str):
    rng = np.random.default_rng(11)
    if cost_name == "tanh-logistic":
        params = {"A": rng.standard_normal((30, 4)), "v": rng.standard_normal(30) / 5, "c": np.zeros(1)}
        return gb.Model(name="test-tanh-logistic", cost=tanh_logistic_cost), params, rng.standard_normal((4, 9)), \
            np.sign(rng.standard_normal(9))
    return gb.Model(name="test-rbf", cost=rbf_cost), {"c": rng.standard_normal((50, 3))}, \
        rng.standard_normal((7, 3)), None


@pytest.mark.parametrize("engine", ["torch", "jax", "auto"])
@pytest.mark.parametrize("cost_name", ["tanh-logistic", "rbf"])
def test_batched_engines_agree_with_the_loop_on_costs_written_against_xp(engine: str, cost_name: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if engine != "auto":
        usable(engine)
    monkeypatch.setattr(fdmod, "_MEASURED", {})
    model, params, X, Y = xp_point(cost_name)
    reference = central_differences(model, params, X, Y, DEFAULT_EPS, "loop")
    result = central_differences(model, params, X, Y, DEFAULT_EPS, engine)
    bound = rounding_bound(float(model.cost(params, X, Y)), DEFAULT_EPS)
    assert np.max(np.abs(result - reference)) <= bound
    # and at a step where rounding is negligible, to float64 precision (a wrong coordinate would show here)
    assert relative_difference(central_differences(model, params, X, Y, COMPARISON_EPS, engine),
                               central_differences(model, params, X, Y, COMPARISON_EPS, "loop")) <= 1e-12


def test_the_perturbed_batch_reuses_one_buffer_and_moves_only_the_asked_entries() -> None:
    flat = np.random.default_rng(12).standard_normal(500)
    rows_of = engines_module.PerturbedBatch(flat)
    first = rows_of.fill(np.array([3, 7, 499]), np.array([0.5, 0.25, 2.0]))
    buffer = rows_of.buffer
    for indices in (np.array([0, 1]), np.array([10, 250, 7]), np.arange(480, 483)):
        steps = np.linspace(0.1, 0.3, indices.size)
        rows = rows_of.fill(indices, steps)
        assert rows_of.buffer is buffer and np.shares_memory(rows, first)  # the same memory, not a new copy
        for j, (i, step) in enumerate(zip(indices, steps)):
            for row, sign in ((rows[j], 1.0), (rows[indices.size + j], -1.0)):
                expected = flat.copy()
                expected[i] = flat[i] + sign * step
                assert np.array_equal(row, expected)  # every other entry is back to the point
    assert rows_of.allocations == 1
    rows_of.fill(np.arange(4), np.ones(4))  # a larger chunk than any before: the one time it grows
    assert rows_of.allocations == 2 and np.array_equal(rows_of.fill(np.array([5]), np.ones(1))[1], flat - np.eye(500)[5])


@pytest.mark.parametrize("engine", ["numpy-batched", "torch", "jax"])
def test_a_batched_engine_holds_a_block_of_rows_not_two_copies_per_coordinate(engine: str) -> None:
    usable(engine)
    params, X, Y = random_case((4, 60, 50, 1), 4, seed=13)
    model = MLP if engine == "numpy-batched" else cost_model(exercise_cost)
    n = parameter_count(params)
    evaluate = ENGINES[engine].prepare(model, params, X, Y)
    indices, steps = np.arange(n), np.full(n, 1e-3)
    evaluate(indices[:2], steps[:2])  # first-call costs (imports, a compile) are not the chunk's memory
    tracemalloc.start()
    try:
        evaluate(indices, steps)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    block = engines_module.cache_block(ENGINES[engine].bytes_per_coordinate(model, params, X, Y))
    assert block < n // 8
    assert peak < 2 * n * n * 8 / 8  # a copy of the whole vector per pass would need 2n rows of n floats


def test_auto_measures_once_per_cost_and_layout_and_keeps_its_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fdmod, "_MEASURED", {})
    model, params, X, Y = xp_point("rbf")
    prepared: list[str] = []
    for name in ("loop", "torch", "jax", "incremental"):
        if name in gb.fd_engines():
            engine = ENGINES[name]

            def counting_prepare(*args, _name=name, _prepare=engine.prepare):
                prepared.append(_name)
                return _prepare(*args)

            monkeypatch.setitem(ENGINES, name, gb.FDEngine(**{**engine.__dict__, "prepare": counting_prepare}))
    first = central_differences(model, params, X, Y, COMPARISON_EPS, "auto")
    assert len(fdmod._MEASURED) == 1 and sorted(set(prepared)) == sorted(
        name for name in ("loop", "torch", "jax", "incremental") if name in gb.fd_engines())
    chosen = next(iter(fdmod._MEASURED.values()))
    prepared.clear()
    second = central_differences(model, params, X, Y, COMPARISON_EPS, "auto")
    assert prepared == [chosen]  # no second measurement: only the kept choice is prepared
    assert np.array_equal(first, second)
    moved = {"c": params["c"] + 1.0}  # another point of the same layout shares the choice
    central_differences(model, moved, X, Y, COMPARISON_EPS, "auto")
    assert len(fdmod._MEASURED) == 1
    central_differences(model, {"c": params["c"][:45]}, X, Y, COMPARISON_EPS, "auto")  # a new layout is measured
    assert len(fdmod._MEASURED) == 2


class FakeClock:
    """``time`` for the driver: only the fake engines below move it, by seconds per coordinate they evaluate."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


@pytest.mark.parametrize("other_seconds, chosen", [(0.95, "loop"), (0.5, "other"), (1.5, "loop")])
def test_auto_leaves_a_near_tie_to_the_loop(other_seconds: float, chosen: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(fdmod, "time", clock)
    monkeypatch.setattr(fdmod, "_MEASURED", {})

    def timed(engine: gb.FDEngine, seconds_per_coordinate: float, **changes) -> gb.FDEngine:
        def prepare(*args):
            evaluate = engine.prepare(*args)

            def slow(indices, steps):
                clock.now += seconds_per_coordinate * indices.size
                return evaluate(indices, steps)
            return slow
        return gb.FDEngine(**{**engine.__dict__, "prepare": prepare, **changes})

    from gradcheck_bench.differences.engines import loop as loop_module

    for name in list(ENGINES):  # only these two: the loop, and another engine that evaluates the same passes
        monkeypatch.delitem(ENGINES, name)
    monkeypatch.setitem(ENGINES, "loop", timed(loop_module.ENGINE, 1.0))
    monkeypatch.setitem(ENGINES, "other", timed(loop_module.ENGINE, other_seconds, name="other", auto_rank=50))
    model, params, X, Y = xp_point("rbf")
    run = fdmod.perturbed_costs(model, params, X, Y, np.arange(150), np.full(150, 1e-3))
    assert run.engine == chosen and fdmod._MEASURED[next(iter(fdmod._MEASURED))] == chosen


def test_auto_probes_windows_of_consecutive_coordinates_spread_over_the_run() -> None:
    for size in (128, 150, 700, 3091, 50_000):
        probe = fdmod.probe_positions(size)
        windows = np.split(probe, np.flatnonzero(np.diff(probe) > 1) + 1)
        assert probe.min() >= 0 and probe.max() < size and np.unique(probe).size == probe.size
        assert all(window.size >= min(128, size) for window in windows)  # whole blocks, not scattered coordinates
        assert probe.size <= max(128, size // 6 + 128) and probe.size <= 4 * 128
    assert len(np.split(probe, np.flatnonzero(np.diff(probe) > 1) + 1)) == 4  # a long run: four windows
    assert probe.min() > 0 and probe.max() < 50_000 - 1  # spread over it, not its first coordinates


def test_auto_times_each_engine_in_the_chunks_its_run_would_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine with a fixed cost per call and large chunks is faster than the loop on the run, and on a probe
    cut as its run is cut; one call on a few scattered coordinates pays that fixed cost for too few of them."""
    clock = FakeClock()
    monkeypatch.setattr(fdmod, "time", clock)
    monkeypatch.setattr(fdmod, "_MEASURED", {})
    from gradcheck_bench.differences.engines import loop as loop_module

    def timed(engine: gb.FDEngine, per_call: float, per_coordinate: float, **changes) -> gb.FDEngine:
        def prepare(*args):
            evaluate = engine.prepare(*args)

            def slow(indices, steps):
                clock.now += per_call + per_coordinate * indices.size
                return evaluate(indices, steps)
            return slow
        return gb.FDEngine(**{**engine.__dict__, "prepare": prepare, **changes})

    for name in list(ENGINES):
        monkeypatch.delitem(ENGINES, name)
    monkeypatch.setitem(ENGINES, "loop", timed(loop_module.ENGINE, 0.0, 1.0))
    monkeypatch.setitem(ENGINES, "chunky", timed(loop_module.ENGINE, 100.0, 0.5, name="chunky", auto_rank=50,
                                                 max_chunk=None))
    model = gb.Model(name="tanh-sum", cost=lambda params, X, Y, xp=np: xp.sum(xp.tanh(params["w"])))
    params = {"w": np.linspace(-1.0, 1.0, 3072)}
    run = fdmod.perturbed_costs(model, params, None, None, np.arange(3072), np.full(3072, 1e-3))
    assert run.engine == "chunky"
    assert np.allclose(run.costs, fdmod.perturbed_costs(model, params, None, None, np.arange(3072),
                                                        np.full(3072, 1e-3), engine="loop").costs)


def test_jax_compiles_once_per_cost_layout_and_block(monkeypatch: pytest.MonkeyPatch) -> None:
    usable("jax")
    from gradcheck_bench.differences.engines import jax_vmap

    model, params, X, Y = xp_point("tanh-logistic")
    layout = tuple((name, np.shape(value), str(value.dtype)) for name, value in params.items())
    for _ in range(2):
        central_differences(model, params, X, Y, DEFAULT_EPS, "jax")
    central_differences(model, params, X, Y, DEFAULT_EPS, "jax", memory_budget=2**22)  # other chunks, same block
    compiled = jax_vmap.batched_cost_for(model.cost, layout)
    assert compiled._cache_size() == 1


def recurrence_cost(steps: int):
    def cost(params, X, Y, xp=np):
        h = params["w"]
        for _ in range(steps):  # two array operations a step: jax would trace and compile every one
            h = xp.tanh(0.5 * h)
        return xp.sum(h * X)
    cost.__qualname__ = f"recurrence_{steps}"
    return cost


def test_auto_times_jax_only_for_costs_whose_traced_program_stays_small() -> None:
    usable("jax")
    from gradcheck_bench.differences.engines import jax_vmap

    params, X = {"w": np.linspace(-1.0, 1.0, 200)}, np.ones(200)
    for steps, timed in ((10, True), (jax_vmap.MAX_UNROLLED_OPERATIONS // 2 + 1, False)):
        model = gb.Model(name=f"recurrence-{steps}", cost=recurrence_cost(steps))
        assert 2 * steps <= jax_vmap.operation_count(model, params, X, None) <= 2 * steps + 4
        candidates = [engine.name for engine in engines_module.auto_order(model, params, X, None, measuring=True)]
        assert ("jax" in candidates) is timed and candidates[-1] == "loop"
        assert "jax" not in [engine.name for engine in engines_module.auto_order(model, params, X, None)]

"""The incremental engine: each perturbed cost equals the NumPy cost at that point, and only what moves is done.

The expected value of every perturbed cost is the model's own NumPy cost
evaluated at the perturbed point (the loop engine's definition of a pass),
computed here directly; the costs exercise every rule of the replay: dense
layers from either side, broadcasting along size-1 axes and scalars,
partial and whole reductions, reshapes, transposes, both operands of a
product perturbed, ``where``, nested programs, and primitives with no NumPy
rule (run through JAX).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

pytest.importorskip("jax")

import gradcheck_bench as gb  # noqa: E402
from gradcheck_bench.counting import count_forward_passes  # noqa: E402
from gradcheck_bench.differences import incremental as replay_module  # noqa: E402
from gradcheck_bench.differences.driver import central_differences  # noqa: E402
from gradcheck_bench.differences.engines import get_engine  # noqa: E402
from gradcheck_bench.ravel import ravel  # noqa: E402

RNG = np.random.default_rng(7)


def tanh_logistic(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    return xp.mean(xp.log(1 + xp.exp(-Y * (params["v"] @ xp.tanh(params["A"] @ X) + params["c"]))))


def right_product(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    # the parameter is the right operand, contracted on its first axis; a transpose and a whole-axis sum
    return xp.sum(xp.sin(X @ params["W"]).T ** 2) + xp.sum(params["W"] * params["W"])


def rbf(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    distances = xp.sum((params["c"][:, None, :] - X[None, :, :]) ** 2, axis=-1)
    return xp.sum(xp.exp(-distances)) / X.shape[0]


def quadratic(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    return 0.5 * params["x"] @ (X @ params["x"]) - Y @ params["x"]


def relu_where_reshape(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    hidden = xp.maximum(params["W"] @ X + params["b"], 0.0)
    flat = xp.reshape(hidden, (-1,))  # a reshape that merges axes: the value is made whole
    return xp.sum(xp.where(flat > 0.1, flat, 2 * flat)) + params["s"] ** 2


def nested_and_unruled(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    scores = params["W"] @ X
    pooled = xp.logaddexp(scores, 0.0)  # a custom_jvp program in JAX: replayed as a nested program
    running = xp.cumulative_sum(pooled, axis=1) if hasattr(xp, "cumulative_sum") else xp.cumsum(pooled, axis=1)
    return xp.sum(xp.concat([running, scores], axis=1) ** 2) / 100.0


COSTS: dict[str, tuple[Callable[..., Any], Callable[[], tuple[dict[str, np.ndarray], Any, Any]]]] = {
    "tanh-logistic": (tanh_logistic, lambda: ({"A": RNG.standard_normal((30, 4)), "v": RNG.standard_normal(30),
                                               "c": np.zeros(1)}, RNG.standard_normal((4, 9)),
                                              np.sign(RNG.standard_normal(9)))),
    "right-product": (right_product, lambda: ({"W": RNG.standard_normal((5, 3))}, RNG.standard_normal((7, 5)), None)),
    "rbf": (rbf, lambda: ({"c": RNG.standard_normal((6, 3))}, RNG.standard_normal((5, 3)), None)),
    "quadratic": (quadratic, lambda: ({"x": RNG.standard_normal(12)}, np.eye(12) + 0.1, RNG.standard_normal(12))),
    "relu-where-reshape": (relu_where_reshape, lambda: ({"W": RNG.standard_normal((4, 3)),
                                                         "b": RNG.standard_normal((4, 1)), "s": np.array(0.5)},
                                                        RNG.standard_normal((3, 6)), None)),
    "nested-and-unruled": (nested_and_unruled, lambda: ({"W": RNG.standard_normal((3, 4))},
                                                        RNG.standard_normal((4, 5)), None)),
}


def perturbed_numpy_costs(cost: Callable[..., Any], params: dict[str, np.ndarray], X: Any, Y: Any,
                          steps: np.ndarray) -> np.ndarray:
    """``(2, n)``: the NumPy cost at theta +- steps[i] e_i, one full pass each."""
    flat, unravel = ravel(params)
    out = np.empty((2, flat.size))
    for i in range(flat.size):
        for row, sign in enumerate((1.0, -1.0)):
            moved = flat.copy()
            moved[i] += sign * steps[i]
            out[row, i] = cost(unravel(moved), X, Y)
    return out


@pytest.mark.parametrize("name", sorted(COSTS))
def test_every_perturbed_cost_is_the_numpy_cost_at_that_point(name: str) -> None:
    cost, point = COSTS[name]
    params, X, Y = point()
    model = gb.Model(name=f"incremental-{name}", cost=cost)
    flat, _ = ravel(params)
    steps = np.linspace(1e-3, 0.3, flat.size)  # large and varied, so a wrong box shows
    expected = perturbed_numpy_costs(cost, params, X, Y, steps)
    evaluate = get_engine("incremental").prepare(model, params, X, Y)
    with count_forward_passes() as counter:
        got = evaluate(np.arange(flat.size), steps)
    assert counter.passes == 2 * flat.size
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("name", ["saddle", "particle", "gmm", "lse"])
def test_loops_branches_and_primitives_without_a_numpy_rule_run_through_jax(name: str) -> None:
    # saddle and particle run a descent loop (scan, while) whose body must run every step, not once as a call
    model = gb.get_model(name)
    params, X, Y = model.cases[next(iter(model.cases))]()
    flat, _ = ravel(params)
    steps = np.full(flat.size, 1e-3)
    expected = get_engine("loop").prepare(model, params, X, Y)(np.arange(flat.size), steps)
    got = get_engine("incremental").prepare(model, params, X, Y)(np.arange(flat.size), steps)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_auto_times_it_only_where_every_primitive_has_a_numpy_rule() -> None:
    from gradcheck_bench.differences.engines.incremental import replayable

    cost, point = COSTS["tanh-logistic"]
    assert replayable(gb.Model(name="incremental-auto", cost=cost), *point())
    saddle = gb.get_model("saddle")  # its descent is a loop: JAX would compile it op by op
    assert not replayable(saddle, *saddle.cases[next(iter(saddle.cases))]())


def test_a_perturbed_weight_recomputes_one_row_of_its_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    # A (30, 4) feeds tanh(A @ X) with X (4, 9): moving A[i, k] changes row i, 9 values per pass.
    cost, point = COSTS["tanh-logistic"]
    params, X, Y = point()
    sizes: list[int] = []
    tanh = replay_module.ELEMENTWISE["tanh"]
    monkeypatch.setitem(replay_module.ELEMENTWISE, "tanh", lambda x: sizes.append(np.size(x)) or tanh(x))
    evaluate = get_engine("incremental").prepare(gb.Model(name="incremental-rows", cost=cost), params, X, Y)
    sizes.clear()  # the pass at the point computes all 30 x 9
    coordinates = np.arange(5, 15)  # ten entries of A
    evaluate(coordinates, np.full(10, 1e-4))
    assert sizes == [2 * 10 * 9]


def test_a_cost_that_does_not_trace_under_jax_is_unsuitable_and_auto_moves_on() -> None:
    def python_branch(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
        total = xp.sum(params["w"] ** 2)
        return total if float(total) > 0 else -total  # a Python branch on a traced value

    params = {"w": RNG.standard_normal(200)}
    model = gb.Model(name="incremental-branch", cost=python_branch)
    with pytest.raises(gb.InputError, match="incremental.*cannot evaluate.*does not trace"):
        central_differences(model, params, None, None, engine="incremental")
    np.testing.assert_allclose(central_differences(model, params, None, None, engine="auto"), 2 * params["w"],
                               rtol=1e-7)


def test_the_engines_command_times_auto_against_the_loop_and_says_what_auto_chose(tmp_path) -> None:
    import json

    from gradcheck_bench.cli import REGENERATE
    from gradcheck_bench.tools.auto_engine import run_auto_engine

    table = run_auto_engine(tmp_path, rounds=1, shapes=["rbf-600"], progress=lambda line: None)
    by_engine = table.set_index("engine")
    assert by_engine.loc["loop", "loop_over_engine"] == 1.0
    assert by_engine.loc["auto", "auto_chose"] in gb.fd_engines()
    assert {"incremental", "loop", "auto"} <= set(table["engine"])
    assert json.loads((tmp_path / "provenance.json").read_text())["settings"] == {"rounds": 1}
    assert (tmp_path / "auto_vs_loop.md").exists() and REGENERATE["engines"] == ["engines"]


def test_the_logistic_rule_is_the_sigmoid_without_overflow_warnings() -> None:
    import warnings

    x = np.array([-800.0, -20.0, -1.0, 0.0, 3.0, 800.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = replay_module.ELEMENTWISE["logistic"](x)
    np.testing.assert_allclose(got[1:5], 1 / (1 + np.exp(-x[1:5])), rtol=1e-15)
    assert got[0] == 0.0 and got[-1] == 1.0

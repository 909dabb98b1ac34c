"""gradbench's llsq, lse, det and ode evals as models: inputs, values and derivatives against independent references.

Expected values never come from the code under test: the inputs are redrawn here with NumPy's global
generator in gradbench's order; primals come from NumPy's own routines or plain loops written from
gradbench's README; gradients from gradbench's closed forms (the llsq residual formula, the softmax, the
cofactor matrix by np.linalg.det, the exact ODE solution) and from a second source (torch or jax autograd,
the complex step). Every comparison uses gradbench's rule (``gradbench.passes``), and every case is also
judged by the project's own check against the fd oracle.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.errors import InputError
from gradcheck_bench.gradbench import passes
from gradcheck_bench.installed import module_installed
from gradcheck_bench.models.det import det_point
from gradcheck_bench.models.llsq import llsq_data, llsq_point
from gradcheck_bench.models.lse import lse_point
from gradcheck_bench.models.ode import ode_point, ode_solution, ode_steps

LLSQ, LSE, DET, ODE = (gb.get_model(name) for name in ("llsq", "lse", "det", "ode"))

FAST_CASES = {"llsq-n16-m128", "llsq-n32-m128", "llsq-n64-m128", "llsq-n128-m128", "lse-n2500", "det-l5", "det-l6",
              "det-l7", "ode-n1000-s1"}
"""Cases whose every-source check takes a few seconds on a busy 2-core machine; the others are marked slow."""


def all_cases() -> list:
    found = []
    for model in (LLSQ, LSE, DET, ODE):
        for name in model.cases:
            marks = [] if name in FAST_CASES else [pytest.mark.slow]
            found.append(pytest.param(model, name, id=name, marks=marks))
    return found


def autograd_sources() -> list[str]:
    return [framework for framework in ("torch", "jax") if module_installed(framework)]


@pytest.fixture
def global_generator():
    """NumPy's global generator, seeded as gradbench seeds it; its state is put back afterwards."""
    saved = np.random.get_state()
    np.random.seed(31337)
    try:
        yield np.random
    finally:
        np.random.set_state(saved)


# --------------------------------------------------------------------------
# Inputs: gradbench's stream, redrawn with the global generator in gradbench's order
# --------------------------------------------------------------------------


def test_llsq_inputs_are_gradbench_draws(global_generator):
    first, second = global_generator.rand(128), global_generator.rand(128)   # (n, m) = (16, 128), (32, 128)
    params, X, Y = llsq_point(16)
    np.testing.assert_array_equal(params["x"], first)
    np.testing.assert_array_equal(llsq_point(32)[0]["x"], second)
    t = np.array([-1 + 2 * i / 15 for i in range(16)])
    np.testing.assert_allclose(X, [[ti**j for j in range(128)] for ti in t], rtol=1e-13, atol=1e-300)
    np.testing.assert_array_equal(Y, [-1.0] * 8 + [1.0] * 8)


def test_lse_inputs_are_gradbench_draws(global_generator):
    first, second = global_generator.rand(2500), global_generator.rand(5000)
    np.testing.assert_array_equal(lse_point(2500)[0]["x"], first)
    np.testing.assert_array_equal(lse_point(5000)[0]["x"], second)


def test_det_inputs_are_gradbench_draws(global_generator):
    first, second = global_generator.rand(25), global_generator.rand(36)
    np.testing.assert_array_equal(det_point(5)[0]["A"], first.reshape(5, 5))
    np.testing.assert_array_equal(det_point(6)[0]["A"], second.reshape(6, 6))


def test_ode_inputs_are_gradbench_draws_in_size_product_order(global_generator):
    # gradbench's order by n*s: (1000, 1), (1000, 10), (10000, 1), (1000, 100), ...
    first, second, third = global_generator.rand(1000), global_generator.rand(1000), global_generator.rand(10000)
    np.testing.assert_array_equal(ode_point(1000, 1)[0]["x"], first)
    np.testing.assert_array_equal(ode_point(1000, 10)[0]["x"], second)
    params, X, _ = ode_point(10000, 1)
    np.testing.assert_array_equal(params["x"], third)
    np.testing.assert_array_equal(ode_point(1000, 10)[1], [0.2] * 10)


def test_drawing_inputs_leaves_the_global_generator_alone():
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    llsq_point(16), lse_point(2500), det_point(5), ode_point(1000, 1)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_cases_are_named_by_size_smallest_first():
    assert list(LLSQ.cases)[:2] == ["llsq-n16-m128", "llsq-n32-m128"]
    assert list(LSE.cases)[0] == "lse-n2500" and list(DET.cases) == [f"det-l{l}" for l in range(5, 12)]
    assert list(ODE.cases) == ["ode-n1000-s1", "ode-n1000-s10", "ode-n10000-s1"]


# --------------------------------------------------------------------------
# Primals against formulas written here from gradbench's README
# --------------------------------------------------------------------------


def test_llsq_primal_is_the_readme_sum():
    params, X, Y = llsq_point(64)
    x, n = params["x"], 64
    expected = 0.0
    for i in range(n):
        t = -1 + 2 * i / (n - 1)
        expected += 0.5 * (np.sign(t) - sum(x[j] * t**j for j in range(128))) ** 2
    assert LLSQ.cost(params, X, Y) == pytest.approx(expected, rel=1e-12)


def test_lse_primal_is_numpys_log_of_sum_of_exps():
    params, _, _ = lse_point(2500)
    assert LSE.cost(params) == pytest.approx(np.logaddexp.reduce(params["x"]), rel=1e-14)
    big = {"x": np.array([1000.0, 999.0, -5.0])}        # stable where exp overflows
    assert LSE.cost(big) == pytest.approx(1000.0 + math.log(1 + math.exp(-1) + math.exp(-1005)), rel=1e-15)


@pytest.mark.parametrize("l", [5, 8, 11])
def test_det_primal_is_numpys_determinant(l):
    params, _, _ = det_point(l)
    assert passes(DET.cost(params), np.linalg.det(params["A"]))
    assert DET.cost(params) == pytest.approx(np.linalg.det(params["A"]), rel=1e-10)


def runge_kutta_by_loops(x: np.ndarray, s: int) -> np.ndarray:
    """gradbench's ode primal with scalar loops, as its README describes it."""
    n, h = len(x), 2.0 / s
    y = [0.0] * n

    def f(v):
        return [x[0]] + [x[i] * v[i - 1] for i in range(1, n)]

    for _ in range(s):
        k1 = f(y)
        k2 = f([y[i] + h * k1[i] / 2 for i in range(n)])
        k3 = f([y[i] + h * k2[i] / 2 for i in range(n)])
        k4 = f([y[i] + h * k3[i] for i in range(n)])
        y = [y[i] + h * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]) / 6 for i in range(n)]
    return np.array(y)


def test_ode_primal_is_the_runge_kutta_loop():
    params, X, _ = ode_point(1000, 10)
    expected = runge_kutta_by_loops(params["x"], 10)
    assert passes(ode_solution(params, X), expected)
    np.testing.assert_allclose(ode_solution(params, X), expected, rtol=1e-13, atol=0)
    assert np.count_nonzero(expected) == 40 and np.count_nonzero(ode_solution(params, X)) == 40   # 4 links a step


# --------------------------------------------------------------------------
# Gradients against gradbench's closed forms
# --------------------------------------------------------------------------


def llsq_closed_form(x: np.ndarray, n: int) -> np.ndarray:
    """gradbench's reference: ``dy/dx_j = -sum_i r_i t_i^j``."""
    t = -1 + 2 * np.arange(n) / (n - 1)
    powers = np.power.outer(t, np.arange(len(x)))
    residual = np.sign(t) - powers @ x
    return -(residual @ powers)


def exact_ode_gradient(x: np.ndarray) -> np.ndarray:
    """The derivative of the exact solution ``y_{n-1}(2) = x_0 ... x_{n-1} 2^n / n!``: entry i is that over x_i."""
    n = len(x)
    log_value = np.sum(np.log(x)) + n * math.log(2.0) - math.lgamma(n + 1)
    return math.exp(log_value) / x if log_value > -745 else np.zeros_like(x)   # below the smallest double: 0


def closed_form(model, point) -> np.ndarray:
    params, X, Y = point
    if model is LLSQ:
        return llsq_closed_form(params["x"], X.shape[0])
    if model is LSE:
        e = np.exp(params["x"] - params["x"].max())
        return e / e.sum()
    if model is DET:
        A, l = params["A"], params["A"].shape[0]
        return np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(A, i, 0), j, 1)) for j in range(l)]
                         for i in range(l)])
    return exact_ode_gradient(params["x"])


def name_of(model) -> str:
    return "A" if model is DET else "x"


@pytest.mark.parametrize("model, case", all_cases())
def test_every_case_passes_gradbenchs_rule_and_the_fd_check(model, case):
    point = model.cases[case]()
    name = name_of(model)
    hand_written = model.gradient(*point)[name]
    assert passes(hand_written, closed_form(model, point)), case
    for source in [*autograd_sources(), "complex-step"]:
        assert passes(hand_written, gb.gradient(source, *point, model=model)[name]), (case, source)
    result = gb.check("numpy", "fd", *point, model=model)
    assert result.passed, result.summary()


@pytest.mark.parametrize("model", [LLSQ, LSE, DET])
def test_at_the_first_case_gradbenchs_rule_can_fail(model):
    # its tolerance is absolute (1e-4) below 1: a zero gradient must fail it for the comparison to mean anything
    point = model.cases[next(iter(model.cases))]()
    expected = closed_form(model, point)
    assert not passes(np.zeros_like(expected), expected)
    assert not passes(model.planted_bug.gradient(*point)[name_of(model)], expected)


def test_gradbenchs_rule_cannot_tell_lse_gradients_apart_at_its_larger_sizes():
    # every softmax entry of lse-n20000 is below the 1e-4 the rule lets by: the fd check is what judges there
    expected = closed_form(LSE, lse_point(20000))
    assert expected.max() < 1e-4 and passes(np.zeros_like(expected), expected)


def test_at_gradbenchs_sizes_the_ode_gradient_is_exactly_zero():
    for case in ODE.cases:
        point = ODE.cases[case]()
        assert not np.any(ODE.gradient(*point)["x"]), case
        assert not np.any(exact_ode_gradient(point[0]["x"])), case


# --------------------------------------------------------------------------
# ode where its gradient is not zero (our own draws), and its other kinds
# --------------------------------------------------------------------------


def nonzero_ode_point(s: int, n: int = 8) -> tuple:
    """n <= 4s, and rates in [1, 3), so that y_{n-1}(2) and its gradient are of order one."""
    rng = np.random.default_rng(21)
    return {"x": 1.0 + 2.0 * rng.random(n)}, ode_steps(s), None


def test_ode_gradient_where_it_is_not_zero():
    point = nonzero_ode_point(4)
    gradient = ODE.gradient(*point)["x"]
    assert np.abs(gradient).min() > 0.1
    for source in [*autograd_sources(), "complex-step"]:
        assert passes(gradient, gb.gradient(source, *point, model=ODE)["x"]), source
    assert gb.check("numpy", "fd", *point, model=ODE).passed
    buggy = gb.check("numpy-buggy", "fd", *point, model=ODE)
    assert not buggy.passed and buggy.culprits == ["x"], buggy.summary()
    assert not passes(ODE.planted_bug.gradient(*point)["x"], gradient)


def test_ode_gradient_approaches_the_exact_solutions_with_small_steps():
    point = nonzero_ode_point(100)
    assert passes(ODE.gradient(*point)["x"], exact_ode_gradient(point[0]["x"]))
    coarse = nonzero_ode_point(1)        # one step is not the exact solution: the comparison can fail
    assert not passes(ODE.gradient(*coarse)["x"], exact_ode_gradient(coarse[0]["x"]))


@pytest.mark.parametrize("kind", ["vjp", "jvp"])
@pytest.mark.parametrize("make_point", [lambda: nonzero_ode_point(4), ODE.cases["ode-n1000-s1"]],
                         ids=["n8-s4", "ode-n1000-s1"])
def test_ode_vjp_and_jvp_pass_and_the_planted_bug_fails(kind, make_point):
    point = make_point()
    for reference in ["fd", *autograd_sources()]:
        result = gb.check("numpy", reference, *point, model=ODE, derivative=kind)
        assert result.passed, result.summary()
        buggy = gb.check("numpy-buggy", reference, *point, model=ODE, derivative=kind)
        assert not buggy.passed, buggy.summary()
        if kind == "vjp":
            assert buggy.culprits == ["x"]


# --------------------------------------------------------------------------
# Planted bugs and bad points
# --------------------------------------------------------------------------


@pytest.mark.parametrize("model", [LLSQ, LSE, DET])
def test_the_planted_bug_fails_naming_the_tensor(model):
    point = model.cases[next(iter(model.cases))]()
    result = gb.check("numpy-buggy", "fd", *point, model=model)
    assert not result.passed
    assert result.culprits == list(model.planted_bug.culprits) == [name_of(model)]


@pytest.mark.parametrize("model, point, message", [
    (LLSQ, lambda: ({"x": np.ones(3)}, *llsq_data(16, 4)), "X \\(n, m\\)"),
    (LLSQ, lambda: ({"w": np.ones(4)}, *llsq_data(16, 4)), "one parameter, x"),
    (LSE, lambda: ({"x": np.ones((2, 2))}, None, None), "non-empty vector"),
    (LSE, lambda: ({"x": np.ones(3)}, np.ones(3), None), "no data"),
    (DET, lambda: ({"A": np.ones((2, 3))}, None, None), "square matrix"),
    (ODE, lambda: ({"x": np.ones(4)}, 3, None), "NumPy array"),
    (ODE, lambda: ({"x": np.ones(4)}, np.ones((2, 2)), None), "step lengths"),
])
def test_points_that_do_not_fit_are_refused(model, point, message):
    with pytest.raises(InputError, match=message):
        gb.check("numpy", "fd", *point(), model=model)


@pytest.mark.parametrize("call, message", [
    (lambda: llsq_point(17), "llsq sizes"), (lambda: lse_point(100), "lse sizes"),
    (lambda: det_point(4), "det sizes"), (lambda: ode_point(1000, 2), "ode sizes"),
    (lambda: llsq_data(1, 3), "n >= 2"), (lambda: ode_steps(0), "s >= 1"),
])
def test_sizes_gradbench_does_not_draw_are_refused(call, message):
    with pytest.raises(InputError, match=message):
        call()

"""The complex step checks that it applies before it testifies.

Four costs written against ``xp`` that are not complex-analytic in general (abs, maximum, a comparison, a
norm): a correct torch gradient must never FAIL against complex-step. Where the imaginary part is not the
derivative the source says so, names the likely operation, and the finite-difference oracle decides.
An analytic cost keeps the complex step, which still catches a 1.5x bug.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck_bench as gb

pytest.importorskip("torch")
RNG = np.random.default_rng(0)
X, Y = RNG.normal(size=(20, 3)), RNG.normal(size=20)


def softplus_with_abs(p, X, Y, xp=np):
    z = X @ p["w1"] + p["b1"]
    hidden = xp.log(1 + xp.exp(-xp.abs(z))) + xp.maximum(z, 0)
    return xp.mean((hidden @ p["w2"] + p["b2"] - Y) ** 2)


def with_norm_penalty(p, X, Y, xp=np):
    return xp.mean((X @ p["w"] - Y) ** 2) + 0.1 * xp.linalg.norm(p["w"])


def with_comparison(p, X, Y, xp=np):
    z = X @ p["w"]
    return xp.sum(xp.where(z > 0, z**2, 0.5 * z))


def with_maximum(p, X, Y, xp=np):
    return xp.sum(xp.maximum(X @ p["w"], 0.1) ** 2)


CASES = {
    "abs": (softplus_with_abs, {"w1": RNG.normal(size=(3, 4)), "b1": RNG.normal(size=4), "w2": RNG.normal(size=4),
                                "b2": np.zeros(1)}),
    "norm": (with_norm_penalty, {"w": RNG.normal(size=3)}),
    "comparison": (with_comparison, {"w": RNG.normal(size=3)}),
    "maximum": (with_maximum, {"w": RNG.normal(size=3)}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_correct_torch_gradient_never_fails_against_complex_step(name):
    cost, params = CASES[name]
    result = gb.check("torch", "complex-step", params, X, Y, model=gb.Model(name=name, cost=cost))
    assert result.passed, result.summary()


@pytest.mark.parametrize("name, operation", [("abs", "abs"), ("norm", "norm")])
def test_where_the_imaginary_part_is_not_the_derivative_it_says_so_and_names_the_operation(name, operation):
    cost, params = CASES[name]
    result = gb.check("torch", "complex-step", params, X, Y, model=gb.Model(name=name, cost=cost))
    [note] = [note for note in result.notes if "complex-step does not apply" in note]
    assert "not complex-analytic here" in note and operation in note and "(fd) was used instead" in note


def test_on_an_analytic_cost_complex_step_still_names_a_1_5x_bug():
    def cost(p, X, Y, xp=np):
        return xp.mean(xp.tanh(X @ p["w"] + p["b"]) ** 2)

    model = gb.Model(name="tanh", cost=cost)
    params = {"w": RNG.normal(size=3), "b": RNG.normal(size=1)}
    exact = gb.gradient("torch", params, X, Y, model=model)
    result = gb.check(lambda *point: {"w": 1.5 * exact["w"], "b": exact["b"]}, "complex-step", params, X, Y,
                      model=model)
    assert not result.passed and result.culprits == ["w"] and not result.notes

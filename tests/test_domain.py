"""A cost that raises (or returns NaN) at a perturbed point: fd steps inside the domain and says so.

Expected gradients are written by hand: d/dr sum(X log r) = X / r; d/dx x^2 = 2x.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.errors import InputError


def rates_cost(p, X, Y):
    if np.any(p["rate"] <= 0):
        raise ValueError("rate must be positive")
    return float(np.sum(np.log(p["rate"]) * X) + np.sum(p["w"] ** 2))


def rates_gradient(p, X, Y):
    return {"rate": X / p["rate"], "w": 2 * p["w"]}


RATES = gb.Model(name="rates", cost=rates_cost)
POINT = ({"rate": np.array([1e-9, 0.5, 2.0]), "w": np.array([1.0, -2.0])}, np.array([1.0, 2.0, 3.0]), None)


def test_a_step_across_the_domain_is_redone_inside_it_and_reported():
    result = gb.check(rates_gradient, "fd", *POINT, model=RATES)
    assert result.passed, result.summary()
    assert any("stepped outside the cost's domain" in note for note in result.notes)
    assert any("rate[0]" in note and "ValueError: rate must be positive" in note for note in result.notes)


def test_a_wrong_gradient_near_the_edge_still_fails_naming_the_tensor():
    doubled = lambda p, X, Y: {**rates_gradient(p, X, Y), "rate": 2 * X / p["rate"]}  # noqa: E731
    result = gb.check(doubled, "fd", *POINT, model=RATES)
    assert not result.passed and result.culprits == ["rate"]


def test_a_nan_outside_the_domain_is_handled_like_an_exception():
    def cost(p, X, Y):
        return float(np.sum(np.sqrt(p["x"])))  # NaN for a negative x

    result = gb.check(lambda p, X, Y: {"x": 0.5 / np.sqrt(p["x"])}, "fd", {"x": np.array([1e-12, 4.0])},
                      model=gb.Model(name="roots", cost=cost))
    assert result.passed, result.summary()


def test_at_the_edge_itself_the_difference_is_one_sided():
    def cost(p, X, Y):
        if p["x"][0] < 0:
            raise ValueError("x must be >= 0")
        return float(p["x"][0] ** 2 + 3 * p["x"][1])

    result = gb.check(lambda p, X, Y: {"x": np.array([2 * p["x"][0], 3.0])}, "fd", {"x": np.array([0.0, 1.0])},
                      model=gb.Model(name="edge", cost=cost), threshold=1e-6)
    assert result.passed, result.summary()
    assert any("one-sided (forward)" in note for note in result.notes)


def test_a_cost_that_raises_at_the_point_itself_is_a_clear_error():
    with pytest.raises(InputError, match=r"raises at the point itself \(ValueError: rate must be positive\)"):
        gb.check(rates_gradient, "fd", {"rate": np.array([0.0, 1.0, 1.0]), "w": np.ones(2)}, POINT[1], None,
                 model=RATES)

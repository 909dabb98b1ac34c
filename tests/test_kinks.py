"""Kink detection: no false failures on correct ReLU nets, planted bugs still caught, crossings reported."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.models.mlp import mlp_cost_and_pattern, numpy_backprop, random_case
from gradcheck_bench.models.mlp import mlp_cost, mlp_forward


def test_cost_and_pattern_is_bit_identical_to_mlp_cost():
    params, X, Y = random_case((4, 12, 7, 1), 30, 3)
    cost, pattern = mlp_cost_and_pattern(params, X, Y)
    assert cost == mlp_cost(params, X, Y) and pattern.shape == (12 + 7, 30)


@pytest.mark.parametrize(
    "sizes, seed", [((4, 30, 30, 1), 0), ((4, 30, 30, 1), 1), ((4, 30, 30, 1), 2), ((10, 80, 80, 1), 0)]
)
def test_no_false_failures_even_with_a_step_that_crosses_kinks(sizes, seed):
    # eps = 1e-4 (jax.test_util.check_grads' step) crosses kinks on these nets: plain fd
    # measured 1.3e-4 and 1.1e-3 on seeds 0 of the two shapes.
    params, X, Y = random_case(sizes, 100, seed)
    result = gb.check("numpy", "fd-kink-safe", params, X, Y, eps=1e-4)
    assert result.passed and result.difference < 1e-8


def test_plain_fd_false_fails_where_kink_safe_passes_and_reports_the_crossings():
    params, X, Y = random_case((4, 30, 30, 1), 100, 0)
    raw = gb.compare_gradients(numpy_backprop(params, X, Y), gb.fd(eps=1e-4)(params, X, Y))
    assert not raw.passed  # the plain centered differences straddle kinks
    second_look = gb.check("numpy", "fd", params, X, Y, eps=1e-4)  # check() re-examines the culprits
    assert second_look.passed and any("straddled a ReLU kink" in note for note in second_look.notes)
    result = gb.check("numpy", "fd-kink-safe", params, X, Y, eps=1e-4)
    assert result.passed
    assert "straddled a ReLU kink" in result.summary() and "example(s) 35" in result.summary()
    assert result.to_dict()["notes"] == list(result.notes) and result.notes


def test_a_planted_kink_is_located_by_parameter_and_example():
    params, X, Y = random_case((4, 6, 1), 5, 0)
    Z1 = mlp_forward(params, X).Z[1]
    params["b1"][2, 0] -= Z1[2, 3] - 1e-7  # unit 2 of example 3 sits 1e-7 above its kink
    result = gb.check("numpy", "fd-kink-safe", params, X, Y)
    assert result.passed
    assert any("b1[2, 0]: kink at example(s) 3;" in note for note in result.notes)


def test_planted_bugs_are_still_caught_and_named():
    params, X, Y = gb.seed_case()
    result = gb.check("numpy-buggy", "fd-kink-safe", params, X, Y, eps=1e-4)
    assert not result.passed and set(result.culprits) == {"W2", "b1"}


def test_kink_safe_fd_rejects_a_bad_step():
    params, X, Y = gb.seed_case()
    with pytest.raises(gb.InputError, match="eps"):
        gb.check("numpy", "fd-kink-safe", params, X, Y, eps=-1.0)


def test_complex_step_never_sees_the_kink():
    params, X, Y = random_case((4, 30, 30, 1), 100, 0)
    assert gb.check("numpy", "complex-step", params, X, Y).difference < 1e-13
    assert np.isfinite(mlp_cost(params, X, Y))

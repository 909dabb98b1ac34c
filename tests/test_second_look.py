"""The bounded second look: only the coordinates past the threshold, largest first, within a budget."""

from __future__ import annotations

import re

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.models.mlp import numpy_backprop, numpy_hvp, random_case
from gradcheck_bench.second_look import TAIL_SHARE, past_the_threshold


def scaled(tensor: str, factor: float):
    def gradient(params, X, Y):
        grads = numpy_backprop(params, X, Y)
        return {**grads, tensor: grads[tensor] * factor}
    return gradient


def passes_of(function) -> int:
    with gb.count_forward_passes() as counter:
        function()
    return counter.passes


def re_examined(result) -> int:
    """How many coordinates the second look says it re-examined."""
    (note,) = [note for note in result.notes if note.startswith("second look")]
    return int(re.search(r"re-examined (\d+) coordinate", note).group(1))


def test_a_small_bug_in_a_big_tensor_fails_named_for_about_the_passing_checks_forward_passes():
    params, X, Y = random_case((4, 100, 90, 1), 32, 0)  # W2 holds 9,000 of 9,681 parameters
    result = gb.check(scaled("W2", 1.001), "fd", params, X, Y)
    assert not result.passed and result.culprits == ["W2"]
    assert any("that settled the verdict" in note for note in result.notes)
    passing = passes_of(lambda: gb.check("numpy", "fd", params, X, Y))
    failing = passes_of(lambda: gb.check(scaled("W2", 1.001), "fd", params, X, Y))
    assert failing < 1.1 * passing  # the old second look redid all 9,000 coordinates of W2, twice over



def test_a_hessian_vector_products_second_look_is_bounded_like_the_gradients():
    # An HVP's fd oracle differences a derived cost; its second look takes the same coordinates.
    def scaled_hvp(params, X, Y, vector):
        product = numpy_hvp(params, X, Y, vector)
        return {**product, "W2": product["W2"] * 1.01}

    params, X, Y = random_case((4, 30, 30, 1), 16, 0)  # W2 holds 900 of 1,111 parameters
    result = gb.check(scaled_hvp, "fd", params, X, Y, derivative="hvp")
    assert not result.passed and result.culprits == ["W2"]
    assert re_examined(result) < 0.1 * params["W2"].size
    passing = passes_of(lambda: gb.check(numpy_hvp, "fd", params, X, Y, derivative="hvp"))
    failing = passes_of(lambda: gb.check(scaled_hvp, "fd", params, X, Y, derivative="hvp"))
    assert failing < 1.1 * passing


def test_a_second_look_at_a_few_coordinates_steps_inside_the_costs_domain():
    # d/dr sum(X log r) = X / r; two rates sit next to the edge of the domain, where a step of the second
    # look's second difference leaves it, and the candidate doubles one of them.
    def cost(p, X, Y):
        if np.any(p["rate"] <= 0):
            raise ValueError("rate must be positive")
        return float(np.sum(np.log(p["rate"]) * X))

    rng = np.random.default_rng(0)
    rate, X = rng.uniform(0.5, 2.0, 2000), rng.uniform(1.0, 2.0, 2000)
    rate[[7, 1500]] = 1e-9

    def doubled_at_7(p, X, Y):
        exact = X / p["rate"]
        exact[7] *= 2
        return {"rate": exact}

    result = gb.check(doubled_at_7, "fd", {"rate": rate}, X, None, model=gb.Model(name="rates", cost=cost))
    assert not result.passed and result.culprits == ["rate"]
    assert re_examined(result) < 20
    assert any(note.startswith("fd (second look at rate)") and "rate[7]" in note
               and "ValueError: rate must be positive" in note for note in result.notes)

def test_the_budget_cuts_the_second_look_short_and_the_notes_say_what_was_left():
    # eps = 1e-3 straddles kinks at hundreds of coordinates of this net: the second look needs several rounds.
    params, X, Y = random_case((10, 80, 80, 1), 100, 0)
    unlimited = gb.check("numpy", "fd", params, X, Y, eps=1e-3, second_look_budget=None)
    assert unlimited.passed
    cut = gb.check("numpy", "fd", params, X, Y, eps=1e-3, second_look_budget=1e-9)
    (note,) = [note for note in cut.notes if note.startswith("second look")]
    assert "cut short by its budget" in note and "left unexamined" in note
    assert re_examined(cut) < re_examined(unlimited)


def test_a_straddled_kink_is_put_right_looking_at_only_the_coordinates_past_the_threshold():
    params, X, Y = random_case((4, 30, 30, 1), 100, 0)  # tests/test_kinks.py: plain fd false-fails at eps 1e-4
    result = gb.check("numpy", "fd", params, X, Y, eps=1e-4)
    assert result.passed and any("straddled a ReLU kink" in note for note in result.notes)
    assert re_examined(result) < 0.05 * sum(value.size for value in params.values())


@pytest.mark.parametrize("bad", [0, -1.0, "3", float("nan")])
def test_a_bad_budget_is_refused(bad):
    with pytest.raises(gb.InputError, match="second_look_budget"):
        gb.check("numpy", "fd", *gb.seed_case(), second_look_budget=bad)


def test_element_wise_tolerances_look_only_at_the_failing_elements():
    params, X, Y = random_case((4, 100, 90, 1), 32, 0)
    result = gb.check(scaled("W2", 1.01), "fd", params, X, Y, atol=1e-12, rtol=1e-3)
    assert not result.passed and result.culprits == ["W2"]
    assert re_examined(result) < params["W2"].size


def test_past_the_threshold_leaves_out_mismatches_too_small_to_move_the_verdict():
    threshold = 1e-6
    rng = np.random.default_rng(0)
    reference = rng.standard_normal(1000)
    candidate = reference.copy()
    candidate[[3, 500, 900]] += [1e-2, -3e-2, 2e-2]  # three real mismatches
    small = 0.01 * TAIL_SHARE * threshold * 2 * np.linalg.norm(reference) / np.sqrt(997)
    others = np.setdiff1d(np.arange(1000), [3, 500, 900])
    candidate[others] += small  # together 1% of what could matter
    assert list(past_the_threshold(candidate, reference, threshold)) == [500, 900, 3]
    assert past_the_threshold(reference, reference, threshold).size == 0


def test_past_the_threshold_keeps_a_mismatch_spread_over_every_coordinate():
    reference = np.linspace(1.0, 2.0, 400)
    found = past_the_threshold(reference * 1.001, reference, 1e-6)
    assert found.size > 390 and found[0] == 399  # every one matters; the largest first

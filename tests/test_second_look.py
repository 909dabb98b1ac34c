"""The bounded second look: only the coordinates past the threshold, largest first, within a budget."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.models.mlp import numpy_backprop, numpy_hvp, random_case
from gradcheck_bench.second_look import FIRST_ROUND, TAIL_SHARE, LookBudget, past_the_threshold
from gradcheck_bench.source import GradientSource


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

class CountedLooks(GradientSource):
    """An oracle whose first look's and second look's forward passes are counted apart, by the test itself."""

    forward_only = True

    def __init__(self, oracle):
        self.oracle, self.model, self.name = oracle, oracle.model, oracle.name
        self.first_look = self.second_look_passes = 0

    def gradient_at(self, point):
        with gb.count_forward_passes() as counter:
            gradient = self.oracle.gradient_at(point)
        self.first_look += counter.passes
        return gradient

    def second_look(self, *args, **kwargs):
        with gb.count_forward_passes() as counter:
            looked = self.oracle.second_look(*args, **kwargs)
        self.second_look_passes += counter.passes
        return looked


def kinked_case():
    """eps = 1e-3 straddles ReLU kinks at hundreds of coordinates of this net, most of them in W1 and b1: the
    second look needs several rounds to put them all right."""
    return random_case((10, 80, 80, 1), 100, 0)


def cut_note(result) -> str:
    (note,) = [note for note in result.notes if note.startswith("second look")]
    return note


def test_a_correct_gradient_whose_second_look_needs_several_rounds_passes_under_a_tiny_budget():
    params, X, Y = kinked_case()
    unlimited = gb.check("numpy", "fd", params, X, Y, eps=1e-3, second_look_budget=None)
    assert unlimited.passed
    assert re_examined(unlimited) > FIRST_ROUND * len(params)  # more than one round's worth of coordinates
    oracle = CountedLooks(gb.fd(eps=1e-3))
    tiny = gb.check("numpy", oracle, params, X, Y, second_look_budget=0.01)
    assert tiny.passed and tiny.culprits == [] and tiny.undecided == ()
    assert "cut short" not in cut_note(tiny) and re_examined(tiny) == re_examined(unlimited)
    assert oracle.second_look_passes > 0.01 * oracle.first_look  # the budget did not stop an undecided verdict


def test_a_real_bug_under_a_tiny_budget_fails_naming_it_and_the_notes_say_the_look_was_cut():
    params, X, Y = kinked_case()
    result = gb.check(scaled("W2", 1.001), "fd", params, X, Y, eps=1e-3, second_look_budget=0.01)
    assert not result.passed and result.culprits == ["W2"]
    note = cut_note(result)
    assert "cut short by its budget" in note and "second_look_budget=None" in note
    assert re.search(r"W2 \d+ of 6400", note) and re.search(r"W1 \d+ of 800", note)  # what was examined


def test_the_seeds_planted_bugs_are_named_under_a_tiny_budget():
    result = gb.check("numpy-buggy", "fd", *gb.seed_case(), second_look_budget=0.01)
    assert not result.passed and sorted(result.culprits) == ["W2", "b1"]  # dW2 x2 and db1 x4


def test_a_tensor_the_budget_leaves_undecided_is_not_named_and_the_note_says_so():
    params, X, Y = kinked_case()
    candidate = scaled("W2", 1.001)
    first_look = gb.compare_gradients(candidate(params, X, Y), gb.gradient("fd", params, X, Y, eps=1e-3))
    straddled = set(first_look.culprits) - {"W2"}  # tensors the first look alone would blame for its kinks
    assert straddled
    unlimited = gb.check(candidate, "fd", params, X, Y, eps=1e-3, second_look_budget=None)
    assert unlimited.culprits == ["W2"]  # a full look clears every one of them
    cut = gb.check(candidate, "fd", params, X, Y, eps=1e-3, second_look_budget=0.01)
    assert cut.undecided and set(cut.undecided) <= straddled
    assert not set(cut.undecided) & set(cut.culprits)
    note = cut_note(cut)
    assert "left undecided, so not named" in note
    for name in cut.undecided:
        assert re.search(rf"{name} \(\d+ more past the threshold unexamined\)", note)
    assert cut.to_dict()["undecided"] == list(cut.undecided)


@pytest.mark.parametrize("factor", [0.05, 0.1])
def test_the_second_looks_forward_passes_stay_within_the_budget_once_the_verdict_is_decided(factor):
    # The bug in W2 decides the verdict in the first round; naming (clearing W1's and b1's kinks) is what the
    # budget limits, and it cuts that short.
    params, X, Y = kinked_case()
    oracle = CountedLooks(gb.fd(eps=1e-3))
    result = gb.check(scaled("W2", 1.001), oracle, params, X, Y, second_look_budget=factor)
    assert result.culprits == ["W2"] and result.undecided
    assert oracle.second_look_passes <= factor * oracle.first_look


def test_the_budget_is_in_forward_passes_where_they_were_counted_else_seconds_else_none():
    assert LookBudget(2.0, 3.0, 100).limit == 300
    assert LookBudget(2.0, 3.0).limit == 6.0
    assert LookBudget(None, 3.0).limit == math.inf and LookBudget(2.0, None, 100).limit == math.inf


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

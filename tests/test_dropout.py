"""Dropout: fresh masks per forward pass break the check; a mask fixed by a seed makes it work."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.dropout import DropoutNet, dropout_masks
from gradcheck_bench.models.mlp import mlp_cost, random_case
from gradcheck_bench.differences.driver import central_differences


@pytest.fixture
def point():
    return random_case((4, 30, 30, 1), 100, 0)


def test_fresh_masks_make_a_correct_gradient_fail(point):
    params, X, Y = point
    net = DropoutNet(0.8, seed=3)
    training_like = DropoutNet(0.8, seed=3, fixed=False)
    # The raw finite differences of a fresh-mask cost are noise: a correct gradient fails.
    noise = central_differences(training_like.cost, params, X, Y, 1e-5, "loop")
    exact = np.concatenate([g.ravel() for g in net.backprop(params, X, Y).values()])
    assert gb.relative_difference(exact, noise) > 0.1
    # check() does not report that as a gradient bug: it sees the cost change at a fixed point.
    with pytest.raises(gb.NondeterministicCostError, match="hold dropout masks fixed"):
        gb.check(net.backprop, gb.fd(training_like.cost), *point)


def test_masks_fixed_by_a_seed_make_it_pass(point):
    net = DropoutNet(0.8, seed=3)
    assert gb.check(net.backprop, gb.fd(net.cost), *point).difference < 1e-9
    assert gb.check(net.backprop, gb.complex_step(net.cost), *point).difference < 1e-13


def test_a_backprop_that_ignores_the_mask_is_caught(point):
    net = DropoutNet(0.5, seed=1)
    result = gb.check("numpy", gb.fd(net.cost), *point)
    assert not result.passed


def test_masks_are_inverted_dropout_and_reproducible(point):
    params, X, _ = point
    masks = dropout_masks(params, X.shape[1], 0.8, np.random.default_rng(0))
    assert [m.shape for m in masks] == [(30, 100), (30, 100)]
    assert set(np.unique(masks[0])) <= {0.0, 1.25}
    assert 0.75 < np.mean(masks[0] > 0) < 0.85
    net = DropoutNet(0.8, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(net.masks(params, X), net.masks(params, X)))
    fresh = DropoutNet(0.8, seed=2, fixed=False)
    assert not np.array_equal(fresh.masks(params, X)[0], fresh.masks(params, X)[0])


def test_keep_prob_one_is_the_plain_network(point):
    params, X, Y = point
    assert DropoutNet(1.0).cost(params, X, Y) == mlp_cost(params, X, Y)


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, "0.8"])
def test_bad_keep_prob_is_a_clear_error(bad):
    with pytest.raises(gb.InputError, match="keep_prob"):
        DropoutNet(bad)

"""Bad input gets a clear error, and nothing the caller owns is changed."""

import copy

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.models.mlp import numpy_backprop, random_case
from gradcheck_bench.errors import InputError, NonFiniteLossError, SourceError


@pytest.fixture
def point():
    return gb.seed_case()


def backprop_then(edit):
    def source(params, X, Y):
        grads = numpy_backprop(params, X, Y)
        edit(grads)
        return grads

    return source


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda g: g.pop("b2"), r"missing: \['b2'\]"),
        (lambda g: g.update(W9=np.zeros(1)), r"unexpected: \['W9'\]"),
        (lambda g: g.update(W1=np.zeros((4, 5))), r"'W1' with shape \(4, 5\).*shape \(5, 4\)"),
        (lambda g: g.update(W1=g["W1"].tolist()), r"list for 'W1'; return a NumPy array"),
        (lambda g: g.update(b3=np.array([[np.nan]])), r"non-finite value in 'b3'"),
        (lambda g: g.update(b3=np.array([[1]])), r"'b3' with dtype int64"),
    ],
)
def test_malformed_candidate_output_is_named(point, edit, message):
    with pytest.raises(SourceError, match=message):
        gb.check(backprop_then(edit), "fd", *point)


def test_candidate_returning_a_non_dict(point):
    with pytest.raises(SourceError, match="returned ndarray, not a dict"):
        gb.check(lambda p, X, Y: np.zeros(47), "fd", *point)


def test_unknown_source_lists_the_known_ones(point):
    with pytest.raises(SourceError, match="unknown gradient source 'nope'; known sources: .*fd.*numpy"):
        gb.check("nope", "fd", *point)


def test_unknown_option_is_not_silently_ignored(point):
    with pytest.raises(InputError, match="epsilon"):
        gb.check("numpy", "fd", *point, epsilon=1e-6)


@pytest.mark.parametrize("dtype", [np.int64, object, bool])
def test_integer_and_object_params_are_refused(point, dtype):
    params, X, Y = point
    params["W1"] = params["W1"].astype(dtype)
    with pytest.raises(InputError, match=r"params\['W1'\] has dtype"):
        gb.check("numpy", "fd", params, X, Y)


def test_integer_data_is_refused(point):
    params, X, Y = point
    with pytest.raises(InputError, match="Y has dtype int64.*astype"):
        gb.check("numpy", "fd", params, X, Y.astype(np.int64))


def test_mismatched_columns(point):
    params, X, Y = point
    with pytest.raises(InputError, match="X has 3 examples .* Y has 2"):
        gb.check("numpy", "fd", params, X, Y[:, :2])


def test_wrong_weight_shape_for_the_network(point):
    params, X, Y = point
    params["W2"] = np.ones((3, 4))
    with pytest.raises(InputError, match=r"W2 should be \(3, 5\)"):
        gb.check("numpy", "fd", params, X, Y)


def test_non_finite_params_are_named(point):
    params, X, Y = point
    params["b2"][1, 0] = np.inf
    with pytest.raises(InputError, match=r"params\['b2'\] contains a non-finite value \(inf at index \[1, 0\]\)"):
        gb.check("numpy", "fd", params, X, Y)


def test_overflowing_loss_names_the_example():
    params, X, Y = gb.seed_case()
    X = X.copy()
    X[:, 2] = 1e308  # example 2 (label 0) overflows the activations
    params["W3"] = params["W3"] * 10
    with pytest.raises(NonFiniteLossError, match=r"example\(s\) \[2\]"):
        gb.check("numpy", "fd", params, X, Y)


def test_non_scalar_cost_is_refused(point):
    vector_cost = lambda p, X, Y: gb.models.mlp.mlp_example_losses(p, X, Y)  # noqa: E731
    with pytest.raises(InputError, match=r"scalar, got an array of shape \(1, 3\)"):
        gb.check("numpy", gb.fd(vector_cost), *point)


@pytest.mark.parametrize("eps", [0.0, -1e-6, float("nan"), float("inf")])
def test_bad_eps(eps):
    with pytest.raises(InputError, match="eps must be a positive finite step"):
        gb.fd(eps=eps)


@pytest.mark.parametrize("threshold", [0.0, -1.0, float("nan")])
def test_bad_threshold(point, threshold):
    with pytest.raises(InputError, match="threshold must be a positive number"):
        gb.check("numpy", "fd", *point, threshold=threshold)


def test_buggy_source_needs_two_layers():
    with pytest.raises(SourceError, match="at least two layers"):
        gb.check("numpy-buggy", "fd", *random_case((4, 1), 3))


@pytest.mark.parametrize("candidate", ["numpy", "numpy-buggy", "fd"])
def test_check_never_modifies_the_callers_arrays(point, candidate):
    params, X, Y = point
    before = copy.deepcopy((params, X, Y))
    gb.check(candidate, "fd", params, X, Y)
    for name in params:
        np.testing.assert_array_equal(params[name], before[0][name])
    np.testing.assert_array_equal(X, before[1])
    np.testing.assert_array_equal(Y, before[2])


def test_a_source_that_writes_into_its_input_cannot_reach_the_caller(point):
    params, X, Y = point
    before = params["W1"].copy()

    def vandal(p, X, Y):
        grads = numpy_backprop(p, X, Y)
        p["W1"][:] = 0.0
        X[:] = 0.0
        return grads

    gb.check(vandal, "fd", params, X, Y)
    np.testing.assert_array_equal(params["W1"], before)
    assert np.all(X != 0.0)

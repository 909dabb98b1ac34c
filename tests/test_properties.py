"""Property-based tests: random nets, points and parameter dicts (hypothesis)."""

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gradcheck_bench as gb
from gradcheck_bench.models.mlp import numpy_backprop, random_case


nets = st.tuples(
    st.lists(st.integers(1, 8), min_size=1, max_size=4),  # hidden widths
    st.integers(1, 6),  # input features
    st.integers(1, 30),  # examples m
    st.integers(0, 2**31 - 1),  # seed
)

AUTOGRAD = [name for name, spec in gb.source_specs().items() if spec.kind == "autograd"]


def point_of(net):
    hidden, features, examples, seed = net
    return random_case((features, *hidden, 1), examples, seed)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nets)
def test_backprop_and_finite_differences_agree_on_random_nets(net):
    result = gb.check("numpy", "fd", *point_of(net))
    assert result.passed, result.summary()


@settings(max_examples=25, deadline=None)
@given(nets)
def test_planted_bugs_are_always_named_when_their_tensors_carry_gradient(net):
    params, X, Y = point_of(net)
    if len(params) < 4:
        return  # a single-layer net has no W2
    reference = numpy_backprop(params, X, Y)
    result = gb.check("numpy-buggy", "numpy", params, X, Y)
    # The planted bug's own relative difference, from the exact gradient. Where W2 and b1 carry a tiny share of
    # the gradient (mostly dead units), it stays below the threshold: the check passes, and names nothing.
    norm = lambda gradient: np.sqrt(sum(np.sum(value**2) for value in gradient.values()))  # noqa: E731
    buggy = {**reference, "W2": 2 * reference["W2"], "b1": 4 * reference["b1"]}
    planted = norm({name: buggy[name] - reference[name] for name in ("W2", "b1")}) / (norm(buggy) + norm(reference))
    assert result.difference == pytest.approx(planted, rel=1e-9, abs=1e-300)
    for name, factor in {"W2": 2.0, "b1": 4.0}.items():
        if np.any(reference[name] != 0):  # a dead layer has nothing to scale
            if planted >= result.threshold:
                assert name in result.culprits
            assert result.per_parameter.loc[name, "scale"] == pytest.approx(factor)


@pytest.mark.parametrize("source", AUTOGRAD)
@settings(max_examples=15, deadline=None)
@given(net=nets)
def test_autograd_sources_agree_with_the_hand_written_backprop(source, net):
    pytest.importorskip(gb.source_specs()[source].requires[0])
    assert gb.check(source, "numpy", *point_of(net)).difference <= 1e-12


@settings(max_examples=30, deadline=None)
@given(nets)
def test_check_never_mutates_its_inputs(net):
    params, X, Y = point_of(net)
    before = copy.deepcopy((params, X, Y))
    gb.check("numpy-buggy" if len(params) >= 4 else "numpy", "fd", params, X, Y)
    for name in params:
        assert np.array_equal(params[name], before[0][name])
    assert np.array_equal(X, before[1]) and np.array_equal(Y, before[2])


float_arrays = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32, np.float16]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    elements={"allow_nan": False, "allow_infinity": False, "allow_subnormal": True},
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=5), float_arrays, min_size=1, max_size=5))
def test_ravel_round_trips_exactly_for_any_params_dict(params):
    flat, unravel = gb.ravel(params)
    back = unravel(flat)
    assert list(back) == list(params)
    for name, value in params.items():
        assert back[name].shape == value.shape
        assert np.array_equal(back[name].astype(value.dtype), value)

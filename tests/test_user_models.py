"""A model defined here, in a test file, gets every source with no edit to the package; and any data."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.errors import InputError, SourceError


def softmax_regression_cost(params, X, Y, xp=np):
    """Cross-entropy of a linear softmax classifier; Y holds integer class ids (used to index)."""
    logits = params["W"] @ X["features"] + params["b"]
    shifted = logits - xp.max(logits.real, axis=0, keepdims=True)
    log_normaliser = xp.log(xp.sum(xp.exp(shifted), axis=0))
    picked = shifted[Y, xp.arange(Y.shape[0])]
    return xp.mean(log_normaliser - picked) + X["decay"] * xp.sum(params["W"] ** 2)


def softmax_regression_gradient(params, X, Y):
    logits = params["W"] @ X["features"] + params["b"]
    probabilities = np.exp(logits - logits.max(axis=0))
    probabilities /= probabilities.sum(axis=0)
    m = Y.shape[0]
    # forward: picked = shifted[Y, arange(m)];  J = mean(log_normaliser - picked)
    d_logits = probabilities.copy()
    d_logits[Y, np.arange(m)] -= 1.0
    d_logits /= m
    # forward: logits = W @ features + b;  J += decay * sum(W^2)
    return {"W": d_logits @ X["features"].T + 2 * X["decay"] * params["W"],
            "b": d_logits.sum(axis=1, keepdims=True)}


def point(seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {"W": rng.normal(size=(4, 6)), "b": rng.normal(size=(4, 1))}
    data = {"features": rng.normal(size=(6, 15)), "decay": 0.01}
    return params, data, rng.integers(0, 4, size=15)  # integer labels, used as indices


MODEL = gb.Model(name="softmax-regression", cost=softmax_regression_cost, gradient=softmax_regression_gradient,
                 cases={"small": point})


@pytest.mark.parametrize("reference", ["fd", "torch", "jax", "complex-step", "richardson"])
def test_a_model_defined_in_a_test_file_gets_every_source(reference):
    for module in {"torch": ["torch"], "jax": ["jax"]}.get(reference, []):
        pytest.importorskip(module)
    result = gb.check("numpy", reference, *point(), model=MODEL)
    assert result.passed, result.summary()


def test_the_fd_oracle_of_an_xp_cost_runs_on_a_vectorised_engine():
    pytest.importorskip("torch")
    with gb.count_forward_passes() as counter:
        gradient = gb.gradient("fd", *point(), model=MODEL)
    assert counter.passes >= 2 * (24 + 4)
    assert not any("not used" in note for note in gradient.notes)  # torch's vmap engine ran the cost
    assert gb.check("numpy", gradient, *point(), model=MODEL).passed


def test_a_bug_in_the_users_gradient_is_named():
    def wrong(params, X, Y):
        gradient = softmax_regression_gradient(params, X, Y)
        return {**gradient, "b": gradient["b"] * 2}

    result = gb.check(wrong, "fd", *point(), model=MODEL)
    assert not result.passed and result.culprits == ["b"]


def test_sources_the_model_lacks_are_refused_with_what_it_would_need():
    assert set(gb.available_sources(MODEL)) >= {"numpy", "fd", "richardson", "complex-step"}
    with pytest.raises(SourceError, match="needs a planted bug"):
        gb.check("numpy-buggy", "fd", *point(), model=MODEL)
    with pytest.raises(SourceError, match="needs a declared kink pattern"):
        gb.check("numpy", "fd-kink-safe", *point(), model=MODEL)


def test_a_cost_that_is_not_complex_safe_says_so():
    unsafe = gb.Model(name="abs", cost=lambda p, X, Y, xp=np: xp.sum(xp.abs(p["t"])), complex_safe=False)
    with pytest.raises(SourceError, match="needs a complex-safe cost"):
        gb.check(lambda p, X, Y: {"t": np.sign(p["t"])}, "complex-step", {"t": np.array([1.0, -2.0])}, model=unsafe)
    undeclared = gb.Model(name="casts", cost=lambda p, X, Y, xp=np: float(np.sum(p["t"].real ** 2)))
    with pytest.raises(SourceError, match="returned a real number for complex parameters"):
        gb.check(lambda p, X, Y: {"t": 2 * p["t"]}, "complex-step", {"t": np.array([1.0])}, model=undeclared)


@pytest.mark.parametrize("data", [None, (np.array([1.0, 2.0]), 3), {"scale": 2.0}])
def test_data_of_any_shape_reaches_a_users_cost(data):
    def cost(p, X, Y):
        factor = 1.0 if X is None else (X[1] if isinstance(X, tuple) else X["scale"])
        return float(factor * np.sum(p["t"] ** 2))

    def gradient(p, X, Y):
        factor = 1.0 if X is None else (X[1] if isinstance(X, tuple) else X["scale"])
        return {"t": 2 * factor * p["t"]}

    assert gb.check(gradient, gb.fd(cost), {"t": np.array([0.5, -1.5])}, data).passed


def test_numpy_scalars_and_0d_costs_are_accepted():
    params = {"t": np.float64(1.5)}  # a 0-d parameter as natural NumPy writes it
    assert gb.check(lambda p, X, Y: {"t": 2 * p["t"]}, gb.fd(lambda p, X, Y: p["t"] ** 2), params).passed
    square = gb.Model(name="square", cost=lambda p, X, Y, xp=np: p["t"] ** 2, gradient=lambda p, X, Y: {"t": 2 * p["t"]})
    for reference in ("torch", "jax"):
        pytest.importorskip(reference)
        assert gb.check("numpy", reference, params, model=square).passed  # 0-d tensors from torch and jax


def test_only_models_that_declare_a_point_check_validate_data():
    with pytest.raises(InputError, match="X has dtype int64"):
        gb.check("numpy", "fd", gb.seed_case()[0], np.ones((4, 3), dtype=np.int64), np.array([[1.0, 0.0, 1.0]]))
    integer_data = gb.Model(name="indexing", cost=lambda p, X, Y, xp=np: xp.sum(p["t"][X] ** 2))
    assert gb.check(lambda p, X, Y: {"t": 2 * p["t"] * np.bincount(X, minlength=3)}, "fd",
                    {"t": np.array([1.0, 2.0, 3.0])}, np.array([0, 2, 2]), model=integer_data).passed

"""Two smooth costs that false-failed exact gradients: the error-bar rules, not the thresholds, decide.

* logdet(x x^T + I) at parameter scale 1e-3: the cost is a tiny number computed from terms of size 1, so its
  round-off is absolute, far above eps |J|; the second look measures it (ECnoise-style) and says what the
  oracle resolves, instead of claiming 1e-8 and blaming the exact gradient.
* sum(sigmoid(x)) at scale 1e3: gradients of 1e-115 under fd's round-off; where the oracle cannot resolve
  the threshold the verdict comes from its error bars. A source whose own formula overflows to NaN is a
  clear error naming the element, not a verdict.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.validation import measured_noise


def logdet(p, X, Y, xp=np):
    x = p["x"]
    return xp.linalg.slogdet(x @ x.T + xp.eye(x.shape[0]))[1]


def logdet_gradient(p, X, Y):  # d/dx log det(x x^T + I) = 2 (x x^T + I)^-1 x
    x = p["x"]
    return {"x": 2 * np.linalg.solve(x @ x.T + np.eye(x.shape[0]), x)}


def sigmoid_sum(p, X, Y, xp=np):
    return xp.sum(1 / (1 + xp.exp(-p["x"])))


@pytest.mark.parametrize("seed", range(3))
def test_logdet_at_a_small_scale_passes_an_exact_gradient_and_says_what_fd_resolves(seed):
    x = 1e-3 * np.random.default_rng(seed).standard_normal((4, 3))
    result = gb.check(logdet_gradient, "fd", {"x": x}, model=gb.Model(name="logdet", cost=logdet))
    assert result.passed, result.summary()
    exact = logdet_gradient({"x": x}, None, None)["x"]
    oracle_error = np.linalg.norm(result.reference_gradient["x"] - exact) / (2 * np.linalg.norm(exact))
    assert oracle_error <= 10 * result.resolution  # honest: what it says it resolves covers its actual error
    if not any("re-evaluated with less error" in note for note in result.notes):
        assert result.resolution > gb.DEFAULT_THRESHOLD  # fd at its own step cannot resolve 2e-7 here, and says so
    wrong = gb.check(lambda p, X, Y: {"x": 1.01 * logdet_gradient(p, X, Y)["x"]}, "fd", {"x": x},
                     model=gb.Model(name="logdet", cost=logdet))
    assert not wrong.passed and wrong.culprits == ["x"]


def test_the_measured_noise_sees_an_absolute_round_off():
    x = 1e-3 * np.random.default_rng(0).standard_normal((4, 3))
    value = float(logdet({"x": x}, None, None))
    assert measured_noise(logdet, {"x": x}, None, None, value) > 1e3 * np.finfo(float).eps * abs(value)


def test_tiny_gradients_under_fd_noise_are_judged_on_the_error_bars():
    x = 1e3 * np.random.default_rng(0).standard_normal(6)
    exact = {"x": np.exp(-x) / (1 + np.exp(-x)) ** 2}  # 1e-55 and below, 0 where exp overflows
    with np.errstate(over="ignore"):
        result = gb.check(lambda p, X, Y: exact, "fd", {"x": x}, model=gb.Model(name="sigmoids", cost=sigmoid_sum))
    assert result.passed and result.judged_on_error_bars, result.summary()


def test_a_source_that_overflows_to_nan_is_a_clear_error():
    pytest.importorskip("jax")
    x = 1e3 * np.random.default_rng(1).standard_normal(6)
    with np.errstate(over="ignore"), pytest.raises(gb.SourceError, match=r"jax gave a non-finite derivative: x\["):
        gb.check("jax", "fd", {"x": x}, model=gb.Model(name="sigmoids", cost=sigmoid_sum))

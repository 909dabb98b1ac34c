"""ADBench's Gaussian mixture objective: log-likelihood of n points under k Gaussians, with a Wishart prior.

The objective is ADBench's formulation, term for term, so its published
reference values are ours too. For points ``x_i`` (rows of ``X``, shape
``(n, d)``) and components ``c = 1..k``:

* each precision matrix is ``Q_c^T Q_c`` with ``Q_c = diag(exp(q_c)) + L_c``:
  ``icf[c]`` holds ``q_c`` (the log-diagonal, ``d`` numbers) and then the
  strictly lower triangle of ``L_c`` column by column (column 0's entries
  below the diagonal, then column 1's, ...), ``d(d-1)/2`` numbers;
* ``J = -n d/2 log(2 pi) + sum_i logsumexp_c(alpha_c + sum(q_c) - |Q_c (x_i - mu_c)|^2 / 2)
  - n logsumexp(alpha) + prior``;
* ``prior = sum_c (gamma^2/2 (|exp(q_c)|^2 + |l_c|^2) - m sum(q_c)) - k (C - log Gamma_d((d+m+1)/2))``
  with ``C = (d+m+1) d log(gamma / sqrt 2)``, exactly as ADBench adds it (its
  sign convention, not the textbook log-density of a Wishart).

Parameters: ``alphas`` ``(k,)``, ``means`` ``(k, d)``, ``icf`` ``(k, d(d+1)/2)``;
data ``X`` the points ``(n, d)``; ``Y`` is ``None``. The prior's ``gamma`` and
``m`` are settings of the model (:func:`gmm_model`), not parameters.

The cost is written once against ``xp`` (NumPy, ``torch``, ``jax.numpy``)
and is complex-safe: the log-sum-exp shifts by the maximum of the real part
only, and nothing else compares, takes ``abs`` of or branches on a value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import numpy as np

from ..adbench import DEFAULT_GMM_PRIOR, packaged_test_input
from ..errors import InputError
from ..validation import is_count, is_positive_number, require_float_array
from . import Model, Params, PlantedBug

PARAMETER_NAMES = ("alphas", "means", "icf")


# --------------------------------------------------------------------------
# The objective, written once for any array namespace
# --------------------------------------------------------------------------


def icf_width(d: int) -> int:
    """Numbers per row of ``icf`` for dimension d: d log-diagonal entries and d(d-1)/2 below the diagonal."""
    return d * (d + 1) // 2


def lower_triangle_index(d: int) -> np.ndarray:
    """``(d, d)`` positions into ``[0, l_1, l_2, ...]``: where each strictly-lower entry of ``L`` comes from.

    Entry ``(row, column)`` below the diagonal takes the off-diagonal part of
    ``icf`` in ADBench's order, column by column; every other entry takes
    position 0, a zero.
    """
    index = np.zeros((d, d), dtype=np.intp)
    position = 1
    for column in range(d):
        for row in range(column + 1, d):
            index[row, column] = position
            position += 1
    return index


def lower_triangle_transposed(off_diagonal: Any, d: int, xp: Any = np) -> Any:
    """``L^T`` ``(k, d, d)``, for ``L`` strictly lower triangular from ``icf``'s off-diagonal part ``(k, d(d-1)/2)``.

    The objective needs ``L (x - mu)`` for points stored as rows, which is
    ``(x - mu) @ L^T``; gathering ``L^T`` directly gives a contiguous array
    (NumPy's stacked matmul is many times slower on a transposed view, for
    complex numbers especially). Built by gathering from ``[0, off_diagonal]``:
    no in-place writes, so jax and vmap accept it; no casts, so complex
    entries stay complex.
    """
    zero = xp.zeros_like(off_diagonal.sum(axis=1, keepdims=True))  # (k, 1), also when d = 1 leaves no entries
    with_zero = xp.concatenate([zero, off_diagonal], axis=1)
    return with_zero[:, lower_triangle_index(d).T.ravel()].reshape(off_diagonal.shape[0], d, d)


def logsumexp(values: Any, xp: Any = np) -> Any:
    """``log(sum(exp(values)))`` over the last axis, shifted by the largest real part so it never overflows.

    The shift changes nothing mathematically; taking it from the real part
    keeps the function analytic for the complex step.
    """
    shift = xp.amax(values.real, axis=-1)
    return xp.log(xp.exp(values - shift[..., None]).sum(axis=-1)) + shift


def log_multivariate_gamma(a: float, p: int) -> float:
    """``log Gamma_p(a)``, the log of the multivariate gamma function (a constant of the prior)."""
    return p * (p - 1) / 4 * math.log(math.pi) + sum(math.lgamma(a + (1 - j) / 2) for j in range(1, p + 1))


def prior_constant(d: int, k: int, gamma: float, m: int) -> float:
    """The parameter-free part of ADBench's Wishart prior term: ``-k (C - log Gamma_d((d+m+1)/2))``."""
    dof = d + m + 1
    C = dof * d * math.log(gamma / math.sqrt(2.0))
    return -k * (C - log_multivariate_gamma(0.5 * dof, d))


@dataclass(frozen=True)
class GMMForward:
    """What one evaluation of the objective computed; the hand-written gradient reverses it line by line."""

    log_diagonal: Any  # q = icf[:, :d]                       (k, d)
    diagonal: Any  # exp(q)                                   (k, d)
    off_diagonal: Any  # l = icf[:, d:]                       (k, d(d-1)/2)
    LT: Any  # L^T, L strictly lower triangular from l         (k, d, d)
    centered: Any  # x_i - mu_c                               (k, n, d)
    Qx: Any  # Q_c (x_i - mu_c)                               (k, n, d)
    inner: Any  # alpha_c + sum(q_c) - |Q_c (x_i - mu_c)|^2/2 (n, k)
    objective: Any  # J                                       ()


def gmm_forward(params: Params, X: Any, xp: Any = np, gamma: float = 1.0, m: int = 0) -> GMMForward:
    """Evaluate ADBench's GMM objective, keeping the intermediate arrays."""
    alphas, means, icf = params["alphas"], params["means"], params["icf"]
    n, d = X.shape[0], X.shape[1]
    k = alphas.shape[0]
    log_diagonal = icf[:, :d]
    diagonal = xp.exp(log_diagonal)
    off_diagonal = icf[:, d:]
    LT = lower_triangle_transposed(off_diagonal, d, xp)
    centered = X[None, :, :] - means[:, None, :]
    Qx = diagonal[:, None, :] * centered + centered @ LT
    inner = alphas + log_diagonal.sum(axis=1) - 0.5 * (Qx * Qx).sum(axis=2).T
    prior = (0.5 * gamma**2 * ((diagonal * diagonal).sum() + (off_diagonal * off_diagonal).sum())
             - m * log_diagonal.sum()) + prior_constant(d, k, gamma, m)
    objective = (-0.5 * n * d * math.log(2 * math.pi) + logsumexp(inner, xp).sum()
                 - n * logsumexp(alphas, xp) + prior)
    return GMMForward(log_diagonal, diagonal, off_diagonal, LT, centered, Qx, inner, objective)


def gmm_cost(params: Params, X: Any, Y: Any = None, xp: Any = np, gamma: float = 1.0, m: int = 0) -> Any:
    """ADBench's GMM objective with the Wishart prior ``(gamma, m)`` (``Y`` is unused; pass None)."""
    return gmm_forward(params, X, xp, gamma, m).objective


# --------------------------------------------------------------------------
# The hand-written gradient: read it bottom-up against gmm_forward
# --------------------------------------------------------------------------


def softmax(values: np.ndarray) -> np.ndarray:
    """``exp(values) / sum(exp(values))`` over the last axis: the derivative of :func:`logsumexp`."""
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def gmm_gradient(params: Params, X: np.ndarray, Y: Any = None, gamma: float = 1.0, m: int = 0) -> Params:
    """dJ/d(alphas, means, icf) of ADBench's GMM objective, by reverse-mode differentiation written by hand.

    Each reverse step sits under a comment quoting the line of
    :func:`gmm_forward` it reverses.
    """
    f = gmm_forward(params, X, np, gamma, m)
    n, d = X.shape
    alphas = params["alphas"]

    # forward: objective = const + logsumexp(inner).sum() - n * logsumexp(alphas) + prior
    d_inner = softmax(f.inner)  # (n, k): each point's responsibilities
    d_alphas = -n * softmax(alphas)
    # forward: prior = 0.5 gamma^2 (sum(diagonal^2) + sum(off_diagonal^2)) - m sum(log_diagonal) + const
    d_diagonal = gamma**2 * f.diagonal
    d_off_diagonal = gamma**2 * f.off_diagonal
    d_log_diagonal = np.full_like(f.log_diagonal, -float(m))
    # forward: inner = alphas + log_diagonal.sum(axis=1) - 0.5 * (Qx * Qx).sum(axis=2).T
    d_alphas = d_alphas + d_inner.sum(axis=0)
    d_log_diagonal = d_log_diagonal + d_inner.sum(axis=0)[:, None]
    d_Qx = -d_inner.T[:, :, None] * f.Qx
    # forward: Qx = diagonal[:, None, :] * centered + centered @ LT
    d_diagonal = d_diagonal + (d_Qx * f.centered).sum(axis=1)
    d_LT = np.swapaxes(f.centered, 1, 2) @ d_Qx
    d_centered = f.diagonal[:, None, :] * d_Qx + d_Qx @ np.swapaxes(f.LT, 1, 2)
    # forward: centered = X[None, :, :] - means[:, None, :]
    d_means = -d_centered.sum(axis=1)
    # forward: LT = lower_triangle_transposed(off_diagonal)  (a gather: read each entry's gradient where it went)
    rows, columns = np.tril_indices(d, -1)
    order = np.argsort(lower_triangle_index(d)[rows, columns])  # ADBench's order of the entries
    d_off_diagonal = d_off_diagonal + d_LT[:, columns[order], rows[order]]
    # forward: diagonal = exp(log_diagonal)
    d_log_diagonal = d_log_diagonal + d_diagonal * f.diagonal
    # forward: log_diagonal = icf[:, :d];  off_diagonal = icf[:, d:]
    d_icf = np.concatenate([d_log_diagonal, d_off_diagonal], axis=1)
    return {"alphas": d_alphas, "means": d_means, "icf": d_icf}


def gmm_gradient_prior_without_chain_rule(params: Params, X: np.ndarray, Y: Any = None, gamma: float = 1.0,
                                          m: int = 0) -> Params:
    """The planted bug: the prior's ``gamma^2/2 exp(q)^2`` differentiated as ``gamma^2 exp(q)``.

    The slip is forgetting the inner exponential's chain factor: the
    derivative of ``exp(q)^2 / 2`` with respect to ``q`` is ``exp(2q)``, not
    ``exp(q)``. It corrupts the log-diagonal columns of ``icf`` only. Applied
    to the correct gradient, it gives the numbers the buggy derivation gives.
    """
    gradient = gmm_gradient(params, X, Y, gamma, m)
    d = X.shape[1]
    diagonal = np.exp(params["icf"][:, :d])
    wrong = gradient["icf"].copy()
    wrong[:, :d] += gamma**2 * (diagonal - diagonal**2)
    return {**gradient, "icf": wrong}


# --------------------------------------------------------------------------
# Points to check at
# --------------------------------------------------------------------------


def gmm_point(d: int, k: int, n: int = 1000, seed: int = 0) -> tuple[Params, np.ndarray, None]:
    """A random GMM point drawn the way ADBench's generator draws them, from ``default_rng(seed)``.

    ``alphas``, ``icf`` and the points are standard normal, the means uniform
    on ``[0, 1)`` (ADBench's ``gmm-data-gen.py``; the prior it writes is the
    default ``gamma=1, m=0``). Returns ``({alphas (k,), means (k, d), icf (k,
    d(d+1)/2)}, X (n, d), None)``.
    """
    for name, value in (("d", d), ("k", k), ("n", n)):
        if not is_count(value):
            raise InputError(f"gmm_point needs a positive integer {name}, got {value!r}.")
    rng = np.random.default_rng(seed)
    params = {
        "alphas": rng.standard_normal(k),
        "means": rng.uniform(0.0, 1.0, (k, d)),
        "icf": rng.standard_normal((k, icf_width(d))),
    }
    return params, rng.standard_normal((n, d)), None


def validate_gmm_point(params: Params, X: Any, Y: Any) -> None:
    """``alphas (k,)``, ``means (k, d)``, ``icf (k, d(d+1)/2)``, points ``X (n, d)`` and ``Y=None``."""
    if sorted(params) != sorted(PARAMETER_NAMES):
        raise InputError(f"the GMM takes parameters {', '.join(PARAMETER_NAMES)}; got {sorted(params)}. "
                         "Build a point with gmm_point(d, k) or read_adbench('gmm', path).")
    require_float_array(X, "X")
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise InputError(f"X must hold the points as rows, shape (n, d) with n, d >= 1; got shape {X.shape}.")
    if Y is not None:
        raise InputError(f"the GMM objective has no labels; pass Y=None (got {type(Y).__name__}).")
    n, d = X.shape
    alphas, means, icf = params["alphas"], params["means"], params["icf"]
    if alphas.ndim != 1 or alphas.size < 1:
        raise InputError(f"alphas must be 1-D, one weight per component (k,); got shape {alphas.shape}.")
    k = alphas.shape[0]
    if means.shape != (k, d):
        raise InputError(f"means must be (k, d) = ({k}, {d}) for {k} components and {d}-dimensional points; "
                         f"got shape {means.shape}.")
    if icf.shape != (k, icf_width(d)):
        raise InputError(f"icf must be (k, d(d+1)/2) = ({k}, {icf_width(d)}): per component d log-diagonal "
                         f"entries then d(d-1)/2 below the diagonal; got shape {icf.shape}.")


def adbench_test_point() -> tuple[Params, np.ndarray, None]:
    """ADBench's GMM test input (``data/gmm/test.txt``: d=2, k=3, n=1), the point of its reference values."""
    return packaged_test_input("gmm")


def _generated(d: int, k: int) -> Callable[[], tuple[Params, np.ndarray, None]]:
    return lambda: gmm_point(d, k, n=1000, seed=0)


GENERATED_SIZES: tuple[tuple[int, int], ...] = ((2, 5), (2, 50), (10, 5), (10, 10), (20, 5))
"""``(d, k)`` of the generated cases, all with n = 1000 points, from ADBench's grid (d in 2, 10, 20, 32,
64; k in 5, 10, 25, 50, 100). Each oracle pass costs about n k d^2 and the oracles take one or two
passes per parameter, k (1 + d + d(d+1)/2) of them (richardson several), the complex step on complex
numbers, so the cost of a run grows like k^2 d^4: the grid's larger corners (d >= 32, or d = 20 with
k >= 10) take minutes to hours on a 2-core machine. These stop at about 1,200 parameters, seconds per
oracle, and cover many components in few dimensions (d2-k50) and the reverse (d20-k5)."""

CASES: dict[str, Callable[[], tuple[Params, np.ndarray, None]]] = {
    "gmm-adbench-test": adbench_test_point,
    **{f"gmm-d{d}-k{k}": _generated(d, k) for d, k in GENERATED_SIZES},
}


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------


def gmm_model(gamma: float = 1.0, m: int = 0) -> Model:
    """ADBench's GMM objective with the Wishart prior ``(gamma, m)``; the defaults are ADBench's."""
    if not is_positive_number(gamma):
        raise InputError(f"the Wishart prior's gamma must be a positive number, got {gamma!r}.")
    if not is_count(m, smallest=0):
        raise InputError(f"the Wishart prior's m must be a non-negative integer, got {m!r}.")
    prior_gamma, prior_m = float(gamma), int(m)
    default = (prior_gamma, prior_m) == DEFAULT_GMM_PRIOR
    return Model(
        name="gmm" if default else f"gmm-gamma{gamma:g}-m{m}",
        cost=partial(gmm_cost, gamma=prior_gamma, m=prior_m),
        description=f"ADBench's Gaussian mixture log-likelihood with a Wishart prior (gamma={gamma:g}, m={m})",
        validate_point=validate_gmm_point,
        gradient=partial(gmm_gradient, gamma=prior_gamma, m=prior_m),
        planted_bug=PlantedBug(
            partial(gmm_gradient_prior_without_chain_rule, gamma=prior_gamma, m=prior_m),
            "the Wishart prior's exp(q)^2 term reversed without the chain factor exp(q)",
            ("icf",),
        ),
        cases=CASES,
        complex_safe=True,
    )


MODEL = gmm_model()

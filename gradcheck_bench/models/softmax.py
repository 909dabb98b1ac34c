"""A softmax-regression layer: a function with a vector output, and every derivative of it written by hand.

``function(params, X) = softmax(W X + b)``, column by column: ``W (k, d)``,
``b (k,)``, ``X (d, m)``, an output ``S (k, m)`` of class probabilities per
example. Its scalar cost is the mean cross-entropy against one-hot labels
``Y (k, m)``. With ``Z = W X + b`` and ``S = softmax(Z)`` the one identity
every derivative below uses is the softmax's Jacobian, per example,

    dS_i / dZ_j = S_i (delta_ij - S_j),

so a change ``dZ`` moves ``S`` by ``S * (dZ - sum_i S_i dZ_i)`` and a
cotangent ``U`` on ``S`` pulls back to ``S * (U - sum_i U_i S_i)`` on ``Z``.

The planted bug is one people make when they write the bias path apart:
they carry ``S * U`` back to ``b`` (or push ``S * tb`` forward) and forget
the normalisation's cross term ``- S_i S_j``. It is in every kind, so each
check must name ``b``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import Model, Params, PlantedBug


def softmax_output(params: Params, X: Any, Y: Any = None, xp: Any = np) -> Any:
    """``softmax(W X + b)`` over classes, one column per example."""
    Z = params["W"] @ X + params["b"][:, None]
    shifted = Z - xp.max(Z, axis=0, keepdims=True)           # the same softmax, no overflow
    E = xp.exp(shifted)
    return E / xp.sum(E, axis=0, keepdims=True)


def cross_entropy(params: Params, X: Any, Y: Any, xp: Any = np) -> Any:
    """The mean over examples of ``-sum_i Y_i log S_i``, from the logits (no log of a rounded probability)."""
    Z = params["W"] @ X + params["b"][:, None]
    top = xp.max(Z, axis=0, keepdims=True)
    log_S = Z - top - xp.log(xp.sum(xp.exp(Z - top), axis=0, keepdims=True))
    return -xp.sum(Y * log_S) / X.shape[1]


def _forward(params: Params, X: np.ndarray) -> np.ndarray:
    return softmax_output(params, X)


def _pull_back(S: np.ndarray, U: np.ndarray) -> np.ndarray:
    """``dZ`` from a cotangent ``U`` on ``S``: ``S * (U - sum_i U_i S_i)``."""
    return S * (U - np.sum(U * S, axis=0, keepdims=True))


def _push_forward(S: np.ndarray, dZ: np.ndarray) -> np.ndarray:
    """``dS`` from a change ``dZ``: ``S * (dZ - sum_i S_i dZ_i)``."""
    return S * (dZ - np.sum(S * dZ, axis=0, keepdims=True))


def gradient(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    """The cross-entropy's gradient."""
    S = _forward(params, X)                          # S = softmax(W X + b)
    dZ = (S - Y) / X.shape[1]                        # reverses the mean cross-entropy of the softmax
    return {"W": dZ @ X.T,                           # reverses Z = W X + ...
            "b": dZ.sum(axis=1)}                     # reverses Z = ... + b (broadcast over examples)


def jacobian(params: Params, X: np.ndarray, Y: Any = None) -> Params:
    """``dS[i, m] / dW[j, d]`` and ``dS[i, m] / db[j]``: blocks of shape ``(k, m) + param.shape``."""
    S = _forward(params, X)
    k = S.shape[0]
    dS_dZ = S[:, :, None] * (np.eye(k)[:, None, :] - S.T[None, :, :])   # [i, m, j] = S_im (delta_ij - S_jm)
    return {"W": dS_dZ[:, :, :, None] * X.T[None, :, None, :],         # Z_jm = sum_d W_jd X_dm
            "b": dS_dZ}                                                  # Z_jm = ... + b_j


def jvp(params: Params, X: np.ndarray, Y: Any, tangent: Params) -> np.ndarray:
    """Forward mode: ``dS`` for a tangent ``(tW, tb)``."""
    S = _forward(params, X)
    dZ = tangent["W"] @ X + tangent["b"][:, None]     # pushes the tangent through Z = W X + b
    return _push_forward(S, dZ)                        # and through the softmax


def vjp(params: Params, X: np.ndarray, Y: Any, cotangent: np.ndarray) -> Params:
    """Reverse mode: ``U^T J`` for a cotangent ``U`` shaped like the output."""
    S = _forward(params, X)
    dZ = _pull_back(S, cotangent)                      # reverses the softmax
    return {"W": dZ @ X.T, "b": dZ.sum(axis=1)}        # reverses Z = W X + b


def hvp(params: Params, X: np.ndarray, Y: np.ndarray, vector: Params) -> Params:
    """The cross-entropy's Hessian times ``(vW, vb)``: the gradient ``(S - Y) X^T / m`` moved along the vector."""
    S = _forward(params, X)
    dS = _push_forward(S, vector["W"] @ X + vector["b"][:, None])   # how S moves along the vector
    dZ = dS / X.shape[1]                                               # how the gradient's dZ = (S - Y)/m moves
    return {"W": dZ @ X.T, "b": dZ.sum(axis=1)}


def buggy_gradient(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    found = gradient(params, X, Y)
    # dL/dS = -Y / S pulled back through the softmax without its cross term: S * (-Y / S) = -Y
    return {**found, "b": -Y.sum(axis=1) / X.shape[1]}


def buggy_jacobian(params: Params, X: np.ndarray, Y: Any = None) -> Params:
    found = jacobian(params, X, Y)
    S = _forward(params, X)
    k = S.shape[0]
    return {**found, "b": S[:, :, None] * np.eye(k)[:, None, :]}      # forgot - S_i S_j


def buggy_jvp(params: Params, X: np.ndarray, Y: Any, tangent: Params) -> np.ndarray:
    S = _forward(params, X)
    return _push_forward(S, tangent["W"] @ X) + S * tangent["b"][:, None]   # the bias pushed without normalising


def buggy_vjp(params: Params, X: np.ndarray, Y: Any, cotangent: np.ndarray) -> Params:
    found = vjp(params, X, Y, cotangent)
    S = _forward(params, X)
    return {**found, "b": (S * cotangent).sum(axis=1)}                   # forgot - sum_i U_i S_i


def buggy_hvp(params: Params, X: np.ndarray, Y: np.ndarray, vector: Params) -> Params:
    found = hvp(params, X, Y, vector)
    S = _forward(params, X)
    dS = _push_forward(S, vector["W"] @ X) + S * vector["b"][:, None]
    return {**found, "b": dS.sum(axis=1) / X.shape[1]}


def softmax_case(classes: int = 5, features: int = 4, examples: int = 6, seed: int = 0) -> tuple[Params, Any, Any]:
    """A random layer, inputs and one-hot labels."""
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((classes, features)), "b": rng.standard_normal(classes)}
    X = rng.standard_normal((features, examples))
    Y = np.eye(classes)[:, rng.integers(0, classes, examples)]
    return params, X, Y


MODEL = Model(
    name="softmax",
    cost=cross_entropy,
    function=softmax_output,
    description="a softmax-regression layer: softmax(W X + b) per example, and its mean cross-entropy",
    gradient=gradient,
    derivatives={"jacobian": jacobian, "jvp": jvp, "vjp": vjp, "hvp": hvp},
    planted_bug=PlantedBug(
        buggy_gradient,
        "the bias path without the softmax's cross term -S_i S_j, in every kind",
        ("b",),
        derivatives={"jacobian": buggy_jacobian, "jvp": buggy_jvp, "vjp": buggy_vjp, "hvp": buggy_hvp},
    ),
    cases={"softmax-k5-d4-m6": lambda: softmax_case(5, 4, 6, 0),
           "softmax-k10-d20-m30": lambda: softmax_case(10, 20, 30, 1)},
)

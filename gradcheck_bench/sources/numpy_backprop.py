"""Hand-written backpropagation in NumPy, and the exercise's planted-bug variant.

Read :func:`numpy_backprop` bottom-up against :func:`models.mlp_forward`: each
reverse step sits next to a comment quoting the forward line it reverses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SourceError
from ..models import Model, Params, layer_count, mlp_forward
from .registry import SourceSpec

SEED_PLANTED_BUGS: dict[str, float] = {"W2": 2.0, "b1": 4.0}
"""The exercise's two bugs: ``dW2`` has an extra factor 2, ``db1`` uses 4/m for 1/m."""


def numpy_backprop(params: Params, X: np.ndarray, Y: np.ndarray, masks: Any = None) -> Params:
    """dJ/dparams of the MLP cost by reverse-mode differentiation, written by hand.

    ``masks``: the inverted-dropout masks of the forward pass being reversed
    (``None``: no dropout), as in :func:`models.mlp_forward`.
    """
    L = layer_count(params)
    m = X.shape[1]
    A = mlp_forward(params, X, np, masks).A  # the reverse pass needs the activations only
    grads: Params = {}

    # forward: J = mean(-Y log A[L] - (1 - Y) log(1 - A[L])),  A[L] = sigmoid(Z[L])
    dZ = A[L] - Y  # sigmoid and cross-entropy reversed together (per example; 1/m below)
    for l in range(L, 0, -1):
        # forward: Z[l] = W[l] @ A[l-1] + b[l]
        grads[f"W{l}"] = (dZ @ A[l - 1].T) / m
        grads[f"b{l}"] = dZ.sum(axis=1, keepdims=True) / m
        if l == 1:
            break
        dA = params[f"W{l}"].T @ dZ
        if masks is not None:
            # forward: A[l-1] = A[l-1] * masks[l-2]  (inverted dropout)
            dA = dA * masks[l - 2]
        # forward: A[l-1] = relu(Z[l-1])
        dZ = dA * (A[l - 1] > 0)

    return {name: grads[name] for name in params}


def seed_buggy_backprop(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    """The exercise's buggy backprop: the correct one with ``dW2 * 2`` and ``db1 * 4``.

    In the exercise the factors sit inside the formulas
    (``dW2 = 1/m * dZ2 @ A1.T * 2`` and ``db1 = 4/m * sum(dZ1)``); applying them
    to the correct tensors gives the same numbers.
    """
    if layer_count(params) < 2:
        raise SourceError(
            "the seed's planted bugs live in W2 and b1, so 'numpy-buggy' needs a net with "
            "at least two layers; use sizes such as 4,5,3,1."
        )
    grads = numpy_backprop(params, X, Y)
    for name, factor in SEED_PLANTED_BUGS.items():
        grads[name] = grads[name] * factor
    return grads


def linear1d_backprop(params: Params, X: Any, Y: Any = None) -> Params:
    """The exact derivative of the 1-D model: dJ/dtheta = x."""
    return {"theta": np.array(X, dtype=np.result_type(params["theta"], float))}


_HAND_WRITTEN = {"mlp": numpy_backprop, "linear1d": linear1d_backprop}


def _hand_written(model: Model) -> Any:
    return _HAND_WRITTEN[model.name]


def _seed_buggy(model: Model) -> Any:
    return seed_buggy_backprop


SOURCES = [
    SourceSpec(
        name="numpy",
        factory=_hand_written,
        description="hand-written NumPy backprop",
        kind="hand-written",
        models=("mlp", "linear1d"),
    ),
    SourceSpec(
        name="numpy-buggy",
        factory=_seed_buggy,
        description="the exercise's backprop with its two planted bugs (dW2 x2, db1 x4)",
        kind="planted-bug",
    ),
]

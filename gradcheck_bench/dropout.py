"""Inverted dropout, and how to gradient-check a network that uses it.

A dropout net's cost is a different function at every forward pass (a new
random mask), so finite differences compare ``J_mask1(theta + h)`` with
``J_mask2(theta - h)``: the difference is noise, and a correct gradient
fails (``check`` notices the cost changing at a fixed point and raises
:class:`~gradcheck_bench.errors.NondeterministicCostError` instead). The
exercise concludes that gradient checking "doesn't work with dropout". It
does, once the mask is held fixed: with ``fixed=True`` every
forward pass of :class:`DropoutNet` draws the same masks from ``seed``, so the
cost is one deterministic function whose exact gradient is the hand-written
backprop run with those masks.

    net = DropoutNet(keep_prob=0.8, seed=3)
    check(net.backprop, fd(net.cost), params, X, Y)              # passes
    check(net.backprop, fd(DropoutNet(0.8, 3, fixed=False).cost), params, X, Y)  # refused: not deterministic
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError
from .validation import is_positive_number
from .models import Params
from .models.mlp import layer_count, mlp_cost, numpy_backprop


def dropout_masks(params: Params, examples: int, keep_prob: float, rng: np.random.Generator) -> list[np.ndarray]:
    """One inverted-dropout mask per hidden layer: 1/keep_prob with probability keep_prob, else 0."""
    L = layer_count(params)
    return [
        (rng.random((params[f"W{l}"].shape[0], examples)) < keep_prob) / keep_prob
        for l in range(1, L)
    ]


class DropoutNet:
    """The MLP with inverted dropout on every hidden layer.

    ``fixed=True``: every forward pass uses the masks drawn from ``seed`` (what
    a gradient check needs). ``fixed=False``: each forward pass draws fresh
    masks from a generator started at ``seed`` (what training does).
    """

    def __init__(self, keep_prob: float, seed: int = 0, fixed: bool = True):
        if not (is_positive_number(keep_prob) and keep_prob <= 1):
            raise InputError(f"keep_prob must be in (0, 1], got {keep_prob!r}; 0.8 keeps 80% of units.")
        self.keep_prob = float(keep_prob)
        self.seed = seed
        self.fixed = fixed
        self._fresh = np.random.default_rng(seed)
        self.name = f"dropout(keep={self.keep_prob:g}, {'fixed' if fixed else 'fresh'} masks)"

    def masks(self, params: Params, X: np.ndarray) -> list[np.ndarray]:
        """The masks of the next forward pass."""
        rng = np.random.default_rng(self.seed) if self.fixed else self._fresh
        return dropout_masks(params, X.shape[1], self.keep_prob, rng)

    def cost(self, params: Params, X: Any, Y: Any) -> Any:
        """The MLP cost with this forward pass's dropout masks."""
        return mlp_cost(params, X, Y, np, self.masks(params, X))

    def backprop(self, params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
        """The hand-written backprop through this forward pass's masks."""
        return numpy_backprop(params, X, Y, self.masks(params, X))

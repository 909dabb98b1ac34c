"""The loop engine, the reference: one coordinate at a time, two forward passes each, any cost.

It is the exercise's method. It calls the model's cost exactly as a user
would, on NumPy arrays and without ``xp=``, so it evaluates any cost of any
dtype; every other engine must agree with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...counting import counted
from ...models import Model, Params
from ...ravel import ravel
from ...validation import scalar_cost
from . import ChunkEvaluator, FDEngine

LOOP_CHUNK = 256
"""Coordinates per chunk: the loop needs no memory, only a moving progress bar."""


def prepare(model: Model, params: Params, X: Any, Y: Any) -> ChunkEvaluator:
    """Perturb a private flat copy of the point in place, one coordinate at a time."""
    flat, unravel = ravel(params)
    cost = counted(model.cost)

    def evaluate(indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
        costs = np.empty((2, indices.size))
        for j, (i, step) in enumerate(zip(indices, steps)):
            original = flat[i]
            try:
                for side, sign in enumerate((1.0, -1.0)):
                    flat[i] = original + sign * step
                    costs[side, j] = scalar_cost(cost(unravel(flat), X, Y))
            finally:
                flat[i] = original
        return costs

    return evaluate


ENGINE = FDEngine(
    name="loop",
    description="the reference: one coordinate at a time, any cost",
    prepare=prepare,
    handles=lambda model, params, X, Y: True,
    bytes_per_coordinate=lambda model, params, X, Y: 0,
    max_chunk=LOOP_CHUNK,
    auto_rank=100,
)

"""Ravel a params dict into one flat vector and back, in a fixed order.

``flat, unravel = ravel(params)`` is the contract (as in
``jax.flatten_util.ravel_pytree``): ``unravel(flat)`` rebuilds a dict with the
same names, shapes and order. The order is the dict's own, which for the
networks built here is the exercise's ``W1, b1, W2, b2, ...``; each tensor is
flattened row-major (C order).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .models import Params


def ravel(params: Params) -> tuple[np.ndarray, Callable[[np.ndarray], Params]]:
    """Return ``(flat, unravel)``; ``flat`` is a new array, never a view of ``params``.

    ``unravel(vector)`` returns views into ``vector``, so an engine can perturb
    one coordinate of the flat vector in place and see it in the dict.
    """
    shapes = {name: np.shape(value) for name, value in params.items()}
    slices = parameter_slices(params)
    size = sum(int(np.size(value)) for value in params.values())
    if params:
        flat = np.concatenate([np.ravel(value) for value in params.values()])
    else:
        flat = np.zeros(0)

    def unravel(vector: np.ndarray) -> Params:
        if np.shape(vector) != (size,):
            raise ValueError(
                f"expected a flat vector of length {size}, got shape {np.shape(vector)}."
            )
        return {name: vector[where].reshape(shapes[name]) for name, where in slices.items()}

    return flat, unravel


def parameter_slices(params: Params) -> dict[str, slice]:
    """Where each tensor lives in the flat vector from :func:`ravel`."""
    slices: dict[str, slice] = {}
    start = 0
    for name, value in params.items():
        stop = start + int(np.size(value))
        slices[name] = slice(start, stop)
        start = stop
    return slices

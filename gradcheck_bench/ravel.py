"""Ravel a params dict into one flat vector and back, in a fixed order, keeping dtypes.

``flat, unravel = ravel(params)`` is the contract (as in
``jax.flatten_util.ravel_pytree``): ``flat`` has the parameters' common dtype,
and ``unravel(vector)`` rebuilds a dict with the same names, shapes, order and
per-tensor dtypes. The order is the dict's own, which for the networks built
here is the exercise's ``W1, b1, W2, b2, ...``; each tensor is flattened
row-major (C order). ``unravel`` slices and reshapes, so it works on torch and
jax vectors as well as NumPy ones (the vmap engines unravel inside the traced
cost).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .models import Params


def ravel(params: Params) -> tuple[np.ndarray, Callable[[Any], Params]]:
    """Return ``(flat, unravel)``; ``flat`` is a new array, never a view of ``params``.

    For a NumPy vector of the flat dtype, ``unravel`` returns views into it
    wherever a tensor already has that dtype, so perturbing the vector moves
    those tensors too; a tensor of another dtype is converted back to it (to
    its complex counterpart for a complex vector, as the complex step needs).
    """
    names = list(params)
    shapes = [np.shape(value) for value in params.values()]
    dtypes = [np.asarray(value).dtype for value in params.values()]
    slices = list(parameter_slices(params).values())
    size = slices[-1].stop if slices else 0
    if params:
        flat = np.concatenate([np.ravel(value) for value in params.values()])
    else:
        flat = np.zeros(0)

    def unravel(vector: Any) -> Params:
        if tuple(vector.shape) != (size,):
            raise ValueError(f"expected a flat vector of length {size}, got shape {tuple(vector.shape)}.")
        tensors = [vector[where].reshape(shape) for where, shape in zip(slices, shapes)]
        if isinstance(vector, np.ndarray):
            complex_vector = np.iscomplexobj(vector)
            tensors = [tensor.astype(np.result_type(dtype, np.complex64) if complex_vector else dtype, copy=False)
                       for tensor, dtype in zip(tensors, dtypes)]
        return dict(zip(names, tensors))

    return flat, unravel


def unravelled_copy(unravel: Callable[[Any], Params], vector: np.ndarray) -> Params:
    """``unravel(vector)`` as new arrays (each in its tensor's dtype), not views into ``vector``."""
    return {name: np.array(value) for name, value in unravel(vector).items()}


def parameter_slices(params: Params) -> dict[str, slice]:
    """Where each tensor lives in the flat vector from :func:`ravel`."""
    slices: dict[str, slice] = {}
    start = 0
    for name, value in params.items():
        stop = start + int(np.size(value))
        slices[name] = slice(start, stop)
        start = stop
    return slices


def parameter_count(params: Params) -> int:
    """How many scalars the parameters hold."""
    return sum(int(np.size(value)) for value in params.values())


def coordinate_name(params: Params, flat_index: int) -> str:
    """``"W1[3, 2]"`` for a position in the flat vector."""
    for name, where in parameter_slices(params).items():
        if where.start <= flat_index < where.stop:
            index = np.unravel_index(flat_index - where.start, np.shape(params[name]))
            return f"{name}[{', '.join(str(int(i)) for i in index)}]"
    raise IndexError(flat_index)


def split(params: Params, names: list[str], flat: np.ndarray) -> Params:
    """Values of the tensors ``names``, concatenated in that order, back as arrays shaped (and typed) like theirs."""
    tensors, start = {}, 0
    for name in names:
        size = int(np.size(params[name]))
        tensors[name] = flat[start:start + size].reshape(np.shape(params[name])).astype(params[name].dtype)
        start += size
    return tensors

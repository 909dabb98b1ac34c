"""Ravel parameters into one flat vector and back, in a fixed order, keeping dtypes.

``flat, unravel = ravel(params)`` is the contract (as in
``jax.flatten_util.ravel_pytree``): ``flat`` has the parameters' common dtype,
and ``unravel(vector)`` rebuilds a dict with the same names, shapes, order and
per-tensor dtypes. The order is the dict's own, which for the networks built
here is the exercise's ``W1, b1, W2, b2, ...``; each tensor is flattened
row-major (C order). ``unravel`` slices and reshapes, so it works on torch and
jax vectors as well as NumPy ones (the vmap engines unravel inside the traced
cost).

A check's point flattens its parameters once (:class:`PointParams`); every
later ``ravel`` of those parameters hands back that flattening instead of
building it again.

:func:`leaves_by_path` walks a caller's pytree (nested dicts, lists and
tuples) and names each leaf by its ``/``-joined path (``Dense_1/bias``,
``layers/1/0``); a flat dict keeps its keys as names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .models import Params


@dataclass(frozen=True)
class Unravel:
    """``unravel(vector) -> {name: tensor}``: the inverse of :func:`ravel` (a plain object, so it pickles)."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[np.dtype, ...]
    slices: tuple[slice, ...]
    size: int

    def __call__(self, vector: Any) -> Params:
        if tuple(vector.shape) != (self.size,):
            raise ValueError(f"expected a flat vector of length {self.size}, got shape {tuple(vector.shape)}.")
        tensors = [vector[where].reshape(shape) for where, shape in zip(self.slices, self.shapes)]
        if isinstance(vector, np.ndarray):
            complex_vector = np.iscomplexobj(vector)
            tensors = [tensor.astype(np.result_type(dtype, np.complex64) if complex_vector else dtype, copy=False)
                       for tensor, dtype in zip(tensors, self.dtypes)]
        return dict(zip(self.names, tensors))


class PointParams(dict[str, np.ndarray]):
    """A check's parameters, flattened once: ``ravel`` of them returns this flattening (a copy of ``flat``)."""

    flat: np.ndarray
    unravel: Unravel

    all_float64: bool

    @classmethod
    def of(cls, params: Params) -> "PointParams":
        made = cls(params)
        made.flat, made.unravel = _flatten(params)
        made.flat.flags.writeable = False
        made.all_float64 = all(value.dtype == np.float64 for value in params.values())
        return made


def _flatten(params: Params) -> tuple[np.ndarray, Unravel]:
    names = tuple(params)
    shapes = tuple(tuple(np.shape(value)) for value in params.values())
    dtypes = tuple(np.asarray(value).dtype for value in params.values())
    slices = tuple(parameter_slices(params).values())
    size = slices[-1].stop if slices else 0
    flat = np.concatenate([np.ravel(value) for value in params.values()]) if params else np.zeros(0)
    return flat, Unravel(names, shapes, dtypes, slices, size)


def ravel(params: Params) -> tuple[np.ndarray, Callable[[Any], Params]]:
    """Return ``(flat, unravel)``; ``flat`` is a new array, never a view of ``params``.

    For a NumPy vector of the flat dtype, ``unravel`` returns views into it
    wherever a tensor already has that dtype, so perturbing the vector moves
    those tensors too; a tensor of another dtype is converted back to it (to
    its complex counterpart for a complex vector, as the complex step needs).
    """
    if isinstance(params, PointParams):
        return params.flat.copy(), params.unravel
    return _flatten(params)


def flat_values(params: Params) -> np.ndarray:
    """The parameters as one flat vector, read-only where the point already holds it (no copy)."""
    if isinstance(params, PointParams):
        return params.flat
    return _flatten(params)[0]


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


def parameter_count(params: Mapping[str, Any]) -> int:
    """How many scalars the parameters hold."""
    if isinstance(params, PointParams):
        return int(params.flat.size)
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


Coordinates = Mapping[str, np.ndarray]
"""Some elements of some tensors: per tensor name, flat (row-major) positions into that tensor, e.g. the
coordinates a failing check's second look re-examines."""


def coordinate_indices(params: Params, names: list[str], coordinates: Coordinates | None = None) -> np.ndarray:
    """Positions in the flat vector of :func:`ravel`: every element of the tensors ``names``, in that order, or
    only ``coordinates[name]`` of each."""
    slices = parameter_slices(params)
    if coordinates is None and names == list(params):
        return np.arange(sum(where.stop - where.start for where in slices.values()))
    pieces = [slices[name].start + (np.arange(slices[name].stop - slices[name].start) if coordinates is None
                                    else np.asarray(coordinates[name], dtype=np.int64)) for name in names]
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)


def split_coordinates(params: Params, names: list[str], flat: np.ndarray,
                      coordinates: Coordinates | None = None) -> Params:
    """:func:`split` of every element; with ``coordinates``, each tensor's values at ``coordinates[name]`` as a
    1-D array in that order (what :func:`coordinate_indices` put in ``flat``)."""
    if coordinates is None:
        return split(params, names, flat)
    tensors, start = {}, 0
    for name in names:
        size = int(np.size(coordinates[name]))
        tensors[name] = flat[start:start + size].astype(params[name].dtype)
        start += size
    return tensors


def is_container(value: Any) -> bool:
    """A pytree node: a mapping, list or tuple (a leaf is anything else)."""
    return isinstance(value, (Mapping, list, tuple))


def leaves_by_path(tree: Any) -> list[tuple[str, Any]]:
    """``[(name, leaf), ...]`` in the tree's order: names are ``/``-joined keys and indices.

    Mappings keep their own order (as Python dicts do); lists and tuples are
    numbered from 0. A flat mapping's names are its keys, unchanged.
    """
    found: list[tuple[str, Any]] = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, Mapping):
            items = [(str(key), value) for key, value in node.items()]
        elif isinstance(node, (list, tuple)):
            items = [(str(i), value) for i, value in enumerate(node)]
        else:
            found.append(("/".join(path), node))
            return
        for key, value in items:
            walk(value, path + (key,))

    walk(tree, ())
    return found


def rebuild(tree: Any, leaves: Mapping[str, Any]) -> Any:
    """``tree`` with each leaf replaced by ``leaves[name]`` (names as :func:`leaves_by_path` gives them).

    Containers are rebuilt with their own type (dict subclasses as plain dicts
    where the type cannot be built from items; namedtuples field by field).
    """
    def walk(node: Any, path: tuple[str, ...]) -> Any:
        if isinstance(node, Mapping):
            items = {key: walk(value, path + (str(key),)) for key, value in node.items()}
            try:
                return type(node)(items)  # type: ignore[call-arg]  # a dict type built from its items
            except TypeError:
                return items
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            return type(node)(*(walk(value, path + (str(i),)) for i, value in enumerate(node)))
        if isinstance(node, (list, tuple)):
            return type(node)(walk(value, path + (str(i),)) for i, value in enumerate(node))
        return leaves["/".join(path)]

    return walk(tree, ())

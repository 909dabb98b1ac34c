"""gradbench's ``det`` eval: the determinant of a square matrix by expansion by minors.

``det(A)`` for an l x l matrix by Laplace expansion along the first row of
each minor: ``det(M) = sum_p (-1)^p M[0, p] det(M without row 0, column p)``.
gradbench writes it as a recursion, ``O(l!)`` scalar operations. The same
expansion computes the same minor many times: the minor on the bottom k rows
and a set S of k columns is needed by every branch that has removed the
other columns. Here each such minor is computed once, level by level from
the bottom row up, as the same sum in the same order:

    minor(k rows, S) = sum_p (-1)^p A[l - k, S_p] minor(k - 1 rows, S without S_p)

which is ``O(2^l l)`` work in ``l`` vectorised steps, so every source runs
every one of gradbench's sizes (l = 5 .. 11) in seconds; the recursion's
``l!`` would keep torch and jax, which see every scalar operation, to l <= 7.

Parameters ``{"A": (l, l)}`` (gradbench's input is ``A`` row-major, flat;
its gradient is this gradient flattened row-major); X and Y are ``None``.
The determinant is a polynomial in the entries, so the complex step applies.
Cases are gradbench's inputs (``A = rand(l*l)``, seeded 31337, one draw per
size in order) at l = 5 .. 11, all of its sizes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from ..errors import InputError
from ..gradbench import draw_inputs, input_at
from . import Model, Params, PlantedBug, PointTuple

SIZES: tuple[int, ...] = (5, 6, 7, 8, 9, 10, 11)
"""gradbench's matrix sizes l (its ``-l`` default), in the order it draws them."""


@dataclass(frozen=True)
class Level:
    """Step k of the expansion: the minors on the bottom k rows, one per k-subset of the columns.

    ``columns[c, p]`` is the p-th column of subset c, ``smaller[c, p]`` the
    index at step k - 1 of that subset without it, ``signs[p] = (-1)^p`` (a NumPy array: the cost
    written against ``xp`` subtracts the odd positions instead, so it runs on any device).
    """

    row: int
    columns: np.ndarray
    smaller: np.ndarray
    signs: np.ndarray


@lru_cache(maxsize=None)
def expansion_levels(size: int) -> tuple[Level, ...]:
    """The steps of the expansion of an ``size x size`` determinant, the bottom row's first."""
    levels = []
    previous: dict[tuple[int, ...], int] = {(): 0}
    for k in range(1, size + 1):
        subsets = list(itertools.combinations(range(size), k))
        columns = np.array(subsets, dtype=np.intp).reshape(len(subsets), k)
        smaller = np.array([[previous[subset[:p] + subset[p + 1:]] for p in range(k)] for subset in subsets],
                           dtype=np.intp).reshape(len(subsets), k)
        signs = np.array([(-1.0) ** p for p in range(k)])
        levels.append(Level(size - k, columns, smaller, signs))
        previous = {subset: index for index, subset in enumerate(subsets)}
    return tuple(levels)


def det_by_minors(params: Params, X: Any = None, Y: Any = None, xp: Any = np) -> Any:
    """``det(A)`` by expansion by minors along the first row of each minor, each minor computed once."""
    A = params["A"]
    minors = xp.ones_like(A[0, :1])                                  # the empty minor: 1
    for level in expansion_levels(A.shape[0]):
        entries = A[level.row][level.columns]                         # A[l-k, S_p]
        below = minors[level.smaller]                                 # minor(k-1 rows, S without S_p)
        products = entries * below
        minors = xp.sum(products[:, 0::2], axis=1) - xp.sum(products[:, 1::2], axis=1)   # sum_p (-1)^p ...
    return minors[0]


def det_gradient(params: Params, X: Any = None, Y: Any = None) -> Params:
    """d det / dA by reverse mode written by hand, each reverse step beside the forward line it reverses."""
    A = params["A"]
    levels = expansion_levels(A.shape[0])
    minors = [np.ones(1, dtype=A.dtype)]
    entries, belows = [], []
    for level in levels:
        entries.append(A[level.row][level.columns])                   # forward: entries = A[l-k, S_p]
        belows.append(minors[-1][level.smaller])                      # forward: below = previous minors[S - S_p]
        minors.append(np.sum(level.signs * entries[-1] * belows[-1], axis=1))   # forward: minors = sum_p (-1)^p ...
    d_A = np.zeros_like(A)
    d_minors = np.ones(1, dtype=A.dtype)                               # reverses det = minors[0] at the top
    for k in range(len(levels), 0, -1):
        level, entry, below = levels[k - 1], entries[k - 1], belows[k - 1]
        # reverses minors = sum_p signs_p * entries_p * below_p
        d_entries = d_minors[:, None] * level.signs * below
        d_below = d_minors[:, None] * level.signs * entry
        # reverses entries = A[l-k, S_p]: each entry of the row gathers from every subset that holds it
        np.add.at(d_A[level.row], level.columns, d_entries)
        # reverses below = previous minors[smaller]
        d_minors = np.zeros(len(minors[k - 1]), dtype=A.dtype)
        np.add.at(d_minors, level.smaller, d_below)
    return {"A": d_A}


def det_gradient_without_entry_sign(params: Params, X: Any = None, Y: Any = None) -> Params:
    """The planted bug: the sign ``(-1)^p`` dropped when reversing ``signs * entries * below`` into the entries.

    The cotangent of the minors below keeps its sign, that of the matrix
    entries does not: every entry in an odd position of its subset gets its
    contribution with the wrong sign.
    """
    A = params["A"]
    levels = expansion_levels(A.shape[0])
    minors = [np.ones(1, dtype=A.dtype)]
    for level in levels:
        minors.append(np.sum(level.signs * A[level.row][level.columns] * minors[-1][level.smaller], axis=1))
    d_A = np.zeros_like(A)
    d_minors = np.ones(1, dtype=A.dtype)
    for k in range(len(levels), 0, -1):
        level = levels[k - 1]
        below = minors[k - 1][level.smaller]
        np.add.at(d_A[level.row], level.columns, d_minors[:, None] * below)        # the sign forgotten here
        d_below = d_minors[:, None] * level.signs * A[level.row][level.columns]
        d_minors = np.zeros(len(minors[k - 1]), dtype=A.dtype)
        np.add.at(d_minors, level.smaller, d_below)
    return {"A": d_A}


def validate_det_point(params: Params, X: Any, Y: Any) -> None:
    """``{"A": (l, l)}`` with l >= 1, and no data."""
    if sorted(params) != ["A"]:
        raise InputError(f"det takes one parameter, A (the square matrix); got {sorted(params)}. "
                         "Build a point with det_point(l).")
    shape = np.shape(params["A"])
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
        raise InputError(f"det's A must be a square matrix (l, l) with l >= 1; got shape {shape}. "
                         "gradbench's flat row-major A of length l*l is A.reshape(l, l).")
    if shape[0] > 16:
        raise InputError(f"det expands by minors, 2^l l work and memory; l = {shape[0]} is beyond the "
                         "l <= 16 this model accepts. Use a smaller matrix.")
    if X is not None or Y is not None:
        raise InputError("det has no data; pass X=None and Y=None.")


def _draw(rng: np.random.RandomState, sizes: tuple[int, ...]) -> np.ndarray:
    return rng.rand(sizes[0] * sizes[0])     # gradbench: A = np.random.rand(ell * ell), row-major


def det_inputs() -> list[tuple[tuple[int, ...], np.ndarray]]:
    """Every gradbench input of the eval, ``((l,), A flat)`` in its order."""
    return list(draw_inputs([SIZES], _draw))


def det_point(l: int) -> PointTuple:  # noqa: E741 - gradbench's name for the size
    """gradbench's input at size l: ``({"A": A (l, l)}, None, None)``."""
    if l not in SIZES:
        raise InputError(f"gradbench's det sizes are l = {', '.join(map(str, SIZES))}; got l={l!r}.")
    return {"A": input_at([SIZES], _draw, (l,)).reshape(l, l)}, None, None


def _case(l: int) -> Callable[[], PointTuple]:  # noqa: E741
    return lambda: det_point(l)


MODEL = Model(
    name="det",
    cost=det_by_minors,
    description="gradbench's det: the determinant of an l x l matrix by expansion by minors",
    validate_point=validate_det_point,
    gradient=det_gradient,
    planted_bug=PlantedBug(det_gradient_without_entry_sign,
                           "the expansion's sign (-1)^p dropped when reversing into the matrix entries", ("A",)),
    cases={f"det-l{l}": _case(l) for l in SIZES},
    complex_safe=True,
)

"""A Jacobian by compressed (column-coloured) finite differences, for a function that declares its sparsity.

When no output row depends on two columns ``i`` and ``k`` at once, one
centered difference along ``h_i e_i + h_k e_k`` gives both columns: each row
moves with the one column of the two it depends on. Columns are coloured so
that no two of a colour share a row (a greedy colouring of the column
intersection graph, columns in order: Curtis, Powell and Reid's idea), and
the Jacobian costs ``2 * colours`` forward passes instead of ``2 * columns``.
Bundle adjustment's reprojection rows each depend on one camera, one point
and one weight: 15 colours for any number of cameras, points and
observations.

The entries come out as the one-column differences would (a row's output
sees only its own column of the colour move), with the same round-off bars.
A row that moves under a colour it has no declared entry in shows that the
declared pattern misses a dependency: that is an error, never a silent zero.
(A missed dependency on a column whose colour the row does have an entry in
cannot be told apart from that entry: the declared pattern is the model's
promise, and a wrong one shows as a mismatch against the candidate.)
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from ..errors import InputError
from ..point import Point
from ..ravel import parameter_slices

Values = Callable[[Any], np.ndarray]
"""``params -> the function's output at them, flattened (float64)``."""

Sparsity = Mapping[str, tuple[np.ndarray, np.ndarray]]
"""``{parameter name: (output rows, flat entries of that parameter)}``: where the Jacobian can be nonzero."""


def sparsity_pattern(declared: Sparsity, point: Point, rows: int, model: str) -> tuple[np.ndarray, np.ndarray]:
    """The declared pattern as ``(row, column)`` pairs of the flat Jacobian ``(rows, point.flat.size)``, columns
    in the point's order of parameters; a pattern that names an unknown parameter or an entry out of range is
    an :class:`InputError`."""
    slices = parameter_slices(point.params)
    unknown = sorted(set(declared) - set(slices))
    if unknown:
        raise InputError(f"model {model!r} declares Jacobian sparsity for {', '.join(unknown)}, which the point "
                         f"does not have (its parameters: {', '.join(slices)}); key it by parameter name.")
    found_rows, found_columns = [], []
    for name, (output_rows, entries) in declared.items():
        output_rows, entries = np.asarray(output_rows, dtype=np.intp), np.asarray(entries, dtype=np.intp)
        where = slices[name]
        size = where.stop - where.start
        if output_rows.shape != entries.shape or output_rows.ndim != 1:
            raise InputError(f"model {model!r}: the sparsity of {name!r} must be two 1-D arrays of equal length "
                             f"(output rows, entries); got shapes {output_rows.shape} and {entries.shape}.")
        if output_rows.size and (output_rows.min() < 0 or output_rows.max() >= rows
                                 or entries.min() < 0 or entries.max() >= size):
            raise InputError(f"model {model!r}: the sparsity of {name!r} names an output row outside 0..{rows - 1} "
                             f"or an entry outside 0..{size - 1}; give flat indices of the output and of {name!r}.")
        found_rows.append(output_rows)
        found_columns.append(entries + where.start)
    if not found_rows:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    return np.concatenate(found_rows), np.concatenate(found_columns)


def greedy_colouring(rows: np.ndarray, columns: np.ndarray, n_columns: int) -> np.ndarray:
    """A colour per column such that no two columns of a colour have an entry in the same row.

    Columns are taken in order, each getting the smallest colour none of the
    columns it shares a row with already has. Columns declared to have no
    entry at all share one colour of their own, after the others: its
    difference must move no row, which checks the declaration.
    """
    colour = np.full(n_columns, -1, dtype=np.intp)
    if rows.size == 0:
        return np.zeros(n_columns, dtype=np.intp)
    keys = np.unique(rows.astype(np.int64) * n_columns + columns)  # each (row, column) once, by row then column
    pair_rows, row_columns = keys // n_columns, keys % n_columns
    row_starts = np.searchsorted(pair_rows, np.arange(int(pair_rows[-1]) + 2))
    by_column = np.argsort(row_columns, kind="stable")
    column_rows = pair_rows[by_column]
    column_starts = np.searchsorted(row_columns[by_column], np.arange(n_columns + 1))
    taken = np.zeros(n_columns + 1, dtype=bool)  # scratch: the colours a column's neighbours already have
    top = 0  # colours in use so far
    for column in range(n_columns):
        its_rows = column_rows[column_starts[column]:column_starts[column + 1]]
        if not its_rows.size:
            continue
        starts, lengths = row_starts[its_rows], row_starts[its_rows + 1] - row_starts[its_rows]
        # every entry of those rows: each row's run of positions, laid end to end
        positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
        neighbours = colour[row_columns[positions]]
        neighbours = neighbours[neighbours >= 0]
        taken[neighbours] = True
        colour[column] = int(np.argmin(taken[:top + 1]))  # the first colour not taken (top itself is free)
        taken[neighbours] = False
        top = max(top, int(colour[column]) + 1)
    colour[colour < 0] = top
    return colour


def coloured_columns(values: Values, point: Point, steps: np.ndarray, pattern: tuple[np.ndarray, np.ndarray],
                     colours: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    """The centered-difference Jacobian ``(m, n)`` and its round-off from one difference per colour.

    ``1 + 2 * colours`` passes. For colour ``c`` every column ``i`` of it is
    moved by its own step ``h_i``; row ``r``'s difference over ``2 h_i`` is
    ``J[r, i]`` for the one column ``i`` of colour ``c`` it has an entry in.
    """
    rows, columns = pattern
    flat, unravel = point.flat.copy(), point.unravel
    at_point = values(unravel(flat))
    jacobian = np.zeros((at_point.size, flat.size))
    # per row and colour, the one column of that colour the row has an entry in (-1: none)
    column_of = np.full((at_point.size, int(colours.max(initial=0)) + 1), -1, dtype=np.intp)
    column_of[rows, colours[columns]] = columns
    for c in range(column_of.shape[1]):
        members = np.flatnonzero(colours == c)
        moved = flat.copy()
        moved[members] = flat[members] + steps[members]
        plus = values(unravel(moved))
        moved[members] = flat[members] - steps[members]
        minus = values(unravel(moved))
        difference = plus - minus
        covered = column_of[:, c] >= 0
        stray = np.flatnonzero(~covered & (difference != 0))
        if stray.size:
            raise InputError(
                f"model {model!r} declares a Jacobian sparsity that misses entries: output row {int(stray[0])} "
                f"changes when columns {members[:5].tolist()}{'...' if members.size > 5 else ''} move, but the "
                "pattern gives it no entry in any of them. Declare every (row, entry) the function depends on, "
                "or leave jacobian_sparsity out.")
        which = column_of[covered, c]
        jacobian[covered, which] = difference[covered] / (2 * steps[which])
    rounding = np.finfo(point.precision).eps * np.maximum(np.abs(at_point), np.finfo(np.float64).tiny)[:, None] \
        / steps[None, :]
    return jacobian, rounding


__all__ = ["coloured_columns", "greedy_colouring", "sparsity_pattern"]

"""The column-coloured finite-difference Jacobian on small patterns whose colourings are known by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import gradcheck_bench as gb
from gradcheck_bench.counting import count_forward_passes
from gradcheck_bench.differences.coloring import greedy_colouring
from gradcheck_bench.errors import InputError


def chain(params, X, Y, xp=np):
    """``y_i = x_{i-1} x_i + sin(x_{i+1})``: row i depends on columns i-1, i, i+1 (a tridiagonal Jacobian)."""
    x = params["x"]
    padded = xp.concatenate([xp.zeros_like(x[:1]), x, xp.zeros_like(x[:1])])
    return padded[:-2] * padded[1:-1] + xp.sin(padded[2:])


def tridiagonal(params, X, Y):
    n = params["x"].size
    rows = np.concatenate([np.arange(n), np.arange(1, n), np.arange(n - 1)])
    columns = np.concatenate([np.arange(n), np.arange(n - 1), np.arange(1, n)])
    return {"x": (rows, columns)}


CHAIN = gb.Model(name="chain", function=chain, jacobian_sparsity=tridiagonal)


def test_known_colourings():
    # a diagonal: one colour; one dense row: a colour per column; tridiagonal: 3 (columns i, i+3, ... together)
    assert greedy_colouring(np.arange(4), np.arange(4), 4).tolist() == [0, 0, 0, 0]
    assert greedy_colouring(np.zeros(4, dtype=int), np.arange(4), 4).tolist() == [0, 1, 2, 3]
    rows, columns = tridiagonal({"x": np.zeros(7)}, None, None)["x"]
    assert greedy_colouring(rows, columns, 7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    # a column with no entry gets a colour of its own, after the others
    assert greedy_colouring(np.array([0, 0]), np.array([0, 2]), 3).tolist() == [0, 2, 1]


def test_a_tridiagonal_jacobian_takes_three_colours_and_matches_column_by_column():
    params = {"x": np.random.default_rng(0).standard_normal(40)}
    plain = dataclasses.replace(CHAIN, jacobian_sparsity=None)
    with count_forward_passes() as coloured_count:
        coloured = gb.gradient("fd", params, model=CHAIN, derivative="jacobian")
    with count_forward_passes() as plain_count:
        column_by_column = gb.gradient("fd", params, model=plain, derivative="jacobian")
    assert plain_count.passes - coloured_count.passes == 2 * 40 - 2 * 3
    assert np.array_equal(coloured.tensors["x"], column_by_column.tensors["x"])
    x = params["x"]  # the Jacobian by hand: d y_i / d x_{i-1} = x_i, d x_i = x_{i-1}, d x_{i+1} = cos x_{i+1}
    expected = np.diag(np.concatenate([[0.0], x[:-1]])) + np.diag(x[1:], -1) + np.diag(np.cos(x[1:]), 1)
    assert np.allclose(coloured.tensors["x"], expected, rtol=1e-8, atol=1e-8)
    assert gb.check(lambda p, X, Y: {"x": expected}, "fd", params, model=CHAIN, derivative="jacobian").passed


def test_a_sparsity_for_an_unknown_parameter_is_an_error():
    wrong = dataclasses.replace(CHAIN, jacobian_sparsity=lambda p, X, Y: {"z": tridiagonal(p, X, Y)["x"]})
    with pytest.raises(InputError, match="does not have"):
        gb.gradient("fd", {"x": np.ones(5)}, model=wrong, derivative="jacobian")

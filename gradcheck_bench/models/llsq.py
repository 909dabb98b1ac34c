"""gradbench's ``llsq`` eval: a linear least-squares objective, a polynomial fit to a step.

For coefficients ``x`` (length m) and the n sample points
``t_i = -1 + 2 i / (n - 1)``, ``i = 0..n-1``, with targets ``s_i = sign(t_i)``
(sign of 0 is 0):

    y(x) = 1/2 sum_i (s_i - sum_j x_j t_i^j)^2.

Parameters ``{"x": (m,)}``. gradbench's integer n is data, not
differentiated: :func:`llsq_data` turns it into X, the powers
``X[i, j] = t_i^j`` (n, m), and Y, the targets ``sign(t)`` (n,), so the
objective is the plain least-squares ``1/2 |Y - X x|^2``. The powers are
built once per point, not on every evaluation of an oracle. The objective is
a polynomial in x, so the complex step applies.

Cases are gradbench's inputs (``x = rand(128)``, seeded 31337, one draw per
size, ordered by n*m) at every one of its sizes: n = 16 ... 16392, m = 128.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import InputError
from ..gradbench import draw_inputs, input_at
from ..validation import require_float_array
from . import Model, Params, PlantedBug, PointTuple

N_SIZES: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8196, 16392)
"""gradbench's sample counts n (its ``-n`` default; 8196 and 16392 as written there)."""

M_SIZES: tuple[int, ...] = (128,)
"""gradbench's coefficient counts m (its ``-m`` default)."""


def llsq_sample_points(n: int) -> np.ndarray:
    """``t_i = -1 + 2 i / (n - 1)`` for ``i = 0..n-1``: where gradbench's llsq samples the step ``sign(t)``."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 2:
        raise InputError(f"llsq needs an integer n >= 2 sample points, got {n!r}.")
    return -1.0 + 2.0 * np.arange(n) / (n - 1)


def llsq_data(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The data of gradbench's input ``{x, n}`` for m coefficients: ``X[i, j] = t_i^j`` (n, m) and ``Y = sign(t)``."""
    if not isinstance(m, (int, np.integer)) or isinstance(m, bool) or m < 1:
        raise InputError(f"llsq needs an integer m >= 1 coefficients, got {m!r}.")
    t = llsq_sample_points(n)
    return np.vander(t, m, increasing=True), np.sign(t)


def llsq(params: Params, X: Any, Y: Any, xp: Any = np) -> Any:
    """``1/2 sum_i (Y_i - sum_j X_ij x_j)^2``: with gradbench's data, ``1/2 sum_i (s_i - sum_j x_j t_i^j)^2``."""
    residual = Y - X @ params["x"]                              # r_i = s_i - sum_j x_j t_i^j
    return 0.5 * xp.sum(residual * residual)


def llsq_gradient(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    """dy/dx by reverse mode written by hand: each reverse step beside the forward line it reverses."""
    residual = Y - X @ params["x"]                              # forward: r = s - V x
    d_residual = residual                                       # reverses y = 1/2 sum(r * r)
    d_x = X.T @ -d_residual                                     # reverses r = s - V x
    return {"x": d_x}


def llsq_gradient_half_kept(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    """The planted bug: the 1/2 in front of the squares reversed as if it stayed (``d_r = r / 2``).

    Halving every entry is wrong in every coefficient, so a check names ``x``.
    """
    residual = Y - X @ params["x"]
    return {"x": X.T @ -(0.5 * residual)}


def validate_llsq_point(params: Params, X: Any, Y: Any) -> None:
    """``{"x": (m,)}``, powers X ``(n, m)`` and targets Y ``(n,)``, as :func:`llsq_data` builds them."""
    if sorted(params) != ["x"]:
        raise InputError(f"llsq takes one parameter, x (the m polynomial coefficients); got {sorted(params)}. "
                         "Build a point with llsq_point(n, m).")
    x = params["x"]
    if np.ndim(x) != 1 or np.size(x) < 1:
        raise InputError(f"llsq's x must be a non-empty vector (m,); got shape {np.shape(x)}.")
    require_float_array(X, "X")
    require_float_array(Y, "Y")
    if X.ndim != 2 or X.shape[1] != np.size(x) or Y.shape != (X.shape[0],):
        raise InputError(f"llsq's data are X (n, m) = the powers t_i^j and Y (n,) = sign(t) for x of length "
                         f"m = {np.size(x)}; got X {X.shape} and Y {Y.shape}. Build them with llsq_data(n, m).")


def _draw(rng: np.random.RandomState, sizes: tuple[int, ...]) -> np.ndarray:
    return rng.rand(sizes[1])                # gradbench: x = np.random.rand(m), for (n, m)


def llsq_inputs() -> list[tuple[tuple[int, ...], np.ndarray]]:
    """Every gradbench input of the eval, ``((n, m), x)`` in its order."""
    return list(draw_inputs([N_SIZES, M_SIZES], _draw))


def llsq_point(n: int, m: int = 128) -> PointTuple:
    """gradbench's input at sizes (n, m): ``({"x": x}, X, Y)`` with ``X, Y = llsq_data(n, m)``."""
    if n not in N_SIZES or m not in M_SIZES:
        raise InputError(f"gradbench's llsq sizes are n in {', '.join(map(str, N_SIZES))} and m = 128; "
                         f"got n={n!r}, m={m!r}.")
    return ({"x": input_at([N_SIZES, M_SIZES], _draw, (n, m))}, *llsq_data(n, m))


def _case(n: int, m: int) -> Callable[[], PointTuple]:
    return lambda: llsq_point(n, m)


MODEL = Model(
    name="llsq",
    cost=llsq,
    description="gradbench's llsq: a degree m-1 polynomial fitted to sign(t) by least squares at n points",
    validate_point=validate_llsq_point,
    gradient=llsq_gradient,
    planted_bug=PlantedBug(llsq_gradient_half_kept, "the 1/2 of the squares kept in the reverse step",
                           ("x",)),
    cases={f"llsq-n{n}-m{m}": _case(n, m) for n in N_SIZES for m in M_SIZES},
    complex_safe=True,
)

"""gradbench's ``lse`` eval: log-sum-exp of a vector, built stably from a max and a sum.

``LSE(x) = a + log sum_i exp(x_i - a)`` with ``a = max_i x_i``, as gradbench's
README asks (no library logsumexp with its own derivative). Its gradient is
the softmax ``exp(x_i - a) / sum_k exp(x_k - a)``.

The shift ``a`` is any number as far as the value goes: it cancels exactly,
so the function is smooth everywhere (the max is not smooth at ties, but its
derivative is multiplied by ``1 - sum softmax = 0``). Taking the shift from
the *real part* of the entries keeps the formula analytic for complex
entries, so the complex step applies (``complex_safe=True``); a max of the
complex entries themselves would not be.

Parameters ``{"x": (n,)}``; X and Y are ``None``. Cases are gradbench's
inputs (``x = rand(n)``, seeded 31337, one draw per size in order) at
n = 2500, 5000, 10000, 20000. gradbench's larger sizes, 40000 to 1,280,000,
are left out: the finite-difference and complex-step oracles take one or two
passes of the whole vector per entry, so their time grows as n^2
(docs/models.md quotes the measured times).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import InputError
from ..gradbench import draw_inputs, input_at
from . import Model, Params, PlantedBug, PointTuple

SIZES: tuple[int, ...] = tuple(2500 * 2**k for k in range(10))
"""gradbench's sizes n (its ``-n`` default), in the order it draws them."""

CASE_SIZES: tuple[int, ...] = (2500, 5000, 10000, 20000)
"""The sizes the model's cases use: those every source checks in seconds on a small machine."""


def lse(params: Params, X: Any = None, Y: Any = None, xp: Any = np) -> Any:
    """``a + log sum exp(x - a)``, ``a`` the largest real part of ``x``."""
    x = params["x"]
    a = xp.max(x.real)
    return a + xp.log(xp.sum(xp.exp(x - a)))


def lse_gradient(params: Params, X: Any = None, Y: Any = None) -> Params:
    """The gradient of :func:`lse` by reverse mode written by hand: read it bottom-up against the forward."""
    x = params["x"]
    a = np.max(x)                          # forward: a = max(x)
    e = np.exp(x - a)                      # forward: e = exp(x - a)
    total = np.sum(e)                      # forward: total = sum(e)
    # forward: value = a + log(total)
    d_total = 1.0 / total
    d_a = 1.0
    # reverse of total = sum(e)
    d_e = np.full_like(e, d_total)
    # reverse of e = exp(x - a): both x and the shift a
    d_x = d_e * e
    d_a = d_a - np.sum(d_e * e)            # 1 - sum(softmax): zero up to rounding
    # reverse of a = max(x): the argmax (the first, at a tie) takes the shift's gradient
    d_x[np.argmax(x)] += d_a
    return {"x": d_x}


def lse_gradient_shift_counted_once(params: Params, X: Any = None, Y: Any = None) -> Params:
    """The planted bug: the shift's direct path (``+ a``) reversed, its path through ``x - a`` forgotten.

    Treating ``a`` as a constant inside ``exp(x - a)`` but not in the leading
    ``a +`` leaves ``d_a = 1`` at the argmax: the softmax plus one there.
    """
    x = params["x"]
    e = np.exp(x - np.max(x))
    d_x = e / np.sum(e)
    d_x[np.argmax(x)] += 1.0
    return {"x": d_x}


def validate_lse_point(params: Params, X: Any, Y: Any) -> None:
    """``{"x": (n,)}`` with n >= 1, and no data."""
    if sorted(params) != ["x"]:
        raise InputError(f"lse takes one parameter, x (the vector); got {sorted(params)}. "
                         "Build a point with lse_point(n).")
    if np.ndim(params["x"]) != 1 or np.size(params["x"]) < 1:
        raise InputError(f"lse's x must be a non-empty vector (n,); got shape {np.shape(params['x'])}.")
    if X is not None or Y is not None:
        raise InputError("lse has no data; pass X=None and Y=None.")


def _draw(rng: np.random.RandomState, sizes: tuple[int, ...]) -> np.ndarray:
    return rng.rand(sizes[0])                # gradbench: x = np.random.rand(n)


def lse_inputs() -> list[tuple[tuple[int, ...], np.ndarray]]:
    """Every gradbench input of the eval, ``((n,), x)`` in its order."""
    return list(draw_inputs([SIZES], _draw))


def lse_point(n: int) -> PointTuple:
    """gradbench's input at size n: ``({"x": x}, None, None)``."""
    if n not in SIZES:
        raise InputError(f"gradbench's lse sizes are {', '.join(map(str, SIZES))}; got n={n!r}.")
    return {"x": input_at([SIZES], _draw, (n,))}, None, None


def _case(n: int) -> Callable[[], PointTuple]:
    return lambda: lse_point(n)


MODEL = Model(
    name="lse",
    cost=lse,
    description="gradbench's lse: log-sum-exp of a vector, shifted by its largest entry",
    validate_point=validate_lse_point,
    gradient=lse_gradient,
    planted_bug=PlantedBug(lse_gradient_shift_counted_once,
                           "the max shift's own path reversed, its path through exp(x - a) forgotten (+1 at the argmax)",
                           ("x",)),
    cases={f"lse-n{n}": _case(n) for n in CASE_SIZES},
    complex_safe=True,
)

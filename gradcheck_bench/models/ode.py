"""gradbench's ``ode`` eval: a linear chain of ODEs solved by classic Runge-Kutta, differentiated in x.

For x of length n: ``y_0' = x_0``, ``y_i' = x_i y_{i-1}`` (i >= 1), ``y(0) = 0``,
solved from 0 to ``t_f = 2`` by s steps of 4th-order Runge-Kutta with
``h = 2 / s``. gradbench's ``primal`` is the whole vector ``y(t_f)`` and its
``gradient`` that of the last element, ``d y_{n-1}(t_f) / dx``.

One model carries both, as the softmax layer does: ``function`` is the
vector ``y(t_f)`` (for the Jacobian kinds: the hand-written ``vjp`` and
``jvp`` below) and ``cost`` its last element (for the gradient, gradbench's
``gradient``). The gradient is the VJP with the cotangent ``e_{n-1}``, so the
two hand-written derivatives share one reverse pass.

Parameters ``{"x": (n,)}``; X is the s step lengths (each ``2 / s``, data,
not differentiated: a step count would be a traced number under jax's jit,
an array's length is not); Y is ``None``. Every operation is a product or a
sum, so the complex step applies.

Each step reaches four more links of the chain, so ``y_{n-1}(t_f)`` is
exactly 0 whenever n > 4s, which holds at all of gradbench's sizes: there
the gradient is exactly zero (and gradbench's reference, the derivative of
the exact solution ``x_0 ... x_{n-1} t_f^n / n!``, underflows to zero). The
VJP with a random cotangent is not zero there.

Cases are gradbench's inputs (``x = rand(n)``, seeded 31337, one draw per
combination, ordered by n*s) for (n, s) = (1000, 1), (1000, 10), (10000, 1).
gradbench's other six are left out: the finite-difference and complex-step
oracles solve the ODE once or twice per entry of x, so their time grows as
n^2 s, and from s = 100 on jax compiles the unrolled steps for minutes
(docs/models.md quotes the measured times).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import InputError
from ..gradbench import draw_inputs, input_at
from ..validation import require_float_array
from . import Model, Params, PlantedBug, PointTuple

N_SIZES: tuple[int, ...] = (1000, 10000, 100000)
"""gradbench's chain lengths n (its ``-n`` default)."""

S_SIZES: tuple[int, ...] = (1, 10, 100)
"""gradbench's step counts s (its ``-s`` default)."""

CASE_SIZES: tuple[tuple[int, int], ...] = ((1000, 1), (1000, 10), (10000, 1))
"""The (n, s) of the model's cases, in gradbench's order: those every source checks in seconds."""

FINAL_TIME = 2.0
"""gradbench's ``t_f``."""


# --------------------------------------------------------------------------
# The solution, written once for any array namespace
# --------------------------------------------------------------------------


def rate(x: Any, y: Any, xp: Any = np) -> Any:
    """The right-hand side ``z_0 = x_0``, ``z_i = x_i y_{i-1}``."""
    return xp.concatenate([x[:1], x[1:] * y[:-1]])


def ode_solution(params: Params, X: Any, Y: Any = None, xp: Any = np) -> Any:
    """``y(t_f)`` by one classic Runge-Kutta step per entry of X (the step lengths)."""
    x = params["x"]
    y = xp.zeros_like(x)
    for step in range(X.shape[0]):
        h = X[step]
        k1 = rate(x, y, xp)
        k2 = rate(x, y + h * k1 / 2, xp)
        k3 = rate(x, y + h * k2 / 2, xp)
        k4 = rate(x, y + h * k3, xp)
        y = y + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
    return y


def ode_last(params: Params, X: Any, Y: Any = None, xp: Any = np) -> Any:
    """``y_{n-1}(t_f)``: the scalar whose gradient is gradbench's ``gradient``."""
    return ode_solution(params, X, Y, xp)[-1]


# --------------------------------------------------------------------------
# Hand-written derivatives: a reverse pass (gradient, VJP) and a forward one (JVP)
# --------------------------------------------------------------------------


def rate_reverse(x: np.ndarray, y: np.ndarray, d_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reverses ``z = rate(x, y)``: the cotangents ``(d_x, d_y)`` from ``d_z``."""
    d_x = np.concatenate([d_z[:1], d_z[1:] * y[:-1]])          # z_0 = x_0;  z_i = x_i y_{i-1}
    d_y = np.concatenate([d_z[1:] * x[1:], np.zeros_like(d_z[:1])])
    return d_x, d_y


def step_reverse(x: np.ndarray, y: np.ndarray, h: float, d_next: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Runge-Kutta step reversed: from the cotangent of ``y_next``, those of x and of ``y``."""
    k1 = rate(x, y)                                             # forward: k1 = rate(y)
    u2 = y + h * k1 / 2
    k2 = rate(x, u2)                                            # forward: k2 = rate(y + h k1 / 2)
    u3 = y + h * k2 / 2
    k3 = rate(x, u3)                                            # forward: k3 = rate(y + h k2 / 2)
    u4 = y + h * k3
    # forward: k4 = rate(y + h k3)
    # forward: y_next = y + h (k1 + 2 k2 + 2 k3 + k4) / 6
    d_y = d_next.copy()
    d_k1, d_k2, d_k3, d_k4 = h * d_next / 6, h * d_next / 3, h * d_next / 3, h * d_next / 6
    d_x, d_u4 = rate_reverse(x, u4, d_k4)                       # reverses k4 = rate(u4)
    d_y += d_u4                                                 # reverses u4 = y + h k3
    d_k3 += h * d_u4
    d_x3, d_u3 = rate_reverse(x, u3, d_k3)                      # reverses k3 = rate(u3)
    d_y += d_u3                                                 # reverses u3 = y + h k2 / 2
    d_k2 += h * d_u3 / 2
    d_x2, d_u2 = rate_reverse(x, u2, d_k2)                      # reverses k2 = rate(u2)
    d_y += d_u2                                                 # reverses u2 = y + h k1 / 2
    d_k1 += h * d_u2 / 2
    d_x1, d_y1 = rate_reverse(x, y, d_k1)                       # reverses k1 = rate(y)
    return d_x + d_x3 + d_x2 + d_x1, d_y + d_y1


StepReverse = Callable[[np.ndarray, np.ndarray, float, np.ndarray], tuple[np.ndarray, np.ndarray]]


def reverse_pass(params: Params, X: np.ndarray, cotangent: np.ndarray, step: StepReverse = step_reverse) -> Params:
    """``cotangent^T dy(t_f)/dx``: the forward steps keep each step's start, the reverse walks them back."""
    x = params["x"]
    starts = []
    y = np.zeros_like(x)
    for h in X:
        starts.append(y)
        y = y + h * _increment(x, y, h)                         # forward: one step
    d_x = np.zeros_like(x)
    d_y = np.asarray(cotangent, dtype=np.result_type(x, cotangent))
    for h, start in zip(X[::-1], starts[::-1]):
        step_d_x, d_y = step(x, start, h, d_y)                  # reverses that step
        d_x = d_x + step_d_x
    return {"x": d_x}


def _increment(x: np.ndarray, y: np.ndarray, h: float) -> np.ndarray:
    k1 = rate(x, y)
    k2 = rate(x, y + h * k1 / 2)
    k3 = rate(x, y + h * k2 / 2)
    k4 = rate(x, y + h * k3)
    return (k1 + 2 * k2 + 2 * k3 + k4) / 6


def _last(x: np.ndarray) -> np.ndarray:
    unit = np.zeros_like(x)
    unit[-1] = 1.0
    return unit


def ode_gradient(params: Params, X: np.ndarray, Y: Any = None) -> Params:
    """``d y_{n-1}(t_f) / dx``: the reverse pass from the cotangent ``e_{n-1}``."""
    return reverse_pass(params, X, _last(params["x"]))


def ode_vjp(params: Params, X: np.ndarray, Y: Any, cotangent: np.ndarray) -> Params:
    """``cotangent^T dy(t_f)/dx`` for a cotangent shaped like ``y`` (n,)."""
    return reverse_pass(params, X, cotangent)


def rate_tangent(x: np.ndarray, y: np.ndarray, t_x: np.ndarray, t_y: np.ndarray) -> np.ndarray:
    """Pushes ``(t_x, t_y)`` through ``z = rate(x, y)``."""
    return np.concatenate([t_x[:1], t_x[1:] * y[:-1] + x[1:] * t_y[:-1]])


def step_tangent(x: np.ndarray, y: np.ndarray, h: float, t_x: np.ndarray,
                 t_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Runge-Kutta step and its tangent: each forward line followed by the line that pushes the tangent."""
    k1 = rate(x, y)
    t_k1 = rate_tangent(x, y, t_x, t_y)
    u2, t_u2 = y + h * k1 / 2, t_y + h * t_k1 / 2
    k2 = rate(x, u2)
    t_k2 = rate_tangent(x, u2, t_x, t_u2)
    u3, t_u3 = y + h * k2 / 2, t_y + h * t_k2 / 2
    k3 = rate(x, u3)
    t_k3 = rate_tangent(x, u3, t_x, t_u3)
    u4, t_u4 = y + h * k3, t_y + h * t_k3
    k4 = rate(x, u4)
    t_k4 = rate_tangent(x, u4, t_x, t_u4)
    return (y + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6,
            t_y + h * (t_k1 + 2 * t_k2 + 2 * t_k3 + t_k4) / 6)


StepTangent = Callable[[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def tangent_pass(params: Params, X: np.ndarray, tangent: Params, step: StepTangent = step_tangent) -> np.ndarray:
    """``dy(t_f)/dx t``: the steps run forward with the tangent beside them."""
    x, t_x = params["x"], tangent["x"]
    y = np.zeros_like(x)
    t_y = np.zeros(x.shape, dtype=np.result_type(x, t_x))
    for h in X:
        y, t_y = step(x, y, h, t_x, t_y)
    return t_y


def ode_jvp(params: Params, X: np.ndarray, Y: Any, tangent: Params) -> np.ndarray:
    """``dy(t_f)/dx t`` for a tangent ``{"x": t}`` (n,)."""
    return tangent_pass(params, X, tangent)


# --------------------------------------------------------------------------
# The planted bug: the fourth stage's point y + h k3 reversed as y + h k3 / 2
# --------------------------------------------------------------------------


def step_reverse_half_last_stage(x: np.ndarray, y: np.ndarray, h: float,
                                 d_next: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`step_reverse` with the slip copied from stages 2 and 3: ``u4 = y + h k3`` reversed with h / 2."""
    k1 = rate(x, y)
    u2 = y + h * k1 / 2
    k2 = rate(x, u2)
    u3 = y + h * k2 / 2
    k3 = rate(x, u3)
    u4 = y + h * k3
    d_y = d_next.copy()
    d_k1, d_k2, d_k3, d_k4 = h * d_next / 6, h * d_next / 3, h * d_next / 3, h * d_next / 6
    d_x, d_u4 = rate_reverse(x, u4, d_k4)
    d_y += d_u4
    d_k3 += h * d_u4 / 2                                        # the slip: u4 = y + h k3 has no 1/2
    d_x3, d_u3 = rate_reverse(x, u3, d_k3)
    d_y += d_u3
    d_k2 += h * d_u3 / 2
    d_x2, d_u2 = rate_reverse(x, u2, d_k2)
    d_y += d_u2
    d_k1 += h * d_u2 / 2
    d_x1, d_y1 = rate_reverse(x, y, d_k1)
    return d_x + d_x3 + d_x2 + d_x1, d_y + d_y1


def buggy_gradient(params: Params, X: np.ndarray, Y: Any = None) -> Params:
    return reverse_pass(params, X, _last(params["x"]), step_reverse_half_last_stage)


def buggy_vjp(params: Params, X: np.ndarray, Y: Any, cotangent: np.ndarray) -> Params:
    return reverse_pass(params, X, cotangent, step_reverse_half_last_stage)


def step_tangent_half_last_stage(x: np.ndarray, y: np.ndarray, h: float, t_x: np.ndarray,
                                 t_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`step_tangent` with the same slip: the tangent of ``u4 = y + h k3`` pushed with h / 2."""
    k1 = rate(x, y)
    t_k1 = rate_tangent(x, y, t_x, t_y)
    u2, t_u2 = y + h * k1 / 2, t_y + h * t_k1 / 2
    k2 = rate(x, u2)
    t_k2 = rate_tangent(x, u2, t_x, t_u2)
    u3, t_u3 = y + h * k2 / 2, t_y + h * t_k2 / 2
    k3 = rate(x, u3)
    t_k3 = rate_tangent(x, u3, t_x, t_u3)
    u4, t_u4 = y + h * k3, t_y + h * t_k3 / 2                  # the slip: u4 = y + h k3 has no 1/2
    k4 = rate(x, u4)
    t_k4 = rate_tangent(x, u4, t_x, t_u4)
    return (y + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6,
            t_y + h * (t_k1 + 2 * t_k2 + 2 * t_k3 + t_k4) / 6)


def buggy_jvp(params: Params, X: np.ndarray, Y: Any, tangent: Params) -> np.ndarray:
    return tangent_pass(params, X, tangent, step_tangent_half_last_stage)


# --------------------------------------------------------------------------
# Points
# --------------------------------------------------------------------------


def ode_steps(s: int) -> np.ndarray:
    """The data X of gradbench's input ``{x, s}``: s steps of ``h = t_f / s``."""
    if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 1:
        raise InputError(f"ode needs an integer number of steps s >= 1, got {s!r}.")
    return np.full(s, FINAL_TIME / s)


def validate_ode_point(params: Params, X: Any, Y: Any) -> None:
    """``{"x": (n,)}`` with n >= 1, step lengths X ``(s,)`` with s >= 1, and no Y."""
    if sorted(params) != ["x"]:
        raise InputError(f"ode takes one parameter, x (the chain's rates); got {sorted(params)}. "
                         "Build a point with ode_point(n, s).")
    if np.ndim(params["x"]) != 1 or np.size(params["x"]) < 1:
        raise InputError(f"ode's x must be a non-empty vector (n,); got shape {np.shape(params['x'])}.")
    require_float_array(X, "X")
    if X.ndim != 1 or X.size < 1:
        raise InputError(f"ode's X must be the step lengths (s,), e.g. ode_steps(s); got shape {X.shape}.")
    if Y is not None:
        raise InputError("ode has no labels; pass Y=None.")


def _draw(rng: np.random.RandomState, sizes: tuple[int, ...]) -> np.ndarray:
    return rng.rand(sizes[0])                # gradbench: x = np.random.rand(n), for (n, s)


def ode_inputs() -> list[tuple[tuple[int, ...], np.ndarray]]:
    """Every gradbench input of the eval, ``((n, s), x)`` in its order."""
    return list(draw_inputs([N_SIZES, S_SIZES], _draw))


def ode_point(n: int, s: int) -> PointTuple:
    """gradbench's input at sizes (n, s): ``({"x": x}, ode_steps(s), None)``."""
    if n not in N_SIZES or s not in S_SIZES:
        raise InputError(f"gradbench's ode sizes are n in {', '.join(map(str, N_SIZES))} and s in "
                         f"{', '.join(map(str, S_SIZES))}; got n={n!r}, s={s!r}.")
    return {"x": input_at([N_SIZES, S_SIZES], _draw, (n, s))}, ode_steps(s), None


def _case(n: int, s: int) -> Callable[[], PointTuple]:
    return lambda: ode_point(n, s)


MODEL = Model(
    name="ode",
    cost=ode_last,
    function=ode_solution,
    description="gradbench's ode: a linear chain of ODEs by s classic Runge-Kutta steps; cost its last element",
    validate_point=validate_ode_point,
    gradient=ode_gradient,
    derivatives={"vjp": ode_vjp, "jvp": ode_jvp},
    planted_bug=PlantedBug(buggy_gradient, "the fourth Runge-Kutta stage's point y + h k3 differentiated as "
                           "y + h k3 / 2, in every kind", ("x",),
                           derivatives={"vjp": buggy_vjp, "jvp": buggy_jvp}),
    cases={f"ode-n{n}-s{s}": _case(n, s) for n, s in CASE_SIZES},
    complex_safe=True,
)

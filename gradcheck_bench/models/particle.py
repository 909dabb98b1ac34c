"""gradbench's particle eval: a charged particle's miss distance, with a gradient inside the objective (nested AD).

gradbench (gradbench/gradbench, MIT, Copyright (c) 2024 Sam Estep), after
Pearlmutter and Siskind. Two unit charges sit at ``(10, 10 - w)`` and
``(10, 0)``; their potential is ``p(x; w) = 1/|x - (10, 10 - w)| + 1/|x - (10, 0)|``
and a particle of unit mass starting at ``(0, 8)`` with velocity ``(0.75, 0)``
is accelerated by ``-grad_x p(x; w)``: the *inner* gradient. Naive Euler steps
of ``dt = 0.1`` (the acceleration taken at the current position) run until the
first proposed position with ``y <= 0``; the last position is carried along its
velocity to ``y = 0``, and the cost is the square of that crossing's ``x``.
gradbench minimises it over ``w`` from ``w = 0`` with its gradient-descent
solver (:mod:`gradcheck_bench.descent`), which needs the *outer* derivative
``d cost / d w``, taken through the Euler loop and its data-dependent stop.

Each framework's part is explicit: the cost takes its inner gradient from
:func:`inner_gradient`, chosen by ``xp``:

* NumPy: the hand-written analytic gradient of ``p``, complex-safe, so the
  ``fd``, ``richardson`` and ``complex-step`` oracles differentiate the cost as it is;
* torch: ``torch.func.grad`` (inner reverse) or ``torch.func.jvp`` along each
  axis (inner forward), which the torch source's autograd differentiates again;
* jax: ``jax.grad`` or ``jax.jvp`` along each axis, differentiated again by the
  jax source's ``jax.grad``/``jax.jvp``. The Euler loop runs as a ``lax.scan`` of
  :data:`MAX_EULER_STEPS` steps that stand still after the stop (see
  :func:`gradcheck_bench.descent.while_loop`), so jax's jitted transformations
  differentiate it in both modes.

gradbench's four functions ``ff``, ``fr``, ``rf``, ``rr`` (outer mode, inner
mode) are :func:`model_for` (the inner mode) and the source's gradient (outer
reverse) or its JVP (outer forward): :func:`solve` runs gradbench's descent with
any of them. :data:`UNAVAILABLE` says which a source cannot give, and why.

The hand-written gradient is reverse mode through the recorded trajectory, each
reverse step next to the forward line it reverses. The planted bug is the
classic slip in differentiating the field ``d / r^3``: treating ``r`` as a
constant, so the ``-3 d d^T / r^5`` term of its Jacobian is missing.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..descent import FORWARD, REVERSE, framework_gradient, while_loop
from ..errors import InputError
from . import Model, Params, PlantedBug

START = (0.0, 8.0)
"""The particle's initial position."""

VELOCITY = (0.75, 0.0)
"""Its initial velocity."""

DT = 0.1
"""The Euler step."""

MAX_EULER_STEPS = 1000
"""Euler steps a trajectory may take (gradbench's input takes a few hundred; jax runs exactly this many)."""

EXPECTED_W = 0.2071918746486116
"""gradbench's expected answer: the ``w`` its solver reaches from ``w = 0``, whatever the modes."""

MODES = ("rr", "rf", "fr", "ff")
"""gradbench's functions: the outer derivative's mode, then the inner gradient's (``r`` reverse, ``f`` forward)."""

UNAVAILABLE = {
    ("torch", "ff"): "the torch source takes JVPs with forward-mode dual tensors (torch.autograd.forward_ad), "
                     "and torch cannot nest forward mode inside them ('Nested forward mode AD is not supported')",
}
"""(source, mode) pairs a source cannot give, with the reason; every other pair of an installed source runs."""


def _offsets(x: Any, w: Any, xp: Any = np) -> tuple[Any, Any]:
    """``x - (10, 10 - w)`` and ``x - (10, 0)``: the position seen from each charge."""
    return xp.stack([x[0] - 10.0, x[1] - 10.0 + w]), xp.stack([x[0] - 10.0, x[1]])


def potential(x: Any, w: Any, xp: Any = np) -> Any:
    """``p(x; w) = 1/|x - (10, 10 - w)| + 1/|x - (10, 0)|`` for a position ``x`` of shape (2,)."""
    upper, lower = _offsets(x, w, xp)
    return 1.0 / xp.sqrt(xp.sum(upper * upper)) + 1.0 / xp.sqrt(xp.sum(lower * lower))


def potential_gradient(x: np.ndarray, w: Any) -> np.ndarray:
    """The inner gradient by hand: ``grad_x p = -sum_j d_j / r_j^3`` with ``d_j`` the offset from charge j
    (``r_j = sqrt(d_j . d_j)``, no ``abs``, so complex positions stay analytic)."""
    upper, lower = _offsets(x, w)
    return -(upper / np.sum(upper * upper) ** 1.5 + lower / np.sum(lower * lower) ** 1.5)


def inner_gradient(xp: Any, inner: str = REVERSE) -> Callable[[Any, Any], Any]:
    """``(x, w) -> grad_x p(x; w)`` in ``xp``'s framework: by hand (NumPy), else by its autograd in mode ``inner``."""
    return framework_gradient(lambda x, w: potential(x, w, xp), potential_gradient, xp, inner)


def miss(w: Any, xp: Any = np, inner: str = REVERSE) -> Any:
    """The square of the ``x`` where the particle, steered by ``w``, crosses ``y = 0``."""
    field = inner_gradient(xp, inner)
    zero = xp.zeros_like(xp.stack([w, w]))
    state = (zero + xp.asarray(START, dtype=zero.dtype), zero + xp.asarray(VELOCITY, dtype=zero.dtype),
             xp.real(zero[0]) > 1.0)                                     # not crossed yet: False, as an array

    def euler(state: tuple[Any, ...]) -> tuple[Any, ...]:
        x, v, _ = state
        acceleration = -field(x, w)
        proposal = x + DT * v
        crossed = xp.real(proposal[1]) <= 0.0                 # the first proposal at or below y = 0 stops it
        return (xp.where(crossed, x, proposal), xp.where(crossed, v, v + DT * acceleration), crossed)

    x, v, _ = while_loop(lambda state: xp.logical_not(state[2]), euler, state, xp, MAX_EULER_STEPS,
                         "the particle's Euler integration (for some w the particle escapes the charges and "
                         "never crosses y = 0; gradbench's w near 0 crosses)")
    time_to_axis = -x[1] / v[1]
    crossing = x[0] + time_to_axis * v[0]
    return crossing * crossing


def particle_cost(params: Params, X: Any = None, Y: Any = None, xp: Any = np) -> Any:
    """The cost at ``params = {"w": (1,)}`` (no data), with the inner gradient in reverse mode."""
    return miss(params["w"][0], xp)


def _forward_cost(params: Params, X: Any = None, Y: Any = None, xp: Any = np) -> Any:
    """The cost with the inner gradient in forward mode (gradbench's ``ff`` and ``rf``)."""
    return miss(params["w"][0], xp, FORWARD)


def model_for(inner: str) -> Model:
    """The particle model whose cost takes its inner gradient in mode ``inner`` (``"reverse"``: :data:`MODEL`)."""
    if inner == REVERSE:
        return MODEL
    if inner != FORWARD:
        raise InputError(f"the inner mode is 'reverse' or 'forward', got {inner!r}.")
    return Model(name="particle-inner-forward", cost=_forward_cost, description=MODEL.description + ", inner "
                 "gradient in forward mode", validate_point=MODEL.validate_point, gradient=MODEL.gradient,
                 planted_bug=MODEL.planted_bug, cases=MODEL.cases)


def _acceleration_jacobians(x: np.ndarray, w: float) -> tuple[np.ndarray, np.ndarray]:
    """``d a / d x`` (2, 2) and ``d a / d w`` (2,) for ``a = sum_j d_j / r_j^3``: ``I / r^3 - 3 d d^T / r^5``
    per charge, and ``d (x - (10, 10 - w)) / d w = (0, 1)`` for the upper one."""
    upper, lower = _offsets(x, w)
    by_x, by_w = np.zeros((2, 2)), np.zeros(2)
    for offset, moves_with_w in ((upper, True), (lower, False)):
        r2 = float(offset @ offset)
        jacobian = np.eye(2) / r2 ** 1.5 - 3.0 * np.outer(offset, offset) / r2 ** 2.5
        by_x += jacobian
        if moves_with_w:
            by_w += jacobian[:, 1]
    return by_x, by_w


def _trajectory(w: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The accepted positions and velocities ``x_0 .. x_N``, ``v_0 .. v_N`` (N Euler steps)."""
    xs, vs = [np.array(START)], [np.array(VELOCITY)]
    while True:
        if len(xs) > MAX_EULER_STEPS:
            raise InputError(f"the particle's Euler integration did not stop within {MAX_EULER_STEPS} steps (for "
                             "some w the particle escapes the charges and never crosses y = 0; gradbench's w near "
                             "0 crosses).")
        x, v = xs[-1], vs[-1]
        acceleration = -potential_gradient(x, w)
        proposal = x + DT * v
        if proposal[1] <= 0.0:
            return xs, vs
        xs.append(proposal)
        vs.append(v + DT * acceleration)


def _gradient(params: Params, X: Any = None, Y: Any = None, full_field: bool = True) -> Params:
    w = float(params["w"][0])
    xs, vs = _trajectory(w)
    x, v = xs[-1], vs[-1]
    time_to_axis = -x[1] / v[1]
    crossing = x[0] + time_to_axis * v[0]
    # cost = crossing^2
    d_crossing = 2.0 * crossing
    # crossing = x[0] + time_to_axis * v[0]
    dx = np.array([d_crossing, 0.0])
    dv = np.array([d_crossing * time_to_axis, 0.0])
    d_time = d_crossing * v[0]
    # time_to_axis = -x[1] / v[1]
    dx[1] += -d_time / v[1]
    dv[1] += d_time * x[1] / v[1] ** 2
    dw = 0.0
    jacobians = _acceleration_jacobians if full_field else _without_radial_term  # the planted bug: r held constant
    for k in range(len(xs) - 2, -1, -1):
        by_x, by_w = jacobians(xs[k], w)
        # v[k+1] = v[k] + DT * acceleration            (v[k] gets dv as it is)
        d_acceleration = DT * dv
        # acceleration = -grad_x p(x[k], w)
        dw += float(by_w @ d_acceleration)
        dx_k = by_x.T @ d_acceleration
        # x[k+1] = x[k] + DT * v[k]
        dv = dv + DT * dx
        dx = dx + dx_k
    return {"w": np.array([dw])}


def particle_gradient(params: Params, X: Any = None, Y: Any = None) -> Params:
    """``d cost / d w`` by hand: reverse mode through the recorded trajectory."""
    return _gradient(params, X, Y)


def _without_radial_term(x: np.ndarray, w: float) -> tuple[np.ndarray, np.ndarray]:
    """The field's Jacobians with ``r`` held constant: ``I / r^3`` per charge, the ``-3 d d^T / r^5`` term lost."""
    upper, lower = _offsets(x, w)
    by_x = np.eye(2) / float(upper @ upper) ** 1.5 + np.eye(2) / float(lower @ lower) ** 1.5
    return by_x, np.eye(2)[:, 1] / float(upper @ upper) ** 1.5


def buggy_gradient(params: Params, X: Any = None, Y: Any = None) -> Params:
    return _gradient(params, X, Y, full_field=False)


def solve(source: str = "numpy", mode: str = "rr") -> float:
    """gradbench's answer: the ``w`` its solver reaches from ``w = 0``, the outer gradient from ``source`` in
    ``mode`` (its objective values from the NumPy cost; the hand-written ``numpy`` source has no modes)."""
    from ..descent import argmin, source_gradient

    if mode not in MODES:
        raise InputError(f"mode is one of {', '.join(MODES)}, got {mode!r}.")
    if (source, mode) in UNAVAILABLE:
        raise InputError(f"the {source} source cannot give particle's {mode}: {UNAVAILABLE[(source, mode)]}.")
    outer, inner = (REVERSE if letter == "r" else FORWARD for letter in mode)
    if source == "numpy":
        gradient: Callable[[np.ndarray], np.ndarray] = lambda w: particle_gradient({"w": w})["w"]
    else:
        gradient = source_gradient(source, model_for(inner), "w", outer)
    w0, _, _ = particle_case()
    return float(argmin(lambda w: particle_cost({"w": w}), gradient, w0["w"])[0])


def validate_particle_point(params: Params, X: Any, Y: Any) -> None:
    """particle takes one parameter ``w`` of shape (1,), finite, and no data."""
    if sorted(params) != ["w"] or np.shape(params["w"]) != (1,):
        raise InputError(f"particle takes params {{'w': array of shape (1,)}}, got "
                         f"{ {name: np.shape(value) for name, value in params.items()} }; e.g. {{'w': np.zeros(1)}}.")
    if X is not None or Y is not None:
        raise InputError("particle takes no data: pass X=None and Y=None (its charges and start are gradbench's).")


def particle_case(w: float = 0.0) -> tuple[Params, None, None]:
    """gradbench's input ``{w: 0.0}`` (or another ``w``) as a point."""
    return {"w": np.array([float(w)])}, None, None


MODEL = Model(
    name="particle",
    cost=particle_cost,
    description="gradbench's particle: a charged particle's squared miss distance, its field an inner gradient",
    validate_point=validate_particle_point,
    gradient=particle_gradient,
    planted_bug=PlantedBug(buggy_gradient, "the field d / r^3 differentiated with r held constant "
                           "(its -3 d d^T / r^5 term missing)", ("w",)),
    cases={"particle-w0": particle_case},
)

"""gradbench's gradient-descent solver (its particle and saddle evals), and the loop it runs on in any framework.

gradbench (gradbench/gradbench, MIT, Copyright (c) 2024 Sam Estep) validates
particle and saddle against constants that its own solver produced, so the
answers are reproduced only by the same solver, step for step: keep ``x``,
``f(x)``, ``g = grad f(x)``, a step size ``eta`` starting at 1e-5 and a count of
successful steps; stop when ``|g| <= 1e-5``; after 10 successes double ``eta``
(that iteration proposes nothing); otherwise propose ``x' = x - eta g``, stop
when ``|x' - x| <= 1e-5``, accept ``x'`` when ``f(x') < f(x)`` (one more
success) and else halve ``eta`` (successes back to 0). Maximising is
minimising ``-f``.

The solver is written against an array namespace ``xp`` because saddle runs
it *inside* a cost that torch and jax differentiate (nested AD). Its step is
branch-free (``xp.where`` picks what each branch would have left), so one
definition serves every framework; it also evaluates ``f`` and ``grad f`` at
the proposal where gradbench's solver would not (a doubling or stopping
iteration), which changes no value it keeps.

:func:`while_loop` runs a step until a data-dependent test stops it (gradbench's
solver, and particle's Euler integration). NumPy and torch run it as a Python
loop on concrete values, which torch's autograd and ``torch.func`` differentiate
as it runs. Under jax it runs as ``lax.scan`` over ``limit`` steps, each step
after the stop leaving the state as it is: jax's jitted transformations cannot
branch in Python on traced values, and jax differentiates ``lax.while_loop`` in
forward mode only, a scan in both. A jax loop still running after ``limit``
steps makes its state NaN (jit cannot raise), so it is never taken for an
answer; NumPy and torch raise :class:`~gradcheck_bench.errors.InputError` there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .errors import InputError

if TYPE_CHECKING:
    from .models import Model

FIRST_STEP = 1e-5
"""gradbench's initial step size ``eta``."""

TOLERANCE = 1e-5
"""The solver stops when ``|g|`` or the proposed step is at most this."""

SUCCESSES_BEFORE_DOUBLING = 10
"""Accepted steps in a row after which ``eta`` doubles."""

MAX_ITERATIONS = 1000
"""The iterations a solve may take before it is refused (unbounded in gradbench; its evals need under 200)."""

State = tuple[Any, ...]
Function = Callable[[Any], Any]


def namespace_name(xp: Any) -> str:
    """``"numpy"``, ``"torch"`` or ``"jax"``: the framework behind an array namespace (``array_api_compat.torch``
    counts as torch)."""
    name = getattr(xp, "__name__", "")
    if "torch" in name:
        return "torch"
    if name.startswith("jax"):
        return "jax"
    return "numpy"


REVERSE, FORWARD = "reverse", "forward"
"""The two modes of a derivative: gradbench's r and f letters, for the inner and the outer one."""


def framework_gradient(function: Callable[[Any, Any], Any], by_hand: Callable[[Any, Any], Any], xp: Any,
                       mode: str = REVERSE) -> Callable[[Any, Any], Any]:
    """``(y, context) -> grad_y function(y, context)`` for a function of a 2-vector ``y``, in ``xp``'s framework:
    ``by_hand`` under NumPy, else that framework's autograd, in reverse mode or as two JVPs along the axes
    (forward mode), so a cost built on it is differentiated through a derivative (nested AD)."""
    framework = namespace_name(xp)
    if framework == "numpy":
        return by_hand
    if framework == "torch":
        import torch

        if mode == REVERSE:
            return torch.func.grad(function)

        def torch_forward(y: Any, context: Any) -> Any:
            axes = torch.eye(2, dtype=y.dtype, device=y.device)
            return torch.stack([torch.func.jvp(lambda z: function(z, context), (y,), (axes[i],))[1]
                                for i in range(2)])
        return torch_forward
    import jax

    if mode == REVERSE:
        return jax.grad(function)

    def jax_forward(y: Any, context: Any) -> Any:
        axes = xp.eye(2, dtype=y.dtype)
        return xp.stack([jax.jvp(lambda z: function(z, context), (y,), (axes[i],))[1] for i in range(2)])
    return jax_forward


def while_loop(running: Callable[[State], Any], step: Callable[[State], State], state: State, xp: Any,
               limit: int, what: str) -> State:
    """``while running(state): state = step(state)``, at most ``limit`` steps, in a form ``xp``'s framework
    differentiates (see the module's docstring); ``what`` names the loop (and what to do) in the error past the
    limit."""
    if namespace_name(xp) == "jax":
        return _scanned(running, step, state, limit)
    for _ in range(limit):
        if not bool(running(state)):
            return state
        state = step(state)
    if bool(running(state)):
        raise InputError(f"{what} did not stop within {limit} steps.")
    return state


def _scanned(running: Callable[[State], Any], step: Callable[[State], State], state: State, limit: int) -> State:
    """The loop as a jax scan of ``limit`` steps that stand still once ``running`` is false; NaN if never false."""
    import jax
    import jax.numpy as jnp

    def masked(current: State, _: Any) -> tuple[State, None]:
        go = running(current)
        advanced = step(current)
        return tuple(jnp.where(go, new, old) for new, old in zip(advanced, current)), None

    final, _ = jax.lax.scan(masked, state, None, length=limit)
    unfinished = running(final)
    return tuple(jnp.where(unfinished, jnp.nan, value) if jnp.issubdtype(value.dtype, jnp.inexact) else value
                 for value in final)


def magnitude(v: Any, xp: Any) -> Any:
    """``|v|`` of the real parts (the solver's tests; a complex step's imaginary parts never move them)."""
    real = xp.real(v)
    return xp.sqrt(xp.sum(real * real))


def argmin(objective: Function, gradient: Function, x0: Any, xp: Any = np, limit: int = MAX_ITERATIONS) -> Any:
    """gradbench's ``multivariate_argmin``: the point its solver reaches from ``x0``, as an ``xp`` array."""
    x = x0
    zero = xp.zeros_like(xp.real(objective(x)))  # a scalar of the framework's real dtype, for eta and the count
    state: State = (x, objective(x), gradient(x), zero + FIRST_STEP, zero, zero > 1.0)  # stopped: False, an array

    def running(state: State) -> Any:
        return xp.logical_not(state[5])

    def step(state: State) -> State:
        x, fx, g, eta, successes, _ = state
        small_gradient = magnitude(g, xp) <= TOLERANCE                       # stop: |g| <= 1e-5
        doubling = xp.logical_and(xp.logical_not(small_gradient),
                                  successes == SUCCESSES_BEFORE_DOUBLING)     # else: 10 successes, double eta
        proposal = x - eta * g                                                # else: propose x' = x - eta g
        small_step = magnitude(proposal - x, xp) <= TOLERANCE                 # stop: |x' - x| <= 1e-5
        f_new, g_new = objective(proposal), gradient(proposal)
        stop = xp.logical_or(small_gradient, xp.logical_and(xp.logical_not(doubling), small_step))
        trying = xp.logical_and(xp.logical_not(stop), xp.logical_not(doubling))
        accept = xp.logical_and(trying, xp.real(f_new) < xp.real(fx))       # f(x') < f(x): take x'
        reject = xp.logical_and(trying, xp.logical_not(accept))              # else halve eta
        return (xp.where(accept, proposal, x), xp.where(accept, f_new, fx), xp.where(accept, g_new, g),
                xp.where(doubling, 2.0 * eta, xp.where(reject, 0.5 * eta, eta)),
                xp.where(xp.logical_or(doubling, reject), zero, xp.where(accept, successes + 1.0, successes)),
                stop)

    return while_loop(running, step, state, xp, limit, "gradbench's gradient descent (its step size "
                      "doubles only every 10 successes: start it nearer its answer)")[0]


def argmax(objective: Function, gradient: Function, x0: Any, xp: Any = np, limit: int = MAX_ITERATIONS) -> Any:
    """gradbench's ``multivariate_argmax``: :func:`argmin` of ``-f`` with gradient ``-g``."""
    return argmin(lambda x: -objective(x), lambda x: -gradient(x), x0, xp, limit)


def maximum(objective: Function, gradient: Function, x0: Any, xp: Any = np, limit: int = MAX_ITERATIONS) -> Any:
    """gradbench's ``multivariate_max``: ``f`` at :func:`argmax`."""
    return objective(argmax(objective, gradient, x0, xp, limit))


def source_gradient(source: str, model: "Model", name: str, outer: str = REVERSE, X: Any = None,
                    Y: Any = None) -> Callable[[np.ndarray], np.ndarray]:
    """``x -> d cost / d params[name]`` at ``params = {name: x}`` from the named source, for a solve to descend
    along: its gradient (``outer="reverse"``) or its JVP along each axis (``"forward"``), the source built once."""
    from .check import request_for
    from .kinds import get_kind
    from .point import OUTPUT, build_point
    from .sources.registry import build_source

    if outer not in (REVERSE, FORWARD):
        raise InputError(f"the outer mode is 'reverse' or 'forward', got {outer!r}.")
    built = build_source(source, model, derivative="gradient" if outer == REVERSE else "jvp")
    if outer == REVERSE:
        return lambda x: np.asarray(built.gradient_at(build_point({name: x}, X, Y)).tensors[name], dtype=float)
    requests: list[Any] = []

    def forward(x: np.ndarray) -> np.ndarray:
        point = build_point({name: x}, X, Y)
        if not requests:  # a unit tangent per axis, drawn up once: the output's structure is the same everywhere
            axes = np.eye(np.size(x)).reshape((np.size(x),) + np.shape(x))
            requests.extend(request_for(get_kind("jvp"), point, model, 0, tangent={name: axis}) for axis in axes)
        return np.array([float(built.derivative_at(point, request).tensors[OUTPUT]) for request in requests])

    return forward

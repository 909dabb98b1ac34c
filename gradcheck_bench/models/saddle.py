"""gradbench's saddle eval: a saddle point by gradient descent over a gradient ascent (nested AD).

gradbench (gradbench/gradbench, MIT, Copyright (c) 2024 Sam Estep), after
Pearlmutter and Siskind. With ``f(a, b) = (a_1^2 + a_2^2) - (b_1^2 + b_2^2)``
and a start point ``s``, gradbench finds ``a* = argmin_a max_b f(a, b)``, each
inner maximum being its gradient-descent solver's ascent over ``b`` from ``s``
(:mod:`gradcheck_bench.descent`), then ``b* = argmax_b f(a*, b)`` from ``s``.
The outer descent needs the gradient of the inner *maximum* with respect to
``a``: a derivative taken through the whole inner solve, whose every step
calls the inner gradient ``grad_b f``.

This model's cost is that inner maximum, ``cost({"a": a}, X=s) = max_b f(a, b)``,
with the inner gradient chosen by ``xp`` (:func:`inner_gradient`): by hand in
NumPy (``-2 b``, complex-safe, so ``fd``, ``richardson`` and ``complex-step``
differentiate the cost as it is), ``torch.func.grad``/``torch.func.jvp`` in
torch and ``jax.grad``/``jax.jvp`` in jax, which the torch and jax sources
differentiate again. Under jax the inner solve runs as a bounded ``lax.scan``
(:func:`gradcheck_bench.descent.while_loop`), so jax's jitted transformations
differentiate it in both modes.

gradbench's ``ff``, ``fr``, ``rf``, ``rr`` (outer mode, inner mode) are
:func:`model_for` (the inner mode) and the source's gradient or JVP (the outer
mode); :func:`solve` runs gradbench's whole task with any of them, the final
ascent for ``b*`` with the framework's own gradient of ``f`` in the outer mode.
:data:`UNAVAILABLE` says which a source cannot give, and why.

The hand-written gradient: the inner ascent's steps ``b' = b + eta grad_b f``
never read ``a`` (``grad_b f = -2 b``), so the ascent's answer ``b*`` does not
move with ``a`` and ``d max / d a = df/da (a, b*) = 2 a``. The planted bug is a
sign slip of the max written as ``-min(-f)``: the outer gradient's sign left off.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..descent import FORWARD, REVERSE, argmax, argmin, framework_gradient, maximum
from ..errors import InputError
from . import Model, Params, PlantedBug

START = (1.0, 1.0)
"""gradbench's input ``{start: [1.0, 1.0]}``: where every descent and ascent starts."""

EXPECTED = (8.246324826140356e-06,) * 4
"""gradbench's expected ``(a*_1, a*_2, b*_1, b*_2)``, whatever the modes."""

MODES = ("rr", "rf", "fr", "ff")
"""gradbench's functions: the outer derivative's mode, then the inner gradient's (``r`` reverse, ``f`` forward)."""

UNAVAILABLE = {
    ("torch", "ff"): "the torch source takes JVPs with forward-mode dual tensors (torch.autograd.forward_ad), "
                     "and torch cannot nest forward mode inside them ('Nested forward mode AD is not supported')",
}
"""(source, mode) pairs a source cannot give, with the reason; every other pair of an installed source runs."""


def saddle_function(a: Any, b: Any, xp: Any = np) -> Any:
    """``f(a, b) = |a|^2 - |b|^2`` (no ``abs``: complex-safe)."""
    return xp.sum(a * a) - xp.sum(b * b)


def function_gradient(a: Any, b: Any) -> Any:
    """``grad_b f(a, b) = -2 b`` by hand."""
    return -2.0 * b


def inner_gradient(xp: Any, inner: str = REVERSE) -> Callable[[Any, Any], Any]:
    """``(a, b) -> grad_b f(a, b)`` in ``xp``'s framework: by hand (NumPy), else by its autograd in mode ``inner``."""
    gradient = framework_gradient(lambda b, a: saddle_function(a, b, xp), lambda b, a: function_gradient(a, b), xp,
                                  inner)
    return lambda a, b: gradient(b, a)


def inner_maximum(a: Any, start: Any, xp: Any = np, inner: str = REVERSE) -> Any:
    """``max_b f(a, b)`` as gradbench's solver finds it from ``start``, with the inner gradient in mode ``inner``."""
    gradient = inner_gradient(xp, inner)
    return maximum(lambda b: saddle_function(a, b, xp), lambda b: gradient(a, b), xp.zeros_like(a) + start, xp)


def saddle_cost(params: Params, X: Any, Y: Any = None, xp: Any = np) -> Any:
    """The inner maximum at ``params = {"a": (2,)}`` from the start ``X`` (2,), the inner gradient in reverse mode."""
    return inner_maximum(params["a"], X, xp)


def _forward_cost(params: Params, X: Any, Y: Any = None, xp: Any = np) -> Any:
    """The cost with the inner gradient in forward mode (gradbench's ``ff`` and ``rf``)."""
    return inner_maximum(params["a"], X, xp, FORWARD)


def model_for(inner: str) -> Model:
    """The saddle model whose cost takes its inner gradient in mode ``inner`` (``"reverse"``: :data:`MODEL`)."""
    if inner == REVERSE:
        return MODEL
    if inner != FORWARD:
        raise InputError(f"the inner mode is 'reverse' or 'forward', got {inner!r}.")
    return Model(name="saddle-inner-forward", cost=_forward_cost, description=MODEL.description + ", inner "
                 "gradient in forward mode", validate_point=MODEL.validate_point, gradient=MODEL.gradient,
                 planted_bug=MODEL.planted_bug, cases=MODEL.cases)


def saddle_gradient(params: Params, X: Any, Y: Any = None) -> Params:
    """``d max_b f(a, b) / d a`` by hand."""
    a = params["a"]
    # the inner ascent from X: b' = b + eta * grad_b f(a, b) = b - 2 eta b, its tests comparing f(a, b') with
    # f(a, b), where |a|^2 cancels: no step reads a, so its answer b* has d b* / d a = 0, and reversing
    # max = f(a, b*) = |a|^2 - |b*|^2 leaves d max / d a = 2 a
    return {"a": 2.0 * a}


def buggy_gradient(params: Params, X: Any, Y: Any = None) -> Params:
    # max f written as -min(-f), and the outer sign left off
    return {"a": -2.0 * params["a"]}


def validate_saddle_point(params: Params, X: Any, Y: Any) -> None:
    """saddle takes ``{"a": (2,)}`` and a start point ``X`` of shape (2,)."""
    if sorted(params) != ["a"] or np.shape(params["a"]) != (2,):
        raise InputError(f"saddle takes params {{'a': array of shape (2,)}}, got "
                         f"{ {name: np.shape(value) for name, value in params.items()} }; e.g. {{'a': np.ones(2)}}.")
    if np.shape(X) != (2,):
        raise InputError(f"saddle takes the start point as X, shape (2,) (gradbench's is [1.0, 1.0]); got shape "
                         f"{np.shape(X)}.")


def saddle_case(a: tuple[float, float] = START, start: tuple[float, float] = START) -> tuple[Params, Any, None]:
    """gradbench's input as a point: ``a`` at the start ``[1.0, 1.0]``, where the outer descent begins."""
    return {"a": np.array(a, dtype=float)}, np.array(start, dtype=float), None


def solve(source: str = "numpy", mode: str = "rr") -> np.ndarray:
    """gradbench's answer ``(a*_1, a*_2, b*_1, b*_2)`` from its input, the outer gradient from ``source`` in
    ``mode`` (its objective values from the NumPy cost; the hand-written ``numpy`` source has no modes)."""
    from ..descent import source_gradient

    if mode not in MODES:
        raise InputError(f"mode is one of {', '.join(MODES)}, got {mode!r}.")
    if (source, mode) in UNAVAILABLE:
        raise InputError(f"the {source} source cannot give saddle's {mode}: {UNAVAILABLE[(source, mode)]}.")
    _, start, _ = saddle_case()
    outer, inner = (REVERSE if letter == "r" else FORWARD for letter in mode)

    def objective(a: np.ndarray) -> Any:
        return saddle_cost({"a": a}, start)

    if source == "numpy":
        gradient: Callable[[np.ndarray], np.ndarray] = lambda a: saddle_gradient({"a": a}, start)["a"]
    else:
        gradient = source_gradient(source, model_for(inner), "a", outer, start)
    a_star = argmin(objective, gradient, start)
    step_two = _framework_gradient(source, outer)
    b_star = argmax(lambda b: saddle_function(a_star, b), lambda b: step_two(a_star, b), start)
    return np.concatenate([a_star, b_star])


def _framework_gradient(source: str, mode: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``grad_b f`` for the final ascent, by the source's framework in ``mode`` (by hand for any other source)."""
    if source == "torch":
        import torch

        from ..frameworks.torch import torch_namespace

        torch_gradient = inner_gradient(torch_namespace(), mode)
        return lambda a, b: torch_gradient(torch.as_tensor(a), torch.as_tensor(b)).detach().numpy()
    if source == "jax":
        import jax.numpy as jnp

        from ..frameworks.jax import x64_scope

        jax_gradient = inner_gradient(jnp, mode)

        def in_jax(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            with x64_scope():
                return np.asarray(jax_gradient(jnp.asarray(a), jnp.asarray(b)))
        return in_jax
    return function_gradient


MODEL = Model(
    name="saddle",
    cost=saddle_cost,
    description="gradbench's saddle: max over b of |a|^2 - |b|^2 by gradient ascent, an inner gradient in each step",
    validate_point=validate_saddle_point,
    gradient=saddle_gradient,
    planted_bug=PlantedBug(buggy_gradient, "max f taken as -min(-f) with the outer sign left off", ("a",)),
    cases={"saddle-start": saddle_case},
)

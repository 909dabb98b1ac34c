"""Finite differences of a function of any output: Jacobian columns, directional derivatives, derived costs.

The gradient's oracles difference one scalar cost per coordinate. The other
derivative kinds (:mod:`gradcheck_bench.kinds`) reduce to three moves, each
with error bars by the same rules (round-off ``eps |f| / h``; truncation from
a second step at ``h / 2``, ``|D(h) - D(h/2)| * 4/3``):

* a **Jacobian** is one centered difference per coordinate, each a whole
  column ``(f(theta + h_i e_i) - f(theta - h_i e_i)) / 2h_i``: 2n passes;
* a **JVP** is one centered difference along the tangent: 2 passes a step;
* a **VJP** is the gradient of the scalar ``u . f`` and a **HVP** the
  gradient of the directional difference along ``v``, both *derived costs*
  that the gradient's oracles (and their fast engines) differentiate as they
  would any cost.

Every pass is counted (:mod:`gradcheck_bench.counting`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import numpy as np

from ..counting import counted
from ..models import Model, Params
from ..point import OUTPUT, Output, Point
from ..ravel import leaves_by_path, parameter_slices, split
from .steps import root_mean_square

Values = Callable[[Params], np.ndarray]
"""``params -> the function's output at them, flattened (float64)``."""


def flattened_output(model: Model, output: Output, X: Any, Y: Any) -> Values:
    """The model's function as a flat float64 vector of its output leaves, in the output's order (counted)."""
    function = counted(model.function)

    def values(params: Params) -> np.ndarray:
        returned = function(params, X, Y)
        leaves = {OUTPUT: returned} if output.single else dict(leaves_by_path(returned))
        return np.concatenate([np.ravel(_numpy(leaves[name])).astype(np.float64) for name in output.names])

    return values


def _numpy(value: Any) -> np.ndarray:
    return np.asarray(value.detach().cpu().numpy()) if hasattr(value, "detach") else np.asarray(value)


def columns(values: Values, point: Point, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centered-difference Jacobian ``(m, n)`` and its round-off, one column per coordinate."""
    flat, unravel = point.flat.copy(), point.unravel
    at_point = values(unravel(flat))
    jacobian = np.empty((at_point.size, flat.size))
    for i, step in enumerate(steps):
        original = flat[i]
        flat[i] = original + step
        plus = values(unravel(flat))
        flat[i] = original - step
        minus = values(unravel(flat))
        flat[i] = original
        jacobian[:, i] = (plus - minus) / (2 * step)
    rounding = np.finfo(point.precision).eps * np.maximum(np.abs(at_point), np.finfo(np.float64).tiny)[:, None] \
        / steps[None, :]
    return jacobian, rounding


def jacobian_blocks(matrix: np.ndarray, point: Point, output: Output) -> Params:
    """A ``(m, n)`` Jacobian as one block per parameter, of shape ``output.shape + param.shape``."""
    [leaf] = output.leaves
    return {name: matrix[:, where].reshape(leaf.shape + np.shape(point.params[name]))
            for name, where in parameter_slices(point.params).items()}


def direction_step(point: Point, direction: Params, base: float) -> float:
    """A step along ``direction`` that moves the parameters by about ``base`` times their scale."""
    scale = root_mean_square(np.abs(point.flat.astype(np.float64))) or 1.0
    size = root_mean_square(np.abs(np.concatenate([np.ravel(direction[n]) for n in point.names]))) or 1.0
    return float(base * np.exp2(np.floor(np.log2(scale / size))))


def directional(values: Values, point: Point, direction: Params, step: float) -> np.ndarray:
    """``(f(theta + h d) - f(theta - h d)) / 2h``."""
    moved = {name: point.params[name] + step * direction[name] for name in point.names}
    back = {name: point.params[name] - step * direction[name] for name in point.names}
    return (values(moved) - values(back)) / (2 * step)


def split_output(flat: np.ndarray, output: Output) -> Params:
    """A flat output-shaped vector as arrays by output name."""
    found, start = {}, 0
    for leaf in output.leaves:
        size = int(np.prod(leaf.shape, dtype=int))
        found[leaf.name] = flat[start:start + size].reshape(leaf.shape)
        start += size
    return found


def projected_model(model: Model, output: Output, cotangent: Params) -> Model:
    """The scalar ``u . f(params)``: its gradient is the VJP ``u^T J``. Written against ``xp`` as the model is,
    so every engine that can run the model's function can run it."""
    function = model.function
    assert function is not None
    as_caller = output.for_caller(cotangent)
    arrays = {name: np.asarray(cotangent[name], dtype=np.float64) for name in output.names}

    def cost(params: Params, X: Any, Y: Any, xp: Any = np) -> Any:
        returned = function(params, X, Y, xp=xp) if model.takes_xp else function(params, X, Y)
        leaves = {OUTPUT: returned} if output.single else dict(leaves_by_path(returned))
        weights = as_caller if xp is np and not model.takes_xp else None
        total = 0.0
        for name in output.names:
            if weights is not None:
                u = weights[name] if not output.single else weights
            else:
                u = arrays[name] if xp is np else xp.asarray(arrays[name])
            total = total + (leaves[name] * u).sum()
        return total

    return replace(model, name=f"{model.name} (u . f)", cost=cost, function=cost, gradient=None, planted_bug=None,
                   batched_cost=None, layers=None, kink_pattern=None, validate_point=None, derivatives={})


COMPLEX_DIRECTION_STEP = 1e-20
"""The complex step of a directional derivative taken as ``Im J(theta + i k v) / k`` (no cancellation)."""


def directional_model(model: Model, vector: Params, step: float) -> Model:
    """A scalar whose gradient is the HVP ``H v``: the directional derivative ``grad J . v``.

    For a complex-safe cost it is exact to round-off, ``Im J(theta + i k v) / k`` (so its gradient by
    centered differences carries the ordinary error bars); otherwise the centered difference
    ``(J(theta + k v) - J(theta - k v)) / 2k``, a difference of differences whose round-off the caller
    accounts for. Where the model declares its kinks, so does the derived cost, so a coordinate's
    difference that moves across one is stepped around like a gradient's.
    """
    cost_of = model.cost
    arrays = {name: np.asarray(value, dtype=np.float64) for name, value in vector.items()}
    exact = uses_complex_step(model)

    def ends(params: Params, xp: Any) -> tuple[Params, Params]:
        along = {name: arrays[name] if xp is np else xp.asarray(arrays[name]) for name in arrays}
        return ({name: params[name] + step * along[name] for name in params},
                {name: params[name] - step * along[name] for name in params})

    def complex_cost(params: Params, X: Any, Y: Any) -> Any:
        moved = {name: params[name] + 1j * COMPLEX_DIRECTION_STEP * arrays[name] for name in params}
        return float(np.imag(np.asarray(cost_of(moved, X, Y)))) / COMPLEX_DIRECTION_STEP

    def cost(params: Params, X: Any, Y: Any, xp: Any = np) -> Any:
        plus, minus = ends(params, xp)
        call = (lambda p: cost_of(p, X, Y, xp=xp)) if model.takes_xp else (lambda p: cost_of(p, X, Y))
        return (call(plus) - call(minus)) / (2 * step)

    kink_pattern = None
    if model.kink_pattern is not None:
        pattern_of = model.kink_pattern

        def kink_pattern(params: Params, X: Any, Y: Any) -> tuple[float, np.ndarray]:
            if exact:
                return complex_cost(params, X, Y), pattern_of(params, X, Y)[1]
            plus, minus = ends(params, np)
            (high, above), (low, below) = pattern_of(plus, X, Y), pattern_of(minus, X, Y)
            return (high - low) / (2 * step), np.concatenate([above, below], axis=0)

    return replace(model, name=f"{model.name} (directional)", cost=complex_cost if exact else cost,
                   function=complex_cost if exact else cost, gradient=None, planted_bug=None, batched_cost=None,
                   layers=None, kink_pattern=kink_pattern, validate_point=None, derivatives={},
                   takes_xp=False if exact else model.takes_xp, native_framework=None if exact else
                   model.native_framework)


def uses_complex_step(model: Model) -> bool:
    """Whether a directional derivative of the model's cost is taken exactly by a complex step."""
    return bool(model.complex_safe) and bool(model.takes_xp)


def kink_free_step(model: Model, point: Point, vector: Params, step: float, shrinks: int = 12) -> float:
    """``step`` halved until neither end of ``theta +- step v`` lies across a kink the model declares
    (a second difference across one measures a jump, not a curvature)."""
    if model.kink_pattern is None:
        return step
    _, at_point = model.kink_pattern(dict(point.params), point.X, point.Y)
    for _ in range(shrinks):
        ends = [{name: point.params[name] + sign * step * vector[name] for name in point.names} for sign in (1, -1)]
        if all(np.array_equal(model.kink_pattern(end, point.X, point.Y)[1], at_point) for end in ends):
            return step
        step /= 2
    return step


def rounding_of(values: np.ndarray, precision: np.dtype, step: float) -> np.ndarray:
    """Round-off of a centered difference over ``2 step`` of ``values``: ``eps |f| / step`` elementwise."""
    return np.finfo(precision).eps * np.maximum(np.abs(values), np.finfo(np.float64).tiny) / step


def without(point: Point) -> Point:
    """The point with no cost recorded (a derived cost is another function than the one evaluated there)."""
    return replace(point, cost=None, cost_model=None)


__all__ = ["columns", "direction_step", "directional", "directional_model", "flattened_output", "jacobian_blocks",
           "projected_model", "rounding_of", "split", "split_output", "without"]

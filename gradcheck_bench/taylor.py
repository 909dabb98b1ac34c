"""The Taylor test: a verdict from the observed convergence order, with no step to tune.

Along a direction ``v``, the Taylor remainder of a correct first derivative
shrinks like ``h^2``; of a wrong one, like ``h``:

    r(h) = | J(theta + h v) - J(theta) - h g . v |   ->   O(h^2) iff g . v is the derivative along v

so halving ``h`` divides ``r`` by 4 (order 2) or by 2 (order 1), whatever the
step, the scale or the precision, until round-off takes over. dolfin-adjoint's
``taylor_test`` gives its verdict this way. :func:`check_taylor` evaluates the
remainder over a geometric sequence of steps along a few random directions,
keeps the steps whose remainders stand well above the cost's round-off, and
reports the order observed at the smallest of them.

Per derivative kind (the candidate's derivative ``D`` applied along ``v``):

=============  =================================================================  ======
kind           remainder                                                          order
=============  =================================================================  ======
gradient       ``|J(theta + h v) - J(theta) - h g . v|``                          2
jacobian, jvp  ``||f(theta + h v) - f(theta) - h J v||``                          2
vjp            ``|u . f(theta + h v) - u . f(theta) - h (u^T J) . v|``            2
hvp            ``|J(theta + h v) - 2 J(theta) + J(theta - h v) - h^2 v . H v|``   4
=============  =================================================================  ======

(A wrong derivative leaves order 1, or 2 for the Hessian-vector product.)

Prefer it where the finite-difference step is what is in doubt: steep, badly
scaled or low-precision costs, where an oracle's own error bars are wide; it
needs no reference source. It says less than ``check`` about *where* a
mistake is: a failing order names no tensor (run ``check`` for that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .check import SourceLike, prepare
from .counting import counted
from .errors import InputError
from .models import Model
from .point import OUTPUT, Point
from .ravel import leaves_by_path
from .validation import is_count

EXPECTED_ORDER = {"gradient": 2.0, "jacobian": 2.0, "jvp": 2.0, "vjp": 2.0, "hvp": 4.0}
STEPS = 12
"""How many halvings of the step are tried, from ``FIRST_STEP`` times the parameters' scale."""
FIRST_STEP = 2.0**-3
ROUND_OFF_MARGIN = 1e4
"""A remainder counts only where it stands this many machine epsilons of the function's size above zero."""
ORDER_SLACK = 0.5
"""The verdict: the observed order at least the expected order minus this."""
TAIL = 3
"""The order is the median of this many pairs of steps at the small end of the clean range."""


@dataclass(frozen=True)
class TaylorResult:
    """Observed convergence orders per direction, the expected order, and the verdict."""

    candidate: str
    derivative: str
    orders: tuple[float, ...]
    expected: float
    steps: tuple[float, ...]
    remainders: tuple[tuple[float, ...], ...]
    notes: tuple[str, ...] = ()

    @property
    def order(self) -> float:
        """The smallest order observed over the directions (the verdict's)."""
        finite = [order for order in self.orders if np.isfinite(order)]
        return min(finite) if finite else float("nan")

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.order) and self.order >= self.expected - ORDER_SLACK)

    def headline(self) -> str:
        shown = ", ".join(f"{order:.2f}" for order in self.orders)
        return (f"{'PASS' if self.passed else 'FAIL'}  {self.candidate} ({self.derivative}), Taylor test: "
                f"observed order {self.order:.2f} (directions: {shown}); a correct derivative gives {self.expected:g}")

    def summary(self) -> str:
        return "\n".join([self.headline(), *self.notes])


def check_taylor(candidate: SourceLike, params: Any, X: Any = None, Y: Any = None, *,
                 model: str | Model | None = None, derivative: str = "gradient", directions: int = 3, seed: int = 0,
                 **options: Any) -> TaylorResult:
    """The candidate's derivative judged by the convergence order of its Taylor remainder (see module doc)."""
    if not is_count(directions):
        raise InputError(f"directions must be a positive integer, got {directions!r}; try 3.")
    prepared = prepare((candidate,), params, X, Y, model=model, derivative=derivative, seed=seed, **options)
    if prepared.model is None:
        raise InputError("the Taylor test evaluates the model's own function: pass model= (a name or a gb.Model).")
    point, request, source = prepared.point, prepared.request, prepared.sources[0]
    found = source.derivative_at(point, request)
    model_used = prepared.model
    rng = np.random.default_rng(seed + 7)
    count = 1 if request.name in ("jvp", "hvp") else directions
    along: list[dict[str, np.ndarray]] = []
    for _ in range(count):
        if request.name in ("jvp", "hvp"):
            assert request.probe is not None
            along.append(request.probe)
        else:
            along.append({name: rng.standard_normal(np.shape(value)) for name, value in point.params.items()})
    steps = _steps(point, along[0])
    orders, remainders = [], []
    for direction in along:
        series = _remainders(model_used, point, request.name, found, direction, request.probe, steps)
        remainders.append(tuple(series))
        orders.append(_order(series, _floor(model_used, point, request.name)))
    return TaylorResult(prepared.labels[0], request.name, tuple(orders), EXPECTED_ORDER[request.name],
                        tuple(steps), tuple(remainders),
                        notes=(f"{count} direction(s), seed {seed}; steps {steps[0]:.2g} down to {steps[-1]:.2g} "
                               "halving",))


def _steps(point: Point, direction: dict[str, np.ndarray]) -> list[float]:
    scale = float(np.sqrt(np.mean(point.flat.astype(np.float64) ** 2))) or 1.0
    size = float(np.sqrt(np.mean(np.concatenate([np.ravel(v) for v in direction.values()]) ** 2))) or 1.0
    first = FIRST_STEP * scale / size
    return [first / 2.0**k for k in range(STEPS)]


def _values(model: Model, point: Point, params: dict[str, np.ndarray]) -> np.ndarray:
    """The model's function (or cost) at ``params``, flattened."""
    returned = counted(model.function)(params, point.X, point.Y)
    leaves = dict(leaves_by_path(returned)) if isinstance(returned, (dict, list, tuple)) else {OUTPUT: returned}
    return np.concatenate([np.ravel(np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value,
                                               dtype=np.float64)) for value in leaves.values()])


def _cost(model: Model, point: Point, params: dict[str, np.ndarray]) -> float:
    value = counted(model.cost)(params, point.X, point.Y)
    return float(np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value).reshape(()))


def _moved(point: Point, direction: dict[str, np.ndarray], h: float) -> dict[str, np.ndarray]:
    return {name: point.params[name] + h * direction[name] for name in point.names}


def _remainders(model: Model, point: Point, kind: str, found: Any, direction: dict[str, np.ndarray],
                probe: dict[str, np.ndarray] | None, steps: list[float]) -> list[float]:
    """The Taylor remainder of the candidate's derivative at each step (see the module's table)."""
    names = point.names
    if kind == "hvp":
        at_point = _cost(model, point, dict(point.params))
        curvature = float(sum(np.sum(direction[n] * np.asarray(found[n], dtype=np.float64)) for n in names))
        return [abs(_cost(model, point, _moved(point, direction, h)) - 2 * at_point
                    + _cost(model, point, _moved(point, direction, -h)) - h * h * curvature) for h in steps]
    if kind == "gradient":
        at_point = _cost(model, point, dict(point.params))
        slope = float(sum(np.sum(direction[n] * np.asarray(found[n], dtype=np.float64)) for n in names))
        return [abs(_cost(model, point, _moved(point, direction, h)) - at_point - h * slope) for h in steps]
    base = _values(model, point, dict(point.params))
    if kind == "vjp":
        assert probe is not None
        weights = np.concatenate([np.ravel(probe[name]) for name in probe])
        slope = float(sum(np.sum(direction[n] * np.asarray(found[n], dtype=np.float64)) for n in names))
        return [abs(weights @ (_values(model, point, _moved(point, direction, h)) - base) - h * slope) for h in steps]
    if kind == "jacobian":
        product = sum(np.tensordot(np.asarray(found[n], dtype=np.float64), direction[n], axes=np.ndim(direction[n]))
                      for n in names)
        linear = np.ravel(product)
    else:  # jvp: the candidate's J v along its own tangent
        linear = np.concatenate([np.ravel(np.asarray(value, dtype=np.float64)) for value in found.tensors.values()])
    return [float(np.linalg.norm(_values(model, point, _moved(point, direction, h)) - base - h * linear))
            for h in steps]


def _floor(model: Model, point: Point, kind: str) -> float:
    """The remainders' round-off floor: ``ROUND_OFF_MARGIN`` epsilons of the function's size at the point."""
    size = abs(_cost(model, point, dict(point.params))) if kind in ("gradient", "hvp") \
        else float(np.max(np.abs(_values(model, point, dict(point.params))), initial=0.0))
    return ROUND_OFF_MARGIN * float(np.finfo(point.precision).eps) * max(size, np.finfo(np.float64).tiny)


def _order(remainders: list[float], floor: float) -> float:
    """The convergence order at the small end of the steps whose remainders stand above round-off."""
    pairs = [np.log2(big / small) for big, small in zip(remainders, remainders[1:]) if small > floor and big > floor]
    return float(np.median(pairs[-TAIL:])) if pairs else float("nan")

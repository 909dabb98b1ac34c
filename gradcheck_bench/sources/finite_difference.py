"""The finite-difference oracle: a gradient from forward passes only.

``fd(cost)`` is a gradient source for any cost ``(params, X, Y) -> float``; by
default the MLP's. The gradient is the centered difference per coordinate,

    g[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps),

2n forward passes for n parameters. How those passes are evaluated is the
job of an *engine*: ``engine(cost, params, X, Y, eps) -> flat gradient``. The
``loop`` engine below is the reference (the exercise's method, one coordinate
at a time); faster engines are more entries in :data:`ENGINES` and must agree
with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import InputError
from ..flatten import ravel
from ..models import Model, Params, mlp_cost
from ..validation import require_finite_cost, scalar_cost
from ..steps import TOLERANCES, default_step
from .registry import SourceSpec

Cost = Callable[[Params, Any, Any], Any]
Engine = Callable[[Cost, Params, Any, Any, float], np.ndarray]

DEFAULT_EPS = TOLERANCES[np.dtype(np.float64)].fd_step
"""Default step in float64 (2^-17 = 7.6e-6), near the cube root of machine epsilon
where round-off and truncation error balance for centered differences; the
exercise's 1e-7 is ``eps=1e-7``. With ``eps=None`` (the default) the step is
chosen by the parameters' dtype from :data:`gradcheck_bench.steps.TOLERANCES`."""


def loop_engine(cost: Cost, params: Params, X: Any, Y: Any, eps: float) -> np.ndarray:
    """The reference: perturb one coordinate at a time, two forward passes each."""
    flat, unravel = ravel(params)
    point = unravel(flat)  # views into flat: perturbing flat[i] perturbs the dict
    gradient = np.empty_like(flat)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        cost_plus = scalar_cost(cost(point, X, Y))
        flat[i] = original - eps
        cost_minus = scalar_cost(cost(point, X, Y))
        flat[i] = original
        gradient[i] = (cost_plus - cost_minus) / (2 * eps)
    return gradient


ENGINES: dict[str, Engine] = {"loop": loop_engine}


def fd_engines() -> list[str]:
    """Names of the finite-difference engines usable here (``engine=`` of :func:`fd`)."""
    return list(ENGINES)


@dataclass(frozen=True)
class CentralDifference:
    """A gradient source that differentiates ``cost`` by centered differences."""

    cost: Cost = mlp_cost
    eps: float | None = None
    engine: str = "loop"
    name: str = "fd"

    def __post_init__(self) -> None:
        if not callable(self.cost):
            raise InputError(f"fd() needs a callable cost (params, X, Y) -> float, got {self.cost!r}.")
        if self.eps is not None and not (isinstance(self.eps, (int, float)) and np.isfinite(self.eps) and self.eps > 0):
            raise InputError(f"eps must be a positive finite step, got {self.eps!r}; try 1e-6.")
        if self.engine not in ENGINES:
            raise InputError(
                f"unknown finite-difference engine {self.engine!r}; "
                f"choose one of {', '.join(ENGINES)}."
            )

    def __call__(self, params: Params, X: Any, Y: Any) -> Params:
        require_finite_cost(self.cost, params, X, Y)
        flat, unravel = ravel(params)
        eps = default_step(params) if self.eps is None else float(self.eps)
        gradient = ENGINES[self.engine](self.cost, params, X, Y, eps)
        return {name: value.copy() for name, value in unravel(gradient).items()}

    def forward_passes(self, params: Params) -> int:
        """2n passes for the differences, plus two to check the cost is finite and deterministic."""
        return 2 * sum(int(np.size(value)) for value in params.values()) + 2


def fd(cost: Cost | None = None, *, eps: float | None = None, engine: str = "loop") -> CentralDifference:
    """The finite-difference oracle for ``cost`` (the MLP cost if none is given)."""
    return CentralDifference(cost=mlp_cost if cost is None else cost, eps=eps, engine=engine)


def _fd_for_model(model: Model, eps: float | None = None, engine: str = "loop") -> CentralDifference:
    return CentralDifference(cost=model.cost, eps=eps, engine=engine)


SOURCES = [
    SourceSpec(
        name="fd",
        factory=_fd_for_model,
        description="centered finite differences of the cost (2n forward passes)",
        kind="oracle",
        models=(),
    ),
]

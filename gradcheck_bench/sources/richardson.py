"""Richardson extrapolation of centered differences.

The centered difference ``D(h) = (J(theta + h e_k) - J(theta - h e_k)) / 2h``
has an error ``c2 h^2 + c4 h^4 + ...`` with no odd powers. Evaluating it at
``h, h/2, h/4, ...`` and eliminating the leading terms one by one (Neville's
tableau, ``R[j] = (4^j R_fine - R_coarse) / (4^j - 1)``) removes the
truncation error to high order while the steps stay large enough for
round-off to be small. ``levels`` steps cost ``2 * levels`` forward passes per
parameter.

Large steps cross ReLU kinks more often than small ones. For the MLP cost the
kinks are known (:mod:`gradcheck_bench.kinks`): when any step of a
coordinate's sequence changes the activation pattern, the whole sequence is
shrunk by 8 and retried, and the crossing is reported in the check's notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import InputError
from ..flatten import ravel
from ..models import Model, Params, mlp_cost
from ..kinks import (
    MAX_SHRINKS,
    SHRINK_FACTOR,
    GradientWithNotes,
    KinkAwareDifference,
    KinkCrossing,
    cost_without_pattern,
    mlp_cost_and_pattern,
    summarize_crossings,
)
from ..validation import is_positive_number, require_finite_cost
from .kink_safe_fd import coordinate_name
from .registry import SourceSpec

Cost = Callable[[Params, Any, Any], Any]

DEFAULT_RICHARDSON_STEP = 2.0**-6
"""The coarsest step; powers of two so that ``theta +- h`` is exact for most theta."""
DEFAULT_LEVELS = 3


def extrapolate(differences: list[float]) -> float:
    """Neville's tableau over centered differences at steps h, h/2, h/4, ...: the last entry."""
    row = list(differences)
    for j in range(1, len(row)):
        factor = 4.0**j
        row = [(factor * row[i + 1] - row[i]) / (factor - 1.0) for i in range(len(row) - 1)]
    return row[0]


@dataclass(frozen=True)
class RichardsonDifference:
    """A gradient source: centered differences at ``levels`` halving steps, extrapolated."""

    cost: Cost = mlp_cost
    h: float = DEFAULT_RICHARDSON_STEP
    levels: int = DEFAULT_LEVELS
    name: str = "richardson"

    def __post_init__(self) -> None:
        if not callable(self.cost):
            raise InputError(f"richardson() needs a callable cost (params, X, Y) -> float, got {self.cost!r}.")
        if not is_positive_number(self.h):
            raise InputError(f"the Richardson step h must be a positive finite number, got {self.h!r}; try 2**-6.")
        if not (isinstance(self.levels, int) and 1 <= self.levels <= 8):
            raise InputError(f"levels must be an integer from 1 to 8, got {self.levels!r}; try 3.")

    def __call__(self, params: Params, X: Any, Y: Any) -> Params:
        require_finite_cost(self.cost, params, X, Y)
        flat, unravel = ravel(params)
        if self.cost is mlp_cost:  # the MLP's kinks are known: step sequences must not cross one
            evaluate = lambda point: mlp_cost_and_pattern(point, X, Y)  # noqa: E731
        else:
            evaluate = cost_without_pattern(self.cost, X, Y)
        differences = KinkAwareDifference(evaluate, flat, unravel(flat))
        gradient = np.empty(flat.size, dtype=np.float64)
        crossings: list[KinkCrossing] = []
        unit = np.zeros_like(flat)
        for k in range(flat.size):
            unit[k] = 1.0
            gradient[k], crossing = self._extrapolated(differences, unit, coordinate_name(params, k))
            unit[k] = 0.0
            if crossing is not None:
                crossings.append(crossing)
        result = {name: value.astype(params[name].dtype) for name, value in unravel(gradient).items()}
        return GradientWithNotes(result, summarize_crossings(crossings), tuple(crossings), differences.passes + 1)

    def _extrapolated(
        self, differences: KinkAwareDifference, unit: np.ndarray, where: str
    ) -> tuple[float, KinkCrossing | None]:
        """Extrapolate over h, h/2, ...; if any step crosses a kink, shrink the whole sequence by 8."""
        h, examples = self.h, set()
        for shrink in range(MAX_SHRINKS + 1):
            crossed: set[int] = set()
            estimates = []
            for level in range(self.levels):
                value, changed = differences.centered(unit, h / 2.0**level)
                estimates.append(value)
                crossed |= changed
            if not crossed:
                return extrapolate(estimates), (KinkCrossing(where, tuple(sorted(examples)), "smaller step", h) if shrink else None)
            examples |= crossed
            h /= SHRINK_FACTOR
        return extrapolate(estimates), KinkCrossing(where, tuple(sorted(examples)), "unresolved", h * SHRINK_FACTOR)

    def forward_passes(self, params: Params) -> int:
        """Two passes per step per parameter, plus one to check the cost at the point."""
        return 2 * self.levels * sum(int(np.size(value)) for value in params.values()) + 1


def richardson(
    cost: Cost | None = None, *, h: float = DEFAULT_RICHARDSON_STEP, levels: int = DEFAULT_LEVELS
) -> RichardsonDifference:
    """The Richardson-extrapolated oracle for ``cost`` (the MLP cost if none is given)."""
    return RichardsonDifference(cost=mlp_cost if cost is None else cost, h=h, levels=levels)


def _richardson_for_model(
    model: Model, h: float = DEFAULT_RICHARDSON_STEP, levels: int = DEFAULT_LEVELS
) -> RichardsonDifference:
    return RichardsonDifference(cost=model.cost, h=h, levels=levels)


SOURCES = [
    SourceSpec(
        name="richardson",
        factory=_richardson_for_model,
        description="centered differences at halving steps, Richardson-extrapolated (2*levels*n passes)",
        kind="oracle",
        models=(),
    ),
]

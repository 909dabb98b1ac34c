"""``fd-kink-safe``: centered differences of the MLP cost that step around ReLU kinks.

The same estimate as ``fd`` wherever a step stays on one side of every kink;
where it would straddle one, the one-sided or smaller-step difference of
:mod:`gradcheck_bench.kinks`, recorded and reported in the check's summary
(which parameters, which examples, what was done). Costs 2n + 2 forward passes
plus a few for each straddling coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from ..errors import InputError
from ..flatten import parameter_slices, ravel
from ..kinks import GradientWithNotes, KinkAwareDifference, KinkCrossing, mlp_cost_and_pattern, summarize_crossings
from ..models import Model, Params, mlp_cost
from ..steps import default_step
from ..validation import is_positive_number, require_finite_cost
from .registry import SourceSpec


def coordinate_name(params: Params, flat_index: int) -> str:
    """``"W1[3, 2]"`` for a position in the flat vector."""
    for name, where in parameter_slices(params).items():
        if where.start <= flat_index < where.stop:
            index = np.unravel_index(flat_index - where.start, np.shape(params[name]))
            return f"{name}[{', '.join(str(int(i)) for i in index)}]"
    raise IndexError(flat_index)


@dataclass(frozen=True)
class KinkSafeDifference:
    """A gradient source for the MLP: kink-aware centered differences, per coordinate."""

    eps: float | None = None
    name: str = "fd-kink-safe"

    def __post_init__(self) -> None:
        if self.eps is not None and not is_positive_number(self.eps):
            raise InputError(f"eps must be a positive finite step, got {self.eps!r}; try 1e-5.")

    def __call__(self, params: Params, X: np.ndarray, Y: np.ndarray) -> GradientWithNotes:
        require_finite_cost(mlp_cost, params, X, Y)
        h = default_step(params) if self.eps is None else float(self.eps)
        return kink_safe_tensors(params, X, Y, h, list(params), extra_passes=2)  # finite + deterministic


def kink_safe_tensors(
    params: Params, X: np.ndarray, Y: np.ndarray, h: float, names: list[str], extra_passes: int = 0
) -> GradientWithNotes:
    """Kink-aware centered differences of the MLP cost for the tensors ``names`` only.

    Coordinates whose step stays on one side of every kink get exactly the
    plain centered difference; the others are stepped around and recorded.
    """
    flat, unravel = ravel(params)
    differences = KinkAwareDifference(lambda p: mlp_cost_and_pattern(p, X, Y), flat, unravel(flat))
    gradient = np.zeros(flat.size, dtype=np.float64)
    crossings: list[KinkCrossing] = []
    unit = np.zeros_like(flat)
    slices = parameter_slices(params)
    for i in (i for name in names for i in range(slices[name].start, slices[name].stop)):
        unit[i] = 1.0
        gradient[i], crossing = differences.along(unit, h, coordinate_name(params, i))
        unit[i] = 0.0
        if crossing is not None:
            crossings.append(crossing)
    values = unravel(gradient)
    result = {name: values[name].astype(params[name].dtype) for name in names}
    return GradientWithNotes(result, summarize_crossings(crossings), tuple(crossings),
                             differences.passes + extra_passes)


def _kink_safe_for_model(model: Model, eps: float | None = None) -> KinkSafeDifference:
    return KinkSafeDifference(eps=eps)


SOURCES = [
    SourceSpec(
        name="fd-kink-safe",
        factory=_kink_safe_for_model,
        description="centered differences that detect ReLU kinks between theta +- eps and step around them",
        kind="oracle",
        models=("mlp",),
    ),
]

"""``fd-kink-safe``: centered differences that step around the kinks a model declares.

The same estimate as ``fd`` wherever a step stays on one side of every kink;
where it would straddle one (the model's kink pattern, e.g. the MLP's ReLU
signs, changes between ``theta`` and ``theta +- h``), the one-sided or
smaller-step difference of :mod:`gradcheck_bench.differences.kinks`, recorded and
reported in the check's summary (which parameters, which examples, what was
done). Costs 2n + 1 forward passes plus a few for each straddling coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..counting import counted
from ..errors import InputError
from ..gradient import Gradient
from ..point import Point
from ..source import GradientSource
from .kinks import KinkAwareDifference, evaluator, summarize_crossings
from ..models import Model, Params
from ..ravel import Coordinates, coordinate_name, parameter_slices, ravel
from .steps import rounding_error, step_vector
from ..validation import CostAtPoint, cost_at_point


def kink_safe_tensors(model: Model, params: Params, X: Any, Y: Any, steps: np.ndarray, names: list[str],
                      at_point: CostAtPoint, coordinates: Coordinates | None = None) -> Gradient:
    """Kink-aware centered differences of the tensors ``names`` only (or of their ``coordinates`` only, as
    1-D values in that order), with their error estimates.

    Coordinates whose step stays on one side of every kink get exactly the
    plain centered difference; the others are stepped around and recorded.
    """
    flat, unravel = ravel(params)
    differences = KinkAwareDifference(evaluator(model, X, Y), flat, unravel)
    slices = parameter_slices(params)
    values, errors, crossings = {}, {}, []
    unit = np.zeros_like(flat)
    for name in names:
        where, shape = slices[name], np.shape(params[name])
        positions = np.arange(where.stop - where.start) if coordinates is None else np.asarray(coordinates[name])
        value, error = np.zeros(positions.size), np.zeros(positions.size)
        for k, position in enumerate(positions):
            i = where.start + int(position)
            index = tuple(int(j) for j in np.unravel_index(int(position), shape))
            unit[i] = 1.0
            value[k], crossing = differences.along(unit, steps[i], coordinate_name(params, i), name, index)
            unit[i] = 0.0
            step, factor = (steps[i], 1.0) if crossing is None else (crossing.step, crossing.noise_factor())
            error[k] = factor * rounding_error(at_point.value, at_point.precision, np.array([step]), at_point.noise)[0]
            if crossing is not None:
                crossings.append(crossing)
                if crossing.action == "unresolved":
                    error[k] = max(error[k], abs(value[k]))  # a slope mixed across a kink: nothing resolved
        values[name] = (value if coordinates is not None else value.reshape(shape)).astype(params[name].dtype)
        errors[name] = error if coordinates is not None else error.reshape(shape)
    return Gradient(tensors=values, notes=summarize_crossings(crossings), kinks=tuple(crossings), error=errors)


@dataclass(frozen=True)
class KinkSafeDifference(GradientSource):
    """A gradient source: kink-aware centered differences of a model that declares its kinks."""

    forward_only = True

    model: Model
    eps: float | None = None
    name: str = "fd-kink-safe"

    def __post_init__(self) -> None:
        from ..validation import is_positive_number

        if self.eps is not None and not is_positive_number(self.eps):
            raise InputError(f"eps must be a positive finite step, got {self.eps!r}; try 1e-5.")
        if self.model.kink_pattern is None:
            raise InputError(f"fd-kink-safe needs a model that declares its kinks (Model(kink_pattern=...)); "
                             f"{self.model.name!r} does not: use 'fd'.")

    def gradient_at(self, point: Point) -> Gradient:
        at_point = cost_at_point(counted(self.model.cost), point.params, point.X, point.Y)
        return kink_safe_tensors(self.model, point.params, point.X, point.Y,
                                 step_vector(self.eps, point.params, at_point.precision), point.names, at_point)

    def for_model(self, model: Model) -> "KinkSafeDifference":
        return replace(self, model=model)

    def settings(self) -> dict[str, str]:
        return {"eps": str(self.eps)}

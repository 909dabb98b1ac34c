"""Richardson extrapolation of centered differences, with the tableau's own error estimate.

The centered difference ``D(h) = (J(theta + h e_k) - J(theta - h e_k)) / 2h``
has an error ``c2 h^2 + c4 h^4 + ...`` with no odd powers. Evaluating it at
``h, h/2, h/4, ...`` and eliminating the leading terms one by one (Neville's
tableau, ``R[j] = (4^j R_fine - R_coarse) / (4^j - 1)``) removes the
truncation error to high order while the steps stay large enough for
round-off to be small. ``levels`` steps cost ``2 * levels`` forward passes per
parameter; for a model that declares no kinks each level is one run of the
finite-difference engines (vectorised where the cost allows), otherwise a
kink-aware loop over coordinates. The coarsest step follows the oracles' rule, relative to each
parameter (:mod:`gradcheck_bench.differences.steps`), at the table's ``richardson_step``.

The error of each value is the difference between the last two entries of
its tableau (the last extrapolation's own size), plus the round-off of the
finest step.

Large steps cross kinks more often than small ones. Where a model declares its
kinks (the MLP's ReLUs), a coordinate whose step sequence changes the pattern
is shrunk by 8 and retried, and the crossing is reported in the check's notes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..counting import counted
from .driver import centered, perturbed_costs
from ..errors import InputError
from ..gradient import Gradient
from ..kinds import GRADIENT, JACOBIAN, JVP, VJP, Request
from ..point import Point
from ..source import GradientSource
from .kinks import MAX_SHRINKS, SHRINK_FACTOR, KinkAwareDifference, KinkCrossing, evaluator, summarize_crossings
from ..models import Model, Params
from ..ravel import Coordinates, coordinate_indices, coordinate_name, parameter_count, ravel, split_coordinates
from ..tolerances import TOLERANCES
from .steps import relative_steps, rounding_error
from .vector import (columns, direction_step, directional, flattened_output, jacobian_blocks, projected_model,
                     rounding_of, split_output, without)
from ..validation import cost_at_point, is_count, is_positive_number

DEFAULT_LEVELS = 3
RICHARDSON_KINDS = frozenset({GRADIENT, JACOBIAN, JVP, VJP})
"""No Hessian-vector product: extrapolating nested differences is left to ``fd``'s second differences."""


def tableau(differences: list[Any]) -> tuple[Any, Any]:
    """Neville's tableau over centered differences at steps h, h/2, h/4, ...: its last entry, and
    the size of the last extrapolation step (the estimate of what is left of the error). Works
    on numbers or, elementwise, on arrays of them (every coordinate at once)."""
    row, previous = list(differences), differences[-1]
    for j in range(1, len(row)):
        factor = 4.0**j
        previous = row[-1]
        row = [(factor * row[i + 1] - row[i]) / (factor - 1.0) for i in range(len(row) - 1)]
    return row[0], abs(row[0] - previous) if len(differences) > 1 else 0.0 * row[0]


def extrapolate(differences: list[float]) -> float:
    """The Richardson-extrapolated value of centered differences at h, h/2, h/4, ..."""
    return tableau(differences)[0]


@dataclass(frozen=True)
class RichardsonDifference(GradientSource):
    """A gradient source: centered differences at ``levels`` halving steps, extrapolated."""

    forward_only = True

    model: Model
    h: float | None = None
    levels: int = DEFAULT_LEVELS
    name: str = "richardson"
    finer: float = 1.0
    """The coarsest step is divided by this (:meth:`resolve` runs the oracle again from finer steps)."""

    def __post_init__(self) -> None:
        if self.h is not None and not is_positive_number(self.h):
            raise InputError(f"the Richardson step h must be a positive finite number, got {self.h!r}; "
                             "try 2**-6, or leave it out for a step relative to each parameter.")
        if not (is_count(self.levels) and self.levels <= 8):
            raise InputError(f"levels must be an integer from 1 to 8, got {self.levels!r}; try 3.")

    def gradient_at(self, point: Point) -> Gradient:
        at_point = cost_at_point(counted(self.model.cost), point.params, point.X, point.Y)
        return self.tensors(point.params, point.X, point.Y, point.names, at_point)

    def second_look(self, point: Point, names: list[str], within_error_bars: bool,
                    request: Request | None = None, coordinates: Coordinates | None = None) -> Gradient | None:
        """Richardson's values again from finer steps (:meth:`resolve`), whatever the first look lacked; with
        ``coordinates``, only at those elements of each tensor (1-D values in their order)."""
        if request is not None and request.name != "gradient":
            return None
        return self.resolve(point.params, point.X, point.Y, names, coordinates)

    def provides(self) -> frozenset[str]:
        return RICHARDSON_KINDS

    def derivative_at(self, point: Point, request: Request) -> Gradient:
        """The VJP as the extrapolated gradient of ``u . f``; the JVP and the Jacobian's columns extrapolated
        over ``levels`` halving steps, each with its tableau's error estimate."""
        if request.name == "gradient":
            return self.gradient_at(point)
        if request.name == "vjp":
            assert request.output is not None and request.probe is not None
            derived = projected_model(self.model, request.output, request.probe)
            return replace(self, model=derived).gradient_at(without(point))
        if request.name not in RICHARDSON_KINDS:
            return super().derivative_at(point, request)
        assert request.output is not None
        values = flattened_output(self.model, request.output, point.X, point.Y)
        base = TOLERANCES[point.precision].richardson_step / self.finer
        if request.name == "jvp":
            assert request.probe is not None
            step = direction_step(point, request.probe, base) if self.h is None else float(self.h)
            estimates = [directional(values, point, request.probe, step / 2.0**level) for level in range(self.levels)]
            at_point = np.concatenate([np.ravel(request.output.values[name]) for name in request.output.names])
            product, left = tableau(estimates)
            error = np.asarray(left) + rounding_of(at_point, point.precision, step / 2.0 ** (self.levels - 1))
            return Gradient(tensors=split_output(np.asarray(product), request.output),
                            error=split_output(error, request.output))
        coarsest = relative_steps(point.params, base) if self.h is None else np.full(point.size, float(self.h))
        levels = [columns(values, point, coarsest / 2.0**level) for level in range(self.levels)]
        matrix, left = tableau([level[0] for level in levels])
        error = np.asarray(left) + levels[-1][1]
        return Gradient(tensors=jacobian_blocks(np.asarray(matrix), point, request.output),
                        error=jacobian_blocks(error, point, request.output))

    def for_model(self, model: Model) -> "RichardsonDifference":
        return replace(self, model=model)

    def settings(self) -> dict[str, str]:
        return {"h": str(self.h), "levels": str(self.levels)}

    def tensors(self, params: Params, X: Any, Y: Any, names: list[str], at_point: Any,
                coordinates: Coordinates | None = None) -> Gradient:
        """The extrapolated values of the tensors ``names`` (all of them from ``__call__``; with ``coordinates``
        only those elements, as 1-D values in their order), with their errors, at a point whose cost
        ``at_point`` was already found finite and deterministic."""
        coarsest = (relative_steps(params, TOLERANCES[at_point.precision].richardson_step) if self.h is None
                    else np.full(parameter_count(params), float(self.h))) / self.finer
        indices = coordinate_indices(params, names, coordinates)
        run = self._on_engines if self.model.kink_pattern is None else self._kink_aware
        values, errors, notes, crossings = run(params, X, Y, at_point, indices, coarsest[indices])
        return Gradient(tensors=split_coordinates(params, names, values, coordinates), notes=notes,
                        kinks=tuple(crossings), error=split_coordinates(params, names, errors, coordinates))

    def resolve(self, params: Params, X: Any, Y: Any, names: list[str],
                coordinates: Coordinates | None = None) -> Gradient:
        """The tensors ``names`` (or their ``coordinates`` only) again, for a check that failed on them. The
        truncation error of coarse steps is what limits the extrapolation on a cost with large high
        derivatives (a mixture model's exponentials): the tensors are extrapolated again from 4 and 16 times
        finer steps, and each coordinate keeps the value whose own error estimate is smaller."""
        at_point = cost_at_point(counted(self.model.cost), params, X, Y)
        four, sixteen = (replace(self, finer=self.finer * factor).tensors(params, X, Y, names, at_point, coordinates)
                         for factor in (4.0, 16.0))
        tensors, error = {}, {}
        assert four.error is not None and sixteen.error is not None  # tensors() always gives error bars
        for name in names:
            take_finer = sixteen.error[name] < four.error[name]
            tensors[name] = np.where(take_finer, sixteen[name], four[name])
            error[name] = np.where(take_finer, sixteen.error[name], four.error[name])
        said = ("they were extrapolated again from 4 and 16 times finer steps (coarse steps' truncation error "
                "limits the extrapolation where high derivatives are large), keeping at each coordinate the value "
                "with the smaller error estimate",)
        return Gradient(tensors=tensors, notes=said + tuple(dict.fromkeys(four.notes + sixteen.notes)),
                        kinks=four.kinks + sixteen.kinks, error=error)

    def _kink_aware(self, params: Params, X: Any, Y: Any, at_point: Any, indices: np.ndarray,
                    coarsest: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[KinkCrossing]]:
        """Coordinate by coordinate, shrinking a step sequence that crosses one of the model's kinks."""
        flat, unravel = ravel(params)
        differences = KinkAwareDifference(evaluator(self.model, X, Y), flat, unravel)
        values, errors = np.empty(indices.size), np.empty(indices.size)
        crossings: list[KinkCrossing] = []
        unit = np.zeros_like(flat)
        for j, k in enumerate(indices):
            unit[k] = 1.0
            values[j], errors[j], finest, crossing = self._extrapolated(differences, unit, coarsest[j],
                                                                       coordinate_name(params, int(k)))
            unit[k] = 0.0
            errors[j] += rounding_error(at_point.value, at_point.precision, np.array([finest]), at_point.noise)[0]
            if crossing is not None:
                crossings.append(crossing)
        return values, errors, summarize_crossings(crossings), crossings

    def _on_engines(self, params: Params, X: Any, Y: Any, at_point: Any, indices: np.ndarray,
                    coarsest: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[KinkCrossing]]:
        """Without kinks to step around, every level is one run of the fd engines over the coordinates."""
        levels = [coarsest / 2.0**level for level in range(self.levels)]
        runs = [perturbed_costs(self.model, params, X, Y, indices, steps) for steps in levels]
        values, last_step = tableau([centered(run.costs, steps) for run, steps in zip(runs, levels)])
        error = np.asarray(last_step) + rounding_error(at_point.value, at_point.precision, levels[-1], at_point.noise)
        notes = tuple(dict.fromkeys(note for run in runs for note in run.notes))
        return np.asarray(values, dtype=np.float64), error, notes, []

    def _extrapolated(self, differences: KinkAwareDifference, unit: np.ndarray, h: float,
                      where: str) -> tuple[float, float, float, KinkCrossing | None]:
        """Extrapolate over h, h/2, ...; if any step crosses a kink, shrink the whole sequence by 8."""
        examples: set[int] = set()
        for shrink in range(MAX_SHRINKS + 1):
            crossed: set[int] = set()
            estimates = []
            for level in range(self.levels):
                value, changed = differences.centered(unit, h / 2.0**level)
                estimates.append(value)
                crossed |= changed
            finest = h / 2.0 ** (self.levels - 1)
            if not crossed:
                crossing = KinkCrossing(where, tuple(sorted(examples)), "smaller step", h) if shrink else None
                return (*tableau(estimates), finest, crossing)
            examples |= crossed
            h /= SHRINK_FACTOR
        value, _ = tableau(estimates)
        return value, abs(value), finest, KinkCrossing(where, tuple(sorted(examples)), "unresolved", h * SHRINK_FACTOR)


def richardson(model: Model | str | None = None, *, h: float | None = None,
               levels: int = DEFAULT_LEVELS) -> RichardsonDifference:
    """The Richardson-extrapolated oracle for a model or cost (None: :data:`~gradcheck_bench.models.DEFAULT_MODEL`)."""
    from ..models import DEFAULT_MODEL, cost_model, get_model

    resolved = get_model(model or DEFAULT_MODEL) if model is None or isinstance(model, (str, Model)) else cost_model(model)
    return RichardsonDifference(model=resolved, h=h, levels=levels)

"""Directional gradient checks: O(k) forward passes instead of O(n).

For k random orthonormal directions ``v_1..v_k`` (fixed seed), compare the
candidate's projections ``a_j = v_j . g`` with centered differences of the cost
along each direction, ``b_j = (J(theta + h v_j) - J(theta - h v_j)) / 2h``,
using the exercise's formula ``||a - b|| / (||a|| + ||b||)``. With k = n
directions that is exactly the full check in a rotated basis; with k << n it
is a random k-dimensional slice of it, 2k + 1 forward passes whatever n is.

Why not a named reference source usable as ``check("numpy", "directional")``:
a source must return a whole gradient, and k directional derivatives do not
determine one; the check needs the candidate's gradient to project. So it is
:func:`check_directional`, which returns the same :class:`CheckResult`, and
the ``--directions K`` option of ``gradcheck-bench directional``.

When the check fails it localises the bug, cheaply first: k probes restricted
to each tensor (2k passes per tensor), then per-coordinate finite differences
only on the tensors whose probes fail, so the per-parameter table names the
culprit tensors, their scale and worst element as the full check does. For
the MLP the differences step around ReLU kinks (:mod:`gradcheck_bench.differences.kinks`).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Literal, overload

import numpy as np

from .check import SourceLike, label_of, source_for
from .counting import counted, count_forward_passes
from .errors import InputError
from .differences.kinks import KinkAwareDifference, KinkCrossing, evaluator, summarize_crossings
from .differences.steps import default_step
from .judge import Tolerance, judge
from .metrics import compare_tensor, least_squares_scale, relative_difference
from .models import DEFAULT_MODEL, Model, Params, cost_model, get_model
from .point import build_point, for_layout
from .ravel import parameter_slices, ravel
from .result import CheckResult
from .tolerances import default_threshold, warn_if_low_precision
from .validation import is_count, is_positive_number, require_finite_cost

DEFAULT_DIRECTIONS = 4


def random_directions(size: int, count: int, seed: int) -> np.ndarray:
    """``count`` orthonormal directions in R^size as columns, from a fixed seed (count <= size)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((size, count)))
    return q * np.sign(np.diag(r))  # a unique, uniformly distributed basis


class _Prober:
    """Differences of the cost along flat vectors, kink-aware where the model declares its kinks."""

    def __init__(self, model: Model, params: Params, X: Any, Y: Any, h: float):
        self.flat, unravel = ravel(params)
        self.h = h
        self.differences = KinkAwareDifference(evaluator(model, X, Y), self.flat, unravel)
        self.crossings: list[KinkCrossing] = []

    def along(self, direction: np.ndarray, where: str) -> float:
        value, crossing = self.differences.along(direction.astype(self.flat.dtype), self.h, where)
        if crossing is not None:
            self.crossings.append(crossing)
        return value


@overload
def check_directional(
    candidate: SourceLike, params: Params, X: Any, Y: Any = None, *, directions: int = ..., seed: int = ...,
    eps: float | None = ..., threshold: float | None = ..., model: str | Model | None = ...,
    cost: Callable[[Params, Any, Any], Any] | None = ..., localise: bool = ..., count_passes: Literal[False] = ...,
) -> CheckResult: ...


@overload
def check_directional(
    candidate: SourceLike, params: Params, X: Any, Y: Any = None, *, directions: int = ..., seed: int = ...,
    eps: float | None = ..., threshold: float | None = ..., model: str | Model | None = ...,
    cost: Callable[[Params, Any, Any], Any] | None = ..., localise: bool = ..., count_passes: Literal[True],
) -> DirectionalResult: ...


@overload
def check_directional(
    candidate: SourceLike, params: Params, X: Any, Y: Any = None, *, directions: int = ..., seed: int = ...,
    eps: float | None = ..., threshold: float | None = ..., model: str | Model | None = ...,
    cost: Callable[[Params, Any, Any], Any] | None = ..., localise: bool = ..., count_passes: bool = ...,
) -> CheckResult | DirectionalResult: ...


def check_directional(
    candidate: SourceLike,
    params: Params,
    X: Any,
    Y: Any = None,
    *,
    directions: int = DEFAULT_DIRECTIONS,
    seed: int = 0,
    eps: float | None = None,
    threshold: float | None = None,
    model: str | Model | None = None,
    cost: Callable[[Params, Any, Any], Any] | None = None,
    localise: bool = True,
    count_passes: bool = False,
) -> CheckResult | DirectionalResult:
    """Check ``candidate`` along ``directions`` random directions; localise the bug if it fails.

    ``cost`` defaults to ``model``'s (the MLP's); a candidate given by name is
    built for ``model`` either way. ``eps`` and ``threshold``
    default to the dtype table's. The result's ``notes`` give the directions,
    the forward passes used and any kinks stepped around; its per-parameter
    table has a row per tensor: the per-tensor probe's difference, and for
    tensors localised by per-coordinate differences the full comparison.
    ``count_passes=True`` returns a :class:`DirectionalResult` instead, which
    adds the number of forward passes used.
    """
    point = build_point(params, X, Y)
    params = point.params
    if not is_count(directions):
        raise InputError(f"directions must be a positive integer, got {directions!r}; try 4.")
    warn_if_low_precision(params)
    given = Tolerance.of(threshold).threshold
    threshold = default_threshold(params) if given is None else given
    if eps is not None and not is_positive_number(eps):
        raise InputError(f"eps must be a positive finite step, got {eps!r}; leave it out for the dtype table's.")
    resolved_model = for_layout(get_model(model or DEFAULT_MODEL), point.layout)
    probed = resolved_model if cost is None else for_layout(cost_model(cost), point.layout)
    if cost is None:
        resolved_model.check_point(params, X, Y)
    with count_forward_passes() as counter:
        require_finite_cost(counted(probed.cost), params, X, Y)
        source = source_for(candidate, resolved_model, {}, point)
        found = source.gradient_at(point)
        gradient = {name: np.asarray(found[name]) for name in params}
        label = label_of(candidate, source)
        h = default_step(params) if eps is None else float(eps)
        prober = _Prober(probed, copy.deepcopy(params), X, Y, h)
        result = _probe_and_localise(prober, label, gradient, params, directions, seed, threshold, localise)
    notes = result.notes + (f"{counter.passes} forward passes, counted (a full per-coordinate check needs "
                            f"2n + 2 = {2 * prober.flat.size + 2})",)
    result = dataclasses.replace(result, notes=notes)
    return DirectionalResult(result, counter.passes) if count_passes else result


def _probe_and_localise(prober: "_Prober", candidate: str, gradient: Params, params: Params,
                        directions: int, seed: int, threshold: float, localise: bool) -> CheckResult:
    """The global probe along random directions; on failure, the per-tensor localisation."""
    h = prober.h
    flat_gradient, _ = ravel(gradient)
    basis = random_directions(flat_gradient.size, min(directions, flat_gradient.size), seed)
    projected = basis.T @ flat_gradient.astype(np.float64)
    measured = np.array([prober.along(basis[:, j], f"direction {j}") for j in range(basis.shape[1])])
    reference_name = f"directional(k={basis.shape[1]})"
    verdict = judge({"projections": projected}, {"projections": measured}, labels=(candidate, reference_name),
                    tolerance=Tolerance(threshold=threshold))
    difference = verdict.difference
    notes = [f"directional check: {basis.shape[1]} random direction(s), seed {seed}, step {h:.2g}"]
    if difference >= threshold and localise:
        table, reference = _localise(prober, gradient, params, directions, seed, threshold)
        notes.append("the directional check failed: localised by per-tensor probes, then per-coordinate "
                     f"differences on {', '.join(n for n, row in table.items() if row['localised']) or 'no tensor'}")
    else:
        table, reference = _unlocalised_table(params), {}
    notes += summarize_crossings(prober.crossings)
    return dataclasses.replace(
        verdict,
        breakdown={name: {k: v for k, v in row.items() if k != "localised"} for name, row in table.items()},
        candidate_gradient=gradient,
        reference_gradient=reference,
        notes=tuple(notes),
    )


@dataclasses.dataclass(frozen=True)
class DirectionalResult:
    """A directional check's result with the number of forward passes it took (for the study)."""

    result: CheckResult
    forward_passes: int


def _unlocalised_table(params: Params) -> dict[str, dict[str, Any]]:
    return {name: dict(_EMPTY_ROW, size=int(np.size(value))) for name, value in params.items()}


_EMPTY_ROW: dict[str, Any] = {
    "size": 0, "difference": float("nan"), "resolution": float("nan"), "scale": float("nan"),
    "max_abs_error": float("nan"),
    "worst_index": (), "candidate_value": float("nan"), "reference_value": float("nan"), "localised": False,
}


def _localise(
    prober: _Prober, gradient: Params, params: Params, directions: int, seed: int, threshold: float
) -> tuple[dict[str, dict[str, Any]], Params]:
    """Per-tensor probes; per-coordinate differences on the tensors whose probes fail."""
    rows, reference = {}, {}
    for offset, (name, where) in enumerate(parameter_slices(params).items()):
        tensor_gradient = np.ravel(gradient[name]).astype(np.float64)
        basis = random_directions(tensor_gradient.size, min(directions, tensor_gradient.size), seed + 1 + offset)
        embedded = np.zeros((prober.flat.size, basis.shape[1]))
        embedded[where] = basis
        projected = basis.T @ tensor_gradient
        measured = np.array([prober.along(embedded[:, j], f"{name} direction {j}") for j in range(basis.shape[1])])
        row = dict(_EMPTY_ROW, size=tensor_gradient.size, difference=relative_difference(projected, measured),
                   scale=least_squares_scale(projected, measured))
        if row["difference"] >= threshold:
            reference[name] = _per_coordinate(prober, where, params[name], name)
            row = dict(compare_tensor(gradient[name], reference[name]), localised=True)
        rows[name] = row
    return rows, reference


def _per_coordinate(prober: _Prober, where: slice, value: np.ndarray, name: str) -> np.ndarray:
    unit = np.zeros(prober.flat.size)
    estimate = np.empty(int(np.size(value)))
    for i, flat_index in enumerate(range(where.start, where.stop)):
        unit[flat_index] = 1.0
        estimate[i] = prober.along(unit, f"{name}[{i}]")
        unit[flat_index] = 0.0
    return estimate.reshape(np.shape(value))

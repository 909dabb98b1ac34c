"""One checking interface: compare any gradient source against any other.

``check(candidate, reference, params, X, Y)`` runs both sources on private
copies of the point and returns a :class:`CheckResult`: the exercise's relative
difference over all parameters, the verdict, and a per-tensor breakdown that
names the element with the largest error and the factor (``scale``) by which
the candidate is off, so the seed's planted bugs read as ``W2 x2.000`` and
``b1 x4.000``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Union

import numpy as np
import pandas as pd

from .errors import InputError
from .models import Model, Params, get_model
from .steps import default_threshold, warn_if_low_precision
from .sources.registry import build_source, source_label, unused_options
from .validation import (
    require_finite_cost,
    validate_threshold,
    validate_data,
    validate_gradient,
    validate_params,
    warn_if_output_saturates,
)

DEFAULT_THRESHOLD = 2e-7
"""The exercise's verdict: below 2e-7 the gradient is declared correct."""

SourceLike = Union[str, Callable[[Params, Any, Any], Params]]


def relative_difference(candidate: np.ndarray, reference: np.ndarray) -> float:
    """``||g - r|| / (||g|| + ||r||)``, defined as 0 when both gradients are exactly zero."""
    candidate = np.ravel(candidate).astype(np.float64)
    reference = np.ravel(reference).astype(np.float64)
    largest = max(np.max(np.abs(candidate), initial=0.0), np.max(np.abs(reference), initial=0.0))
    if largest == 0:
        return 0.0
    # Scale by the largest entry first: the norm of a tiny vector squares to zero otherwise.
    candidate, reference = candidate / largest, reference / largest
    denominator = np.linalg.norm(candidate) + np.linalg.norm(reference)
    return float(np.linalg.norm(candidate - reference) / denominator)


def least_squares_scale(candidate: np.ndarray, reference: np.ndarray) -> float:
    """The factor s minimising ``||candidate - s * reference||``; NaN when reference is zero."""
    candidate = np.ravel(candidate).astype(np.float64)
    reference = np.ravel(reference).astype(np.float64)
    largest = np.max(np.abs(reference), initial=0.0)
    if largest == 0:
        return float("nan")
    candidate, reference = candidate / largest, reference / largest  # no underflow in r @ r
    return float(candidate @ reference) / float(reference @ reference)


def compare_tensor(candidate: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """One row of the per-parameter table."""
    error = np.abs(candidate.astype(np.float64) - reference.astype(np.float64))
    worst = np.unravel_index(int(np.argmax(error)), error.shape) if error.size else ()
    return {
        "size": int(candidate.size),
        "difference": relative_difference(candidate, reference),
        "scale": least_squares_scale(candidate, reference),
        "max_abs_error": float(error[worst]) if error.size else 0.0,
        "worst_index": tuple(int(i) for i in worst),
        "candidate_value": float(candidate[worst]) if error.size else float("nan"),
        "reference_value": float(reference[worst]) if error.size else float("nan"),
    }


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: overall difference, verdict and per-tensor breakdown.

    ``rows`` holds one dict per tensor (see :func:`compare_tensor`) and
    ``per_parameter`` the same as a pandas DataFrame. Both are computed from
    the two gradients on first use, so a check whose verdict is all that is
    read pays nothing for them; a check that builds its breakdown another way
    (the directional check) passes it as ``breakdown``.
    """

    candidate: str
    reference: str
    difference: float
    threshold: float
    candidate_gradient: Params = field(repr=False)
    reference_gradient: Params = field(repr=False)
    notes: tuple[str, ...] = ()
    """What a source or the check did that a reader should know (e.g. kinks stepped around)."""
    breakdown: dict[str, dict[str, Any]] | None = field(default=None, repr=False)

    @cached_property
    def rows(self) -> dict[str, dict[str, Any]]:
        """Per tensor: size, difference, scale, max_abs_error, worst_index, candidate/reference value."""
        if self.breakdown is not None:
            return self.breakdown
        return {
            name: compare_tensor(self.candidate_gradient[name], self.reference_gradient[name])
            for name in self.reference_gradient
        }

    @property
    def passed(self) -> bool:
        """The exercise's verdict: the difference is below the threshold."""
        return self.difference < self.threshold

    @cached_property
    def per_parameter(self) -> pd.DataFrame:
        """One row per tensor: size, difference, scale, max_abs_error, worst_index, both values."""
        return pd.DataFrame.from_dict(self.rows, orient="index").rename_axis("parameter")

    @property
    def culprits(self) -> list[str]:
        """Tensors whose own difference is at or above the threshold, worst first."""
        worst_first = sorted(self.rows, key=lambda name: -self.rows[name]["difference"])
        return [name for name in worst_first if self.rows[name]["difference"] >= self.threshold]

    def table(self, worst_first: bool = False) -> str:
        """The per-parameter table as aligned text, in parameter order or worst first."""
        shown = self.per_parameter.copy()
        if worst_first:
            shown = shown.sort_values("difference", ascending=False, kind="stable")
        shown["scale"] = [_format_scale(s) for s in shown["scale"]]
        shown["worst_index"] = [list(i) for i in shown["worst_index"]]
        shown["verdict"] = ["MISMATCH" if name in self.culprits else "ok" for name in shown.index]
        formats = {c: "{:.3e}".format for c in ("difference", "max_abs_error", "candidate_value", "reference_value")}
        return shown.to_string(formatters=formats)

    def summary(self) -> str:
        """A readable verdict that names the worst tensors, then the table."""
        verdict = "PASS" if self.passed else "FAIL"
        lines = [
            f"{verdict}  {self.candidate} vs {self.reference}: relative difference "
            f"{self.difference:.3e} (threshold {self.threshold:.1e})"
        ]
        if self.culprits:
            lines.append("Mismatched tensors, worst first:")
            for name in self.culprits:
                row = self.rows[name]
                lines.append(
                    f"  {name} {_format_scale(row['scale'])}  difference {row['difference']:.3e}, "
                    f"largest error {row['max_abs_error']:.3e} at {list(row['worst_index'])} "
                    f"(candidate {row['candidate_value']:.6g}, reference {row['reference_value']:.6g})"
                )
        elif not self.passed:
            lines.append("No single tensor reaches the threshold; the error is spread over all of them.")
        return "\n".join(lines + list(self.notes) + ["", self.table()])

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (no NumPy or pandas types)."""
        rows = {name: {key: _plain(value) for key, value in row.items()} for name, row in self.rows.items()}
        return {
            "candidate": self.candidate,
            "reference": self.reference,
            "difference": self.difference,
            "threshold": self.threshold,
            "passed": self.passed,
            "culprits": self.culprits,
            "notes": list(self.notes),
            "per_parameter": rows,
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def compare_gradients(
    candidate: Params,
    reference: Params,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    candidate_name: str = "candidate",
    reference_name: str = "reference",
) -> CheckResult:
    """Compare two gradients that are already computed (same names and shapes)."""
    names = list(reference)
    flat_candidate = np.concatenate([np.ravel(candidate[n]) for n in names])
    flat_reference = np.concatenate([np.ravel(reference[n]) for n in names])
    return CheckResult(
        candidate=candidate_name,
        reference=reference_name,
        difference=relative_difference(flat_candidate, flat_reference),
        threshold=threshold,
        candidate_gradient=candidate,
        reference_gradient=reference,
    )


def check(
    candidate: SourceLike,
    reference: SourceLike,
    params: Params,
    X: Any,
    Y: Any = None,
    *,
    threshold: float | None = None,
    model: str | Model | None = None,
    **options: Any,
) -> CheckResult:
    """Check ``candidate``'s gradient against ``reference``'s at ``(params, X, Y)``.

    Each source is a registry name (``"numpy"``, ``"numpy-buggy"``, ``"fd"``, ...)
    or a callable ``(params, X, Y) -> {name: ndarray}``. Named sources are built
    for ``model`` (default ``"mlp"``) with the ``options`` they accept, e.g.
    ``eps=1e-7`` for ``fd``; an option no named source accepts is an error.
    The caller's arrays are never modified: each source gets its own copy.
    ``threshold=None`` takes the dtype table's (2e-7 in float64; float32
    parameters get a :class:`~gradcheck_bench.steps.LowPrecisionWarning` and
    the float32 threshold).
    """
    params = validate_params(params)
    warn_if_low_precision(params)
    threshold = default_threshold(params) if threshold is None else threshold
    validate_threshold(threshold)
    validate_data(X, Y)
    names = [s for s in (candidate, reference) if isinstance(s, str)]
    resolved_model = get_model(model or "mlp")
    if names or model is not None:
        resolved_model.validate_point(params, X, Y)
        require_finite_cost(resolved_model.cost, params, X, Y, deterministic=False)
        if resolved_model.name == "mlp":
            warn_if_output_saturates(params, X, Y)
    unknown = unused_options(names, options)
    if unknown:
        raise InputError(
            f"option(s) {', '.join(unknown)} are not accepted by "
            f"{' or '.join(names) if names else 'sources given as callables'}; "
            "configure a callable source yourself, e.g. fd(cost, eps=1e-6)."
        )
    functions, gradients, notes = [], [], []
    for source in (candidate, reference):
        function = build_source(source, resolved_model, **options) if isinstance(source, str) else source
        if not callable(function):
            raise InputError(f"a gradient source must be a name or a callable, got {source!r}.")
        private = {name: value.copy() for name, value in params.items()}
        output = function(private, X.copy(), None if Y is None else Y.copy())
        notes += [f"{source_label(source)}: {note}" for note in getattr(output, "notes", ())]
        gradients.append(validate_gradient(output, params, source_label(source)))
        functions.append(function)
    labels = (source_label(candidate), source_label(reference))
    result = compare_gradients(gradients[0], gradients[1], threshold=float(threshold),
                               candidate_name=labels[0], reference_name=labels[1])
    if not result.passed and result.culprits:
        result, notes = _second_look(result, functions, labels, params, X, Y, notes)
    return dataclasses.replace(result, notes=tuple(notes))


def _second_look(
    result: CheckResult, functions: list[Any], labels: tuple[str, str], params: Params, X: Any, Y: Any,
    notes: list[str],
) -> tuple[CheckResult, list[str]]:
    """A failing check asks each source that can to re-examine the culprit tensors.

    The finite-difference oracle steps around ReLU kinks there: a step that
    straddles one measures a one-sided slope and makes a correct gradient look
    wrong. Only coordinates that straddle change; the verdict is then taken
    again on the re-examined gradients, and the notes say what was done.
    """
    gradients = [dict(result.candidate_gradient), dict(result.reference_gradient)]
    changed = False
    for gradient, function, label in zip(gradients, functions, labels):
        recheck = getattr(function, "recheck", None)
        if recheck is None:
            continue
        private = {name: value.copy() for name, value in params.items()}
        refined = recheck(private, X.copy(), None if Y is None else Y.copy(), result.culprits)
        if refined is None or not getattr(refined, "kinks", ()):
            continue
        gradient.update(refined)
        notes = notes + [f"{label} (second look at {', '.join(result.culprits)}): {note}"
                         for note in getattr(refined, "notes", ())]
        changed = True
    if not changed:
        return result, notes
    again = compare_gradients(gradients[0], gradients[1], threshold=result.threshold,
                              candidate_name=labels[0], reference_name=labels[1])
    return again, notes


def _format_scale(scale: float) -> str:
    return "x   nan" if not np.isfinite(scale) else f"x{scale:.3f}"


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [int(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    return value

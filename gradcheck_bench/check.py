"""One checking interface: compare any gradient source against any other.

``check(candidate, reference, params, X, Y)`` runs both sources on private
copies of the point and returns a :class:`CheckResult`: the exercise's relative
difference over all parameters, the verdict, and a per-tensor breakdown that
names the element with the largest error and the factor (``scale``) by which
the candidate is off, so the seed's planted bugs read as ``W2 x2.000`` and
``b1 x4.000``.

A source that knows its own error (the finite-difference oracles) makes the
verdict honest about it. Per coordinate, the part of ``|g_i - r_i|`` beyond
``RESOLUTION_FACTOR`` times the sources' error bar ``e_i`` is what the error
bars cannot explain; its relative size,

    unexplained = ||max(|g - r| - RESOLUTION_FACTOR * e, 0)|| / (||g|| + ||r||),

is zero for a correct gradient whose oracle knows its error, and close to the
difference for a real bug. A tensor is named as a culprit only where its own
unexplained difference reaches the threshold. In float64 the exercise's
verdict stays (difference below 2e-7); below float64, where round-off and
kinks make the plain difference large for correct gradients, the verdict is
taken on the unexplained difference instead. ``resolution`` (``||e|| /
(||g|| + ||r||)``) says what the oracle can resolve at the point.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Mapping, Union

import numpy as np

from .counting import counted
from .errors import InputError
from .gradient import Gradient, error_of, notes_of
from .models import Model, Params, get_model
from .sources.registry import build_source, source_label, unused_options
from .steps import TOLERANCES, point_dtype, warn_if_low_precision
from .validation import require_finite_cost, validate_gradient, validate_params, validate_threshold

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_THRESHOLD = TOLERANCES[np.dtype(np.float64)].threshold
"""The exercise's verdict: below 2e-7 the gradient is declared correct."""

RESOLUTION_FACTOR = 10.0
"""A coordinate's mismatch counts only where it exceeds this many times the sources' error bar there."""

SourceLike = Union[str, Callable[[Params, Any, Any], Params], Mapping[str, np.ndarray]]
"""A registry name, a callable ``(params, X, Y) -> {name: array}``, or a gradient already computed."""


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


def relative_resolution(error: np.ndarray, candidate: np.ndarray, reference: np.ndarray) -> float:
    """``||e|| / (||g|| + ||r||)``: the relative difference the error bars ``e`` alone could produce."""
    error = np.ravel(error).astype(np.float64)
    scale = max(np.max(np.abs(candidate), initial=0.0), np.max(np.abs(reference), initial=0.0),
                np.max(error, initial=0.0))
    if scale == 0:
        return 0.0
    denominator = np.linalg.norm(np.ravel(candidate) / scale) + np.linalg.norm(np.ravel(reference) / scale)
    if denominator == 0:
        return float("inf")
    return float(np.linalg.norm(error / scale) / denominator)


def unexplained_difference(candidate: np.ndarray, reference: np.ndarray, error: np.ndarray) -> float:
    """``||max(|g - r| - RESOLUTION_FACTOR e, 0)|| / (||g|| + ||r||)``: the mismatch the error bars leave."""
    candidate = np.ravel(candidate).astype(np.float64)
    reference = np.ravel(reference).astype(np.float64)
    excess = np.maximum(np.abs(candidate - reference) - RESOLUTION_FACTOR * np.ravel(error).astype(np.float64), 0.0)
    largest = max(np.max(np.abs(candidate), initial=0.0), np.max(np.abs(reference), initial=0.0))
    if largest == 0 or not excess.any():
        return 0.0
    return float(np.linalg.norm(excess / largest)
                 / (np.linalg.norm(candidate / largest) + np.linalg.norm(reference / largest)))


def overall_numbers(candidate: np.ndarray, reference: np.ndarray,
                    error: np.ndarray | None) -> tuple[float, float | None, float | None]:
    """The difference, the resolution and the unexplained difference of two flat float64 gradients,
    scaled once by their largest entry (as each of the three functions above does on its own)."""
    largest = max(float(np.max(np.abs(candidate), initial=0.0)), float(np.max(np.abs(reference), initial=0.0)))
    if largest == 0:
        return 0.0, (None if error is None else relative_resolution(error, candidate, reference)), \
            (None if error is None else 0.0)
    c, r = candidate / largest, reference / largest
    denominator = float(np.linalg.norm(c) + np.linalg.norm(r))
    difference = float(np.linalg.norm(c - r)) / denominator
    if error is None:
        return difference, None, None
    e = np.abs(error) / largest
    excess = np.maximum(np.abs(c - r) - RESOLUTION_FACTOR * e, 0.0)
    return difference, float(np.linalg.norm(e)) / denominator, float(np.linalg.norm(excess)) / denominator


def least_squares_scale(candidate: np.ndarray, reference: np.ndarray) -> float:
    """The factor s minimising ``||candidate - s * reference||``; NaN when reference is zero."""
    candidate = np.ravel(candidate).astype(np.float64)
    reference = np.ravel(reference).astype(np.float64)
    largest = np.max(np.abs(reference), initial=0.0)
    if largest == 0:
        return float("nan")
    candidate, reference = candidate / largest, reference / largest  # no underflow in r @ r
    return float(candidate @ reference) / float(reference @ reference)


def compare_tensor(candidate: np.ndarray, reference: np.ndarray, error: np.ndarray | None = None) -> dict[str, Any]:
    """One row of the per-parameter table (``resolution`` NaN where no source gave error bars)."""
    difference = np.abs(candidate.astype(np.float64) - reference.astype(np.float64))
    worst = np.unravel_index(int(np.argmax(difference)), difference.shape) if difference.size else ()
    return {
        "size": int(candidate.size),
        "difference": relative_difference(candidate, reference),
        "resolution": float("nan") if error is None else relative_resolution(error, candidate, reference),
        "unexplained": float("nan") if error is None else unexplained_difference(candidate, reference, error),
        "scale": least_squares_scale(candidate, reference),
        "max_abs_error": float(difference[worst]) if difference.size else 0.0,
        "worst_index": tuple(int(i) for i in worst),
        "candidate_value": float(candidate[worst]) if difference.size else float("nan"),
        "reference_value": float(reference[worst]) if difference.size else float("nan"),
    }


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: overall difference, verdict and per-tensor breakdown.

    ``rows`` holds one dict per tensor (see :func:`compare_tensor`) and
    ``per_parameter`` the same as a pandas DataFrame. Both are computed from
    the two gradients on first use, so a check whose verdict is all that is
    read pays nothing for them; a check that builds its breakdown another way
    (the directional check) passes it as ``breakdown``. ``error`` holds the
    sources' combined error bars per tensor, where they gave any.
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
    error: Params | None = field(default=None, repr=False)
    resolution: float | None = None
    """The relative difference the sources' own error bars could produce (None: no error bars)."""
    unexplained: float | None = None
    """The relative mismatch beyond RESOLUTION_FACTOR times the error bars, coordinate by coordinate."""
    precision: str = "float64"
    """The precision the check ran at: the parameters', or the cost's where that is lower."""

    @cached_property
    def rows(self) -> dict[str, dict[str, Any]]:
        """Per tensor: size, difference, resolution, scale, max_abs_error, worst_index, both values."""
        if self.breakdown is not None:
            return self.breakdown
        errors = self.error or {}
        return {
            name: compare_tensor(self.candidate_gradient[name], self.reference_gradient[name], errors.get(name))
            for name in self.reference_gradient
        }

    @property
    def judged_on_error_bars(self) -> bool:
        """Below float64 the verdict is taken on the unexplained difference, where error bars exist."""
        return self.precision != "float64" and self.unexplained is not None

    @property
    def passed(self) -> bool:
        """The verdict: the difference (below float64: the unexplained difference) is below the threshold."""
        return (self.unexplained if self.judged_on_error_bars else self.difference) < self.threshold

    @cached_property
    def per_parameter(self) -> "pd.DataFrame":
        """One row per tensor: size, difference, resolution, scale, max_abs_error, worst_index, both values."""
        import pandas as pd

        return pd.DataFrame.from_dict(self.rows, orient="index").rename_axis("parameter")

    @property
    def culprits(self) -> list[str]:
        """Tensors whose own mismatch, beyond what the error bars explain, reaches the threshold. Worst first.

        A tensor whose mismatch lies within ``RESOLUTION_FACTOR`` times the
        sources' error bars is not named: that is the oracle's own error.
        """
        if self.passed:
            return []
        worst_first = sorted(self.rows, key=lambda name: -self.rows[name]["difference"])
        return [name for name in worst_first if seen(self.rows[name]) >= self.threshold]

    def table(self, worst_first: bool = False) -> str:
        """The per-parameter table as aligned text, in parameter order or worst first."""
        shown = self.per_parameter.copy()
        if worst_first:
            shown = shown.sort_values("difference", ascending=False, kind="stable")
        shown["scale"] = [_format_scale(s) for s in shown["scale"]]
        shown["worst_index"] = [list(i) for i in shown["worst_index"]]
        shown["verdict"] = ["MISMATCH" if name in self.culprits else "ok" for name in shown.index]
        shown = shown.drop(columns=[c for c in ("resolution", "unexplained") if c in shown and shown[c].isna().all()])
        numbers = ("difference", "resolution", "unexplained", "max_abs_error", "candidate_value", "reference_value")
        return shown.to_string(formatters={c: "{:.3e}".format for c in numbers if c in shown})

    def headline(self) -> str:
        """The verdict in one line, with what the oracle resolves when it knows."""
        line = f"{'PASS' if self.passed else 'FAIL'}  {self.candidate} vs {self.reference}: relative difference " \
               f"{self.difference:.3e}"
        if self.judged_on_error_bars:
            line += f", {self.unexplained:.3e} beyond {RESOLUTION_FACTOR:g}x the error bars (threshold " \
                    f"{self.threshold:.1e}, {self.precision})"
        else:
            line += f" (threshold {self.threshold:.1e})"
        if self.resolution is not None:
            line += f"; the oracle resolves {self.resolution:.1e} here"
        return line

    def summary(self) -> str:
        """A readable verdict that names the worst tensors, then the table."""
        lines = [self.headline()]
        if self.culprits:
            lines.append("Mismatched tensors, worst first:")
            for name in self.culprits:
                row = self.rows[name]
                lines.append(
                    f"  {name} {_format_scale(row['scale'])}  difference {row['difference']:.3e}, "
                    f"largest error {row['max_abs_error']:.3e} at {list(row['worst_index'])} "
                    f"(candidate {row['candidate_value']:.6g}, reference {row['reference_value']:.6g})"
                )
        elif not self.passed and any(r["difference"] >= self.threshold for r in self.rows.values()):
            lines.append(f"No tensor's mismatch lies beyond {RESOLUTION_FACTOR:g}x the sources' error bars: the "
                         "difference is within the oracle's own error, so nothing is named. Use a more "
                         "accurate oracle (richardson, complex-step) to decide.")
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
            "resolution": self.resolution,
            "unexplained": self.unexplained,
            "precision": self.precision,
            "passed": self.passed,
            "culprits": self.culprits,
            "notes": list(self.notes),
            "per_parameter": rows,
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def seen(row: dict[str, Any]) -> float:
    """A tensor's mismatch as the verdict sees it: beyond the error bars where there are some."""
    unexplained = row.get("unexplained", float("nan"))
    return row["difference"] if unexplained is None or not np.isfinite(unexplained) else unexplained


def combined_error(*errors: Params | None) -> Params | None:
    """The sum of the sources' error bars, per tensor (None when no source gave any)."""
    given = [error for error in errors if error is not None]
    if not given:
        return None
    names = set().union(*given)
    return {name: sum(np.abs(np.asarray(e[name], dtype=np.float64)) for e in given if name in e) for name in names}


def compare_gradients(
    candidate: Params,
    reference: Params,
    *,
    threshold: float | None = None,
    candidate_name: str = "candidate",
    reference_name: str = "reference",
    precision: np.dtype | str = np.float64,
) -> CheckResult:
    """Compare two gradients that are already computed (same names and shapes).

    Error bars that either gradient carries (a :class:`~gradcheck_bench.gradient.Gradient`
    from an oracle) give the result its ``resolution`` and ``unexplained``
    difference; below float64 ``precision`` the verdict is taken on the latter.
    """
    names = list(reference)
    error = combined_error(error_of(candidate), error_of(reference))
    values_c = {name: np.asarray(candidate[name]) for name in names}
    values_r = {name: np.asarray(reference[name]) for name in names}
    flat_c = np.concatenate([values_c[n].ravel() for n in names]).astype(np.float64, copy=False)
    flat_r = np.concatenate([values_r[n].ravel() for n in names]).astype(np.float64, copy=False)
    flat_e = None
    if error is not None and all(n in error for n in names):
        flat_e = np.concatenate([np.ravel(error[n]) for n in names])
    difference, resolution, unexplained = overall_numbers(flat_c, flat_r, flat_e)
    if threshold is None:
        threshold = TOLERANCES[np.dtype(precision)].threshold
    return CheckResult(
        candidate=candidate_name,
        reference=reference_name,
        difference=difference,
        threshold=float(threshold),
        candidate_gradient=values_c,
        reference_gradient=values_r,
        error=error,
        resolution=resolution,
        unexplained=unexplained,
        precision=np.dtype(precision).name,
        notes=notes_of(candidate) + notes_of(reference),
    )


def check(
    candidate: SourceLike,
    reference: SourceLike,
    params: Params,
    X: Any = None,
    Y: Any = None,
    *,
    threshold: float | None = None,
    model: str | Model | None = None,
    **options: Any,
) -> CheckResult:
    """Check ``candidate``'s gradient against ``reference``'s at ``(params, X, Y)``.

    Each source is a registry name (``"numpy"``, ``"numpy-buggy"``, ``"fd"``, ...),
    a callable ``(params, X, Y) -> {name: ndarray}``, or a gradient already
    computed (a dict, e.g. from :func:`gradient`, so one oracle run serves many
    checks). Named sources are built for ``model`` (default ``"mlp"``) with
    the ``options`` they accept, e.g. ``eps=1e-7`` for ``fd``; an option no
    named source accepts is an error. X and Y are whatever the model's cost
    takes (arrays of any dtype, dicts, tuples, None); only a model that
    declares a point check validates them. The caller's arrays are never
    modified: each source gets its own copy. ``threshold=None`` takes the
    dtype table's (2e-7 in float64; below float64, with a warning, 1e-4 on the
    difference the oracle's error bars leave unexplained).
    """
    params = validate_params(params)
    precision = point_dtype(params)
    warn_if_low_precision(params)
    if threshold is not None:
        validate_threshold(threshold)
    names = [s for s in (candidate, reference) if isinstance(s, str)]
    resolved_model = get_model(model or "mlp") if names or model is not None else None
    cost = None
    if resolved_model is not None:
        cost = resolved_model.check_point(params, X, Y)
        if cost is None:
            cost = require_finite_cost(counted(resolved_model.cost), params, X, Y, deterministic=False)
    unknown = unused_options(names, options)
    if unknown:
        raise InputError(
            f"option(s) {', '.join(unknown)} are not accepted by "
            f"{' or '.join(names) if names else 'sources given as callables or gradients'}; "
            "configure a callable source yourself, e.g. fd(cost, eps=1e-6)."
        )
    functions = [resolve_source(source, resolved_model, options) for source in (candidate, reference)]
    outputs = [run_source(function, source, params, X, Y, cost if function_model(function) is resolved_model else None)
               for function, source in zip(functions, (candidate, reference))]
    labels = (source_label(candidate), source_label(reference))
    precision = lowest_precision(precision, *outputs)
    result = judged(outputs, labels, threshold, precision)
    if not result.passed:
        result = _second_look(result, outputs, functions, labels, params, X, Y, threshold, precision)
    return result


def resolve_source(source: SourceLike, model: Model | None, options: dict[str, Any]) -> Any:
    """A callable for a name or a callable; a precomputed gradient stays as it is."""
    if isinstance(source, str):
        assert model is not None
        return build_source(source, model, **options)
    if isinstance(source, Mapping) or callable(source):
        return source
    raise InputError(f"a gradient source must be a name, a callable or a dict of arrays, got {source!r:.80}.")


def function_model(function: Any) -> Model | None:
    """The model a source was built for, when it says (the oracles do)."""
    return getattr(function, "model", None)


def run_source(function: Any, source: SourceLike, params: Params, X: Any, Y: Any, cost: float | None = None) -> Any:
    """The source's output at a private copy of the point (a precomputed gradient is just checked).

    ``cost``: the cost at the point, already found finite after the model's
    own check of the point; a source with a ``checked`` entry point (the fd
    oracle) then skips those two steps instead of repeating them.
    """
    if isinstance(function, Mapping):
        output = function
    else:
        point = ({name: value.copy() for name, value in params.items()}, private_copy(X), private_copy(Y))
        entry = getattr(function, "checked", None) if cost is not None else None
        output = entry(*point, cost=cost) if entry is not None else function(*point)
    gradient = validate_gradient(output, params, source_label(source))
    if isinstance(output, Gradient):
        return dataclasses.replace(output, tensors=gradient)
    return gradient


def private_copy(data: Any) -> Any:
    """A copy a source may modify freely: arrays copied, containers deep-copied, None and scalars as they are."""
    if data is None or isinstance(data, (int, float, str)):
        return data
    if isinstance(data, np.ndarray):
        return data.copy()
    return copy.deepcopy(data)


def lowest_precision(precision: np.dtype, *outputs: Any) -> np.dtype:
    """The parameters' precision, lowered to any lower precision a source found the cost to carry."""
    found = [o.precision for o in outputs if isinstance(o, Gradient) and o.precision is not None]
    return min([np.dtype(precision), *found], key=lambda d: np.finfo(d).bits)


def judged(outputs: list[Any], labels: tuple[str, str], threshold: float | None, precision: np.dtype) -> CheckResult:
    """Compare two source outputs and carry their notes, each labelled with its source."""
    result = compare_gradients(outputs[0], outputs[1], threshold=threshold, candidate_name=labels[0],
                               reference_name=labels[1], precision=precision)
    notes = tuple(f"{label}: {note}" for output, label in zip(outputs, labels) for note in notes_of(output))
    return dataclasses.replace(result, notes=notes)


def _second_look(result: CheckResult, outputs: list[Any], functions: list[Any], labels: tuple[str, str],
                 params: Params, X: Any, Y: Any, threshold: float | None, precision: np.dtype) -> CheckResult:
    """A failing check asks each source that can to re-examine the tensors it is about to name.

    The finite-difference oracle estimates its truncation error there with a
    second step, and steps around kinks the model declares (a step that
    straddles one measures a one-sided slope and makes a correct gradient
    look wrong). Where no tensor's mismatch lies beyond the error bars, the
    oracle could not resolve the threshold at its own step: it evaluates the
    tensors past the threshold again with less error (``resolve``). An oracle
    with no ``recheck`` (Richardson) resolves the named tensors instead. The
    verdict is then taken again, and the notes say what was done.
    """
    suspects = [name for name, row in result.rows.items() if seen(row) >= result.threshold]
    method = "recheck"
    if not suspects:
        suspects = [name for name, row in result.rows.items() if row["difference"] >= result.threshold]
        method = "resolve"
    if not suspects:
        return result
    refined = list(outputs)
    extra: list[str] = []
    for k, (function, label) in enumerate(zip(functions, labels)):
        look = getattr(function, method, None) or getattr(function, "resolve", None)
        if look is None:
            continue
        looked = look({name: value.copy() for name, value in params.items()}, private_copy(X), private_copy(Y),
                      suspects)
        refined[k] = merged(outputs[k], looked)
        extra += [f"{label} (second look at {', '.join(suspects)}): {note}" for note in looked.notes]
    if all(new is old for new, old in zip(refined, outputs)):
        return result
    again = judged(refined, labels, threshold, precision)
    return dataclasses.replace(again, notes=again.notes + tuple(extra))


def merged(original: Any, looked: Gradient) -> Gradient:
    """The original output with the re-examined tensors (values and error bars) replaced."""
    values = {**dict(original.tensors if isinstance(original, Gradient) else original), **looked.tensors}
    error = error_of(original)
    error = None if error is None and looked.error is None else {**(error or {}), **(looked.error or {})}
    return Gradient(tensors=values, notes=notes_of(original), kinks=tuple(looked.kinks), error=error,
                    precision=looked.precision)


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



def gradient(source: SourceLike, params: Params, X: Any = None, Y: Any = None, *,
             model: str | Model | None = None, **options: Any) -> Params:
    """One source's gradient at the point, validated: compute a reference once, check many candidates.

    ``ref = gradient("fd", params, X, Y, model="gmm")`` then ``check(c, ref, ...)``
    for each candidate ``c``; an oracle's result keeps its error bars and notes.
    """
    params = validate_params(params)
    resolved_model = get_model(model or "mlp") if isinstance(source, str) or model is not None else None
    if resolved_model is not None:
        resolved_model.check_point(params, X, Y)
    names = [source] if isinstance(source, str) else []
    unknown = unused_options(names, options)
    if unknown:
        raise InputError(f"option(s) {', '.join(unknown)} are not accepted by {source_label(source)}.")
    return run_source(resolve_source(source, resolved_model, options), source, params, X, Y)

"""The one judge: every verdict (``check``, ``compare``, the directional check, the asv suite) comes from here.

:func:`judge` compares a candidate derivative with a reference at a point:
the overall numbers (:mod:`gradcheck_bench.metrics`), the precision rule (a
check runs at the lowest precision of its parameters and of what its sources
found the cost to carry), the tolerances (the exercise's relative threshold,
or torch-style ``atol``/``rtol``), and, when the first look fails, the
*second look*: each source that can re-examines the tensors about to be
named, and the verdict is taken again on what they return. The result is
built once, after that.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError, SourceError
from .gradient import Gradient, error_of, flat_error_of, flat_of, notes_of
from .metrics import beyond_tolerance, numbers
from .second_look import (FIRST_ROUND, ROUND_GROWTH, TAIL_SHARE, LookBudget, Rounds, Spending,
                          past_the_threshold)
from .models import Params
from .result import CheckResult, seen
from .tolerances import TOLERANCES
from .validation import is_positive_number

if TYPE_CHECKING:
    from .kinds import Request
    from .point import Point
    from .source import GradientSource

DEFAULT_THRESHOLD = TOLERANCES[np.dtype(np.float64)].threshold
"""The exercise's verdict: below 2e-7 the gradient is declared correct."""

GRADCHECK_ATOL, GRADCHECK_RTOL = 1e-5, 1e-3
"""torch.autograd.gradcheck's defaults, taken for whichever of ``atol``/``rtol`` is not given."""


@dataclass(frozen=True)
class Tolerance:
    """How close is close enough: a relative ``threshold`` (None: the dtype table's), or ``atol``/``rtol``."""

    threshold: float | None = None
    atol: float | None = None
    rtol: float | None = None

    @classmethod
    def of(cls, threshold: Any = None, atol: Any = None, rtol: Any = None) -> "Tolerance":
        """Checked tolerances; ``atol`` or ``rtol`` alone takes torch gradcheck's default for the other."""
        if threshold is not None and not is_positive_number(threshold):
            raise InputError(f"threshold must be a positive number, got {threshold!r}; the exercise uses 2e-7.")
        for name, value in (("atol", atol), ("rtol", rtol)):
            if value is not None and not (is_positive_number(value) or value == 0) or isinstance(value, bool):
                raise InputError(f"{name} must be a number >= 0, got {value!r}; e.g. atol=1e-5, rtol=1e-3 "
                                 "(torch.autograd.gradcheck's defaults).")
        if threshold is not None and (atol is not None or rtol is not None):
            raise InputError("give either threshold= (the relative difference of the whole gradient) or "
                             "atol=/rtol= (element by element, as torch.allclose), not both.")
        if atol is None and rtol is None:
            return cls(threshold=None if threshold is None else float(threshold))
        return cls(atol=float(GRADCHECK_ATOL if atol is None else atol),
                   rtol=float(GRADCHECK_RTOL if rtol is None else rtol))

    @property
    def elementwise(self) -> bool:
        return self.atol is not None and self.rtol is not None


def combined_error(*errors: Params | None) -> Params | None:
    """The sum of the sources' error bars, per tensor (None when no source gave any)."""
    given = [error for error in errors if error is not None]
    if not given:
        return None
    if len(given) == 1:  # one oracle's error bars: the common case, with no sum to take
        return {name: np.abs(np.asarray(value, dtype=np.float64)) for name, value in given[0].items()}
    names = set().union(*given)
    return {name: np.sum([np.abs(np.asarray(e[name], dtype=np.float64)) for e in given if name in e], axis=0)
            for name in names}


def lowest_precision(precision: np.dtype, *outputs: Any) -> np.dtype:
    """The parameters' precision, lowered to any lower precision a source found the cost to carry."""
    found = [o.precision for o in outputs if isinstance(o, Gradient) and o.precision is not None]
    return min([np.dtype(precision), *found], key=lambda d: np.finfo(d).bits)


def judge(candidate: Any, reference: Any, *, labels: tuple[str, str] = ("candidate", "reference"),
          tolerance: Tolerance = Tolerance(), precision: np.dtype | str = "float64", point: "Point | None" = None,
          sources: "tuple[GradientSource | None, GradientSource | None]" = (None, None),
          request: "Request | None" = None, budget: LookBudget = LookBudget()) -> CheckResult:
    """The verdict on ``candidate`` against ``reference`` (two gradients with the same names and shapes).

    ``precision`` is the parameters'; with a ``point`` and the ``sources`` that
    gave the two gradients, a failing first look asks each source for its
    second look at the tensors it is about to name (see :func:`second_look`);
    once the verdict is decided, ``budget`` (a multiple of the first look's
    forward passes) limits what naming the tensors may cost.
    """
    outputs = [candidate, reference]
    precision = lowest_precision(np.dtype(precision), *outputs)
    first = _verdict(outputs, labels, tolerance, precision, settled=point is None)
    if point is None:
        return first
    if first.passed:
        return bias_look(first, outputs, labels, tolerance, precision, point, sources, request)
    looked = second_look(first, outputs, labels, tolerance, precision, point, sources, request, budget)
    if not looked.passed:
        return looked
    return bias_look(looked, outputs_of(looked), labels, tolerance, precision, point, sources, request)


def outputs_of(result: CheckResult) -> list[Any]:
    """A verdict's two outputs as a new look takes them: the candidate's values, the reference's with the
    error bars the verdict was taken on."""
    return [result.candidate_gradient, Gradient(tensors=result.reference_gradient, error=result.error)]


def _verdict(outputs: list[Any], labels: tuple[str, str], tolerance: Tolerance, precision: np.dtype,
             extra_notes: tuple[str, ...] = (), settled: bool = True, undecided: tuple[str, ...] = ()) -> CheckResult:
    candidate, reference = outputs
    names = list(reference)
    values_c = {name: np.asarray(candidate[name]) for name in names}
    values_r = {name: np.asarray(reference[name]) for name in names}
    error = combined_error(error_of(candidate), error_of(reference))
    flat_c, flat_r = flat_of(candidate, names), flat_of(reference, names)
    for flat, output, label in ((flat_c, candidate, labels[0]), (flat_r, reference, labels[1])):
        if not np.all(np.isfinite(flat)):
            raise SourceError(f"{label} gave a non-finite derivative: {first_non_finite(output, names)}; the "
                              "source breaks down at this point (an overflow in its formula, or a division by "
                              "zero), so nothing can be judged here.")
    flat_e = None
    if error is not None and all(n in error for n in names):
        given = [e for e in (flat_error_of(candidate, names), flat_error_of(reference, names)) if e is not None]
        flat_e = given[0] if len(given) == 1 else np.concatenate([np.ravel(error[n]) for n in names])
    overall = numbers(flat_c, flat_r, flat_e)
    failing = None
    if tolerance.elementwise:
        assert tolerance.atol is not None and tolerance.rtol is not None
        failing = int(beyond_tolerance(flat_c, flat_r, flat_e, tolerance.atol, tolerance.rtol).sum())
    threshold = TOLERANCES[np.dtype(precision)].threshold if tolerance.threshold is None else tolerance.threshold
    notes = tuple(f"{label}: {note}" for output, label in zip(outputs, labels) for note in notes_of(output))
    return CheckResult(
        candidate=labels[0], reference=labels[1], difference=overall.difference, threshold=float(threshold),
        candidate_gradient=values_c, reference_gradient=values_r, error=error, resolution=overall.resolution,
        unexplained=overall.unexplained, precision=np.dtype(precision).name, notes=notes + extra_notes,
        atol=tolerance.atol, rtol=tolerance.rtol, failing_elements=failing, settled=settled,
        undecided=undecided,
    )


def first_non_finite(output: Any, names: list[str]) -> str:
    """``"x[3] is nan"``: the first element of ``output`` that is not a finite number."""
    for name in names:
        values = np.asarray(output[name])
        bad = np.argwhere(~np.isfinite(values))
        if bad.size:
            index = tuple(int(i) for i in bad[0])
            return f"{name}{list(index)} is {values[index]}"
    return "a value is not finite"


def second_look(result: CheckResult, outputs: list[Any], labels: tuple[str, str], tolerance: Tolerance,
                precision: np.dtype, point: "Point",
                sources: "tuple[GradientSource | None, GradientSource | None]",
                request: "Request | None" = None, budget: LookBudget = LookBudget()) -> CheckResult:
    """A failing check asks each source that can to re-examine the tensors it is about to name.

    The finite-difference oracle estimates its truncation error there with a
    second step, and steps around kinks the model declares (a step that
    straddles one measures a one-sided slope and makes a correct gradient
    look wrong). Where no tensor's mismatch lies beyond the error bars, the
    oracle could not resolve the threshold at its own step: it evaluates the
    tensors past the threshold again with less error. The verdict is then
    taken again, and the notes say what was done.

    Only the coordinates past the threshold are re-examined, largest
    mismatch first, in rounds, until the verdict is settled
    (:mod:`gradcheck_bench.second_look`). ``budget`` never cuts a look whose
    verdict is undecided; once it is decided, it limits the rounds that
    decide which tensors to name, and a tensor a cut look left undecided is
    not named. A derivative not shaped like the parameters (a Jacobian's
    blocks) is re-examined whole, in one look.
    """
    suspects, within_error_bars = suspects_of(result)
    if not suspects:
        return replace(result, settled=True)
    if request is not None and not request.kind.params_shaped:
        return whole_look(result, outputs, labels, tolerance, precision, point, sources, request,
                          suspects, within_error_bars)
    rounds = Rounds(outputs=list(outputs), shapes={name: np.shape(outputs[1][name]) for name in suspects},
                    order={name: coordinates_past(result, outputs, name, within_error_bars) for name in suspects})
    spending, size, active = Spending(budget), FIRST_ROUND, suspects
    lookers = [k for k, source in enumerate(sources) if source is not None]
    said: list[str] = []
    undecided: list[str] | None = None
    left_undecided: tuple[str, ...] = ()  # what a cut left undecided
    while batch := rounds.next_coordinates(active, size):
        with spending.counted(sum(positions.size for positions in batch.values())):
            said += re_examine(rounds, batch, sources, lookers, labels, suspects, point, within_error_bars, request)
        if not lookers:
            break
        rounds.mark(batch)
        undecided = undecided_tensors(rounds, tolerance, precision, labels, result.threshold)
        if undecided == []:  # settled
            break
        active = undecided or [name for name in suspects if rounds.left(name)]
        size *= ROUND_GROWTH
        if undecided is not None:  # the verdict is decided: the budget limits what naming the tensors costs
            size = int(min(size, spending.fits(len(active))))
            if size < 1:
                left_undecided = tuple(undecided)
                break
    if not rounds.values:  # no source re-examined anything: the first look stands, now as the final verdict
        return replace(result, settled=True)
    notes = tuple(dict.fromkeys(said)) + (coverage_note(rounds, undecided == [], left_undecided, spending),)
    return _verdict(rounds.merged(), labels, tolerance, precision, notes, undecided=left_undecided)


def re_examine(rounds: Rounds, batch: dict[str, np.ndarray], sources: "tuple[GradientSource | None, ...]",
               lookers: list[int], labels: tuple[str, str], suspects: list[str], point: "Point",
               within_error_bars: bool, request: "Request | None") -> list[str]:
    """One round: each source in ``lookers`` re-examines ``batch`` and its values go into ``rounds``; a source
    with nothing more to offer leaves ``lookers``. Returns what the sources said."""
    said = []
    for k in list(lookers):
        source = sources[k]
        assert source is not None
        looked = source.second_look(point, list(batch), within_error_bars, request, batch)
        if looked is None:
            lookers.remove(k)
            continue
        rounds.take(k, batch, looked)
        said += [f"{labels[k]} (second look at {', '.join(suspects)}): {note}" for note in looked.notes]
    return said


def bias_look(result: CheckResult, outputs: list[Any], labels: tuple[str, str], tolerance: Tolerance,
              precision: np.dtype, point: "Point", sources: "tuple[GradientSource | None, GradientSource | None]",
              request: "Request | None") -> CheckResult:
    """A passing check below float64 where a tensor's factor departs from 1 by more than its uncertainty, but
    not enough to name it: the sources re-evaluate those whole tensors with less error (a bias is a property
    of every element together), and the verdict is taken again on what they resolve."""
    suspects = result.unresolved_bias
    if not suspects:
        return replace(result, settled=True)
    looked = whole_look(result, outputs, labels, tolerance, precision, point, sources, request, suspects, True)
    return replace(looked, notes=looked.notes + (
        f"a consistent factor in {', '.join(suspects)} stood beyond its uncertainty at the first look: "
        "re-evaluated with less error",))


def suspects_of(result: CheckResult) -> tuple[list[str], bool]:
    """The tensors a failing first look is about to name, and whether every mismatch was within error bars
    (then the tensors whose difference reaches the threshold: what is needed there is a more accurate value)."""
    if result.elementwise:
        suspects = [name for name, row in result.rows.items() if row["failing"] > 0]
    else:
        suspects = [name for name, row in result.rows.items() if seen(row) >= result.threshold]
    if suspects:
        return suspects, False
    return [name for name, row in result.rows.items() if row["difference"] >= result.threshold], True


def coordinates_past(result: CheckResult, outputs: list[Any], name: str, within_error_bars: bool) -> np.ndarray:
    """The coordinates of a suspect tensor that can move its verdict, largest mismatch first."""
    candidate, reference = (np.asarray(output[name]) for output in outputs)
    if result.elementwise and not within_error_bars:
        assert result.atol is not None and result.rtol is not None
        error = None if result.error is None else result.error.get(name)
        failing = beyond_tolerance(candidate, reference, error, result.atol, result.rtol)
        excess = np.abs(candidate.astype(np.float64) - reference) - (result.atol + result.rtol * np.abs(reference))
        return past_the_threshold(candidate, reference, result.threshold, failing, excess)
    return past_the_threshold(candidate, reference, result.threshold)


def undecided_tensors(rounds: Rounds, tolerance: Tolerance, precision: np.dtype, labels: tuple[str, str],
                      threshold: float) -> list[str] | None:
    """The suspect tensors whose naming the coordinates left could still change; None when the check's own
    verdict could still change (then every tensor with coordinates left is looked at further)."""
    merged = _verdict(rounds.merged(), labels, tolerance, precision)
    optimistic = _verdict(rounds.merged(optimistic=True), labels, tolerance, precision)
    if not merged.passed and optimistic.passed:
        return None
    undecided = []
    for name in rounds.names:
        named_anyway = fails(optimistic.rows[name], optimistic, threshold)
        cleared = not fails(merged.rows[name], merged, threshold)
        if rounds.left(name) and not (named_anyway or cleared):
            undecided.append(name)
    return undecided


def fails(row: dict[str, Any], result: CheckResult, threshold: float) -> bool:
    """Whether a tensor's row names it: beyond the tolerances, or its mismatch seen past the threshold."""
    return row["failing"] > 0 if result.elementwise else seen(row) >= threshold


def coverage_note(rounds: Rounds, settled: bool, undecided: tuple[str, ...], spending: Spending) -> str:
    """What the second look re-examined, and why it stopped (``undecided``: the tensors a cut left undecided)."""
    counts = ", ".join(f"{name} {rounds.done[name]} of {rounds.examined[name].size}" for name in rounds.names)
    looked = f"re-examined {rounds.looked_at} coordinate(s), largest mismatch first ({counts})"
    if undecided:
        left = ", ".join(f"{name} ({rounds.left(name)} more past the threshold unexamined)" for name in undecided)
        return (f"second look cut short by its budget ({spending.describe()}) once the verdict was decided: "
                f"{looked}; left undecided, so not named: {left}; pass second_look_budget=None to finish the look")
    if settled:
        return f"second look: {looked}; that settled the verdict"
    return (f"second look: {looked}, every one past the threshold (the others' mismatches together stay below "
            f"{TAIL_SHARE:g} of it)")


def whole_look(result: CheckResult, outputs: list[Any], labels: tuple[str, str], tolerance: Tolerance,
               precision: np.dtype, point: "Point", sources: "tuple[GradientSource | None, GradientSource | None]",
               request: "Request | None", suspects: list[str], within_error_bars: bool) -> CheckResult:
    """One second look at the whole suspect tensors, for a derivative whose coordinates are not the parameters'."""
    refined = list(outputs)
    said: list[str] = []
    for k, (source, label) in enumerate(zip(sources, labels)):
        looked = None if source is None else source.second_look(point, suspects, within_error_bars, request)
        if looked is None:
            continue
        refined[k] = merged(outputs[k], looked)
        said += [f"{label} (second look at {', '.join(suspects)}): {note}" for note in looked.notes]
    if all(new is old for new, old in zip(refined, outputs)):
        return replace(result, settled=True)
    return _verdict(refined, labels, tolerance, precision, tuple(said))


def merged(original: Any, looked: Gradient) -> Gradient:
    """The original output with the re-examined tensors (values and error bars) replaced."""
    values = {**dict(original.tensors if isinstance(original, Gradient) else original), **looked.tensors}
    error = error_of(original)
    error = None if error is None and looked.error is None else {**(error or {}), **(looked.error or {})}
    return Gradient(tensors=values, notes=notes_of(original), kinks=tuple(looked.kinks), error=error,
                    precision=looked.precision)


def compare_gradients(
    candidate: Any,
    reference: Any,
    *,
    threshold: float | None = None,
    candidate_name: str = "candidate",
    reference_name: str = "reference",
    precision: np.dtype | str = "float64",
    atol: float | None = None,
    rtol: float | None = None,
) -> CheckResult:
    """Judge two gradients that are already computed (same names and shapes), with no second look.

    Error bars that either gradient carries (a :class:`~gradcheck_bench.gradient.Gradient`
    from an oracle) give the result its ``resolution`` and ``unexplained``
    difference; below float64 ``precision`` the verdict is taken on the latter.
    """
    return judge(candidate, reference, labels=(candidate_name, reference_name),
                 tolerance=Tolerance.of(threshold, atol, rtol), precision=precision)


__all__ = ["DEFAULT_THRESHOLD", "LookBudget", "Tolerance", "compare_gradients", "judge", "second_look", "seen"]

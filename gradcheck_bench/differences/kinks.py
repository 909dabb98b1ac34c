"""ReLU kinks: finite differences that notice when a step crosses one, and step around it.

A ReLU net's cost is piecewise smooth: its slope jumps where a hidden
pre-activation ``Z[l][unit, example]`` changes sign. A centered difference
whose two points lie on different sides of such a kink mixes two slopes and
makes a correct gradient look wrong; on random nets with m = 100 examples a
few coordinates out of thousands do this (``jax.test_util.check_grads``
false-fails there).

The detection is exact, not a guess from ``|Z| < h``: each perturbed forward
pass also returns its *activation pattern* (the signs of every hidden
pre-activation), and a step straddles a kink iff the pattern at
``theta +- h d`` differs from the one at ``theta``. Then, in order:

1. ``one-sided``: if one side keeps the pattern at ``h`` and ``2h``, use the
   second-order one-sided difference ``(-3 J0 + 4 J(h) - J(2h)) / 2h`` there
   (same accuracy order as the centered one, never crosses);
2. ``smaller step``: otherwise divide the step by 8 and try again (up to 4 times);
3. ``unresolved``: otherwise keep the centered value and say so.

Every straddle is recorded as a :class:`KinkCrossing` (parameter, element,
examples whose pattern changed, what was done), so a check can report it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..counting import counted, record_passes
from ..models import Model, Params
from ..validation import scalar_cost

Evaluation = tuple[float, np.ndarray]
"""A cost value and the activation pattern (bool, e.g. hidden units x examples) where it was taken."""

MAX_SHRINKS = 4
SHRINK_FACTOR = 8.0
ONE_SIDED_NOISE = 4.0
"""The one-sided stencil (-3 J0 + 4 J(h) - J(2h)) / 2h carries (3 + 4 + 1) / 2 = 4 times the
round-off of a centered difference at the same step."""


def evaluator(model: Model, X: Any, Y: Any) -> Callable[[Params], Evaluation]:
    """``point -> (cost, pattern)`` for the model: its declared kink pattern, or an empty one.

    With an empty pattern nothing ever counts as crossing a kink, so the
    kink-aware differences are the plain ones.
    """
    if model.kink_pattern is not None:
        kink_pattern = model.kink_pattern

        def with_pattern(point: Params) -> Evaluation:
            record_passes(1)
            return kink_pattern(point, X, Y)

        return with_pattern
    cost = counted(model.cost)
    return lambda point: (scalar_cost(cost(point, X, Y)), np.zeros((0, 0), dtype=bool))


@dataclass(frozen=True)
class KinkCrossing:
    """One finite difference whose step straddled a kink, and how it was resolved."""

    where: str  # "W1[3, 2]" for a coordinate, "direction 5" for a directional probe
    examples: tuple[int, ...]  # columns of the pattern (examples of X) that changed
    action: str  # "one-sided", "smaller step" or "unresolved"
    step: float  # the step finally used
    tensor: str | None = None  # for a coordinate: its tensor and index there
    index: tuple[int, ...] | None = None

    def describe(self) -> str:
        shown = ", ".join(str(e) for e in self.examples[:5]) + (", ..." if len(self.examples) > 5 else "")
        return f"{self.where}: kink at example(s) {shown}; {self.action} (step {self.step:.2g})"

    def noise_factor(self) -> float:
        """Round-off of the difference taken, in units of a centered difference's at ``step``."""
        return ONE_SIDED_NOISE if self.action == "one-sided" else 1.0


class KinkAwareDifference:
    """Differences of ``evaluate`` along vectors, stepping around kinks (see module docstring).

    ``evaluate(point) -> (cost, pattern)``; ``flat`` is the parameter vector and
    ``point`` a dict of views into it, so writing ``flat`` moves the point.
    """

    def __init__(self, evaluate: Callable[[Params], Evaluation], flat: np.ndarray, unravel: Callable[[Any], Params]):
        self.evaluate = evaluate
        self.flat = flat
        self.origin = flat.copy()
        self.unravel = unravel
        self.cost0, self.pattern0 = evaluate(unravel(flat))
        self.passes = 1

    def _at(self, displacement: np.ndarray) -> Evaluation:
        self.flat[:] = self.origin + displacement
        try:
            self.passes += 1
            return self.evaluate(self.unravel(self.flat))
        finally:
            self.flat[:] = self.origin

    def _changed_examples(self, pattern: np.ndarray) -> set[int]:
        return set(int(e) for e in np.flatnonzero(np.any(pattern != self.pattern0, axis=0)))

    def centered(self, direction: np.ndarray, h: float) -> tuple[float, set[int]]:
        """The plain centered difference at step ``h``, and the examples whose pattern changed."""
        (plus, p_plus), (minus, p_minus) = self._at(h * direction), self._at(-h * direction)
        return (plus - minus) / (2.0 * h), self._changed_examples(p_plus) | self._changed_examples(p_minus)

    def along(self, direction: np.ndarray, h: float, where: str, tensor: str | None = None,
              index: tuple[int, ...] | None = None) -> tuple[float, KinkCrossing | None]:
        """The derivative along ``direction`` (a flat vector), and the kink crossing if one was met."""
        examples: set[int] = set()
        for shrink in range(MAX_SHRINKS + 1):
            (plus, p_plus), (minus, p_minus) = self._at(h * direction), self._at(-h * direction)
            crossed_plus, crossed_minus = self._changed_examples(p_plus), self._changed_examples(p_minus)
            centered = (plus - minus) / (2.0 * h)
            if not crossed_plus and not crossed_minus:
                return centered, None if shrink == 0 else KinkCrossing(where, tuple(sorted(examples)), "smaller step", h, tensor, index)
            examples |= crossed_plus | crossed_minus
            for side, one_step, crossed in ((1.0, plus, crossed_plus), (-1.0, minus, crossed_minus)):
                if crossed:
                    continue
                two_steps, p_two = self._at(2.0 * side * h * direction)
                if not self._changed_examples(p_two):
                    value = side * (-3.0 * self.cost0 + 4.0 * one_step - two_steps) / (2.0 * h)
                    return value, KinkCrossing(where, tuple(sorted(examples)), "one-sided", h, tensor, index)
            if shrink < MAX_SHRINKS:
                h /= SHRINK_FACTOR
        return centered, KinkCrossing(where, tuple(sorted(examples)), "unresolved", h, tensor, index)


def summarize_crossings(crossings: list[KinkCrossing], limit: int = 5) -> tuple[str, ...]:
    """Notes for a check's summary: how many steps straddled a kink, and the first few."""
    if not crossings:
        return ()
    actions = {action: sum(c.action == action for c in crossings) for action in ("one-sided", "smaller step", "unresolved")}
    counts = ", ".join(f"{n} {a}" for a, n in actions.items() if n)
    notes = [f"{len(crossings)} finite difference(s) straddled a ReLU kink ({counts}):"]
    notes += [f"  {c.describe()}" for c in crossings[:limit]]
    if len(crossings) > limit:
        notes.append(f"  ... and {len(crossings) - limit} more")
    if actions["unresolved"]:
        notes.append("Unresolved crossings can make a correct gradient look wrong there.")
    return tuple(notes)


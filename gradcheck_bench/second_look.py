"""What a failing check's second look re-examines, round by round, and when it may stop.

The judge (:func:`gradcheck_bench.judge.second_look`) asks the sources that
offer a second look to evaluate again the tensors it is about to name. It
does not ask for every coordinate of them. Within a suspect tensor only the
coordinates **past the threshold** can move its verdict: sorted by their
mismatch ``|g_i - r_i|``, the smallest ones whose mismatches together (in
the norm the relative difference takes) stay below ``TAIL_SHARE`` of the
threshold cannot, since putting them right would change the tensor's
difference by less than that share. The others are re-examined largest
first, in rounds that grow by ``ROUND_GROWTH``, and after each round the
verdict is taken again on what has been re-examined so far. It stops as soon
as the rest could not change it:

* **failed for sure**: even if every coordinate not yet re-examined agreed
  exactly, the check would still fail and each tensor still be named (a real
  bug spread over a big tensor is confirmed by its largest few mismatches);
* **passed**: with the re-examined values in, the check passes (a kink
  straddled by a few steps, put right);
* **done**: every coordinate past the threshold has been re-examined;
* **out of budget**: the check's verdict is decided (it fails even if every
  coordinate left agreed exactly), and what is still undecided is only which
  tensors to name; the look has spent ``budget`` times the first look's
  forward passes (:class:`LookBudget`). The tensors it left undecided are not
  named, and the notes say so, what was examined and how to finish the look.

The budget never cuts a look whose verdict is undecided: a verdict taken on
first-look values a look did not get to would be the budget's, not the
gradient's, and would change with the machine's load. It is counted in
forward passes, not seconds, so a look examines the same coordinates on a
quiet machine and a loaded one.

The arrays here are plain bookkeeping; the verdicts themselves are the
judge's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .counting import count_forward_passes
from .gradient import Gradient, error_of, notes_of

DEFAULT_SECOND_LOOK_BUDGET = 3.0
"""Once the verdict is decided, a second look may spend this many times the first look's forward passes on
naming tensors (``check(second_look_budget=...)``)."""
FIRST_ROUND = 16
"""Coordinates of each suspect tensor re-examined in the first round: the largest mismatches."""
ROUND_GROWTH = 4
"""Each later round re-examines this many times as many coordinates (as far as the budget allows)."""
TAIL_SHARE = 0.1
"""Coordinates whose mismatches together stay below this share of the threshold are not past it."""
COST_MARGIN = 2.0
"""A round within the budget is costed at this many times the dearest round so far, per coordinate: the
coordinates looked at later may cost more (a kink stepped around one coordinate at a time)."""


@dataclass(frozen=True)
class LookBudget:
    """What a second look may spend on naming tensors once the verdict is decided: ``factor`` times the first
    look's cost.

    The cost is counted in forward passes where the first look's were counted (a check with a source that
    differentiates from forward passes only: ``check`` counts them), so the same coordinates are examined
    whatever the machine's load (``compare`` gives the passes its measurements counted). Where only the first
    look's seconds are known (a caller that timed it), the budget is in seconds: the verdict is still never cut, but which tensors a cut look
    leaves undecided may then vary with the load. Where neither is known, there is no limit.
    """

    first_look_seconds: float | None = None
    """Seconds the first look took where the caller timed it (both sources' derivatives); None: not measured."""
    factor: float | None = DEFAULT_SECOND_LOOK_BUDGET
    """None: no limit."""
    first_look_passes: int | None = None
    """Forward passes the first look evaluated, counted (None: not counted); the budget's unit when given."""

    @property
    def in_passes(self) -> bool:
        return self.first_look_passes is not None

    @property
    def limit(self) -> float:
        """What the second look may spend: forward passes, or seconds where the passes are unknown."""
        first = self.first_look_passes if self.in_passes else self.first_look_seconds
        if first is None or self.factor is None:
            return math.inf
        return self.factor * first

    def describe(self) -> str:
        if self.in_passes:
            return f"{self.factor:g}x the first look's {self.first_look_passes} forward passes"
        return f"{self.factor:g}x the first look's {self.first_look_seconds:.2g} s"


@dataclass
class Spending:
    """What a second look has spent while its sources re-examined: forward passes, counted, and seconds."""

    budget: LookBudget
    passes: int = 0
    seconds: float = 0.0
    dearest: float = 0.0
    """The most a round has cost per coordinate it re-examined, in the budget's unit."""

    @contextmanager
    def counted(self, coordinates: int) -> Iterator[None]:
        """Count what a round of ``coordinates`` spends inside the ``with`` block: the forward passes its
        sources evaluate, and the seconds it takes."""
        before, started = self.spent, time.perf_counter()
        with count_forward_passes() as counter:
            yield
        self.passes += counter.passes
        self.seconds += time.perf_counter() - started
        self.dearest = max(self.dearest, (self.spent - before) / max(coordinates, 1))

    @property
    def spent(self) -> float:
        """What counts against the budget, in its unit."""
        return self.passes if self.budget.in_passes else self.seconds

    def fits(self, tensors: int) -> float:
        """How many more coordinates of each of ``tensors`` tensors fit in what is left of the budget, costed at
        ``COST_MARGIN`` times the dearest round so far per coordinate."""
        if not math.isfinite(self.budget.limit) or self.dearest <= 0:
            return math.inf  # no limit, or sources that report no passes: nothing to ration by
        return (self.budget.limit - self.spent) / (COST_MARGIN * self.dearest) / max(tensors, 1)

    def describe(self) -> str:
        spent = f"{self.passes}" if self.budget.in_passes else f"{self.seconds:.2g} s"
        return f"{self.budget.describe()}; it spent {spent}"


def past_the_threshold(candidate: np.ndarray, reference: np.ndarray, threshold: float,
                       failing: np.ndarray | None = None, excess: np.ndarray | None = None) -> np.ndarray:
    """Flat positions of one tensor's coordinates past the threshold, largest mismatch first.

    With ``failing`` (element-wise tolerances), exactly the failing elements, ordered by ``excess`` (how far
    past their tolerance). Otherwise every coordinate but the smallest mismatches, which together stay below
    ``TAIL_SHARE * threshold * (||g|| + ||r||)``: the most they could move the tensor's relative difference.
    """
    g = np.ravel(candidate).astype(np.float64)
    r = np.ravel(reference).astype(np.float64)
    mismatch = np.abs(g - r)
    if failing is not None:
        assert excess is not None
        positions = np.flatnonzero(np.ravel(failing))
        return positions[np.argsort(-np.ravel(excess)[positions], kind="stable")]
    order = np.argsort(-mismatch, kind="stable")
    largest = max(float(np.max(np.abs(g), initial=0.0)), float(np.max(np.abs(r), initial=0.0)))
    if largest == 0:
        return order[:0]
    allowance = TAIL_SHARE * threshold * float(np.linalg.norm(g / largest) + np.linalg.norm(r / largest))
    scaled = mismatch[order] / largest
    tail_norms = np.sqrt(np.cumsum(scaled[::-1] ** 2))[::-1]  # tail_norms[j]: the norm of order[j:]
    return order[:int(np.count_nonzero(tail_norms >= allowance))]


@dataclass
class Rounds:
    """The second look's progress over the suspect tensors: what is past the threshold, what was looked at,
    and the outputs as re-examined so far (one working copy per output a source re-examines)."""

    outputs: list[Any]
    shapes: dict[str, tuple[int, ...]]
    order: dict[str, np.ndarray]
    """Per suspect tensor, the coordinates past the threshold, largest mismatch first."""
    examined: dict[str, np.ndarray] = field(default_factory=dict)
    """Per suspect tensor, whether each coordinate has been re-examined."""
    done: dict[str, int] = field(default_factory=dict)
    values: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    errors: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    kinks: dict[int, list[Any]] = field(default_factory=dict)
    precision: dict[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, shape in self.shapes.items():
            self.examined[name] = np.zeros(int(np.prod(shape, dtype=np.int64)), dtype=bool)
            self.done[name] = 0

    @property
    def names(self) -> list[str]:
        return list(self.order)

    def next_coordinates(self, names: list[str], per_tensor: int) -> dict[str, np.ndarray]:
        """The next ``per_tensor`` coordinates past the threshold of each of ``names`` (ascending), where any are left."""
        batch = {}
        for name in names:
            start = self.done[name]
            chosen = self.order[name][start:start + per_tensor]
            if chosen.size:
                batch[name] = np.sort(chosen)
        return batch

    def take(self, k: int, coordinates: dict[str, np.ndarray], looked: Gradient) -> None:
        """Output ``k``'s re-examined values (and error bars) at ``coordinates``, put in its working copy."""
        if k not in self.values:
            self.values[k] = {name: np.ravel(np.asarray(self.outputs[k][name])).copy() for name in self.names}
            given = error_of(self.outputs[k]) or {}
            self.errors[k] = {name: (np.ravel(np.abs(np.asarray(given[name], dtype=np.float64))).copy()
                                     if name in given else np.zeros(self.examined[name].size)) for name in self.names}
            self.kinks[k] = []
        for name, positions in coordinates.items():
            self.values[k][name][positions] = values_at(looked[name], positions, self.shapes[name])
            if looked.error is not None and name in looked.error:
                self.errors[k][name][positions] = values_at(looked.error[name], positions, self.shapes[name])
        self.kinks[k] += list(looked.kinks)
        self.precision[k] = looked.precision

    def mark(self, coordinates: dict[str, np.ndarray]) -> None:
        for name, positions in coordinates.items():
            self.examined[name][positions] = True
            self.done[name] += positions.size

    def left(self, name: str) -> int:
        """Coordinates past the threshold of ``name`` not yet re-examined."""
        return int(self.order[name].size - self.done[name])

    @property
    def looked_at(self) -> int:
        return sum(self.done.values())

    def merged(self, optimistic: bool = False) -> list[Any]:
        """Both outputs with what was re-examined put in. ``optimistic``: every suspect coordinate not yet
        re-examined made to agree exactly (the reference takes the candidate's value), the most the rest could
        do for the verdict."""
        merged = [self.output(k) for k in range(len(self.outputs))]
        if not optimistic:
            return merged
        candidate, reference = merged
        agreed = {}
        for name in self.names:
            values = np.ravel(np.asarray(reference[name])).copy()
            unexamined = ~self.examined[name]
            values[unexamined] = np.ravel(np.asarray(candidate[name]))[unexamined]
            agreed[name] = values.reshape(self.shapes[name])
        tensors = {**dict(reference.tensors if isinstance(reference, Gradient) else reference), **agreed}
        return [candidate, replace_tensors(reference, tensors)]

    def output(self, k: int) -> Any:
        """Output ``k`` as re-examined so far (itself where no source re-examined it)."""
        original = self.outputs[k]
        if k not in self.values:
            return original
        tensors = {**dict(original.tensors if isinstance(original, Gradient) else original),
                   **{name: values.reshape(self.shapes[name]) for name, values in self.values[k].items()}}
        error = {**(error_of(original) or {}),
                 **{name: values.reshape(self.shapes[name]) for name, values in self.errors[k].items()}}
        return Gradient(tensors=tensors, notes=notes_of(original), kinks=tuple(self.kinks[k]), error=error,
                        precision=self.precision.get(k))


def values_at(looked: np.ndarray, positions: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A second look's values for ``positions``: given 1-D in their order, or as the whole tensor."""
    looked = np.asarray(looked)
    if looked.shape == (positions.size,):
        return looked
    if looked.shape == tuple(shape):
        return np.ravel(looked)[positions]
    raise ValueError(f"a second look returned shape {looked.shape} for {positions.size} coordinates of a tensor "
                     f"shaped {tuple(shape)}: return the values at the coordinates asked, or the whole tensor.")


def replace_tensors(output: Any, tensors: dict[str, np.ndarray]) -> Any:
    """``output`` with other values (its error bars, notes and precision kept)."""
    if isinstance(output, Gradient):
        return Gradient(tensors=tensors, notes=output.notes, kinks=output.kinks, error=output.error,
                        precision=output.precision)
    return tensors

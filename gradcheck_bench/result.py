"""The outcome of a check: the verdict, and a per-tensor breakdown that names what is wrong.

A :class:`CheckResult` holds the two derivatives the judge compared, their
error bars and the overall numbers; its per-tensor ``rows`` name the element
with the largest error and the factor (``scale``) by which the candidate is
off, so the seed's planted bugs read as ``W2 x2.000`` and ``b1 x4.000``.

The verdict: in float64 the exercise's (difference below the threshold);
below float64, where round-off and kinks make the plain difference large for
correct gradients, the difference the error bars leave unexplained; with
torch-style ``atol``/``rtol``, every element within ``atol + rtol |r|`` or
within its error bars.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from .metrics import RESOLUTION_FACTOR, biased, compare_tensor, suspected_bias
from .tolerances import TOLERANCES
from .models import Params

if TYPE_CHECKING:
    import pandas as pd


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
    atol: float | None = None
    """With ``rtol``: the verdict is torch.allclose's, element by element (``|g - r| <= atol + rtol |r|``)."""
    rtol: float | None = None
    failing_elements: int | None = field(default=None, repr=False)
    """With ``atol``/``rtol``: how many elements lie beyond both the tolerances and their error bars."""
    derivative: str = "gradient"
    """The kind compared (:mod:`gradcheck_bench.kinds`)."""
    probe: Params | None = field(default=None, repr=False)
    """The tangent, cotangent or vector both sources were given, by name."""
    seed: int | None = None
    """The seed the probe was drawn from (None: given by the caller, or not needed)."""
    exposed_by: tuple[str, ...] = ()
    """For a failing JVP: the tensors whose tangent alone exposes the mismatch."""
    output_axes: int = 0
    """For a Jacobian: how many leading axes of each block are the output's."""
    settled: bool = True
    """False for a first look that a second look may still refine: a float64 verdict is then not yet taken
    on the error bars where the oracle cannot resolve the threshold (the second look may resolve it)."""
    undecided: tuple[str, ...] = ()
    """Tensors a second look cut short by its budget left undecided: their rows still fail on first-look values,
    but the coordinates left unexamined could clear them, so they are not named (the verdict itself was
    decided before the cut)."""

    @cached_property
    def rows(self) -> dict[str, dict[str, Any]]:
        """Per tensor: size, difference, resolution, scale, max_abs_error, worst_index, both values."""
        if self.breakdown is not None:
            return self.breakdown
        errors = self.error or {}
        return {
            name: compare_tensor(self.candidate_gradient[name], self.reference_gradient[name], errors.get(name),
                                 self.atol, self.rtol)
            for name in self.reference_gradient
        }

    @property
    def elementwise(self) -> bool:
        """Whether the verdict is element by element (``atol``/``rtol`` given) rather than on the threshold."""
        return self.atol is not None and self.rtol is not None

    @property
    def judged_on_error_bars(self) -> bool:
        """The verdict is taken on the unexplained difference, where error bars exist, below float64, and
        wherever the oracle cannot resolve the dtype's threshold at this point (its own error bars, relative to
        the gradients, reach it: a gradient of 1e-115 under fd's round-off): the plain difference there
        measures the oracle's noise, not the candidate."""
        if self.unexplained is None:
            return False
        if self.precision != "float64":
            return True
        if not self.settled:
            return False
        # the dtype's own threshold, not a caller's stricter one: asking for 1e-15 where the oracle resolves
        # 1e-10 is a failure to resolve, reported as such, not a pass on error bars
        return self.resolution is not None and self.resolution >= TOLERANCES[np.dtype(self.precision)].threshold

    @property
    def passed(self) -> bool:
        """The verdict: the difference (below float64: the unexplained difference) is below the threshold."""
        if self.elementwise:
            return self.failing_elements == 0
        if self.judged_on_error_bars:
            assert self.unexplained is not None
            return self.unexplained < self.threshold and not self.biased_tensors
        return self.difference < self.threshold

    @cached_property
    def biased_tensors(self) -> list[str]:
        """Below float64, the tensors off by a consistent factor their error bars cannot explain
        (:func:`~gradcheck_bench.metrics.biased`): a wrong constant hides in per-element error bars."""
        if not self.judged_on_error_bars or self.error is None:
            return []
        return [name for name in self.reference_gradient
                if biased(self.candidate_gradient[name], self.reference_gradient[name], self.error.get(name),
                          self.threshold)]

    @cached_property
    def unresolved_bias(self) -> list[str]:
        """Below float64, the tensors whose factor departs from 1 by more than its uncertainty but not enough
        to name them (:func:`~gradcheck_bench.metrics.suspected_bias`): a second look with less error decides."""
        if not self.judged_on_error_bars or self.error is None:
            return []
        return [name for name in self.reference_gradient
                if suspected_bias(self.candidate_gradient[name], self.reference_gradient[name],
                                  self.error.get(name), self.threshold)]

    @cached_property
    def per_parameter(self) -> "pd.DataFrame":
        """One row per tensor: size, difference, resolution, scale, max_abs_error, worst_index, both values."""
        import pandas as pd

        return pd.DataFrame.from_dict(self.rows, orient="index").rename_axis("parameter")

    @property
    def culprits(self) -> list[str]:
        """Tensors whose own mismatch, beyond what the error bars explain, reaches the threshold. Worst first.

        A tensor whose mismatch lies within ``RESOLUTION_FACTOR`` times the
        sources' error bars is not named: that is the oracle's own error. Nor
        is a tensor a cut second look left ``undecided``: it was not proved wrong.
        """
        if self.passed:
            return []
        worst_first = sorted((name for name in self.rows if name not in self.undecided),
                             key=lambda name: -self.rows[name]["difference"])
        if self.elementwise:
            return [name for name in worst_first if self.rows[name]["failing"] > 0]
        return [name for name in worst_first
                if seen(self.rows[name]) >= self.threshold or name in self.biased_tensors]

    def table(self, worst_first: bool = False) -> str:
        """The per-parameter table as aligned text, in parameter order or worst first."""
        shown = self.per_parameter.copy()
        if worst_first:
            shown = shown.sort_values("difference", ascending=False, kind="stable")
        shown["scale"] = [_format_scale(s) for s in shown["scale"]]
        shown["worst_index"] = [list(i) for i in shown["worst_index"]]
        shown["verdict"] = ["MISMATCH" if name in self.culprits else "undecided" if name in self.undecided else "ok"
                            for name in shown.index]
        shown = shown.drop(columns=[c for c in ("resolution", "unexplained") if c in shown and shown[c].isna().all()])
        numbers = ("difference", "resolution", "unexplained", "max_abs_error", "candidate_value", "reference_value")
        return shown.to_string(formatters={c: "{:.3e}".format for c in numbers if c in shown})

    def where(self, index: tuple[int, ...]) -> str:
        """An element's index as the summary reads it: a Jacobian's output index apart from the parameter's."""
        if self.output_axes:
            return f"output {list(index[:self.output_axes])}, element {list(index[self.output_axes:])}"
        return str(list(index))

    def headline(self) -> str:
        """The verdict in one line, with what the oracle resolves when it knows."""
        what = "" if self.derivative == "gradient" else f" ({self.derivative})"
        line = f"{'PASS' if self.passed else 'FAIL'}  {self.candidate} vs {self.reference}{what}: relative " \
               f"difference {self.difference:.3e}"
        if self.elementwise:
            line += f"; {self.failing_elements} element(s) beyond atol {self.atol:.1e} + rtol {self.rtol:.1e} |r|"
        elif self.judged_on_error_bars:
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
                    f"largest error {row['max_abs_error']:.3e} at {self.where(row['worst_index'])} "
                    f"(candidate {row['candidate_value']:.6g}, reference {row['reference_value']:.6g})"
                )
        if not self.passed and self.undecided:
            lines.append(f"Left undecided by a second look cut short by its budget, so not named: "
                         f"{', '.join(self.undecided)} (see the notes).")
        elif not self.passed and not self.culprits:
            lines.append(self.why_nothing_is_named())
        return "\n".join(lines + list(self.notes) + ["", self.table()])

    def why_nothing_is_named(self) -> str:
        """For a failing check that names no tensor: whether the oracle's error or a spread error is why."""
        if any(row["difference"] >= self.threshold for row in self.rows.values()):
            return (f"No tensor's mismatch lies beyond {RESOLUTION_FACTOR:g}x the sources' error bars: the "
                    "difference is within the oracle's own error, so nothing is named. Use a more accurate "
                    "oracle (richardson, complex-step) to decide.")
        return "No single tensor reaches the threshold; the error is spread over all of them."

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
            "atol": self.atol,
            "rtol": self.rtol,
            "failing_elements": self.failing_elements,
            "derivative": self.derivative,
            "seed": self.seed,
            "exposed_by": list(self.exposed_by),
            "passed": self.passed,
            "culprits": self.culprits,
            "undecided": list(self.undecided),
            "notes": list(self.notes),
            "per_parameter": rows,
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def seen(row: dict[str, Any]) -> float:
    """A tensor's mismatch as the verdict sees it: beyond the error bars where there are some."""
    unexplained = row.get("unexplained", float("nan"))
    return row["difference"] if unexplained is None or not np.isfinite(unexplained) else unexplained


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

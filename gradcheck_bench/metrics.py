"""The numbers a verdict is made of, each formula written once.

For a candidate ``g``, a reference ``r`` and the sources' error bars ``e``:

* ``difference = ||g - r|| / (||g|| + ||r||)``: the exercise's relative difference;
* ``resolution = ||e|| / (||g|| + ||r||)``: what the error bars alone could produce;
* ``unexplained = ||max(|g - r| - RESOLUTION_FACTOR e, 0)|| / (||g|| + ||r||)``:
  the mismatch the error bars leave;
* ``scale``: the factor ``s`` minimising ``||g - s r||`` (``W2 x2.000``);
* torch-style elementwise closeness, ``|g - r| <= atol + rtol |r|``, where the
  error bars decide which elements can be judged at all.

Every norm is taken after dividing by the largest entry, so tiny or huge
gradients neither underflow nor overflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

RESOLUTION_FACTOR = 10.0
"""A coordinate's mismatch counts only where it exceeds this many times the sources' error bar there."""
BIAS_FACTOR = 3.0
"""A tensor's scale counts as biased only where it departs from 1 by this many times its own uncertainty."""
BIAS_SHARE = 0.5
"""...and where the scale explains at least half of the tensor's mismatch (a consistent factor, not noise)."""


@dataclass(frozen=True)
class Numbers:
    """The overall numbers of two flat gradients (resolution and unexplained are None without error bars)."""

    difference: float
    resolution: float | None
    unexplained: float | None


def as_flat(values: Any) -> np.ndarray:
    return np.ravel(values).astype(np.float64, copy=False)


def numbers(candidate: np.ndarray, reference: np.ndarray, error: np.ndarray | None = None) -> Numbers:
    """Difference, resolution and unexplained difference of two flat gradients, scaled once."""
    candidate, reference = as_flat(candidate), as_flat(reference)
    error = None if error is None else np.abs(as_flat(error))
    largest = max(float(np.max(np.abs(candidate), initial=0.0)), float(np.max(np.abs(reference), initial=0.0)))
    if largest == 0:
        if error is None:
            return Numbers(0.0, None, None)
        return Numbers(0.0, float("inf") if np.max(error, initial=0.0) > 0 else 0.0, 0.0)
    c, r = candidate / largest, reference / largest
    denominator = float(np.linalg.norm(c) + np.linalg.norm(r))
    difference = float(np.linalg.norm(c - r)) / denominator
    if error is None:
        return Numbers(difference, None, None)
    e = error / largest
    excess = np.maximum(np.abs(c - r) - RESOLUTION_FACTOR * e, 0.0)
    return Numbers(difference, float(np.linalg.norm(e)) / denominator, float(np.linalg.norm(excess)) / denominator)


def relative_difference(candidate: np.ndarray, reference: np.ndarray) -> float:
    """``||g - r|| / (||g|| + ||r||)``, defined as 0 when both gradients are exactly zero."""
    return numbers(candidate, reference).difference


def relative_resolution(error: np.ndarray, candidate: np.ndarray, reference: np.ndarray) -> float:
    """``||e|| / (||g|| + ||r||)``: the relative difference the error bars ``e`` alone could produce."""
    found = numbers(candidate, reference, error).resolution
    return 0.0 if found is None else found


def unexplained_difference(candidate: np.ndarray, reference: np.ndarray, error: np.ndarray) -> float:
    """``||max(|g - r| - RESOLUTION_FACTOR e, 0)|| / (||g|| + ||r||)``: the mismatch the error bars leave."""
    found = numbers(candidate, reference, error).unexplained
    return 0.0 if found is None else found


def least_squares_scale(candidate: np.ndarray, reference: np.ndarray) -> float:
    """The factor s minimising ``||candidate - s * reference||``; NaN when reference is zero."""
    candidate, reference = as_flat(candidate), as_flat(reference)
    largest = np.max(np.abs(reference), initial=0.0)
    if largest == 0:
        return float("nan")
    candidate, reference = candidate / largest, reference / largest  # no underflow in r @ r
    return float(candidate @ reference) / float(reference @ reference)


def scale_uncertainty(reference: np.ndarray, error: np.ndarray) -> float:
    """The standard error of :func:`least_squares_scale` when each element carries its error bar:
    ``sqrt(sum r_i^2 e_i^2) / sum r_i^2``; NaN when the reference is zero."""
    reference, error = as_flat(reference), np.abs(as_flat(error))
    largest = np.max(np.abs(reference), initial=0.0)
    if largest == 0:
        return float("nan")
    r = reference / largest
    return float(np.sqrt(np.sum((r * error) ** 2)) / (largest * np.sum(r * r)))


def biased(candidate: np.ndarray, reference: np.ndarray, error: np.ndarray | None, threshold: float) -> bool:
    """Whether the candidate is the reference times a factor that the error bars cannot explain.

    A wrong constant shows as a small, consistent factor: each element's mismatch may hide inside its error
    bar, but together they fix the scale far more tightly than any one of them. The factor must depart from
    1 by at least ``threshold`` and by ``BIAS_FACTOR`` times its own uncertainty, and explain at least
    ``BIAS_SHARE`` of the tensor's mismatch.
    """
    if error is None:
        return False
    scale = least_squares_scale(candidate, reference)
    spread = scale_uncertainty(reference, error)
    if not (np.isfinite(scale) and np.isfinite(spread)) or abs(scale - 1) < threshold:
        return False
    c, r = as_flat(candidate), as_flat(reference)
    explained = np.linalg.norm(c - scale * r) <= (1 - BIAS_SHARE) * np.linalg.norm(c - r)
    return bool(abs(scale - 1) > BIAS_FACTOR * spread and explained)


def suspected_bias(candidate: np.ndarray, reference: np.ndarray, error: np.ndarray | None, threshold: float) -> bool:
    """Whether the factor departs from 1 by the threshold and by more than its own uncertainty, yet is not
    :func:`biased`: too close to its uncertainty to name, or buried under elementwise noise it does not
    explain. A bias the error bars neither establish nor explain away; a more accurate reference decides it."""
    if error is None:
        return False
    scale = least_squares_scale(candidate, reference)
    spread = scale_uncertainty(reference, error)
    if not (np.isfinite(scale) and np.isfinite(spread)):
        return False
    return bool(abs(scale - 1) >= threshold and abs(scale - 1) > spread
                and not biased(candidate, reference, error, threshold))


def beyond_tolerance(candidate: np.ndarray, reference: np.ndarray, error: np.ndarray | None,
                     atol: float, rtol: float) -> np.ndarray:
    """Per element, whether ``|g - r|`` exceeds both ``atol + rtol |r|`` (torch.allclose's rule) and
    ``RESOLUTION_FACTOR`` times the error bar (an element inside its error bars cannot be judged)."""
    candidate, reference = np.asarray(candidate, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    mismatch = np.abs(candidate - reference)
    judged = mismatch > atol + rtol * np.abs(reference)
    if error is not None:
        judged &= mismatch > RESOLUTION_FACTOR * np.abs(np.asarray(error, dtype=np.float64))
    return judged


def compare_tensor(candidate: np.ndarray, reference: np.ndarray, error: np.ndarray | None = None,
                   atol: float | None = None, rtol: float | None = None) -> dict[str, Any]:
    """One row of the per-parameter table (``resolution`` NaN where no source gave error bars; ``failing``,
    with element-wise tolerances, the number of elements beyond them)."""
    difference = np.abs(candidate.astype(np.float64) - reference.astype(np.float64))
    worst = np.unravel_index(int(np.argmax(difference)), difference.shape) if difference.size else ()
    overall = numbers(candidate, reference, error)
    row = {
        "size": int(candidate.size),
        "difference": overall.difference,
        "resolution": float("nan") if overall.resolution is None else overall.resolution,
        "unexplained": float("nan") if overall.unexplained is None else overall.unexplained,
        "scale": least_squares_scale(candidate, reference),
        "max_abs_error": float(difference[worst]) if difference.size else 0.0,
        "worst_index": tuple(int(i) for i in worst),
        "candidate_value": float(candidate[worst]) if difference.size else float("nan"),
        "reference_value": float(reference[worst]) if difference.size else float("nan"),
    }
    if atol is not None and rtol is not None:
        failing = beyond_tolerance(candidate, reference, error, atol, rtol)
        row["failing"] = int(failing.sum())
        if failing.any():  # the element shown is the worst of those beyond the tolerances
            excess = np.where(failing, difference - (atol + rtol * np.abs(reference.astype(np.float64))), -np.inf)
            worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
            row.update(max_abs_error=float(difference[worst]), worst_index=tuple(int(i) for i in worst),
                       candidate_value=float(candidate[worst]), reference_value=float(reference[worst]))
    return row

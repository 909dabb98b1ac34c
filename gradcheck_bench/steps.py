"""Steps and tolerances by floating-point type: the one table the oracles and the verdict read.

Centered differences lose ``eps_mach * |J| / h`` to round-off and gain
``h^2 |J'''| / 6`` of truncation error; the two balance near
``h ~ eps_mach ** (1/3)``. The table keeps that step, rounded to a power of
two (so ``theta +- h`` is exact for most theta), and the threshold below which
a check passes. Measured with ``gradcheck-bench study`` (results/study/): in
float64 the default step gives 1e-11 on the seed case and at most 7e-10 on
random ReLU nets up to 4-30-30-1 with m = 100, so the exercise's 2e-7 keeps
a margin of ~300; in float32 plain differences reach 1e-5 on the seed case
but ~1e-2 on wide nets with m = 100 (round-off of a mean over many examples,
and kinks crossed by the larger step), so float32 gets its own, looser
threshold and a warning that small bugs cannot be seen at that precision.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError


class LowPrecisionWarning(UserWarning):
    """A check runs below float64, so it uses a looser tolerance and can miss small bugs."""


@dataclass(frozen=True)
class DtypeTolerance:
    """What a check needs to know about one floating-point type."""

    dtype: np.dtype
    fd_step: float
    threshold: float
    note: str


TOLERANCES: dict[np.dtype, DtypeTolerance] = {
    np.dtype(np.float64): DtypeTolerance(
        np.dtype(np.float64), 2.0**-17, 2e-7,
        "cube root of 2.2e-16 is 6.1e-6; threshold as in the exercise",
    ),
    np.dtype(np.float32): DtypeTolerance(
        np.dtype(np.float32), 2.0**-8, 5e-2,
        "cube root of 1.2e-7 is 4.9e-3; fd reaches only ~1e-2 on wide nets in float32",
    ),
}
"""dtype -> default finite-difference step and pass threshold."""


def point_dtype(params: dict[str, Any]) -> np.dtype:
    """The least precise floating type among the parameters (that one limits the check)."""
    dtypes = {np.dtype(getattr(value, "dtype", np.float64)) for value in params.values()}
    for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        if dtype in dtypes:
            lowest = dtype
            break
    else:
        lowest = next(iter(dtypes), np.dtype(np.float64))
    if lowest not in TOLERANCES:
        raise InputError(
            f"no step or tolerance is known for dtype {lowest}; use float64 (or float32): "
            "params = {k: v.astype(np.float64) for k, v in params.items()}."
        )
    return lowest


def tolerance_for(params: dict[str, Any]) -> DtypeTolerance:
    """The table's row for the parameters' precision."""
    return TOLERANCES[point_dtype(params)]


def default_step(params: dict[str, Any]) -> float:
    """The automatic finite-difference step for these parameters' dtype."""
    return tolerance_for(params).fd_step


def default_threshold(params: dict[str, Any]) -> float:
    """The pass threshold for these parameters' dtype."""
    return tolerance_for(params).threshold


def warn_if_low_precision(params: dict[str, Any]) -> None:
    """Warn, once per call site, when the parameters are float32."""
    tolerance = tolerance_for(params)
    if tolerance.dtype != np.dtype(np.float64):
        warnings.warn(
            f"checking gradients in {tolerance.dtype}: using step {tolerance.fd_step:g} and "
            f"threshold {tolerance.threshold:g} from the dtype table; bugs smaller than that "
            "cannot be told from round-off. Check in float64 (or with the complex-step oracle) "
            "to see small errors.",
            LowPrecisionWarning,
            stacklevel=3,
        )

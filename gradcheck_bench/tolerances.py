"""Tolerances by floating-point type: the one table the oracles' steps and the verdict read.

Each row says, for one parameter dtype, the finite-difference oracle's relative
step, Richardson's coarsest step and the verdict's threshold. A check runs at
the least precise dtype among its parameters (:func:`point_dtype`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError


class LowPrecisionWarning(UserWarning):
    """A check runs below float64, so it judges against a coarser precision and can miss small bugs."""


@dataclass(frozen=True)
class DtypeTolerance:
    """What a check needs to know about one floating-point type.

    ``fd_step`` is the relative step ``base``; ``richardson_step`` the
    coarsest relative step of the Richardson sequence; ``threshold`` the
    verdict's relative difference below which a check passes, before the
    oracle's own resolution is taken into account (see :mod:`.check`).
    """

    dtype: np.dtype
    fd_step: float
    richardson_step: float
    threshold: float
    note: str
    hvp_step: float = 2.0**-13
    """The relative step of each of the two differences a Hessian-vector product nests (their round-off
    ``eps |J| / h^2`` and truncation ``h^2`` balance near ``eps ** (1/4)``)."""

    @property
    def eps(self) -> float:
        """Machine epsilon of the type."""
        return float(np.finfo(self.dtype).eps)


TOLERANCES: dict[np.dtype, DtypeTolerance] = {
    np.dtype(np.float64): DtypeTolerance(
        np.dtype(np.float64), 2.0**-17, 2.0**-6, 2e-7,
        "cube root of 2.2e-16 is 6.1e-6; threshold as in the exercise",
    ),
    np.dtype(np.float32): DtypeTolerance(
        np.dtype(np.float32), 2.0**-8, 2.0**-3, 1e-4,
        "cube root of 1.2e-7 is 4.9e-3; raised to what the oracle can resolve at the point", 2.0**-5,
    ),
}
"""dtype -> default relative steps and pass threshold."""


def point_dtype(params: dict[str, Any]) -> np.dtype:
    """The least precise floating type among the parameters (that one limits the check)."""
    dtypes = {np.dtype(getattr(value, "dtype", np.float64)) for value in params.values()}
    for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        if dtype in dtypes:
            return dtype
    lowest = next(iter(dtypes), np.dtype(np.float64))
    raise InputError(
        f"no step or tolerance is known for dtype {lowest}; use float64 (or float32): "
        "params = {k: v.astype(np.float64) for k, v in params.items()}."
    )


def tolerance_for(params: dict[str, Any]) -> DtypeTolerance:
    """The table's row for the parameters' precision."""
    return TOLERANCES[point_dtype(params)]


def default_threshold(params: dict[str, Any]) -> float:
    """The pass threshold for these parameters' dtype."""
    return tolerance_for(params).threshold


def warn_if_low_precision(params: dict[str, Any]) -> None:
    """Warn, once per call site, when the parameters are float32."""
    tolerance = tolerance_for(params)
    if tolerance.dtype != np.dtype(np.float64):
        warnings.warn(
            f"checking gradients in {tolerance.dtype}: steps of {tolerance.fd_step:g} relative to each "
            "parameter, and a verdict against what the oracle can resolve at that precision; bugs smaller "
            "than that cannot be told from round-off. Check in float64 (or with the complex-step oracle) "
            "to see small errors.",
            LowPrecisionWarning,
            stacklevel=3,
        )

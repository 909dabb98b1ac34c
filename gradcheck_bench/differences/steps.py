"""The step of every coordinate, and the round-off a difference over it carries.

Centered differences lose about ``eps_mach * |J| / h`` to round-off and gain
``h^2 |J'''| / 6`` of truncation error; the two balance near
``h ~ eps_mach ** (1/3)`` *relative to the scale on which J varies*. The
parameters' own magnitude is the best cheap guess of that scale, so the
default step of coordinate ``i`` is

    h_i = base * 2 ** floor(log2(max(|theta_i|, s)))

with ``base`` from the dtype table (:mod:`gradcheck_bench.tolerances`; 2^-17 in float64, near the cube root of
2.2e-16) and ``s`` the root-mean-square of all parameters (1 when they are
all zero), so a coordinate at or near zero steps on the parameters' common
scale. That floor is shared rather than per tensor because a cost varies
along a small parameter on the scale of the large ones it adds to (an MLP's
biases shift pre-activations made by its weights): a bias-sized step there
only adds round-off. Rounding to a power of two keeps ``theta_i +- h_i`` exact
in binary floating point. ``gradcheck-bench study`` (results/study/) measures the step
against the error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..ravel import flat_values, parameter_count
from ..tolerances import TOLERANCES, tolerance_for


CONDITION = 1.0
"""How many machine epsilons of |J| a computed cost is taken to be off by (its round-off). An
estimate, not a bound: where it matters most (below float64) the oracle also measures its error
with a second step, which sees round-off that this misses (``gradcheck-bench study`` measures
false failures and detection with it)."""

def relative_steps(params: dict[str, Any], base: float) -> np.ndarray:
    """Per coordinate (ravel order), ``base`` times a power of two at ``max(|theta_i|, rms of all)``."""
    everything = np.abs(flat_values(params).astype(np.float64, copy=False)) if params else np.zeros(0)
    scale = np.maximum(everything, root_mean_square(everything) or 1.0)
    return base * np.exp2(np.floor(np.log2(scale)))


def root_mean_square(values: np.ndarray) -> float:
    """sqrt(mean(values^2)), computed without overflow; 0 for an empty or all-zero array."""
    largest = float(np.max(values, initial=0.0))
    if largest == 0 or not np.isfinite(largest):
        return 0.0
    scaled = np.ravel(values) / largest  # at most 1: its squares cannot overflow
    return largest * float(np.sqrt(scaled @ scaled / scaled.size))


def default_steps(params: dict[str, Any]) -> np.ndarray:
    """The finite-difference oracle's default step of every coordinate."""
    return relative_steps(params, tolerance_for(params).fd_step)


def default_step(params: dict[str, Any]) -> float:
    """One step for a probe along a direction mixing all coordinates: ``base`` at the parameters' scale."""
    values = np.concatenate([np.abs(np.ravel(np.asarray(v, dtype=np.float64))) for v in params.values()])
    scale = root_mean_square(values) or 1.0
    return tolerance_for(params).fd_step * float(np.exp2(np.floor(np.log2(scale))))


def rounding_error(cost: float, precision: np.dtype, steps: np.ndarray, noise: float = 0.0) -> np.ndarray:
    """``CONDITION * eps * |J| / h``, or the cost's measured round-off over ``h`` where that is larger: what the
    cost's own round-off does to a difference over ``2h``."""
    modelled = CONDITION * float(np.finfo(precision).eps) * max(abs(cost), np.finfo(np.float64).tiny)
    return max(modelled, noise) / steps


def step_vector(eps: float | np.ndarray | None, params: dict[str, Any], precision: np.dtype) -> np.ndarray:
    """The step of every coordinate: ``eps`` as given (a float, or one per parameter), else the default rule."""
    n = parameter_count(params)
    if eps is None:
        return relative_steps(params, TOLERANCES[precision].fd_step)
    steps = np.asarray(eps, dtype=np.float64)
    if steps.ndim == 1 and steps.shape != (n,):
        raise InputError(f"eps must be a positive float or an array of shape ({n},), one step per parameter; "
                         f"got an array of shape {steps.shape}.")
    return np.broadcast_to(steps, (n,)).copy()

"""Differences at the edge of a cost's domain: a step that makes the cost raise, or return inf or NaN.

A cost with a domain (the log of a rate, a square root, a check that raises
``ValueError`` for ``x <= 0``) can be defined at the point and not at
``theta +- h e_i`` when a coordinate sits near the edge. A centered difference
there is not a number, and an exception from the user's cost would reach the
caller with no coordinate named. Instead, per coordinate whose step left the
domain:

1. ``smaller step``: the centered difference at ``h/8``, ``h/64``, ... until
   both sides stay inside; a coordinate near the edge of a domain is where the
   cost curves most, so its truncation error is measured with a second step
   and the step refined to balance it against round-off, as the oracle does
   where truncation dominates;
2. ``one-sided``: otherwise the second-order one-sided difference
   ``(-3 J0 + 4 J(h) - J(2h)) / 2h`` on the side that stays inside, with a
   second step for its error bar;
3. otherwise an error that names the coordinate and what the cost said.

Every repaired coordinate is reported, so a verdict never rests on an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..counting import counted
from ..errors import GradCheckError, InputError
from ..models import Model, Params
from ..ravel import coordinate_name, ravel
from ..validation import scalar_cost

MAX_SHRINKS = 16
SHRINK_FACTOR = 8.0
ONE_SIDED_NOISE = 4.0


@dataclass(frozen=True)
class DomainRepair:
    """One coordinate whose step left the cost's domain, and what was done."""

    where: str
    action: str
    step: float
    said: str

    def describe(self) -> str:
        return f"{self.where}: the cost {self.said} at a step of the difference; {self.action} (step {self.step:.2g})"


def outside(cost: Callable[[Params], float], params: Params) -> tuple[float, str | None]:
    """The cost at ``params``, or NaN and what went wrong (an exception, or a value that is not finite)."""
    try:
        with np.errstate(all="ignore"):
            value = cost(params)
    except GradCheckError:
        raise
    except Exception as error:  # noqa: BLE001 - the user's cost raising outside its domain is what this handles
        return float("nan"), f"raised {type(error).__name__}: {str(error)[:120]}"
    return (value, None) if np.isfinite(value) else (float("nan"), f"returned {value}")


def repair(model: Model, params: Params, X: Any, Y: Any, indices: np.ndarray, steps: np.ndarray,
           at_point: float, rounding: float) -> tuple[np.ndarray, np.ndarray, list[DomainRepair]]:
    """Differences of the coordinates ``indices`` whose centered difference left the domain.

    ``rounding`` is the cost's own round-off (``eps |J|``). Returns their values, their error bars
    (round-off and truncation), and what was done.
    """
    flat, unravel = ravel(params)
    function = counted(model.cost)

    def cost_at(vector: np.ndarray) -> tuple[float, str | None]:
        return outside(lambda p: scalar_cost(function(p, X, Y)), unravel(vector))

    values, noise = np.empty(indices.size), np.empty(indices.size)
    repairs: list[DomainRepair] = []
    for j, (i, h) in enumerate(zip(indices, steps)):
        unit = np.zeros_like(flat)
        unit[i] = 1.0
        said = ""
        step = float(h)
        for _ in range(MAX_SHRINKS):
            step /= SHRINK_FACTOR
            (plus, first), (minus, second) = cost_at(flat + step * unit), cost_at(flat - step * unit)
            said = first or second or said
            if first is None and second is None:
                values[j], noise[j], step = _refined(cost_at, flat, unit, step, (plus - minus) / (2 * step), rounding)
                repairs.append(DomainRepair(coordinate_name(params, int(i)), "smaller step", step, said))
                break
        else:
            found = _one_sided(cost_at, flat, unit, float(h), at_point, rounding)
            if found is None:
                raise InputError(
                    f"the cost is not defined on either side of {coordinate_name(params, int(i))} within a step of "
                    f"{h:.2g} (it {said}): the point sits at the edge of the cost's domain; move it inside (e.g. "
                    "away from 0 under a log or a square root) or give a smaller eps."
                )
            values[j], noise[j], sign = found
            repairs.append(DomainRepair(coordinate_name(params, int(i)),
                                        f"one-sided ({'forward' if sign > 0 else 'backward'})", float(h), said))
    return values, noise, repairs


def _refined(cost_at: Callable[[np.ndarray], tuple[float, str | None]], flat: np.ndarray, unit: np.ndarray,
             step: float, value: float, rounding: float) -> tuple[float, float, float]:
    """The centered difference near a domain's edge at the step that balances truncation and round-off.

    ``D(s) - D(s/2)`` gives the truncation ``T`` at ``s``; with round-off ``R = rounding / s`` the error at a
    step ``t`` is about ``R s / t + T (t / s)^2``, smallest at ``t = s (R / 2T)^(1/3)`` (never above ``s``).
    Returns the value, its error bar and the step taken.
    """
    def centered(t: float) -> float:
        (plus, first), (minus, second) = cost_at(flat + t * unit), cost_at(flat - t * unit)
        return (plus - minus) / (2 * t) if first is None and second is None else float("nan")

    half = centered(step / 2)
    truncation = abs(value - half) * 4 / 3 if np.isfinite(half) else abs(value)
    noise = rounding / step
    if truncation <= noise:
        return value, max(noise, truncation), step
    best = step * float(np.cbrt(noise / (2 * truncation)))
    better = centered(best)
    if not np.isfinite(better):
        return value, truncation, step
    return better, noise * step / best + truncation * (best / step) ** 2, best


def _one_sided(cost_at: Callable[[np.ndarray], tuple[float, str | None]], flat: np.ndarray, unit: np.ndarray,
               h: float, at_point: float, rounding: float) -> tuple[float, float, float] | None:
    """``(-3 J0 + 4 J(sh) - J(2sh)) / 2sh`` on the first side ``s`` that stays inside the domain, its error bar
    (round-off, and the truncation a second step at ``h/2`` measures), and ``s``."""
    def one_sided(sign: float, t: float) -> float | None:
        (near, first), (far, second) = cost_at(flat + sign * t * unit), cost_at(flat + 2 * sign * t * unit)
        return None if first or second else sign * (-3 * at_point + 4 * near - far) / (2 * t)

    for sign in (1.0, -1.0):
        value = one_sided(sign, h)
        if value is not None:
            half = one_sided(sign, h / 2)
            truncation = abs(value) if half is None else abs(value - half) * 4 / 3
            return value, max(ONE_SIDED_NOISE * rounding / h, truncation), sign
    return None


def tolerant_costs(model: Model, params: Params, X: Any, Y: Any, indices: np.ndarray,
                   steps: np.ndarray) -> np.ndarray:
    """The ``(2, k)`` costs at ``theta +- steps`` one coordinate at a time, NaN where the cost is not defined
    (the fallback when an engine's run met a cost that raised)."""
    flat, unravel = ravel(params)
    function = counted(model.cost)
    costs = np.empty((2, indices.size))
    for j, (i, h) in enumerate(zip(indices, steps)):
        for side, sign in enumerate((1.0, -1.0)):
            moved = flat.copy()
            moved[i] += sign * h
            costs[side, j] = outside(lambda p: scalar_cost(function(p, X, Y)), unravel(moved))[0]
    return costs


def summarize(repairs: list[DomainRepair], shown: int = 5) -> tuple[str, ...]:
    """Notes for a check's summary: how many coordinates left the domain, and the first few."""
    if not repairs:
        return ()
    lines = [f"{len(repairs)} difference(s) stepped outside the cost's domain and were redone:"]
    lines += [f"  {repair.describe()}" for repair in repairs[:shown]]
    if len(repairs) > shown:
        lines.append(f"  ... and {len(repairs) - shown} more")
    return tuple(lines)

"""Checks on what goes into a gradient check and what comes out of a source.

Each check raises an :class:`~gradcheck_bench.errors.GradCheckError` whose
message names the offending tensor (and element, or example) and says what to
do. None of them modifies its arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .counting import counted
from .errors import GradCheckError, InputError, NondeterministicCostError, NonFiniteLossError, SourceError
from .models import Params


def _first_nonfinite(array: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])


def is_positive_number(value: Any) -> bool:
    """A real, finite, strictly positive number, Python or NumPy (a step, a threshold); bools are not numbers here."""
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and bool(np.isfinite(value)) and bool(value > 0))


def is_count(value: Any, smallest: int = 1) -> bool:
    """An integer (Python or NumPy; bools are not counts here) of at least ``smallest``: a size, a seed count."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and bool(value >= smallest)


def positive_number_from_text(text: str) -> float:
    """``"1e-6"`` -> 1e-6 (a flag's value), refusing what :func:`is_positive_number` refuses."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"expected a number, got {text!r}") from None
    if not is_positive_number(value):
        raise InputError(f"must be a positive finite number, got {text!r}")
    return value


def count_from_text(text: str, smallest: int = 1) -> int:
    """``"16"`` -> 16 (a flag's value), refusing what :func:`is_count` refuses."""
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"expected a whole number, got {text!r}") from None
    if not is_count(value, smallest):
        raise InputError(f"must be at least {smallest}, got {text!r}")
    return value


def validate_threshold(threshold: Any) -> float:
    """The verdict's threshold must be a positive number."""
    if not is_positive_number(threshold):
        raise InputError(f"threshold must be a positive number, got {threshold!r}; the exercise uses 2e-7.")
    return float(threshold)


def require_float_array(value: Any, name: str) -> np.ndarray:
    """``value`` must be a real floating-point NumPy array with only finite entries."""
    if type(value) is np.ndarray and value.dtype.kind == "f" and np.isfinite(value).all():
        return value  # the common case in one step; the checks below say what is wrong otherwise
    if not isinstance(value, np.ndarray):
        raise InputError(
            f"{name} must be a NumPy array, got {type(value).__name__}; "
            f"wrap it with np.asarray({name}, dtype=np.float64)."
        )
    if not np.issubdtype(value.dtype, np.floating):
        raise InputError(
            f"{name} has dtype {value.dtype}, but gradients need real floating point; "
            f"convert it with {name}.astype(np.float64)."
        )
    if not np.all(np.isfinite(value)):
        raise InputError(
            f"{name} contains a non-finite value ({value[_first_nonfinite(value)]} at index "
            f"{list(_first_nonfinite(value))}); a gradient check needs a finite point."
        )
    return value


def validate_params(params: Any) -> Params:
    """``params`` must be a non-empty mapping of names to finite float arrays.

    A NumPy floating scalar (``np.float64(2.0)``) is taken as the 0-d array it
    stands for. Returns a new dict; the arrays are the caller's.
    """
    if not isinstance(params, Mapping) or not params:
        raise InputError(
            "params must be a non-empty dict of name -> float array, "
            f"got {type(params).__name__}."
        )
    checked: Params = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise InputError(f"parameter names must be strings, got {name!r}.")
        checked[name] = require_float_array(as_array(value), f"params[{name!r}]")
    return checked


def as_array(value: Any) -> Any:
    """A NumPy scalar as its 0-d array; anything else unchanged."""
    return np.asarray(value) if isinstance(value, np.generic) else value


def validate_data(X: Any, Y: Any) -> None:
    """X must be a finite float array; Y too, or None for models without labels."""
    require_float_array(X, "X")
    if Y is not None:
        require_float_array(Y, "Y")


def require_names(names: list[str], returned: list[str], source: str) -> None:
    """A source must return exactly one value per parameter: the error names what is missing and what is extra."""
    missing = [name for name in names if name not in returned]
    extra = [name for name in returned if name not in names]
    if missing or extra:
        raise SourceError(
            f"gradient source {source!r} returned the wrong parameters (missing: {missing or 'none'}; "
            f"unexpected: {extra or 'none'}); it must return exactly {names}."
        )


def validate_gradient(gradient: Any, params: Params, source: str) -> Params:
    """A source's output must hold exactly one finite float array per parameter, same shape."""
    if not isinstance(gradient, Mapping):
        raise SourceError(
            f"gradient source {source!r} returned {type(gradient).__name__}, not a dict; "
            "a source must return {name: np.ndarray} with one entry per parameter."
        )
    require_names(list(params), list(gradient), source)
    for name in params:
        value = as_array(gradient[name])
        if type(value) is np.ndarray and value.shape == np.shape(params[name]) and value.dtype.kind == "f" \
                and np.isfinite(value).all():
            continue  # the common case, checked in one step; the rest say what is wrong
        if not isinstance(value, np.ndarray):
            raise SourceError(
                f"gradient source {source!r} returned {type(value).__module__}."
                f"{type(value).__name__} for {name!r}; return a NumPy array "
                "(torch: t.detach().cpu().numpy(); jax: np.asarray(a))."
            )
        if value.shape != np.shape(params[name]):
            raise SourceError(
                f"gradient source {source!r} returned {name!r} with shape {value.shape}, "
                f"but the parameter has shape {np.shape(params[name])}; "
                "a gradient has the shape of its parameter."
            )
        if not np.issubdtype(value.dtype, np.floating):
            raise SourceError(
                f"gradient source {source!r} returned {name!r} with dtype {value.dtype}; "
                "return real floating-point arrays."
            )
        if not np.all(np.isfinite(value)):
            index = list(_first_nonfinite(value))
            raise SourceError(
                f"gradient source {source!r} returned a non-finite value in {name!r} at "
                f"index {index} ({value[tuple(index)]}); the source is broken at this point."
            )
    return {name: as_array(gradient[name]) for name in params}


def scalar_cost(value: Any) -> float:
    """The float of a cost's value; a non-scalar cost is an error, not a silent sum."""
    return float(cost_array(value).reshape(()))


def cost_array(value: Any) -> np.ndarray:
    """A cost's value as a NumPy array of one real number, keeping its dtype (torch and jax included)."""
    if hasattr(value, "detach"):  # a torch tensor, possibly with requires_grad
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = None
    if array is None or array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise InputError(f"the cost must return a real number, got {type(value).__name__} {value!r:.80}.")
    if array.size != 1 or array.ndim > 2:
        raise InputError(
            f"the cost must return a scalar, got an array of shape {tuple(array.shape)}; "
            "reduce it (e.g. with .mean()) inside the cost function."
        )
    if np.iscomplexobj(array):
        raise InputError(f"the cost must return a real number, got the complex {array.reshape(())!r}.")
    return array


BELOW_FLOAT32 = 2.0**-35
"""A relative move far below float32's resolution (2^-24) and far above float64's (2^-53)."""
ABOVE_FLOAT32 = 2.0**-20
"""A relative move that float32 resolves."""


@dataclass(frozen=True)
class CostAtPoint:
    """The cost at the point, and the precision its values carry (float64, or float32 when it has less)."""

    value: float
    precision: np.dtype
    noise: float = 0.0
    """The cost's round-off where it was measured (:func:`measured_noise`); 0 where it was not."""


def require_finite_cost(
    cost: Callable[..., Any], params: Params, X: Any, Y: Any, *, deterministic: bool = True
) -> float:
    """Evaluate the cost at the point: it must be a finite scalar, and (twice) deterministic.

    A cost that changes between two calls at the same point (fresh dropout
    masks, an unseeded sampler) turns finite differences into noise of size
    ``change / eps``; that is reported as such instead of as a gradient bug.
    The oracles, which rely on it, ask for ``deterministic=True`` (two passes).
    """
    return cost_at_point(cost, params, X, Y, deterministic=deterministic, probe=False).value


def cost_at_point(
    cost: Callable[..., Any], params: Params, X: Any, Y: Any, *, deterministic: bool = True, probe: bool = True,
    first: float | None = None,
) -> CostAtPoint:
    """The cost at the point, checked finite and (with ``deterministic``) repeatable, and its precision.

    With ``probe`` and float64 parameters, a pass or two more tell a cost that
    only carries float32 precision: its value is float32 (the returned dtype
    says so), or it is a float32 number given back as a Python float that
    does not move when every parameter moves by far less than float32 can
    resolve but does when they move by more (a constant cost moves for neither).
    ``first``: the cost at the point as the caller already evaluated it. Below float64 parameters it is
    evaluated again all the same: a number handed on has lost the dtype that says what precision the cost
    carries (a float32 cost taken for a float64 one gets float64 steps, which float32 cannot resolve).
    """
    evaluate = counted(cost)
    if first is not None and not _params_float64(params):
        first = None
    with np.errstate(over="ignore", invalid="ignore"):
        output = cost_array(defined(evaluate, params, X, Y)) if first is None else np.asarray(first)
        value = float(output.reshape(()))
        second = scalar_cost(evaluate(params, X, Y)) if deterministic else value
    if not np.isfinite(value):
        raise NonFiniteLossError(
            f"the cost is {value} at this point; gradients are only checked where the cost is finite: "
            "scale the parameters or inputs down, or pick another point."
        )
    if abs(value - second) > 64 * np.finfo(np.float64).eps * max(abs(value), abs(second)):
        raise NondeterministicCostError(
            f"the cost is not deterministic: two evaluations at the same point gave {value!r} "
            f"and {second!r}. Finite differences of it would be noise of size |change|/eps, not "
            "a gradient; fix its randomness (seed it, hold dropout masks fixed) and check again."
        )
    float32_params = any(np.asarray(value).dtype == np.float32 for value in params.values())
    # the cost carries no more precision than its least precise parameter (a value handed in as a Python
    # float, ``first``, has lost its dtype)
    precision = np.dtype(np.float32) if output.dtype == np.float32 or float32_params else np.dtype(np.float64)
    if probe and precision == np.float64 and _params_float64(params) and _float32_number(value):
        if _probe(evaluate, params, X, Y, BELOW_FLOAT32) == value:
            after = _probe(evaluate, params, X, Y, ABOVE_FLOAT32)
            if after != value and _float32_number(after):
                precision = np.dtype(np.float32)
    return CostAtPoint(value, precision)


def defined(cost: Callable[..., Any], params: Params, X: Any, Y: Any) -> Any:
    """The cost at the point; an exception it raises there is a clear error, not a traceback from inside a check."""
    try:
        return cost(params, X, Y)
    except GradCheckError:
        raise
    except Exception as error:
        raise InputError(
            f"the cost raises at the point itself ({type(error).__name__}: {str(error)[:200]}); a derivative is "
            "checked only where the cost is defined: move the point inside its domain (e.g. away from 0 under a "
            "log or a square root) and check again."
        ) from error


NOISE_STEP = 2.0**-17
"""The relative spacing of the noise probe's points: the finite-difference oracle's own step."""
NOISE_POINTS = 8


def measured_noise(cost: Callable[..., Any], params: Params, X: Any, Y: Any, value: float) -> float:
    """The cost's own round-off at the point, measured as Moré and Wild's ECnoise does.

    The cost is evaluated at ``NOISE_POINTS`` equally spaced points along a random direction, spaced like the
    oracle's steps. The k-th differences of a smooth function shrink like ``step^k``, while those of its
    round-off keep their size (scaled by ``sqrt((2k)! / (k!)^2)``), so the smallest scaled difference of order
    3 to 6 is the noise. For most costs that is about ``eps |J|``; where the cost sums terms that dwarf it (a
    log-determinant of a matrix near the identity, terms that nearly cancel) it is far larger, and an error
    bar built on ``eps |J|`` would claim a resolution the oracle does not have.
    """
    import math

    evaluate = counted(cost)
    rng = np.random.default_rng(1)
    everything = np.concatenate([np.ravel(np.abs(np.asarray(v, dtype=np.float64))) for v in params.values()])
    floor = float(np.sqrt(np.mean(everything**2))) or 1.0
    direction = {name: rng.choice([-1.0, 1.0], np.shape(v)) * NOISE_STEP * np.maximum(np.abs(v), floor)
                 for name, v in params.items()}
    try:
        with np.errstate(all="ignore"):
            values = np.array([value] + [scalar_cost(evaluate({name: v + i * direction[name]
                                                               for name, v in params.items()}, X, Y))
                                         for i in range(1, NOISE_POINTS)])
    except GradCheckError:
        raise
    except Exception:  # noqa: BLE001 - the probe left the cost's domain: no measurement, the model stands
        return 0.0
    if not np.all(np.isfinite(values)):
        return 0.0
    estimates = []
    for order in range(1, 7):
        values = np.diff(values)
        if order >= 3:
            scale = math.factorial(order) ** 2 / math.factorial(2 * order)
            estimates.append(math.sqrt(scale * float(np.mean(values**2))))
    return min(estimates)


def _params_float64(params: Params) -> bool:
    return all(np.asarray(value).dtype == np.float64 for value in params.values())


def _float32_number(value: float) -> bool:
    """A nonzero number that float32 represents exactly (a float64 cost's value almost never is)."""
    if value == 0 or abs(value) > float(np.finfo(np.float32).max):  # beyond float32's range: not a float32 value
        return False
    return float(np.float32(value)) == value


def _probe(evaluate: Callable[..., Any], params: Params, X: Any, Y: Any, relative: float) -> float:
    """The cost after moving every parameter by ``relative`` times its size (fixed random signs)."""
    rng = np.random.default_rng(0)
    moved = {name: value + relative * np.maximum(np.abs(value), 1e-30) * rng.choice([-1.0, 1.0], np.shape(value))
             for name, value in params.items()}
    with np.errstate(over="ignore", invalid="ignore"):
        return scalar_cost(evaluate(moved, X, Y))

"""Checks on what goes into a gradient check and what comes out of a source.

Each check raises an :class:`~gradcheck_bench.errors.GradCheckError` whose
message names the offending tensor (and element, or example) and says what to
do. None of them modifies its arguments.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from .errors import InputError, NondeterministicCostError, NonFiniteLossError, SaturationWarning, SourceError
from .models import Params, mlp_cost, mlp_example_losses, mlp_forward


def _first_nonfinite(array: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])


def is_positive_number(value: Any) -> bool:
    """A real, finite, strictly positive number (a step, a threshold); bools are not numbers here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value)) and value > 0


def validate_threshold(threshold: Any) -> float:
    """The verdict's threshold must be a positive number."""
    if not is_positive_number(threshold):
        raise InputError(f"threshold must be a positive number, got {threshold!r}; the exercise uses 2e-7.")
    return float(threshold)


def require_float_array(value: Any, name: str) -> np.ndarray:
    """``value`` must be a real floating-point NumPy array with only finite entries."""
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
    """``params`` must be a non-empty mapping of names to finite float arrays."""
    if not isinstance(params, Mapping) or not params:
        raise InputError(
            "params must be a non-empty dict of name -> float array, "
            f"got {type(params).__name__}."
        )
    for name, value in params.items():
        if not isinstance(name, str):
            raise InputError(f"parameter names must be strings, got {name!r}.")
        require_float_array(value, f"params[{name!r}]")
    return dict(params)


def validate_data(X: Any, Y: Any) -> None:
    """X must be a finite float array; Y too, or None for models without labels."""
    require_float_array(X, "X")
    if Y is not None:
        require_float_array(Y, "Y")


def validate_gradient(gradient: Any, params: Params, source: str) -> Params:
    """A source's output must hold exactly one finite float array per parameter, same shape."""
    if not isinstance(gradient, Mapping):
        raise SourceError(
            f"gradient source {source!r} returned {type(gradient).__name__}, not a dict; "
            "a source must return {name: np.ndarray} with one entry per parameter."
        )
    missing = [name for name in params if name not in gradient]
    extra = [name for name in gradient if name not in params]
    if missing or extra:
        raise SourceError(
            f"gradient source {source!r} returned the wrong parameters "
            f"(missing: {missing or 'none'}; unexpected: {extra or 'none'}); "
            f"it must return exactly {list(params)}."
        )
    for name in params:
        value = gradient[name]
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
    return {name: gradient[name] for name in params}


def scalar_cost(value: Any) -> float:
    """The float of a cost's value; a non-scalar cost is an error, not a silent sum."""
    if np.size(value) != 1 or np.ndim(value) > 2:
        raise InputError(
            f"the cost must return a scalar, got an array of shape {np.shape(value)}; "
            "reduce it (e.g. with .mean()) inside the cost function."
        )
    try:
        return float(np.asarray(value).reshape(()))
    except (TypeError, ValueError):
        raise InputError(
            f"the cost must return a real number, got {type(value).__name__} {value!r}."
        ) from None


def require_finite_cost(
    cost: Callable[[Params, Any, Any], Any], params: Params, X: Any, Y: Any, *, deterministic: bool = True
) -> float:
    """Evaluate the cost at the point: it must be a finite scalar, and (twice) deterministic.

    A cost that changes between two calls at the same point (fresh dropout
    masks, an unseeded sampler) turns finite differences into noise of size
    ``change / eps``; that is reported as such instead of as a gradient bug.
    The oracles, which rely on it, ask for ``deterministic=True`` (two passes).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        first = scalar_cost(cost(params, X, Y))
        second = scalar_cost(cost(params, X, Y)) if deterministic else first
    if not np.isfinite(first):
        raise NonFiniteLossError(
            f"the cost is {first} at this point{_nonfinite_examples(cost, params, X, Y)}; gradients "
            "are only checked where the cost is finite: scale the parameters or inputs down, "
            "or pick another point."
        )
    if abs(first - second) > 64 * np.finfo(np.float64).eps * max(abs(first), abs(second)):
        raise NondeterministicCostError(
            f"the cost is not deterministic: two evaluations at the same point gave {first!r} "
            f"and {second!r}. Finite differences of it would be noise of size |change|/eps, not "
            "a gradient; fix its randomness (seed it, hold dropout masks fixed) and check again."
        )
    return first


def _nonfinite_examples(cost: Callable[[Params, Any, Any], Any], params: Params, X: Any, Y: Any) -> str:
    """For the MLP cost, which examples' losses are non-finite (else nothing to add)."""
    if cost is not mlp_cost:
        return ""
    with np.errstate(over="ignore", invalid="ignore"):
        losses = np.ravel(mlp_example_losses(params, X, Y))
    bad = [int(i) for i in np.flatnonzero(~np.isfinite(losses))]
    return f" (the loss of example(s) {bad} is non-finite: the activations overflow there)"


def warn_if_output_saturates(params: Params, X: np.ndarray, Y: np.ndarray) -> None:
    """Warn where the sigmoid output rounds to the wrong label's 0 or 1.

    There ``log(A)`` or ``log(1 - A)`` of the textbook formula would be
    ``-inf``. The harness's cost (``softplus(Z) - Y*Z``) stays finite and
    exact, but a reader comparing with the textbook formula should know.
    """
    logits = mlp_forward(params, X).logits
    limit = -np.log(np.finfo(logits.dtype).eps)  # beyond this, sigmoid rounds to 0 or 1
    wrong_side = ((logits > limit) & (Y == 0)) | ((logits < -limit) & (Y == 1))
    if wrong_side.any():
        examples = [int(i) for i in np.flatnonzero(wrong_side.any(axis=0))]
        warnings.warn(
            f"the output sigmoid saturates against the label on example(s) {examples[:10]} "
            f"(|Z| > {limit:.1f}): the textbook log(A), log(1 - A) would be -inf there. "
            "This harness uses the stable form softplus(Z) - Y*Z, so the cost and the check "
            "stay finite and exact; scale the weights down if this point is not intended.",
            SaturationWarning,
            stacklevel=3,
        )

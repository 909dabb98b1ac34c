"""The complex-step oracle: a derivative with no subtractive cancellation.

For a cost that is analytic in each parameter,

    dJ/dtheta_k = Im J(theta + i h e_k) / h + O(h^2),

and no two nearly equal numbers are ever subtracted, so ``h`` can be tiny
(1e-20 by default) and the truncation error vanishes below round-off: the
result agrees with exact differentiation to machine precision. One complex
forward pass per parameter (n passes, not 2n).

The cost must accept complex parameters and stay analytic: the MLP cost does
(``models.relu`` and the softplus decide their branch on the real part, which
the imaginary perturbation never moves, so the oracle is also immune to
ReLU kinks). A cost that calls ``abs``, ``max`` or compares complex values,
or casts to float, is not complex-safe; such a cost is rejected with an error
when it returns a real number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import InputError, SourceError
from ..flatten import ravel
from ..models import Model, Params, mlp_cost
from ..validation import is_positive_number, require_finite_cost
from .registry import SourceSpec

Cost = Callable[[Params, Any, Any], Any]

DEFAULT_COMPLEX_STEP = 1e-20
"""Far below any truncation error and far above the smallest normal number,
in complex128 and complex64 alike."""

_COMPLEX_OF = {np.dtype(np.float64): np.complex128, np.dtype(np.float32): np.complex64}


def complex_dtype_for(params: Params) -> type:
    """complex64 for all-float32 parameters (to study float32), complex128 otherwise."""
    dtypes = {np.dtype(value.dtype) for value in params.values()}
    return np.complex64 if dtypes == {np.dtype(np.float32)} else np.complex128


@dataclass(frozen=True)
class ComplexStep:
    """A gradient source: ``Im J(theta + i h e_k) / h`` for every coordinate k."""

    cost: Cost = mlp_cost
    h: float = DEFAULT_COMPLEX_STEP
    name: str = "complex-step"

    def __post_init__(self) -> None:
        if not callable(self.cost):
            raise InputError(f"complex_step() needs a callable cost (params, X, Y) -> number, got {self.cost!r}.")
        if not is_positive_number(self.h):
            raise InputError(f"the complex step h must be a positive finite number, got {self.h!r}; try 1e-20.")

    def __call__(self, params: Params, X: Any, Y: Any) -> Params:
        require_finite_cost(self.cost, params, X, Y)
        flat, unravel = ravel(params)
        point_vector = flat.astype(complex_dtype_for(params))
        point = unravel(point_vector)  # views: perturbing point_vector[k] perturbs the dict
        gradient = np.empty(flat.size, dtype=np.float64)
        for k in range(flat.size):
            point_vector[k] = flat[k] + 1j * self.h
            gradient[k] = self._imaginary_part(self.cost(point, X, Y)) / self.h
            point_vector[k] = flat[k]
        return {name: value.astype(params[name].dtype) for name, value in unravel(gradient).items()}

    def _imaginary_part(self, value: Any) -> float:
        value = np.asarray(value)
        if value.size != 1:
            raise InputError(f"the cost must return a scalar, got shape {value.shape}.")
        if not np.iscomplexobj(value):
            raise SourceError(
                "the cost returned a real number for complex parameters, so the complex step "
                "cannot see its derivative: the cost casts to float or uses abs/max/comparisons "
                "on complex values. Make it complex-safe (decide branches on .real) or use 'fd'."
            )
        return float(value.reshape(()).imag)

    def forward_passes(self, params: Params) -> int:
        """One complex pass per parameter, plus one real pass to check the cost is finite."""
        return sum(int(np.size(value)) for value in params.values()) + 1


def complex_step(cost: Cost | None = None, *, h: float = DEFAULT_COMPLEX_STEP) -> ComplexStep:
    """The complex-step oracle for ``cost`` (the MLP cost if none is given)."""
    return ComplexStep(cost=mlp_cost if cost is None else cost, h=h)


def _complex_step_for_model(model: Model, h: float = DEFAULT_COMPLEX_STEP) -> ComplexStep:
    return ComplexStep(cost=model.cost, h=h)


SOURCES = [
    SourceSpec(
        name="complex-step",
        factory=_complex_step_for_model,
        description="complex-step differentiation Im J(theta + ih e_k)/h (n complex forward passes)",
        kind="oracle",
        models=("mlp", "linear1d"),
    ),
]

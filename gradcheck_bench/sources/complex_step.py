"""The complex-step oracle: a derivative with no subtractive cancellation.

For a cost that is analytic in each parameter,

    dJ/dtheta_k = Im J(theta + i h e_k) / h + O(h^2),

and no two nearly equal numbers are ever subtracted, so ``h`` can be tiny
(1e-20 by default) and the truncation error vanishes below round-off: the
result agrees with exact differentiation to machine precision. One complex
forward pass per parameter (n passes, not 2n).

The cost must accept complex parameters and stay analytic: the MLP cost does
(``relu`` and the softplus decide their branch on the real part, which the
imaginary perturbation never moves, so the oracle is also immune to ReLU
kinks). A model declares ``complex_safe=False`` when its cost is not (it calls
``abs``, ``max``, compares complex values or casts to float); for a cost that
says nothing, a real value returned for complex parameters is caught with an
error that says why.

Its error estimate is the round-off of the complex evaluation: no difference is
taken, so a few machine epsilons of each value (the truncation ``h^2`` term is
below that for the default ``h``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..counting import counted
from ..errors import InputError, SourceError
from ..differences.vector import jacobian_blocks, projected_model, split_output, without
from ..gradient import Gradient
from ..kinds import GRADIENT, JACOBIAN, JVP, VJP, Request, get_kind
from ..point import OUTPUT, Point
from ..source import GradientSource
from ..models import DEFAULT_MODEL, Model, Params, cost_model, get_model
from ..ravel import leaves_by_path, ravel, unravelled_copy
from ..validation import cost_array, is_positive_number, require_finite_cost
from .registry import SourceSpec

if TYPE_CHECKING:
    from ..analyticity import Analyticity

ROUND_OFF_EPS = 4.0
"""Machine epsilons of |value| taken as the complex step's error (one complex pass, no cancellation)."""

DEFAULT_COMPLEX_STEP = 1e-20
"""Far below any truncation error and far above the smallest normal number,
in complex128 and complex64 alike."""

COMPLEX_STEP_KINDS = frozenset({GRADIENT, JACOBIAN, JVP, VJP})
"""No Hessian-vector product: the complex step gives first derivatives only."""

_COMPLEX_OF = {np.dtype(np.float64): np.complex128, np.dtype(np.float32): np.complex64}


def complex_dtype_for(params: Params) -> type:
    """complex64 for all-float32 parameters (to study float32), complex128 otherwise."""
    dtypes = {np.dtype(value.dtype) for value in params.values()}
    return np.complex64 if dtypes == {np.dtype(np.float32)} else np.complex128


@dataclass(frozen=True)
class ComplexStep(GradientSource):
    """A gradient source: ``Im J(theta + i h e_k) / h`` for every coordinate k."""

    forward_only = True

    model: Model
    h: float = DEFAULT_COMPLEX_STEP
    name: str = "complex-step"

    def __post_init__(self) -> None:
        if not is_positive_number(self.h):
            raise InputError(f"the complex step h must be a positive finite number, got {self.h!r}; try 1e-20.")
        if not self.model.complex_safe:
            raise InputError(f"model {self.model.name!r} declares a cost that is not complex-safe "
                             "(complex_safe=False), so the complex step cannot differentiate it; use 'fd' or "
                             "'richardson'.")

    def for_model(self, model: Model) -> "ComplexStep":
        return replace(self, model=model)

    def settings(self) -> dict[str, str]:
        return {"h": str(self.h)}

    def gradient_at(self, point: Point) -> Gradient:
        params, X, Y = point.params, point.X, point.Y
        cost = counted(self.model.cost)
        value = require_finite_cost(cost, params, X, Y)
        from ..analyticity import probe  # loaded when a complex step first runs

        found = probe(self.model, params, X, Y, value, self.h, complex_dtype_for(params))
        if not found.applies:
            return self._instead(point, Request(get_kind(GRADIENT)), found)
        flat, unravel = ravel(params)
        point_vector: np.ndarray = flat.astype(complex_dtype_for(params))
        gradient = np.empty(flat.size, dtype=np.float64)
        for k in range(flat.size):
            point_vector[k] = flat[k] + 1j * self.h
            gradient[k] = self._imaginary_part(cost(unravel(point_vector), X, Y)) / self.h
            point_vector[k] = flat[k]
        eps = float(np.finfo(point_vector.real.dtype).eps)
        return Gradient(tensors=unravelled_copy(unravel, gradient),
                        error=unravelled_copy(unravel, ROUND_OFF_EPS * eps * np.abs(gradient)))

    def provides(self) -> frozenset[str]:
        return COMPLEX_STEP_KINDS

    def _instead(self, point: Point, request: Request, found: "Analyticity") -> Gradient:
        """Where the cost is not analytic the complex step does not testify: the finite-difference oracle does.
        A cost that returns real numbers for complex parameters is refused: it is not written for them at all."""
        from ..differences.central import CentralDifference

        if found.real_valued:
            self._imaginary_part(0.0)  # raises the error that says what to do

        derivative = CentralDifference(self.model).derivative_at(point, request)
        said = (f"complex-step does not apply: {found.reason(self.model.name)}; the finite-difference oracle (fd) "
                "was used instead",)
        return replace(derivative, notes=said + derivative.notes)

    def derivative_at(self, point: Point, request: Request) -> Gradient:
        """Jacobian columns and the JVP as imaginary parts of complex passes (n, and 1); the VJP as the complex
        step's gradient of ``u . f``."""
        if request.name == "gradient":
            return self.gradient_at(point)
        if request.name in (JACOBIAN, JVP) and request.output is not None:  # probed through a random u . f
            from ..analyticity import PROBE_SEED, probe

            weights = {name: np.random.default_rng(PROBE_SEED).standard_normal(np.shape(value))
                       for name, value in request.output.values.items()}
            projected = projected_model(self.model, request.output, weights)
            value = float(require_finite_cost(counted(projected.cost), point.params, point.X, point.Y,
                                              deterministic=False))
            found = probe(projected, point.params, point.X, point.Y, value, self.h, complex_dtype_for(point.params))
            if not found.applies:
                return self._instead(point, request, found)
        if request.name == "vjp":
            assert request.output is not None and request.probe is not None
            derived = projected_model(self.model, request.output, request.probe)
            return replace(self, model=derived).gradient_at(without(point))
        if request.name not in COMPLEX_STEP_KINDS:
            return super().derivative_at(point, request)
        assert request.output is not None
        function = counted(self.model.function)
        flat, unravel = ravel(point.params)
        moved: np.ndarray = flat.astype(complex_dtype_for(point.params))
        eps = float(np.finfo(moved.real.dtype).eps)
        if request.name == "jvp":
            assert request.probe is not None
            tangent = np.concatenate([np.ravel(request.probe[name]) for name in point.names])
            product = self._imaginary_parts(function(unravel(moved + 1j * self.h * tangent), point.X, point.Y),
                                            request) / self.h
            return Gradient(tensors=split_output(product, request.output),
                            error=split_output(ROUND_OFF_EPS * eps * np.abs(product), request.output))
        matrix = None
        for k in range(flat.size):
            moved[k] = flat[k] + 1j * self.h
            column = self._imaginary_parts(function(unravel(moved), point.X, point.Y), request) / self.h
            moved[k] = flat[k]
            matrix = np.empty((column.size, flat.size)) if matrix is None else matrix
            matrix[:, k] = column
        assert matrix is not None
        return Gradient(tensors=jacobian_blocks(matrix, point, request.output),
                        error=jacobian_blocks(ROUND_OFF_EPS * eps * np.abs(matrix), point, request.output))

    def _imaginary_parts(self, returned: Any, request: Request) -> np.ndarray:
        """The imaginary parts of every output leaf, flattened in the output's order."""
        assert request.output is not None
        leaves = {OUTPUT: returned} if request.output.single else dict(leaves_by_path(returned))
        parts = []
        for name in request.output.names:
            value = leaves[name]
            value = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
            if not np.iscomplexobj(value):
                raise SourceError(f"the function of {self.model.name!r} returned real values for complex "
                                  "parameters, so the complex step cannot see its derivative; use 'fd'.")
            parts.append(np.ravel(value.imag).astype(np.float64))
        return np.concatenate(parts)

    def _imaginary_part(self, value: Any) -> float:
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        value = np.asarray(value)
        if not np.iscomplexobj(value):
            cost_array(value)  # a non-scalar or non-number says so first
            raise SourceError(
                f"the cost of {self.model.name!r} returned a real number for complex parameters, so the "
                "complex step cannot see its derivative: it casts to float or uses abs/max/comparisons on "
                "complex values. Make it complex-safe (decide branches on .real) or use 'fd'."
            )
        if value.size != 1:
            raise InputError(f"the cost must return a scalar, got shape {value.shape}.")
        return float(value.reshape(()).imag)


def complex_step(model: Model | str | Any = None, *, h: float = DEFAULT_COMPLEX_STEP) -> ComplexStep:
    """The complex-step oracle for a model or cost (None: :data:`~gradcheck_bench.models.DEFAULT_MODEL`)."""
    resolved = get_model(model or DEFAULT_MODEL) if model is None or isinstance(model, (str, Model)) else cost_model(model)
    return ComplexStep(model=resolved, h=h)


def _complex_step_for_model(model: Model, h: float = DEFAULT_COMPLEX_STEP) -> ComplexStep:
    return ComplexStep(model=model, h=h)


SOURCES = [
    SourceSpec(
        name="complex-step",
        factory=_complex_step_for_model,
        description="complex-step differentiation Im J(theta + ih e_k)/h (n complex forward passes)",
        kind="oracle",
        applies_to=lambda model: model.complex_safe,
        derivatives=lambda model: COMPLEX_STEP_KINDS,
        needs="a complex-safe cost of real parameters (its Model says complex_safe=False, or the parameters are complex)",
    ),
]

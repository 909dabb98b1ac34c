"""Is a cost complex-analytic at a point? The complex step's check of its own validity.

``Im J(theta + i h v) / h`` is the directional derivative only where ``J`` is
analytic. A cost that calls ``abs``, ``maximum``, ``sign``, ``conj``, takes a
norm or compares complex values still returns numbers for complex parameters,
but their imaginary parts are not derivatives, and an oracle built on them
would blame a correct gradient. So before it testifies the complex step
compares, along one random direction, its own directional derivative with a
real centered difference at two steps (whose disagreement is its error bar).
Where they disagree beyond the error bars the cost is not analytic here, and
the probe says so, naming the non-analytic operations a recording namespace
saw the cost call with complex arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any, Callable

import numpy as np

from .counting import counted
from .models import Model, Params
from .validation import scalar_cost

PROBE_SEED = 20_011
AGREEMENT_BARS = 10.0
"""The complex step's directional derivative must agree with the real one within this many error bars."""
RELATIVE_FLOOR = 1e-9
"""...or within this fraction of its size (the real difference's error bars can come out tiny by chance)."""
NON_ANALYTIC = ("abs", "absolute", "maximum", "minimum", "fmax", "fmin", "sign", "conj", "conjugate", "real",
                "imag", "angle", "clip", "round", "floor", "ceil", "norm", "max", "min", "sort", "argmax", "argmin")
"""Array functions that are not complex-analytic (``real`` and ``imag`` are fine for deciding a branch, but
not inside the value): the likely causes the probe names."""


@dataclass(frozen=True)
class Analyticity:
    """The probe's finding: whether the complex step applies, and if not, why."""

    applies: bool
    complex_derivative: float
    real_derivative: float
    error_bar: float
    suspects: tuple[str, ...] = ()
    real_valued: bool = False
    """The cost returned a real number for complex parameters (it casts to float): no imaginary part at all."""

    def reason(self, model_name: str) -> str:
        causes = ", ".join(self.suspects) if self.suspects else "abs, maximum, comparisons or conj"
        return (f"the cost of {model_name!r} is not complex-analytic here: along a random direction the complex "
                f"step gives {self.complex_derivative:.6g} and a real centered difference {self.real_derivative:.6g}"
                f" (+- {self.error_bar:.2g}); the likely cause is {causes} on complex values")


def probe(model: Model, params: Params, X: Any, Y: Any, cost_at_point: float, h: float,
          complex_dtype: type) -> Analyticity:
    """Compare the complex step's directional derivative with a real one along a random direction."""
    rng = np.random.default_rng(PROBE_SEED)
    names = list(params)
    direction = {name: rng.standard_normal(np.shape(params[name])) for name in names}
    cost = counted(model.cost)
    moved = {name: params[name].astype(complex_dtype) + 1j * h * direction[name] for name in names}
    complex_value = np.asarray(_numpy(cost(moved, X, Y)))
    complex_derivative = float(np.imag(complex_value.reshape(()))) / h if np.iscomplexobj(complex_value) else 0.0
    scale = float(np.sqrt(np.mean(np.concatenate([np.ravel(params[n]) ** 2 for n in names])))) or 1.0
    step = 2.0**-17 * 2.0 ** np.floor(np.log2(scale))

    def along(k: float) -> float:
        plus = {name: params[name] + k * direction[name] for name in names}
        minus = {name: params[name] - k * direction[name] for name in names}
        return (scalar_cost(cost(plus, X, Y)) - scalar_cost(cost(minus, X, Y))) / (2 * k)

    coarse, fine = along(step), along(step / 2)
    eps = float(np.finfo(np.float64).eps)
    error = max(abs(coarse - fine) * 4 / 3, eps * max(abs(cost_at_point), np.finfo(np.float64).tiny) / step)
    agrees = abs(complex_derivative - coarse) <= AGREEMENT_BARS * error + RELATIVE_FLOOR * abs(coarse)
    suspects = () if agrees else suspected_operations(model, moved, X, Y)
    return Analyticity(agrees, complex_derivative, coarse, error, suspects, not np.iscomplexobj(complex_value))


def suspected_operations(model: Model, moved: Params, X: Any, Y: Any) -> tuple[str, ...]:
    """The non-analytic functions the cost calls with complex arrays, seen through a recording namespace."""
    if not model.takes_xp:
        return ()
    seen: list[str] = []
    try:
        model.cost(moved, X, Y, xp=_recording(np, seen))
    except Exception:  # noqa: BLE001 - a hint only: a cost that fails under the recorder names nothing
        return ()
    return tuple(dict.fromkeys(seen))


def _recording(module: ModuleType, seen: list[str]) -> SimpleNamespace:
    """``module``'s functions, each noting its name in ``seen`` when called with a complex array."""
    def wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            if any(np.iscomplexobj(arg) for arg in args if isinstance(arg, (np.ndarray, np.generic, complex))):
                seen.append(name)
            return function(*args, **kwargs)
        return recorded

    names = {name: getattr(module, name) for name in dir(module) if not name.startswith("_")}
    wrapped = {name: wrap(name, value) if name in NON_ANALYTIC and callable(value) else value
               for name, value in names.items()}
    wrapped["linalg"] = _recording(module.linalg, seen) if module is np else names.get("linalg")
    return SimpleNamespace(**wrapped)


def _numpy(value: Any) -> Any:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value

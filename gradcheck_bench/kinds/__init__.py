"""Derivative kinds: what a check compares, one file per kind.

A kind says what a candidate is called with and returns, and what the check
draws for it (a tangent, a cotangent or a vector, from a seeded generator,
the same for candidate and reference):

=============  ==========================================  ============================  =========
kind           candidate                                   returns                       draws
=============  ==========================================  ============================  =========
``gradient``   ``(params, X, Y)``                          params-shaped                 nothing
``jacobian``   ``(params, X, Y)``                          ``out.shape + param.shape``   nothing
``jvp``        ``(params, X, Y, tangent)``                 output-shaped                 tangent
``vjp``        ``(params, X, Y, cotangent)``               params-shaped                 cotangent
``hvp``        ``(params, X, Y, vector)``                  params-shaped                 vector
=============  ==========================================  ============================  =========

Inside a check every derivative is a :class:`~gradcheck_bench.gradient.Gradient`:
named real arrays the one judge compares. Params-shaped derivatives are named
like the parameters; a Jacobian has one block per parameter (per output leaf
and parameter for a pytree output, ``out:param``), its leading axes the output's;
a JVP is named like the output's leaves (``output`` for a single array).

Each module of this package declares ``KIND = DerivativeKind(...)``; a new kind is one new file.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import InputError
from ..gradient import Gradient

if TYPE_CHECKING:
    from ..point import Output, Point

GRADIENT, JACOBIAN, JVP, VJP, HVP = "gradient", "jacobian", "jvp", "vjp", "hvp"
ALL_KINDS = frozenset({GRADIENT, JACOBIAN, JVP, VJP, HVP})
CHEAP_KINDS = (GRADIENT, JACOBIAN, VJP, HVP)
"""The kinds the cheap mode projects (a JVP is already one projection): :mod:`gradcheck_bench.projections`."""
DEFAULT_PROJECTIONS = 4
TANGENT, COTANGENT, VECTOR = "tangent", "cotangent", "vector"


@dataclass(frozen=True)
class DerivativeKind:
    """One kind of derivative a check can compare."""

    name: str
    description: str
    draws: str | None
    """What the check draws for it: ``tangent`` (params-shaped), ``cotangent`` (output-shaped),
    ``vector`` (params-shaped), or None."""
    params_shaped: bool
    """Whether the derivative has the parameters' shapes (named like them)."""
    scalar_output: bool
    """Whether the function must return one number (a gradient, a Hessian-vector product)."""
    forward_passes: str
    """What a finite-difference oracle spends on it, in words (docs/derivatives.md counts them)."""
    read: Callable[["Point", "Request", Any, str], Gradient] = field(repr=False, default=lambda *a: Gradient({}))
    """``read(point, request, returned, source)``: what a candidate returned, as the check's named arrays."""


@dataclass(frozen=True)
class Request:
    """What a check asks every source for: the kind, the function's output at the point, and the probe drawn
    for it (a tangent or vector named like the parameters, a cotangent named like the output), the same for
    candidate and reference."""

    kind: DerivativeKind
    output: "Output | None" = None
    probe: dict[str, np.ndarray] | None = None
    seed: int | None = None
    error_bars: bool = True
    """False where the caller judges the value alone (the cheap mode's projections): an oracle may then skip
    the passes that only its error bars need."""

    @property
    def name(self) -> str:
        return self.kind.name

    def probe_for_caller(self, point: "Point") -> Any:
        """The probe in the caller's structure and kinds of value (what a candidate is called with)."""
        assert self.probe is not None
        if self.kind.draws == COTANGENT:
            assert self.output is not None
            return self.output.for_caller(self.probe)
        return point.layout.for_caller(self.probe) if not point.layout.plain else \
            {name: value.copy() for name, value in self.probe.items()}

    def arguments(self, point: "Point", params: Any, X: Any, Y: Any) -> tuple[Any, ...]:
        """A candidate's arguments for this kind."""
        return (params, X, Y) if self.kind.draws is None else (params, X, Y, self.probe_for_caller(point))


def read_params_shaped(point: "Point", request: Request, returned: Any, source: str) -> Gradient:
    """A params-shaped derivative (a gradient, a VJP, a HVP): in the caller's structure or flat by path, any
    kind of array."""
    return point.layout.gradient(returned, source)


def draw_probe(kind: DerivativeKind, point: "Point", output: "Output | None", seed: int,
               given: Any = None) -> dict[str, np.ndarray] | None:
    """The kind's probe: the one given (in the caller's structure), or standard normal from ``seed``."""
    if kind.draws is None:
        if given is not None:
            raise InputError(f"the {kind.name} kind takes no tangent, cotangent or vector; leave it out.")
        return None
    if kind.draws == COTANGENT:
        assert output is not None
        if given is not None:
            return output.read(given, "the cotangent given", what="cotangent")
        rng = np.random.default_rng(seed)
        return {name: rng.standard_normal(np.shape(value)) for name, value in output.values.items()}
    if given is not None:
        return dict(point.layout.gradient(given, f"the {kind.draws} given").tensors)
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(np.shape(value)).astype(value.dtype) for name, value in point.params.items()}


_KINDS: dict[str, DerivativeKind] = {}


def kinds() -> dict[str, DerivativeKind]:
    """Every derivative kind, by name, in the order above."""
    if not _KINDS:
        found = {}
        for module_info in pkgutil.iter_modules(__path__):
            kind = getattr(importlib.import_module(f"{__name__}.{module_info.name}"), "KIND", None)
            if isinstance(kind, DerivativeKind):
                found[kind.name] = kind
        order = [GRADIENT, JACOBIAN, JVP, VJP, HVP]
        _KINDS.update(sorted(found.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99))
    return _KINDS


def get_kind(name: str) -> DerivativeKind:
    """The kind called ``name``; an unknown one is a clear error listing the kinds."""
    known = kinds()
    if name not in known:
        raise InputError(f"unknown derivative {name!r}; choose one of {', '.join(known)}.")
    return known[name]

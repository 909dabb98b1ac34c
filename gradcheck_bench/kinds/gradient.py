"""The gradient of a scalar cost: ``candidate(params, X, Y)`` returns one array per parameter."""

from __future__ import annotations

from typing import Any

from ..gradient import Gradient
from ..point import Point
from . import Request, GRADIENT, DerivativeKind


def read(point: Point, request: Request, returned: Any, source: str) -> Gradient:
    """Named like the parameters, in the caller's structure or flat by path, any kind of array."""
    return point.layout.gradient(returned, source)


KIND = DerivativeKind(
    name=GRADIENT,
    description="the gradient of a scalar cost",
    draws=None,
    params_shaped=True,
    scalar_output=True,
    read=read,
    forward_passes="2n: a centered difference per coordinate",
)

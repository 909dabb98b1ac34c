"""Second order: ``candidate(params, X, Y, vector)`` returns the Hessian-vector product ``H v``, params-shaped."""

from __future__ import annotations

from typing import Any

from ..gradient import Gradient
from ..point import Point
from . import Request, HVP, VECTOR, DerivativeKind


def read(point: Point, request: Request, returned: Any, source: str) -> Gradient:
    """Named like the parameters, in the caller's structure or flat by path, any kind of array."""
    return point.layout.gradient(returned, source)


KIND = DerivativeKind(
    name=HVP,
    description="a Hessian-vector product of a scalar cost, H v for a params-shaped vector v",
    draws=VECTOR,
    params_shaped=True,
    scalar_output=True,
    read=read,
    forward_passes="4n: second differences, a centered difference per coordinate of the directional difference "
                   "along v",
)

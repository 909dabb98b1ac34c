"""Reverse mode: ``candidate(params, X, Y, cotangent)`` returns ``u^T J``, shaped like the parameters."""

from __future__ import annotations

from typing import Any

from ..gradient import Gradient
from ..point import Point
from . import Request, COTANGENT, VJP, DerivativeKind


def read(point: Point, request: Request, returned: Any, source: str) -> Gradient:
    """Named like the parameters, in the caller's structure or flat by path, any kind of array."""
    return point.layout.gradient(returned, source)


KIND = DerivativeKind(
    name=VJP,
    description="a vector-Jacobian product (reverse mode), u^T J for an output-shaped cotangent u",
    draws=COTANGENT,
    params_shaped=True,
    scalar_output=False,
    read=read,
    forward_passes="2n: the gradient of the scalar u . f(params)",
)

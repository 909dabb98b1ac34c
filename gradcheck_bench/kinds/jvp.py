"""Forward mode: ``candidate(params, X, Y, tangent)`` returns the output's tangent ``J v``, shaped like the output."""

from __future__ import annotations

from typing import Any

from ..gradient import Gradient
from ..point import Point
from . import JVP, TANGENT, DerivativeKind, Request


def read(point: Point, request: Request, returned: Any, source: str) -> Gradient:
    """Named like the output's leaves (``output`` for one array)."""
    assert request.output is not None
    return Gradient(tensors=request.output.read(returned, source, what="jvp"))


KIND = DerivativeKind(
    name=JVP,
    description="a Jacobian-vector product (forward mode), J v for a params-shaped tangent v",
    draws=TANGENT,
    params_shaped=False,
    scalar_output=False,
    read=read,
    forward_passes="4: a centered difference along the tangent at two steps (the second gives its error bar)",
)

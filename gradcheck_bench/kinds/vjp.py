"""Reverse mode: ``candidate(params, X, Y, cotangent)`` returns ``u^T J``, shaped like the parameters."""

from __future__ import annotations

from . import COTANGENT, VJP, DerivativeKind, read_params_shaped


KIND = DerivativeKind(
    name=VJP,
    description="a vector-Jacobian product (reverse mode), u^T J for an output-shaped cotangent u",
    draws=COTANGENT,
    params_shaped=True,
    scalar_output=False,
    read=read_params_shaped,
    forward_passes="2n: the gradient of the scalar u . f(params)",
)

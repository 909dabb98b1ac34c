"""The gradient of a scalar cost: ``candidate(params, X, Y)`` returns one array per parameter."""

from __future__ import annotations

from . import GRADIENT, DerivativeKind, read_params_shaped


KIND = DerivativeKind(
    name=GRADIENT,
    description="the gradient of a scalar cost",
    draws=None,
    params_shaped=True,
    scalar_output=True,
    read=read_params_shaped,
    forward_passes="2n: a centered difference per coordinate",
)

"""Second order: ``candidate(params, X, Y, vector)`` returns the Hessian-vector product ``H v``, params-shaped."""

from __future__ import annotations

from . import HVP, VECTOR, DerivativeKind, read_params_shaped


KIND = DerivativeKind(
    name=HVP,
    description="a Hessian-vector product of a scalar cost, H v for a params-shaped vector v",
    draws=VECTOR,
    params_shaped=True,
    scalar_output=True,
    read=read_params_shaped,
    forward_passes="4n: second differences, a centered difference per coordinate of the directional difference "
                   "along v",
)

"""The exercise's 1-D model: J(theta) = theta * x, whose exact derivative is x."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from . import Model, Params, PointBuilder, PointSetting


def linear1d_case(x: float = 2.0, theta: float = 4.0) -> tuple[Params, np.ndarray, None]:
    """The point ``({"theta": theta}, x, None)`` of the 1-D model (it has no labels)."""
    return {"theta": np.array(float(theta))}, np.array(float(x)), None


def linear1d_cost(params: Params, X: Any, Y: Any = None, xp: Any = np) -> Any:
    """J(theta) = theta * x.

    ``xp`` is unused (a product needs no namespace function) but accepted, so
    that every model cost has the signature ``cost(params, X, Y, xp=...)`` the
    autograd sources call with ``torch`` or ``jax.numpy``.
    """
    return params["theta"] * X


def validate_linear1d_point(params: Params, X: np.ndarray, Y: Any) -> None:
    """The 1-D model takes one scalar parameter ``theta`` and a scalar ``x``."""
    if sorted(params) != ["theta"] or np.shape(params["theta"]) != () or np.shape(X) != ():
        raise InputError(
            "the 1-D model takes params {'theta': scalar} and a scalar x; "
            f"got params {sorted(params)} and x of shape {np.shape(X)}."
        )


def linear1d_backprop(params: Params, X: Any, Y: Any = None) -> Params:
    """The exact derivative of the 1-D model: dJ/dtheta = x."""
    return {"theta": np.array(X, dtype=np.result_type(params["theta"], float))}


MODEL = Model(
    name="linear1d",
    cost=linear1d_cost,
    description="the exercise's 1-D model J(theta) = theta * x",
    validate_point=validate_linear1d_point,
    gradient=linear1d_backprop,
    cases={"linear1d": linear1d_case},
    point_builder=PointBuilder(
        case="linear1d",
        settings=(PointSetting("x", float, "input x of the 1-D model"),
                  PointSetting("theta", float, "theta of the 1-D model")),
        build=linear1d_case,
    ),
)

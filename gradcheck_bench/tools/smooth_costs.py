"""Smooth costs whose parameters live at any scale, with their exact gradients.

Each family is a cost ``J(params, X, Y)`` of parameters drawn around a scale
``s`` (from 1e-6 to 1e6) that varies on that same scale, as a real model's
cost varies on the scale of its weights, and a gradient derived by hand. The
accuracy study tabulates false failures of the oracle on them across scales,
and the property test in ``tests/test_scale.py`` asks for none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..models import Params


@dataclass(frozen=True)
class SmoothFamily:
    """A cost of ``theta`` at scale ``s`` and its exact gradient."""

    name: str
    cost: Callable[[Params, Any, Any], float]
    gradient: Callable[[Params, Any, Any], Params]


def _cubic(params: Params, X: Any, Y: Any) -> float:
    t = params["theta"] / X["scale"]
    return float(np.sum(X["c"] * t**3) + np.sum(t) ** 2)


def _cubic_gradient(params: Params, X: Any, Y: Any) -> Params:
    t = params["theta"] / X["scale"]
    return {"theta": (3 * X["c"] * t**2 + 2 * np.sum(t)) / X["scale"]}


def _log_sum_exp(params: Params, X: Any, Y: Any) -> float:
    z = X["a"] * params["theta"] / X["scale"]
    top = np.max(z)
    return float(top + np.log(np.sum(np.exp(z - top))))


def _log_sum_exp_gradient(params: Params, X: Any, Y: Any) -> Params:
    z = X["a"] * params["theta"] / X["scale"]
    weights = np.exp(z - np.max(z))
    return {"theta": X["a"] * (weights / weights.sum()) / X["scale"]}


def _logistic(params: Params, X: Any, Y: Any) -> float:
    z = (params["theta"] / X["scale"]) @ X["data"]
    return float(np.mean(np.logaddexp(0.0, z) - Y * z))


def _logistic_gradient(params: Params, X: Any, Y: Any) -> Params:
    z = (params["theta"] / X["scale"]) @ X["data"]
    residual = 0.5 * (1 + np.tanh(0.5 * z)) - Y  # sigmoid(z) - y
    return {"theta": (residual @ X["data"].T) / (residual.size * X["scale"])}  # forward: z = (theta / s) @ data


def _tanh_layer(params: Params, X: Any, Y: Any) -> float:
    hidden = np.tanh((params["W"] / X["scale"]) @ X["data"])
    return float(np.mean((params["v"] / X["scale"] @ hidden - Y) ** 2))


def _tanh_layer_gradient(params: Params, X: Any, Y: Any) -> Params:
    s = X["scale"]
    hidden = np.tanh((params["W"] / s) @ X["data"])
    residual = params["v"] / s @ hidden - Y
    d_out = 2 * residual / residual.size  # forward: J = mean(residual^2)
    d_v = d_out @ hidden.T / s  # forward: residual = (v / s) @ hidden - Y
    d_pre = ((params["v"] / s).T @ d_out) * (1 - hidden**2)  # forward: hidden = tanh((W / s) @ data)
    return {"W": d_pre @ X["data"].T / s, "v": d_v}


FAMILIES = {
    "cubic": SmoothFamily("cubic", _cubic, _cubic_gradient),
    "log-sum-exp": SmoothFamily("log-sum-exp", _log_sum_exp, _log_sum_exp_gradient),
    "logistic": SmoothFamily("logistic", _logistic, _logistic_gradient),
    "tanh layer": SmoothFamily("tanh layer", _tanh_layer, _tanh_layer_gradient),
}


def smooth_point(family: str, scale: float, size: int, seed: int) -> tuple[Params, dict[str, Any], Any]:
    """A point of ``family`` with parameters around ``scale`` and about ``size`` of them."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {"scale": scale}
    if family in ("cubic", "log-sum-exp"):
        data["c" if family == "cubic" else "a"] = rng.normal(size=size)
        return {"theta": scale * rng.normal(size=size)}, data, None
    examples = 20
    if family == "logistic":
        data["data"] = rng.normal(size=(size, examples))
        return {"theta": scale * rng.normal(size=(1, size)) / np.sqrt(size)}, data, rng.integers(0, 2, (1, examples))
    width = max(1, size // 4)
    data["data"] = rng.normal(size=(3, examples))
    params = {"W": scale * rng.normal(size=(width, 3)), "v": scale * rng.normal(size=(1, width)) / np.sqrt(width)}
    return params, data, rng.normal(size=(1, examples))

"""Derivatives beyond the gradient: each kind's accuracy and the time of its full check, on the softmax layer.

Every kind (gradient, Jacobian, JVP, VJP, Hessian-vector product) of the softmax layer's hand-written
derivatives is checked against the fd oracle on the small case softmax-k5-d4-m6. Accuracy values are
``||g - r|| / (||g|| + ||r||)`` (unit ``relative difference``, bigger is worse); ``numpy-buggy`` (the bias
path without the softmax's cross term, in every kind) is the canary, whose value must stay well above the
threshold. A commit without ``derivative=`` or without the softmax model shows n/a.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import gradcheck_bench as gb

from .common import ACCURACY_UNIT, TIMER, require_api

timer = TIMER
"""The clock asv reads for this module's ``time_`` benchmarks (``common.clock_from_environment``)."""

KINDS = ["gradient", "jacobian", "jvp", "vjp", "hvp"]
CASE = "softmax-k5-d4-m6"
SEED = 0


def require_derivatives() -> None:
    """Skip (n/a) on a commit whose ``check`` takes no ``derivative=`` or that has no softmax model."""
    require_api("check", "get_model", "model_names")
    if "derivative" not in inspect.signature(gb.check).parameters:
        raise NotImplementedError("this commit's gb.check compares gradients only (no derivative=)")
    if "softmax" not in gb.model_names():
        raise NotImplementedError("this commit has no softmax model")


@functools.lru_cache(maxsize=None)
def softmax_point() -> tuple[Any, Any, Any]:
    """The fixed-seed point of the softmax layer's small case, built once per process (never modified)."""
    return gb.get_model("softmax").cases[CASE]()


class DerivativeAgreement:
    """The hand-written derivative of each kind, and its planted bug, against the fd oracle."""

    params = [KINDS, ["numpy", "numpy-buggy"]]
    param_names = ["derivative", "candidate"]

    def setup(self, derivative: str, candidate: str) -> None:
        require_derivatives()
        self.point = softmax_point()

    def track_relative_difference(self, derivative: str, candidate: str) -> float:
        return gb.check(candidate, "fd", *self.point, model="softmax", derivative=derivative, seed=SEED).difference

    track_relative_difference.unit = ACCURACY_UNIT


class DerivativeCheckTime:
    """A full check of each kind: the hand-written derivative against the fd oracle."""

    params = [KINDS]
    param_names = ["derivative"]

    def setup(self, derivative: str) -> None:
        require_derivatives()
        self.point = softmax_point()
        self.time_check(derivative)  # warm-up: the engines' memory measurement, imports

    def time_check(self, derivative: str) -> None:
        gb.check("numpy", "fd", *self.point, model="softmax", derivative=derivative, seed=SEED)

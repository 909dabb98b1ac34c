"""Accuracy as numbers the dashboard tracks: relative differences between gradient sources.

Every value is ``||g - r|| / (||g|| + ||r||)`` (unit ``relative difference``),
so bigger is worse, exactly as asv judges every benchmark. ``numpy-buggy``
(the exercise's planted bugs, dW2 x2 and db1 x4) is the canary: against any
correct reference its value must stay put at about 0.285 on the seed case.
"""

from __future__ import annotations

import warnings

import numpy as np

import gradcheck_bench as gb

from .common import ACCURACY_UNIT, FD_ENGINES, accuracy_case, mlp_helpers, require_api, require_engine, require_source

CASES = ["seed", "mlp-977"]
CANDIDATES = ["numpy", "numpy-buggy", "torch", "jax"]
REFERENCES = ["fd", "torch", "jax"]


class SourceAgreement:
    """Each candidate source against each reference source, by registry name with default options.

    Names go straight to ``gb.check``, as a user would write it, which every
    commit of the project accepts, so the history of these values is complete.
    """

    params = [CANDIDATES, REFERENCES, CASES]
    param_names = ["candidate", "reference", "case"]

    def setup(self, candidate: str, reference: str, case: str) -> None:
        if candidate == reference:
            raise NotImplementedError("a source against itself measures nothing")
        require_source(candidate)
        require_source(reference)
        self.point = accuracy_case(case)

    def track_relative_difference(self, candidate: str, reference: str, case: str) -> float:
        return gb.check(candidate, reference, *self.point).difference

    track_relative_difference.unit = ACCURACY_UNIT


class FDEngineAgreement:
    """Each finite-difference engine against the hand-written backprop: engines must agree."""

    params = [FD_ENGINES, CASES]
    param_names = ["engine", "case"]

    def setup(self, engine: str, case: str) -> None:
        self.point = accuracy_case(case)
        require_engine(engine, self.point[0])
        self.oracle = gb.fd(engine=engine)

    def track_relative_difference(self, engine: str, case: str) -> float:
        return gb.check("numpy", self.oracle, *self.point).difference

    track_relative_difference.unit = ACCURACY_UNIT


class Float32Verdict:
    """Below float64 the verdict is the mismatch the oracle's error bars leave unexplained.

    ``correct`` must stay at 0 (no false failure from round-off), and the
    canary, a 10% error in W2, must stay well above the 1e-4 float32 threshold.
    """

    params = [["correct", "W2 x1.1"], ["seed", "mlp-977"]]
    param_names = ["gradient", "case"]

    def setup(self, gradient: str, case: str) -> None:
        require_api("Gradient", "LowPrecisionWarning")
        params, X, Y = accuracy_case(case)
        self.point = ({k: v.astype(np.float32) for k, v in params.items()}, X.astype(np.float32), Y.astype(np.float32))
        factor = 1.1 if gradient != "correct" else 1.0

        def candidate(p, X, Y):
            grads = mlp_helpers.numpy_backprop(p, X, Y)
            return {**grads, "W2": grads["W2"] * factor}

        self.candidate = candidate

    def track_unexplained_difference(self, gradient: str, case: str) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gb.LowPrecisionWarning)
            return gb.check(self.candidate, "fd", *self.point).unexplained

    track_unexplained_difference.unit = ACCURACY_UNIT

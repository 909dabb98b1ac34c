"""Accuracy as numbers the dashboard tracks: relative differences between gradient sources.

Every value is ``||g - r|| / (||g|| + ||r||)`` (unit ``relative difference``),
so bigger is worse, exactly as asv judges every benchmark. ``numpy-buggy``
(the exercise's planted bugs, dW2 x2 and db1 x4) is the canary: against any
correct reference its value must stay put at about 0.285 on the seed case.
"""

from __future__ import annotations

import gradcheck_bench as gb

from .common import ACCURACY_UNIT, FD_ENGINES, accuracy_case, require_engine, require_source

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

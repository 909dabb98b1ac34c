"""ADBench's published reference values for its GMM and LSTM test inputs, as the model tests read them.

The values come from the packaged ``references.json`` (copied from ADBench's own tests) and the input
files; nothing here calls the code under test beyond reading the input file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import numpy as np

import gradcheck_bench as gb

ADBENCH_DATA = files("gradcheck_bench.models").joinpath("adbench_data")
ADBENCH_TOLERANCE = 1e-8
"""ADBench's own tests compare every objective and gradient entry with this absolute tolerance."""


@dataclass(frozen=True)
class AdbenchReference:
    """One ADBench test input and its reference objective and gradient (flat, in ``order``)."""

    model: str
    file: str
    order: tuple[str, ...]
    order_text: str
    """How ``references.json`` describes the gradient's order; checked so the split below is the right one."""

    @property
    def record(self) -> dict[str, Any]:
        return json.loads(ADBENCH_DATA.joinpath("references.json").read_text())[self.file]

    @property
    def objective(self) -> float:
        return self.record["objective"]

    def test_input(self) -> tuple[gb.Params, Any, Any]:
        return gb.read_adbench(self.model, ADBENCH_DATA.joinpath(self.file))

    def gradient(self, params: gb.Params) -> gb.Params:
        """The reference gradient split into tensors, row-major, in its documented order."""
        assert self.record["gradient_order"].startswith(self.order_text)
        flat_values, tensors, start = np.array(self.record["gradient"]), {}, 0
        for name in self.order:
            size = params[name].size
            tensors[name] = flat_values[start:start + size].reshape(params[name].shape)
            start += size
        assert start == flat_values.size
        return tensors

    def errors_of(self, source: str) -> tuple[float, float]:
        """``source``'s gradient at the test input against the reference: largest absolute error, relative difference."""
        params, X, Y = self.test_input()
        ours = flat(gb.gradient(source, params, X, Y, model=self.model), params)
        reference = flat(self.gradient(params), params)
        return float(np.max(np.abs(ours - reference))), gb.relative_difference(ours, reference)


def flat(gradient: gb.Params, params: gb.Params) -> np.ndarray:
    return np.concatenate([np.ravel(gradient[name]) for name in params])


GMM = AdbenchReference("gmm", "gmm_test.txt", ("alphas", "means", "icf"), "alphas (k), means (k x d, row-major), icf")
LSTM = AdbenchReference("lstm", "lstm_l2_c1024.txt", ("main_params", "extra_params"),
                        "main_params (2l x 4b, row-major), then extra_params")

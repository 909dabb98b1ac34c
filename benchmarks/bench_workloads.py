"""ADBench's workloads (GMM, LSTM, BA, hand tracking) and gradbench's evals: what a gradient costs per source and size,
and whether the sources agree.

The cases are the models' own (``gb.get_model(name).cases``): ADBench's test
inputs and generated sizes. ``numpy-buggy`` is each model's planted bug, the
canary whose difference must stay well above the threshold.
"""

from __future__ import annotations

import gradcheck_bench as gb

from .common import ACCURACY_UNIT, TIMER, require_api, require_source, warm_up

timer = TIMER
"""The clock asv reads for this module's ``time_`` benchmarks (``common.clock_from_environment``)."""

WORKLOADS = {
    "gmm": ["gmm-adbench-test", "gmm-d2-k5", "gmm-d10-k10", "gmm-d20-k5"],
    "lstm": ["lstm-adbench-l2-c1024"],
    "ba": ["ba-adbench-test"],
    "hand": ["hand-adbench-test", "hand-adbench-complicated"],
    "llsq": ["llsq-n16-m128"],
    "lse": ["lse-n2500"],
    "det": ["det-l5"],
    "ode": ["ode-n1000-s1"],
    "kmeans": ["kmeans-k10-n1000-d8"],
    "particle": ["particle-w0"],
    "saddle": ["saddle-start"],
}
"""Model -> the cases timed here, ADBench's test inputs and a few generated sizes (the larger ones are in
``gradcheck-bench compare --full``). A case a commit does not have is n/a there."""

CASES = [f"{model}/{case}" for model, cases in WORKLOADS.items() for case in cases]
NO_CANARY = {"ode/ode-n1000-s1": "at gradbench's sizes ode's gradient is identically zero: the planted bug changes "
                                 "nothing there, so it is no canary"}
SLOW = {("jax", "lstm"): "this commit's jax source differentiates the 1024-step LSTM without jit (about 20 s a "
                         "gradient): it has no framework-native lax.scan version"}


def workload_point(label: str) -> tuple[gb.Model, tuple]:
    """The model and a fresh point of ``model/case``; n/a on a commit without that model or case."""
    require_api("get_model", "model_names")
    model_name, case = label.split("/")
    if model_name not in gb.model_names():
        raise NotImplementedError(f"this commit has no {model_name} model")
    model = gb.get_model(model_name)
    if case not in model.cases:
        raise NotImplementedError(f"this commit's {model_name} model has no case {case}")
    return model, model.cases[case]()


class WorkloadGradientTime:
    """``time_`` of one gradient of each workload from each source (fd: the registry's oracle, engine auto)."""

    params = [["numpy", "torch", "jax", "fd"], CASES]
    param_names = ["source", "case"]
    rounds = 2
    repeat = (1, 3, 10.0)
    warmup_time = 0.0
    timeout = 180

    def setup(self, source: str, case: str) -> None:
        model, self.point = workload_point(case)
        if (source, model.name) in SLOW and not getattr(model, "framework_functions", None):
            raise NotImplementedError(SLOW[source, model.name])
        require_source(source)
        self.source = gb.build_source(source, model)
        warm_up(self.source, *self.point)

    def time_gradient(self, source: str, case: str) -> None:
        self.source(*self.point)


class WorkloadAgreement:
    """The hand-written gradient against fd and torch, and the planted bug against fd (a canary)."""

    params = [["numpy vs fd", "numpy vs torch", "numpy-buggy vs fd"], CASES]
    param_names = ["pair", "case"]
    timeout = 180

    def setup(self, pair: str, case: str) -> None:
        self.model, self.point = workload_point(case)
        self.candidate, _, self.reference = pair.split()
        if self.candidate == "numpy-buggy" and case in NO_CANARY:
            raise NotImplementedError(NO_CANARY[case])
        require_source(self.candidate)
        require_source(self.reference)

    def track_relative_difference(self, pair: str, case: str) -> float:
        return gb.check(self.candidate, self.reference, *self.point, model=self.model).difference

    track_relative_difference.unit = ACCURACY_UNIT

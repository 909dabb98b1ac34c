"""The O(n) forward passes of the finite-difference oracle, per engine, as n grows.

The dashboard should show the check's time and its count of forward passes
growing linearly in n, the time per forward pass staying flat until the
network's own forward pass gets dearer, and it should show when that stops.
"""

from __future__ import annotations

import gradcheck_bench as gb

from .common import (FD_ENGINES, NETWORKS, TIMER, counted_passes, fastest_seconds, mlp_helpers, network_case, require_api,
                     require_engine, warm_up)

timer = TIMER
"""The clock asv reads for this module's ``time_`` benchmarks (``common.clock_from_environment``)."""


def planted_dw2_bug(params, X, Y):
    """The hand-written backprop with ``dW2`` off by 0.1% (every network here has a W2): a check of it fails,
    so the failing check's second look runs, and names W2."""
    grads = mlp_helpers.numpy_backprop(params, X, Y)
    return {**grads, "W2": grads["W2"] * 1.001}


class _FDEngineGrid:
    """Parameter grid shared by the fd benchmarks: every known engine at every size."""

    params = [FD_ENGINES, list(NETWORKS)]
    param_names = ["engine", "network"]
    timeout = 180

    def setup(self, engine: str, network: str) -> None:
        self.point = network_case(network)
        require_engine(engine, self.point[0])
        self.oracle = gb.fd(engine=engine)


class FDCheckTime(_FDEngineGrid):
    """``time_`` of a full check: hand-written backprop against the fd oracle."""

    rounds = 2
    repeat = (1, 5, 4.0)
    warmup_time = 0.0

    def time_check(self, engine: str, network: str) -> None:
        gb.check("numpy", self.oracle, *self.point)

    def time_failing_check(self, engine: str, network: str) -> None:
        """The same check of a gradient with a planted bug (``dW2`` x1.001): its second look re-examines only
        the coordinates past the threshold, until the verdict is settled, so it costs about what the passing
        check costs."""
        gb.check(planted_dw2_bug, self.oracle, *self.point)


class FDForwardPasses(_FDEngineGrid):
    """How many times the oracle evaluates the cost, and what each pass costs."""

    def setup(self, engine: str, network: str) -> None:
        require_api("count_forward_passes")  # older commits could not count the passes of every engine
        super().setup(engine, network)
        warm_up(self.oracle, *self.point)

    def track_forward_passes(self, engine: str, network: str) -> int:
        """Forward passes of one gradient, counted while it runs (every engine reports what it evaluates)."""
        return counted_passes(lambda: self.oracle(*self.point))

    track_forward_passes.unit = "forward passes"

    def track_seconds_per_forward_pass(self, engine: str, network: str) -> float:
        """Fastest time of one gradient divided by its counted forward passes."""
        params, X, Y = self.point
        seconds = fastest_seconds(lambda: self.oracle(params, X, Y))
        return seconds / counted_passes(lambda: self.oracle(params, X, Y))

    track_seconds_per_forward_pass.unit = "seconds"


class FDPeakMemory(_FDEngineGrid):
    """``peakmem_`` of one fd gradient: the oracle's working memory as n grows."""

    def peakmem_fd_gradient(self, engine: str, network: str) -> None:
        self.oracle(*self.point)

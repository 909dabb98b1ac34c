"""What one gradient costs, per source, from the fraud net to ~1e5 parameters."""

from __future__ import annotations

from .common import NETWORKS, SOURCES, TIMER, build_named_source, network_case, warm_up

timer = TIMER
"""The clock asv reads for this module's ``time_`` benchmarks (``common.clock_from_environment``)."""


class GradientTime:
    """``time_`` of one gradient of the MLP cost from each source (``fd`` is the registry's oracle)."""

    params = [SOURCES, list(NETWORKS)]
    param_names = ["source", "network"]
    rounds = 2
    repeat = (1, 5, 4.0)
    warmup_time = 0.1
    timeout = 120

    def setup(self, source: str, network: str) -> None:
        self.point = network_case(network)
        self.source = build_named_source(source)
        warm_up(self.source, *self.point)

    def time_gradient(self, source: str, network: str) -> None:
        self.source(*self.point)

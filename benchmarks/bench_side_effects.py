"""A check must not slow the rest of the caller's process: small torch operations timed after a check.

A check that changes torch's thread settings (and sets them back) can leave torch's pools slower for the
rest of the process on a busy machine. ``time_small_torch_ops_after_check`` runs a torch-engine check in
``setup`` and then times a loop of small torch operations; ``time_small_torch_ops`` times the same loop in
a process that ran no check. Their ratio should stay near 1.
"""

from __future__ import annotations

import gradcheck_bench as gb

from .common import TIMER, network_case, require_api, require_engine

timer = TIMER
"""The clock asv reads for this module's ``time_`` benchmarks (``common.clock_from_environment``)."""


class SmallTorchOps:
    """A loop of small torch operations, with and without a torch-engine check run before it."""

    params = [[False, True]]
    param_names = ["after_check"]
    repeat = (3, 10, 8.0)
    number = 1

    def setup(self, after_check: bool) -> None:
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed") from None
        self.torch = torch
        self.a = torch.randn(16, 16, dtype=torch.float32)
        if after_check:
            require_api("check", "fd")
            params, X, Y = network_case("mlp-977")
            require_engine("torch", params)
            gb.check("numpy", gb.fd(engine="torch"), params, X, Y)

    def time_small_torch_ops(self, after_check: bool) -> None:
        a = self.a
        for _ in range(200):
            a = (a @ self.a).tanh_()

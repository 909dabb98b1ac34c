"""``engine="auto"`` against the loop and the generic batched engines on issue 22's five shapes.

Each shape (``gb.engine_examples()``, which ``gradcheck-bench engines`` also times, in one process) is a cost
written against ``xp`` that no structured engine knows
(so ``auto`` chooses by timing the candidates); the ratio of ``loop`` to
``auto`` per shape is what the issue's targets are stated in. ``setup``
makes one untimed call of every engine but the loop, so ``auto``'s one-off
measurement (and jax's compile) is not in the timed call, as for every later
check in a process.
"""

from __future__ import annotations

import gradcheck_bench as gb

from .common import TIMER, require_api

timer = TIMER
"""The clock asv reads for this module's ``time_`` benchmarks (``common.clock_from_environment``)."""


SHAPES = ["tanh-logistic-3501", "deep-tanh-3091", "quadratic-3000", "rbf-600", "adbench-lstm"]
"""Issue 22's five shapes (``gb.engine_examples()``, named here so asv's parameters do not depend on the commit
under test); the label carries the parameter count."""

ENGINES = ["auto", "loop", "incremental", "jax", "torch"]


class AutoEngineTime:
    """Seconds of one fd gradient per shape and engine, after one untimed call in the same process."""

    params = [SHAPES, ENGINES]
    param_names = ["shape", "engine"]
    timeout = 300
    number = 1
    rounds = 1
    repeat = (1, 3, 20.0)
    warmup_time = 0.0

    def setup(self, shape: str, engine: str) -> None:
        require_api("fd", "fd_engines", "engine_examples")
        if engine != "auto" and engine not in gb.fd_engines():
            raise NotImplementedError(f"finite-difference engine {engine!r} is not available here")
        self.model, *self.point = gb.engine_examples()[shape]()
        self.oracle = gb.fd(self.model, engine=engine, progress=False)
        if engine != "loop":  # the loop has nothing to warm (and on the quadratic it is the suite's longest call)
            self.oracle(*self.point)  # auto's measurement, jax's compile: once per process, not timed

    def time_fd_gradient(self, shape: str, engine: str) -> None:
        self.oracle(*self.point)

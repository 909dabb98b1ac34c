"""``engine="auto"`` against the loop and the generic batched engines on issue 22's five shapes.

Each shape is a cost written against ``xp`` that no structured engine knows
(so ``auto`` chooses by timing the candidates); the ratio of ``loop`` to
``auto`` per shape is what the issue's targets are stated in. ``setup``
makes one untimed call of every engine but the loop, so ``auto``'s one-off
measurement (and jax's compile) is not in the timed call, as for every later
check in a process.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import gradcheck_bench as gb

from .common import SEED, require_api


def tanh_logistic_cost(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    return xp.mean(xp.log(1 + xp.exp(-Y * (params["v"] @ xp.tanh(params["A"] @ X) + params["c"]))))


def deep_tanh_cost(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    layers = len(params) // 2
    A = X
    for l in range(1, layers):
        A = xp.tanh(params[f"W{l}"] @ A + params[f"b{l}"])
    return xp.mean((params[f"W{layers}"] @ A + params[f"b{layers}"] - Y) ** 2)


def quadratic_cost(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    return 0.5 * params["x"] @ (X @ params["x"]) - Y @ params["x"]


def rbf_cost(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    distances = xp.sum((params["c"][:, None, :] - X[None, :, :]) ** 2, axis=-1)
    return xp.sum(xp.exp(-distances)) / X.shape[0]


def tanh_logistic() -> tuple[gb.Model, Any, Any, Any]:
    rng = np.random.default_rng(SEED)
    params = {"A": rng.standard_normal((500, 6)), "v": rng.standard_normal(500) / 20, "c": np.zeros(1)}
    return gb.Model(name="bench-tanh-logistic", cost=tanh_logistic_cost), params, rng.standard_normal((6, 40)), \
        np.sign(rng.standard_normal(40))


def deep_tanh() -> tuple[gb.Model, Any, Any, Any]:
    rng = np.random.default_rng(SEED)
    sizes, params = (8, 30, 30, 30, 30, 1), {}
    for l in range(1, len(sizes)):
        params[f"W{l}"] = rng.standard_normal((sizes[l], sizes[l - 1])) / np.sqrt(sizes[l - 1])
        params[f"b{l}"] = 0.1 * rng.standard_normal((sizes[l], 1))
    return gb.Model(name="bench-deep-tanh", cost=deep_tanh_cost), params, rng.standard_normal((8, 8)), \
        rng.standard_normal((1, 8))


def quadratic() -> tuple[gb.Model, Any, Any, Any]:
    rng = np.random.default_rng(SEED)
    M = rng.standard_normal((3000, 3000)) / 60
    return gb.Model(name="bench-quadratic", cost=quadratic_cost), {"x": rng.standard_normal(3000)}, M @ M.T, \
        rng.standard_normal(3000)


def rbf() -> tuple[gb.Model, Any, Any, Any]:
    rng = np.random.default_rng(SEED)
    return gb.Model(name="bench-rbf", cost=rbf_cost), {"c": rng.standard_normal((200, 3))}, \
        rng.standard_normal((50, 3)), None


def adbench_lstm() -> tuple[gb.Model, Any, Any, Any]:
    require_api("get_model")
    lstm = gb.get_model("lstm")
    return (lstm, *lstm.cases[next(iter(lstm.cases))]())


SHAPES: dict[str, Callable[[], tuple[gb.Model, Any, Any, Any]]] = {
    "tanh-logistic-3501": tanh_logistic,
    "deep-tanh-3091": deep_tanh,
    "quadratic-3000": quadratic,
    "rbf-600": rbf,
    "adbench-lstm": adbench_lstm,
}
"""Issue 22's five shapes; the label carries the parameter count."""

ENGINES = ["auto", "loop", "jax", "torch"]


class AutoEngineTime:
    """Seconds of one fd gradient per shape and engine, after one untimed call in the same process."""

    params = [list(SHAPES), ENGINES]
    param_names = ["shape", "engine"]
    timeout = 300
    number = 1
    rounds = 1
    repeat = (1, 3, 20.0)
    warmup_time = 0.0

    def setup(self, shape: str, engine: str) -> None:
        require_api("fd", "fd_engines")
        if engine != "auto" and engine not in gb.fd_engines():
            raise NotImplementedError(f"finite-difference engine {engine!r} is not available here")
        self.model, *self.point = SHAPES[shape]()
        self.oracle = gb.fd(self.model, engine=engine, progress=False)
        if engine != "loop":  # the loop has nothing to warm (and on the quadratic it is the suite's longest call)
            self.oracle(*self.point)  # auto's measurement, jax's compile: once per process, not timed

    def time_fd_gradient(self, shape: str, engine: str) -> None:
        self.oracle(*self.point)

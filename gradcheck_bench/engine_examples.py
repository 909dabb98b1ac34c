"""Five costs written against ``xp``, each with a point: the shapes the finite-difference engines are compared on.

``engine_examples()`` maps a label (which carries the parameter count) to a
builder returning ``(model, params, X, Y)``: a tanh-logistic net, a deep
narrow tanh net, a dense quadratic form, an RBF-kernel objective and the
ADBench LSTM. None has a structured engine, so ``engine="auto"`` chooses among
the generic engines by timing them; ``gradcheck-bench engines`` and the asv
suite time every engine on them.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .models import Model, Params, get_model

SEED = 0


def tanh_logistic_cost(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    return xp.mean(xp.log(1 + xp.exp(-Y * (params["v"] @ xp.tanh(params["A"] @ X) + params["c"]))))


def tanh_net_cost(params: Any, X: Any, Y: Any, xp: Any = np) -> Any:
    """A tanh network with a squared-error output (``W1, b1, ...``), written against ``xp``: a user's cost,
    not our MLP."""
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


Shape = tuple[Model, Params, Any, Any]


def tanh_logistic() -> Shape:
    rng = np.random.default_rng(SEED)
    params = {"A": rng.standard_normal((500, 6)), "v": rng.standard_normal(500) / 20, "c": np.zeros(1)}
    return Model(name="bench-tanh-logistic", cost=tanh_logistic_cost), params, rng.standard_normal((6, 40)), \
        np.sign(rng.standard_normal(40))


def tanh_net_point(sizes: tuple[int, ...], examples: int, seed: int = SEED) -> tuple[Params, np.ndarray, np.ndarray]:
    """Weights scaled by 1/sqrt(fan-in), small biases, and Gaussian data, for :func:`tanh_net_cost`."""
    rng = np.random.default_rng(seed)
    params: Params = {}
    for l in range(1, len(sizes)):
        params[f"W{l}"] = rng.standard_normal((sizes[l], sizes[l - 1])) / np.sqrt(sizes[l - 1])
        params[f"b{l}"] = 0.1 * rng.standard_normal((sizes[l], 1))
    return params, rng.standard_normal((sizes[0], examples)), rng.standard_normal((sizes[-1], examples))


def deep_tanh() -> Shape:
    return (Model(name="bench-deep-tanh", cost=tanh_net_cost), *tanh_net_point((8, 30, 30, 30, 30, 1), 8))


def quadratic() -> Shape:
    rng = np.random.default_rng(SEED)
    M = rng.standard_normal((3000, 3000)) / 60
    return Model(name="bench-quadratic", cost=quadratic_cost), {"x": rng.standard_normal(3000)}, M @ M.T, \
        rng.standard_normal(3000)


def rbf() -> Shape:
    rng = np.random.default_rng(SEED)
    return Model(name="bench-rbf", cost=rbf_cost), {"c": rng.standard_normal((200, 3))}, \
        rng.standard_normal((50, 3)), None


def adbench_lstm() -> Shape:
    lstm = get_model("lstm")
    return (lstm, *lstm.cases[next(iter(lstm.cases))]())


EXAMPLES: dict[str, Callable[[], Shape]] = {
    "tanh-logistic-3501": tanh_logistic,
    "deep-tanh-3091": deep_tanh,
    "quadratic-3000": quadratic,
    "rbf-600": rbf,
    "adbench-lstm": adbench_lstm,
}
"""The five examples; the label carries the parameter count."""




def engine_examples() -> dict[str, Callable[[], Shape]]:
    """The example costs by label: ``engine_examples()[label]()`` gives ``(model, params, X, Y)``."""
    return dict(EXAMPLES)

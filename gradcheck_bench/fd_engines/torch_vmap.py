"""The PyTorch engine: ``torch.func.vmap(cost)`` over a chunk of perturbed flat parameter vectors.

The MLP cost is the package's own ``mlp_cost`` evaluated with ``xp=torch`` in
float64 on the CPU, under ``torch.no_grad`` (only forward passes). PyTorch is
imported only when the engine is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..models import Params, mlp_cost
from . import ChunkEvaluator, FDEngine, centered, perturbed_batch
from .numpy_batched import bytes_per_coordinate
from .mlp_layout import handles_mlp


def prepare(cost: Any, params: Params, X: np.ndarray, Y: np.ndarray) -> ChunkEvaluator:
    import torch
    from torch.func import vmap

    shapes = {name: value.shape for name, value in params.items()}
    offsets = np.cumsum([0] + [value.size for value in params.values()])
    flat = np.concatenate([np.ravel(value) for value in params.values()])
    X_tensor, Y_tensor = torch.from_numpy(X), torch.from_numpy(Y)

    def cost_of_vector(vector: Any) -> Any:
        unravelled = {name: vector[start:stop].reshape(shapes[name])
                      for name, start, stop in zip(shapes, offsets[:-1], offsets[1:])}
        return mlp_cost(unravelled, X_tensor, Y_tensor, xp=torch)

    batched_cost = vmap(cost_of_vector)

    def evaluate(indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            costs = batched_cost(torch.from_numpy(perturbed_batch(flat, indices, steps))).numpy()
        return centered(costs[: indices.size], costs[indices.size:], steps)

    return evaluate


ENGINE = FDEngine(
    name="torch",
    description="PyTorch torch.func.vmap over perturbed parameter vectors (MLP cost)",
    prepare=prepare,
    handles=handles_mlp,
    bytes_per_coordinate=bytes_per_coordinate,
    requires=("torch",),
)

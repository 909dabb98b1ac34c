"""The batched NumPy engine: many perturbed parameter sets through the forward pass at once.

A chunk of coordinates of one tensor ``W_l`` (or ``b_l``) becomes a batch of
2k full copies of that tensor, each with one coordinate moved by +-eps (a
leading batch axis). The layers before ``l`` do not depend on the tensor and
are shared by the batch; from layer ``l`` on, every pass is evaluated in full,
as one matrix product per layer over the whole batch. This is the work of 2n
complete forward passes from the perturbed layer on: the roofline engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..models import Params
from . import ChunkEvaluator, FDEngine, centered, perturbed_values
from .mlp_layout import MLPPoint, TensorBlock, examples, forward_from, handles_mlp, mlp_point, sizes

FLOAT_BYTES = 8
WORKING_COPIES = 4


def prepare(cost: Any, params: Params, X: np.ndarray, Y: np.ndarray) -> ChunkEvaluator:
    point = mlp_point(params, X, Y)
    flat = np.concatenate([np.ravel(value) for value in params.values()])

    def evaluate(indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
        differences = np.empty(indices.size)
        for block, where in point.chunks_by_tensor(indices):
            costs = batch_costs(point, block, indices[where], flat, steps[where])
            differences[where] = centered(costs[: where.size], costs[where.size:], steps[where])
        return differences

    return evaluate


def perturbed_tensors(block: TensorBlock, indices: np.ndarray, flat: np.ndarray,
                      steps: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The batch (2k, *shape): copies of the tensor with coordinate ``indices[b]`` moved +eps then -eps."""
    plus, minus = perturbed_values(flat[indices], steps)
    batch = np.repeat(flat[None, block.start:block.stop], 2 * indices.size, axis=0)
    members = np.arange(2 * indices.size)
    batch[members, np.tile(indices - block.start, 2)] = np.concatenate([plus, minus])
    return batch.reshape((2 * indices.size,) + shape)


def batch_costs(point: MLPPoint, block: TensorBlock, indices: np.ndarray, flat: np.ndarray,
                steps: np.ndarray) -> np.ndarray:
    """Costs of the 2k perturbed passes (all +eps first, then all -eps)."""
    l = block.layer
    shape = point.W[l].shape if block.is_weight else point.b[l].shape
    tensors = perturbed_tensors(block, indices, flat, steps, shape)
    batch, m = tensors.shape[0], point.examples
    if block.is_weight:
        products = (tensors.reshape(-1, shape[1]) @ point.A[l - 1]).reshape(batch, shape[0], m)
        Z = products.transpose(1, 0, 2) + point.b[l][:, :, None]
    else:
        Z = (point.W[l] @ point.A[l - 1])[:, None, :] + tensors.transpose(1, 0, 2)
    return forward_from(point, l, Z)


def bytes_per_coordinate(params: Params, X: Any) -> int:
    """Two passes per coordinate: a copy of the largest tensor and the activations from layer 1 on."""
    widths = sizes(params, X)
    largest = max(int(np.size(value)) for value in params.values())
    return 2 * FLOAT_BYTES * (largest + WORKING_COPIES * examples(X) * sum(widths[1:]))


ENGINE = FDEngine(
    name="numpy-batched",
    description="NumPy, a batch of perturbed parameter sets per matrix product (MLP cost)",
    prepare=prepare,
    handles=handles_mlp,
    bytes_per_coordinate=bytes_per_coordinate,
)

"""What the MLP engines need to know about a point: layers, offsets, the base forward pass.

Used by the engines that exploit the network's layout (:mod:`.structured`)
and by every MLP-only engine to decide whether it handles a point. Batched activations use the layout
``(units, batch, examples)`` so that a layer is one matrix product
``W @ A.reshape(units, batch * examples)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from ..models import Params, cross_entropy_from_logits, mlp_cost, mlp_forward, relu, validate_mlp_point
from ..errors import InputError
from . import is_float64_point


@dataclass(frozen=True)
class TensorBlock:
    """One parameter tensor inside the flat vector: which layer, weight or bias, where."""

    layer: int
    is_weight: bool
    start: int
    stop: int


@dataclass(frozen=True)
class MLPPoint:
    """An MLP point with its forward pass evaluated once (``Z[l]``, ``A[l]``, ``A[0] = X``)."""

    W: list[np.ndarray]  # W[l], index 0 unused
    b: list[np.ndarray]
    Z: list[np.ndarray]
    A: list[np.ndarray]
    Y: np.ndarray
    blocks: list[TensorBlock]

    @property
    def L(self) -> int:
        return len(self.W) - 1

    @property
    def examples(self) -> int:
        return self.A[0].shape[1]

    def chunks_by_tensor(self, indices: np.ndarray) -> Iterator[tuple[TensorBlock, np.ndarray]]:
        """Split flat indices into ``(block, positions into indices)`` per tensor."""
        stops = np.array([block.stop for block in self.blocks])
        owner = np.searchsorted(stops, indices, side="right")
        for number in np.unique(owner):
            yield self.blocks[number], np.flatnonzero(owner == number)


def mlp_point(params: Params, X: np.ndarray, Y: np.ndarray) -> MLPPoint:
    """Lay the point out by layer and run the base forward pass once."""
    validate_mlp_point(params, X, Y)
    L = len(params) // 2
    forward = mlp_forward(params, X)
    blocks, start = [], 0
    for name, value in params.items():
        stop = start + value.size
        blocks.append(TensorBlock(layer=int(name[1:]), is_weight=name[0] == "W", start=start, stop=stop))
        start = stop
    return MLPPoint(
        W=[None] + [params[f"W{l}"] for l in range(1, L + 1)],  # type: ignore[list-item]
        b=[None] + [params[f"b{l}"] for l in range(1, L + 1)],  # type: ignore[list-item]
        Z=forward.Z,
        A=forward.A,
        Y=Y,
        blocks=blocks,
    )


def handles_mlp(cost: Any, params: Params, X: Any, Y: Any) -> bool:
    """These engines evaluate exactly :func:`~gradcheck_bench.models.mlp_cost`, in float64, at an MLP point."""
    if cost is not mlp_cost or Y is None or not is_float64_point(params, X, Y):
        return False
    try:
        validate_mlp_point(params, X, Y)
    except InputError:
        return False
    return True


def forward_from(point: MLPPoint, layer: int, Z: np.ndarray) -> np.ndarray:
    """Finish a batch of forward passes from ``Z`` of ``layer`` (units, batch, m); return costs (batch,)."""
    for l in range(layer + 1, point.L + 1):
        A = relu(Z)
        units, batch, m = A.shape
        Z = (point.W[l] @ A.reshape(units, batch * m)).reshape(-1, batch, m) + point.b[l][:, :, None]
    return costs_from_logits(point, Z)


def costs_from_logits(point: MLPPoint, logits: np.ndarray) -> np.ndarray:
    """Mean cross-entropy per batch member of logits (n_L, batch, m), as ``mlp_cost``."""
    losses = cross_entropy_from_logits(logits, point.Y[:, None, :])
    return losses.transpose(1, 0, 2).reshape(logits.shape[1], -1).mean(axis=1)


def downstream_units(point: MLPPoint, layer: int) -> int:
    """Units in the layers after ``layer``: how many activations a perturbation there touches."""
    return sum(point.W[l].shape[0] for l in range(layer + 1, point.L + 1))


def sizes(params: Params, X: Any) -> list[int]:
    """Layer widths ``[n_0, n_1, ..., n_L]`` of an MLP point (for memory estimates)."""
    L = len(params) // 2
    return [int(np.shape(X)[0])] + [int(np.shape(params[f"W{l}"])[0]) for l in range(1, L + 1)]


def examples(X: Any) -> int:
    return int(np.shape(X)[1]) if np.ndim(X) == 2 else 1


def forward_flops(widths: list[int], m: int) -> int:
    """Floating-point work of one forward pass, counted as its matrix products: 2 m sum(n_l n_{l-1})."""
    return 2 * m * sum(widths[l] * widths[l - 1] for l in range(1, len(widths)))

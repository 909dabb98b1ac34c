"""The structured engine: each perturbed forward pass recomputes only what the perturbation changes.

For models that declare dense layers (``Model.layers``, the MLP). Perturbing
``W_l[i, j]`` (or ``b_l[i]``) leaves the layers before ``l`` and every row of
``Z_l`` but row ``i`` unchanged, so the perturbed pass is

* row ``i`` of ``Z_l``: ``Z_l[i] + h * A_{l-1}[j]`` (``h * 1`` for the bias), where
  ``h = (theta_i + eps) - theta_i`` is the step as actually stored in float64;
* ``Z_{l+1} + W_{l+1}[:, i] (A_l'[i] - A_l[i])``: the next layer's product with an
  activation matrix that differs in one row;
* the remaining layers and the cost in full, batched over the chunk.

Each line is the forward pass itself, rewritten by the linearity of ``W @ A``;
no derivative of anything is taken, and the costs are the loop engine's up to
float64 rounding. Batched activations use the layout ``(units, batch,
examples)`` so that a layer is one matrix product.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...counting import record_passes
from ...models import Model, Params
from ...ravel import parameter_slices, ravel
from . import FLOAT_BYTES, ChunkEvaluator, FDEngine, by_tensor, float64_params

WORKING_COPIES = 4
"""Arrays of a layer's batched activations alive at once (Z, A, the product, the loss)."""
CACHE_SIZED_CHUNK = 2 * 2**20
"""Its passes are memory-bound: cache-sized chunks (about 2 MiB) run faster per coordinate
than budget-sized ones (``gradcheck-bench growth`` measures it)."""


def prepare(model: Model, params: Params, X: Any, Y: Any) -> ChunkEvaluator:
    assert model.layers is not None  # handles() says so
    net = model.layers(params, X, Y)
    flat, _ = ravel(params)
    blocks = [(name, where) for name, where in parameter_slices(params).items()]

    def evaluate(indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
        costs = np.empty((2, indices.size))
        for (name, where), positions in by_tensor(blocks, indices):
            layer, is_weight = net.roles[name]
            costs[:, positions] = tensor_costs(net, layer, is_weight, indices[positions] - where.start,
                                               flat[indices[positions]], steps[positions])
        return costs

    return evaluate


def tensor_costs(net: Any, l: int, is_weight: bool, local: np.ndarray, values: np.ndarray,
                 steps: np.ndarray) -> np.ndarray:
    """Costs ``(2, k)`` at +-step for coordinates ``local`` (row-major) of layer ``l``'s W or b."""
    stored_steps = np.concatenate([(values + steps) - values, (values - steps) - values])  # (2k,)
    if is_weight:
        rows, columns = np.divmod(local, net.W[l].shape[1])
        row_change = stored_steps[:, None] * net.A[l - 1][np.tile(columns, 2)]
    else:
        rows = local
        row_change = np.broadcast_to(stored_steps[:, None], (stored_steps.size, net.examples))
    rows = np.tile(rows, 2)
    perturbed_row = net.Z[l][rows] + row_change  # (2k, m): row i of Z_l in each pass
    costs = costs_after_row(net, l, rows, perturbed_row)
    record_passes(costs.size)
    return costs.reshape(2, -1)


def costs_after_row(net: Any, l: int, rows: np.ndarray, perturbed_row: np.ndarray) -> np.ndarray:
    """Finish the passes in which only row ``rows[b]`` of ``Z_l`` changed (to ``perturbed_row[b]``)."""
    batch = rows.size
    if l == net.L:
        logits = np.repeat(net.Z[l][:, None, :], batch, axis=1)
        logits[rows, np.arange(batch)] = perturbed_row
        return costs_from_logits(net, logits)
    activation_change = net.activation(perturbed_row) - net.A[l][rows]  # (batch, m)
    next_Z = net.Z[l + 1][:, None, :] + net.W[l + 1][:, rows][:, :, None] * activation_change[None]
    return forward_from(net, l + 1, next_Z)


def forward_from(net: Any, layer: int, Z: np.ndarray) -> np.ndarray:
    """Finish a batch of forward passes from ``Z`` of ``layer`` (units, batch, m); return costs (batch,)."""
    for l in range(layer + 1, net.L + 1):
        A = net.activation(Z)
        units, batch, m = A.shape
        Z = (net.W[l] @ A.reshape(units, batch * m)).reshape(-1, batch, m) + net.b[l][:, :, None]
    return costs_from_logits(net, Z)


def costs_from_logits(net: Any, logits: np.ndarray) -> np.ndarray:
    """Mean loss per batch member of logits (n_L, batch, m), as the model's cost computes it."""
    losses = net.example_losses(logits)
    return losses.transpose(1, 0, 2).reshape(logits.shape[1], -1).mean(axis=1)


def bytes_per_coordinate(model: Model, params: Params, X: Any, Y: Any) -> np.ndarray:
    """Per coordinate: two passes, each holding a few copies of the activations after its layer."""
    assert model.layers is not None
    net = model.layers(params, X, Y)  # the layout only: no forward pass is run for this
    per_tensor = []
    for name, value in params.items():
        layer, _ = net.roles[name]
        downstream = sum(net.widths[layer + 1:])
        per_tensor.append(np.full(value.size, 2 * FLOAT_BYTES * net.examples * (WORKING_COPIES * (downstream + 1) + 2)))
    return np.concatenate(per_tensor)


def handles(model: Model, params: Params, X: Any, Y: Any) -> bool:
    """Models that declare dense layers, at a float64 point."""
    return model.layers is not None and float64_params(params)


ENGINE = FDEngine(
    name="structured",
    description="NumPy, recomputes only the row and layers a perturbation changes (models with dense layers)",
    prepare=prepare,
    handles=handles,
    bytes_per_coordinate=bytes_per_coordinate,
    fast_chunk_bytes=CACHE_SIZED_CHUNK,
    auto_rank=20,
)

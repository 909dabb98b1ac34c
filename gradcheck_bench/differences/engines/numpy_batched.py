"""The batched NumPy engine: a chunk of perturbed parameter vectors through the forward pass at once.

For models that declare a batched NumPy cost (``Model.batched_cost``: every
parameter with a leading batch axis, one cost per member; the MLP's is its
own forward pass, broadcast). Each coordinate of a block contributes two rows
of a reused buffer holding the flat parameter vector, one moved by +step and
one by -step (only those entries are written; the block is sized so its rows
stay in cache). Nothing is shared or skipped: 2n complete forward passes
with the Python overhead paid once per block instead of once per pass, which makes it the
fastest engine for small models (the seed case is one chunk of 94 passes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...models import Model, Params
from ...ravel import parameter_count, parameter_slices, ravel
from ...counting import counted
from . import (FLOAT_BYTES, ChunkEvaluator, FDEngine, PerturbedBatch, blockwise, cache_block, costs_of_batch,
               float64_params, layout_of, pass_bytes)

SMALL_WORK_BYTES = 4 * 2**20
"""``auto`` picks this engine while one chunk holding all 2n passes needs at most this much
memory: then the Python overhead per chunk, not the arithmetic, is what costs."""


def prepare(model: Model, params: Params, X: Any, Y: Any) -> ChunkEvaluator:
    flat, _ = ravel(params)
    slices, shapes = parameter_slices(params), {name: np.shape(value) for name, value in params.items()}
    batched_cost = model.batched_cost
    assert batched_cost is not None  # handles() says so

    block = cache_block(bytes_per_coordinate(model, params, X, Y))
    rows_of = PerturbedBatch(flat)

    def evaluate(indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
        batch = rows_of.fill(indices, steps)  # the tensors below are views of its rows, not copies
        rows = {name: batch[:, where].reshape((batch.shape[0],) + shapes[name]) for name, where in slices.items()}
        return costs_of_batch(batched_cost(rows, X, Y), batch)

    return blockwise(evaluate, block)


def bytes_per_coordinate(model: Model, params: Params, X: Any, Y: Any) -> int:
    """Two passes per coordinate, each holding two copies of the parameter vector (a row of the perturbed
    batch, and whatever copies of its tensors the batched cost makes) and one pass's working set."""
    return 2 * (2 * FLOAT_BYTES * parameter_count(params) + one_pass_bytes(model, params, X, Y))


def one_pass_bytes(model: Model, params: Params, X: Any, Y: Any) -> int:
    """Peak memory of the batched cost on a batch of one point."""
    assert model.batched_cost is not None
    batched_cost = counted(model.batched_cost)
    return pass_bytes((batched_cost.function, *layout_of(params, X, Y)),
                      lambda: batched_cost({name: value[None] for name, value in params.items()}, X, Y))


def handles(model: Model, params: Params, X: Any, Y: Any) -> bool:
    """Models with a batched NumPy cost, at a float64 point."""
    return model.batched_cost is not None and float64_params(params)


def small_work(model: Model, params: Params, X: Any, Y: Any) -> bool:
    """Whether one chunk of all 2n passes fits in a few MiB, so overhead is what matters."""
    return parameter_count(params) * bytes_per_coordinate(model, params, X, Y) <= SMALL_WORK_BYTES


ENGINE = FDEngine(
    name="numpy-batched",
    description="NumPy, a batch of whole perturbed parameter vectors per call (models with a batched cost)",
    prepare=prepare,
    handles=handles,
    bytes_per_coordinate=bytes_per_coordinate,
    auto_rank=10,
    auto_suits=small_work,
)

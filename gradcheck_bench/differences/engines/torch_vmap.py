"""The PyTorch engine: ``torch.func.vmap`` of the model's own cost over a chunk of perturbed vectors.

For any model whose cost is written against ``xp``: the cost is called with
torch's Array API namespace (as the ``torch`` source does) on float64 tensors, on the CPU, under
``torch.inference_mode`` (only forward passes), and vmapped over the rows of a ``(2k, n)`` batch of
perturbed flat parameter vectors, in cache-sized blocks of ``k`` coordinates. Data (X, Y) is converted leaf by leaf:
float arrays become float64 tensors, integer arrays keep their dtype (token
ids index as they did), anything else is passed as it is.

The batch is built per tensor: for the coordinates of one tensor, the cost
is vmapped over perturbed copies of that tensor alone while every other
tensor is shared, so a chunk holds ``2k`` copies of one tensor, not of the
whole parameter vector, and layers before the perturbed one run unbatched.

A cost that cannot be vmapped (``.item()``, Python branches on values) raises
inside the first chunk; the engine checks its cost at the unperturbed point
against the NumPy cost, so a cost that silently differs under torch is caught
too. Either way it says :class:`EngineUnsuitable` and ``engine="auto"`` moves
on to the loop engine. PyTorch is imported only when the engine is used.

``engine="auto"`` takes this engine only where it has timed it against the
loop (``measured_only``): on a 2-core machine torch's intra-op threads made
a small cost's vmapped passes 6 to 18 times slower than the loop's in one
process and not in another (kmeans, n = 80: 100 to 300 ms against 17 ms,
and 23 ms with one torch thread), so a rank alone cannot promise the
engine is worth taking.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...models import Model, Params
from ...ravel import parameter_count, parameter_slices, ravel
from . import (FLOAT_BYTES, ChunkEvaluator, EngineUnsuitable, FDEngine, PerturbedBatch, blockwise, by_tensor,
               cache_block, costs_of_batch, handles_framework, numpy_pass_bytes, require_agreement)

WHOLE_VECTOR_PARAMETERS = 2048
"""Up to this many parameters a chunk carries whole perturbed vectors (one vmap call per chunk, and the
copies stay small); above it, perturbed copies of one tensor at a time."""
FAST_CHUNK_BYTES = 16 * 2**20
"""Chunks of about this working set ran fastest (``gradcheck-bench peers`` times each fd engine, this one
included; ``gradcheck-bench growth`` times only the NumPy engines)."""


def prepare(model: Model, params: Params, X: Any, Y: Any) -> ChunkEvaluator:
    """vmap the model's cost over a block's perturbed points.

    A model with few parameters gets whole perturbed parameter vectors, one
    vmap call per block; a larger one gets perturbed copies of one tensor at a
    time, every other tensor shared and unbatched, so a block never holds
    ``2k`` copies of the whole vector. Either way the perturbed rows live in
    one reused buffer per tensor (:class:`PerturbedBatch`), handed to torch
    without a copy.
    """
    import torch
    from torch.func import vmap

    from ...frameworks.torch import to_torch, torch_namespace

    xp = torch_namespace()
    X_torch, Y_torch = to_torch(X), to_torch(Y)
    tensors = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in params.items()}
    flat, unravel = ravel(params)
    whole = flat.size <= WHOLE_VECTOR_PARAMETERS
    shapes = {name: np.shape(value) for name, value in params.items()}

    def cost_of_vector(vector: Any) -> Any:
        return model.cost(unravel(vector), X_torch, Y_torch, xp=xp).reshape(())

    def cost_with(name: str) -> Callable[[Any], Any]:
        return lambda tensor: model.cost({**tensors, name: tensor}, X_torch, Y_torch, xp=xp).reshape(())

    batched: dict[str | None, Any] = {None: vmap(cost_of_vector)} if whole else \
        {name: vmap(cost_with(name)) for name in params}

    def run(name: str | None, batch: np.ndarray) -> np.ndarray:
        try:
            with torch.inference_mode():  # torch's thread settings are the caller's: never changed here
                return batched[name](torch.from_numpy(batch)).numpy()
        except Exception as error:  # any failure of the user's cost under vmap: not this engine's cost
            raise EngineUnsuitable(f"its cost does not run under torch.func.vmap ({type(error).__name__}: "
                                   f"{str(error)[:200]})") from error

    first = None if whole else next(iter(params))
    base = flat if first is None else params[first]
    require_agreement(float(run(first, base[None].copy())[0]), model, params, X, Y, "torch")

    block = cache_block(bytes_per_coordinate(model, params, X, Y))
    if whole:
        rows_of = PerturbedBatch(flat)

        def evaluate_whole(indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
            batch = rows_of.fill(indices, steps)
            return costs_of_batch(run(None, batch), batch)

        return blockwise(evaluate_whole, block)
    blocks = list(parameter_slices(params).items())
    rows_by_tensor = {name: PerturbedBatch(np.ravel(value)) for name, value in params.items()}

    def evaluate(indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
        costs = np.empty((2, indices.size))
        for (name, where), positions in by_tensor(blocks, indices):
            batch = rows_by_tensor[name].fill(indices[positions] - where.start, steps[positions])
            costs[:, positions] = costs_of_batch(run(name, batch.reshape((batch.shape[0],) + shapes[name])), batch)
        return costs

    return blockwise(evaluate, block)


def bytes_per_coordinate(model: Model, params: Params, X: Any, Y: Any) -> np.ndarray:
    """Two passes per coordinate: a perturbed copy of its tensor each, and a working set like the NumPy pass's."""
    working_set = numpy_pass_bytes(model, params, X, Y)
    n = parameter_count(params)
    return np.concatenate([np.full(value.size, 2 * (FLOAT_BYTES * (n if n <= WHOLE_VECTOR_PARAMETERS else value.size)
                                                    + working_set)) for value in params.values()])


ENGINE = FDEngine(
    name="torch",
    description="PyTorch torch.func.vmap of the model's cost over perturbed parameter vectors (costs written against xp)",
    prepare=prepare,
    handles=handles_framework("torch"),
    bytes_per_coordinate=bytes_per_coordinate,
    requires=("torch", "array_api_compat"),
    fast_chunk_bytes=FAST_CHUNK_BYTES,
    auto_rank=30,
    measured_only=True,
)

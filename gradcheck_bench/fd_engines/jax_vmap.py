"""The JAX engine: ``jit(vmap(cost))`` over a chunk of perturbed flat parameter vectors.

The MLP cost is the package's own ``mlp_cost`` evaluated with ``xp=jax.numpy``
in float64 (inside ``jax.enable_x64``, so the caller's JAX settings are left
alone). Every chunk has the same shape (the last one is padded) so XLA
compiles once per run. JAX is imported only when the engine is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..models import Params, mlp_cost
from . import ChunkEvaluator, FDEngine, centered, perturbed_batch
from .mlp_layout import handles_mlp
from .numpy_batched import bytes_per_coordinate

def padded(indices: np.ndarray, steps: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Repeat the last coordinate so every chunk has ``size`` entries (one compiled shape)."""
    missing = size - indices.size
    return np.pad(indices, (0, missing), mode="edge"), np.pad(steps, (0, missing), mode="edge")


def prepare(cost: Any, params: Params, X: np.ndarray, Y: np.ndarray) -> ChunkEvaluator:
    import jax
    import jax.numpy as jnp

    from ..flatten import ravel

    flat, unravel = ravel(params)
    with jax.enable_x64(True):
        X_device, Y_device = jnp.asarray(X), jnp.asarray(Y)
        batched_cost = jax.jit(jax.vmap(lambda vector: mlp_cost(unravel_jax(vector), X_device, Y_device, xp=jnp)))
    shapes = {name: value.shape for name, value in params.items()}
    offsets = np.cumsum([0] + [value.size for value in params.values()])

    def unravel_jax(vector: Any) -> Params:
        return {name: vector[start:stop].reshape(shapes[name])
                for name, start, stop in zip(shapes, offsets[:-1], offsets[1:])}

    chunk = {"size": 0}

    def evaluate(indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
        k = indices.size
        chunk["size"] = max(chunk["size"], k)
        full_indices, full_steps = padded(indices, steps, chunk["size"])
        with jax.enable_x64(True):
            costs = np.asarray(batched_cost(jnp.asarray(perturbed_batch(flat, full_indices, full_steps))))
        size = full_indices.size
        return centered(costs[:size], costs[size:], full_steps)[:k]

    return evaluate




ENGINE = FDEngine(
    name="jax",
    description="JAX jit(vmap) over perturbed parameter vectors (MLP cost)",
    prepare=prepare,
    handles=handles_mlp,
    bytes_per_coordinate=bytes_per_coordinate,
    requires=("jax",),
)

"""The JAX engine: ``jit(vmap(cost))`` over a chunk of perturbed flat parameter vectors.

The MLP cost is the package's own ``mlp_cost`` evaluated with ``xp=jax.numpy``
in float64 (inside ``jax.enable_x64``, so the caller's JAX settings are left
alone). Every chunk has the same shape (the last one is padded) and the
compiled function is kept per parameter layout, so XLA compiles once per
layout and chunk shape. JAX is imported only when the engine is used.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ..flatten import ravel
from ..models import Params, mlp_cost
from . import ChunkEvaluator, FDEngine, centered, perturbed_batch
from .mlp_layout import handles_mlp
from .numpy_batched import bytes_per_coordinate

def padded(indices: np.ndarray, steps: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Repeat the last coordinate so every chunk has ``size`` entries (one compiled shape)."""
    missing = size - indices.size
    return np.pad(indices, (0, missing), mode="edge"), np.pad(steps, (0, missing), mode="edge")


@functools.lru_cache(maxsize=16)
def batched_cost_for(layout: tuple[tuple[str, tuple[int, ...]], ...]) -> Callable[..., Any]:
    """``jit(vmap(cost))`` for one parameter layout, built once per process (XLA caches by shape)."""
    import jax
    import jax.numpy as jnp

    offsets = np.cumsum([0] + [int(np.prod(shape)) for _, shape in layout])

    def cost_of_vector(vector: Any, X: Any, Y: Any) -> Any:
        params = {name: vector[start:stop].reshape(shape)
                  for (name, shape), start, stop in zip(layout, offsets[:-1], offsets[1:])}
        return mlp_cost(params, X, Y, xp=jnp)

    return jax.jit(jax.vmap(cost_of_vector, in_axes=(0, None, None)))


def prepare(cost: Any, params: Params, X: np.ndarray, Y: np.ndarray) -> ChunkEvaluator:
    import jax.numpy as jnp

    from ..sources.jax_autograd import x64_scope

    flat, _ = ravel(params)
    batched_cost = batched_cost_for(tuple((name, value.shape) for name, value in params.items()))
    with x64_scope():
        X_device, Y_device = jnp.asarray(X), jnp.asarray(Y)
    chunk = {"size": 0}

    def evaluate(indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
        k = indices.size
        chunk["size"] = max(chunk["size"], k)
        full_indices, full_steps = padded(indices, steps, chunk["size"])
        with x64_scope():
            batch = jnp.asarray(perturbed_batch(flat, full_indices, full_steps))
            costs = np.asarray(batched_cost(batch, X_device, Y_device))
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

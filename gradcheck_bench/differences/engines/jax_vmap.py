"""The JAX engine: ``jit(vmap(cost))`` of the model's own cost over a block of perturbed vectors.

For any model whose cost is written against ``xp``: the cost is called with
``xp=jax.numpy`` in float64 (inside JAX's scoped x64 context, so the caller's
JAX settings are left alone). Chunks are evaluated in cache-sized blocks of
one size (the last one padded), whose perturbed rows live in one reused
buffer, and the compiled function is kept per cost and parameter layout, so
XLA compiles once per cost, layout and block size and every later call
reuses it. Compiling unrolls the cost's Python loops, which for a long
recurrence can take longer than the loop engine's whole run: ``engine="auto"``
therefore takes this engine only where it times the candidates
(``measured_only``), on warm blocks, and only when it beats the loop there.
JAX is imported only when the engine is used.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ...models import Model, Params
from ...ravel import parameter_count, ravel
from ...counting import record_passes
from . import (FLOAT_BYTES, ChunkEvaluator, EngineUnsuitable, FDEngine, PerturbedBatch, blockwise, cache_block,
               costs_of_batch, handles_framework, layout_of, numpy_pass_bytes, require_agreement)


def padded(indices: np.ndarray, steps: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Repeat the last coordinate so every block has ``size`` entries (one compiled shape)."""
    missing = size - indices.size
    return np.pad(indices, (0, missing), mode="edge"), np.pad(steps, (0, missing), mode="edge")


@functools.lru_cache(maxsize=16)
def batched_cost_for(cost: Callable[..., Any], layout: tuple[tuple[str, tuple[int, ...], str], ...]) -> Callable[..., Any]:
    """``jit(vmap(cost))`` for one cost and parameter layout, built once per process (XLA caches by shape)."""
    import jax
    import jax.numpy as jnp

    offsets = np.cumsum([0] + [int(np.prod(shape)) for _, shape, _ in layout])

    def cost_of_vector(vector: Any, X: Any, Y: Any) -> Any:
        params = {name: vector[start:stop].reshape(shape)
                  for (name, shape, _), start, stop in zip(layout, offsets[:-1], offsets[1:])}
        return jnp.reshape(cost(params, X, Y, xp=jnp), ())

    return jax.jit(jax.vmap(cost_of_vector, in_axes=(0, None, None)))


def prepare(model: Model, params: Params, X: Any, Y: Any) -> ChunkEvaluator:
    import jax

    from ...frameworks.jax import to_jax, x64_scope

    flat, _ = ravel(params)
    batched_cost = batched_cost_for(model.cost, tuple((name, np.shape(v), str(v.dtype)) for name, v in params.items()))
    with x64_scope():
        X_device, Y_device = to_jax(X), to_jax(Y)
    block = cache_block(bytes_per_coordinate(model, params, X, Y))
    rows_of = PerturbedBatch(flat)

    def run(batch: np.ndarray) -> np.ndarray:
        try:
            with x64_scope():
                return np.asarray(jax.block_until_ready(batched_cost(batch, X_device, Y_device)))
        except Exception as error:  # the user's cost does not trace under jit(vmap)
            raise EngineUnsuitable(f"its cost does not run under jax.jit(jax.vmap) ({type(error).__name__}: "
                                   f"{str(error)[:200]})") from error

    # at the point itself, in the blocks' shape (one compile): rows 0 and block are moved by a zero step
    at_point = run(rows_of.fill(np.zeros(block, dtype=np.intp), np.zeros(block)))
    require_agreement(float(at_point[0]), model, params, X, Y, "jax.numpy")

    def evaluate(indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
        batch = rows_of.fill(*padded(indices, steps, block))  # one shape: compiled once
        return costs_of_batch(run(batch), batch)[:, :indices.size]

    return blockwise(evaluate, block)


MAX_UNROLLED_OPERATIONS = 2000
"""``auto`` tries this engine only for costs whose NumPy pass runs at most this many array operations: tracing
and compiling unroll every one of them (a recurrence over a sequence becomes tens of thousands), and XLA's
compile time grows faster than the program, to minutes where the loop takes seconds."""


class _CountingArray(np.ndarray):
    """An ndarray that counts the ufuncs and NumPy functions applied to it (one pass's operations)."""

    operations = 0

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        _CountingArray.operations += 1
        plain = tuple(value.view(np.ndarray) if isinstance(value, _CountingArray) else value for value in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(value.view(np.ndarray) if isinstance(value, _CountingArray) else value
                                  for value in kwargs["out"])
        result = getattr(ufunc, method)(*plain, **kwargs)
        return result.view(_CountingArray) if isinstance(result, np.ndarray) else result

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        _CountingArray.operations += 1
        return super().__array_function__(func, types, args, kwargs)


_OPERATIONS: dict[Any, float] = {}


def operation_count(model: Model, params: Params, X: Any, Y: Any) -> float:
    """Array operations in one NumPy pass of the cost, counted once per cost and layout (inf: it would not run
    on a counting array, so its size is unknown). The pass is a real one and is counted as such."""
    # by the cost's name, as auto keeps its choice: a derived cost is a new closure at every check
    key = (model.name, getattr(model.cost, "__qualname__", ""), layout_of(params, X, Y))
    if key not in _OPERATIONS:
        _CountingArray.operations = 0
        record_passes(1)
        try:
            model.cost({name: np.asarray(value).view(_CountingArray) for name, value in params.items()}, X, Y)
            _OPERATIONS[key] = float(_CountingArray.operations)
        except Exception:  # the user's cost, on an ndarray subclass: whatever it raises, its size is unknown
            _OPERATIONS[key] = float("inf")
    return _OPERATIONS[key]


def small_program(model: Model, params: Params, X: Any, Y: Any) -> bool:
    """Whether tracing the cost gives a program XLA compiles in moments (see :data:`MAX_UNROLLED_OPERATIONS`)."""
    return operation_count(model, params, X, Y) <= MAX_UNROLLED_OPERATIONS


def bytes_per_coordinate(model: Model, params: Params, X: Any, Y: Any) -> int:
    """Two passes per coordinate, each a whole perturbed parameter vector and a working set like the NumPy pass's.

    Every coordinate costs the same here: the batch holds whole vectors, whichever tensor is perturbed.
    """
    return 2 * (FLOAT_BYTES * parameter_count(params) + numpy_pass_bytes(model, params, X, Y))


ENGINE = FDEngine(
    name="jax",
    description="JAX jit(vmap) of the model's cost over perturbed parameter vectors (costs written against xp)",
    prepare=prepare,
    handles=handles_framework("jax"),
    bytes_per_coordinate=bytes_per_coordinate,
    requires=("jax",),
    auto_rank=40,
    auto_suits=small_program,
    measured_only=True,
)

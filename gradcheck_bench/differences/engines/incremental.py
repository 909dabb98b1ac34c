"""The incremental engine: each perturbed pass recomputes only what its one moved entry changes.

For any model whose cost is written against ``xp``: the cost is traced once
with ``xp=jax.numpy`` (in JAX's scoped float64) into a program of primitive
operations, which NumPy evaluates at the point and then replays at a block of
perturbed points, carrying for each operation only the values the moved
entry reaches (:mod:`gradcheck_bench.differences.incremental`). Moving one
weight of a dense layer touches one row of that layer's output, so where
the loop engine and the batched engines recompute a whole forward pass per
perturbation, this one computes a row, and the rest of the pass from there.

Every perturbed cost is still a forward pass's value (not a derivative), up
to rounding, and is counted as one pass. A block holds the coordinates of
one tensor, both signs. The replay's cost at the point must agree with the
NumPy cost, as every framework engine's must. JAX is imported only to trace;
a primitive with no NumPy rule runs through JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...counting import record_passes
from ...models import Model, Params
from ...ravel import parameter_slices, ravel
from ..incremental import Boxed, Replay, primitives_without_rule
from . import (BLOCK_LIMITS, ChunkEvaluator, EngineUnsuitable, FDEngine, by_tensor, handles_framework,
               numpy_pass_bytes, require_agreement)
from .jax_vmap import small_program

BLOCK = BLOCK_LIMITS[1]
"""Coordinates replayed together: the replay's Python costs the same per block whatever its size, and a block
of one tensor's coordinates holds only the boxes they touch."""


Trace = tuple[Any, list[Any], list[Any]]
_TRACES: dict[Any, tuple[Any, list[Any]]] = {}
"""Programs traced in this process, by cost and layout: the data are the program's inputs, so a program
holds for every point of one layout."""
MAX_TRACES = 32


def trace(model: Model, params: Params, X: Any, Y: Any) -> Trace:
    """The cost's program (a jaxpr over the parameters, then the data's array leaves), its constants, and
    its inputs at the point."""
    import jax

    from ...frameworks.jax import float64_leaves

    names = list(params)
    leaves, tree = jax.tree_util.tree_flatten(float64_leaves((X, Y)))
    arrays = [position for position, leaf in enumerate(leaves) if isinstance(leaf, np.ndarray)]
    inputs = [np.asarray(params[name], dtype=np.float64) for name in names] + [leaves[i] for i in arrays]
    static = tuple(leaf for position, leaf in enumerate(leaves) if position not in arrays)
    key: Any = (model.cost, tuple(names), tuple((np.shape(value), np.asarray(value).dtype.str) for value in inputs),
           tree, static)
    try:
        hash(key)
    except TypeError:  # a data leaf that is not an array and not hashable: trace every time
        key = None
    if key is None or key not in _TRACES:
        traced = trace_program(model, names, leaves, tree, arrays, inputs)
        if key is None:
            return (*traced, inputs)
        if len(_TRACES) >= MAX_TRACES:
            _TRACES.pop(next(iter(_TRACES)))
        _TRACES[key] = traced
    return (*_TRACES[key], inputs)


def trace_program(model: Model, names: list[str], leaves: list[Any], tree: Any, arrays: list[int],
                  inputs: list[Any]) -> tuple[Any, list[Any]]:
    import jax
    import jax.numpy as jnp

    from ...frameworks.jax import x64_scope

    def cost(*values: Any) -> Any:
        data = list(leaves)
        for position, value in zip(arrays, values[len(names):]):
            data[position] = value
        X_traced, Y_traced = jax.tree_util.tree_unflatten(tree, data)
        return jnp.reshape(model.cost(dict(zip(names, values[:len(names)])), X_traced, Y_traced, xp=jnp), ())

    try:
        with x64_scope():
            closed = jax.make_jaxpr(cost)(*inputs)
    except Exception as error:  # the user's cost does not trace under JAX
        raise EngineUnsuitable(f"its cost does not trace under jax.make_jaxpr ({type(error).__name__}: "
                               f"{str(error)[:200]})") from error
    return closed.jaxpr, [np.asarray(const) for const in closed.consts]


def prepare(model: Model, params: Params, X: Any, Y: Any) -> ChunkEvaluator:
    jaxpr, consts, inputs = trace(model, params, X, Y)
    try:
        replay = Replay(jaxpr, consts, inputs)
    except Exception as error:  # an operation neither NumPy's rules nor JAX could run at the point
        raise EngineUnsuitable(f"its program could not be replayed ({type(error).__name__}: "
                               f"{str(error)[:200]})") from error
    at_point = float(replay.outputs[0])
    require_agreement(at_point, model, params, X, Y, "the incremental replay")
    flat, _ = ravel(params)
    names = list(params)
    blocks = list(parameter_slices(params).items())
    shapes = {name: np.shape(params[name]) for name in names}

    def replay_block(name: str, where: slice, coordinates: np.ndarray, steps: np.ndarray) -> np.ndarray:
        k = coordinates.size
        entry = np.unravel_index(coordinates - where.start, shapes[name]) if shapes[name] else ()
        idx = tuple(np.concatenate([axis, axis]).reshape(2 * k, 1) for axis in entry)
        moved = np.concatenate([flat[coordinates] + steps, flat[coordinates] - steps])
        value = Boxed(idx, moved.reshape((2 * k,) + (1,) * len(entry)))
        (cost,) = replay.perturbed({names.index(name): value})
        record_passes(2 * k)
        if cost is None:  # the cost does not depend on this tensor
            return np.full((2, k), at_point)
        return np.broadcast_to(cost.vals, (2 * k,)).reshape(2, k)

    def evaluate(indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
        costs = np.empty((2, indices.size))
        for (name, where), positions in by_tensor(blocks, indices):
            for start in range(0, positions.size, BLOCK):
                part = positions[start:start + BLOCK]
                costs[:, part] = replay_block(name, where, indices[part], steps[part])
        return costs

    return evaluate


def replayable(model: Model, params: Params, X: Any, Y: Any) -> bool:
    """Where ``auto`` times this engine: a program of at most :data:`MAX_UNROLLED_OPERATIONS` array operations
    whose every primitive has a NumPy rule here (one that would run through JAX, compiled op by op on its
    first call, makes preparing cost far more than the loop's whole run)."""
    if not small_program(model, params, X, Y):
        return False
    try:
        jaxpr, _, _ = trace(model, params, X, Y)
    except EngineUnsuitable:
        return False
    return not primitives_without_rule(jaxpr)


def bytes_per_coordinate(model: Model, params: Params, X: Any, Y: Any) -> int:
    """At most a whole pass per perturbation (where the moved entry reaches everything), both signs."""
    return 2 * numpy_pass_bytes(model, params, X, Y)


ENGINE = FDEngine(
    name="incremental",
    description="the cost's traced program replayed in NumPy, recomputing only what each moved entry reaches "
                "(costs written against xp)",
    prepare=prepare,
    handles=handles_framework("jax"),
    bytes_per_coordinate=bytes_per_coordinate,
    requires=("jax",),
    auto_rank=35,
    auto_suits=replayable,
    measured_only=True,
)

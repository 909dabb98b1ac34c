"""Engines of the finite-difference oracle, and the one seam they share.

An engine evaluates centered differences for a *chunk of coordinates*:
``engine.prepare(cost, params, X, Y)`` returns a :data:`ChunkEvaluator`
``(indices, steps) -> differences`` where ``differences[k]`` is

    (J(theta + steps[k] e_i) - J(theta - steps[k] e_i)) / (2 steps[k]),  i = indices[k],

with ``theta`` the flat parameter vector (:func:`gradcheck_bench.flatten.ravel`
order). The driver in :mod:`gradcheck_bench.sources.finite_difference` walks
the chunks (progress bar, chunk size from a memory budget). A distributed
engine is one more :class:`FDEngine` with a ``map_chunks`` that puts all
chunks in flight at once and hands back each one's differences as it
completes (:mod:`.dask_engine`).

Engines only ever evaluate the forward cost, never a derivative formula.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..models import Params

Cost = Callable[[Params, Any, Any], Any]
ChunkEvaluator = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(indices: int array (k,), steps: float array (k,)) -> differences (k,)``."""
Chunk = tuple[np.ndarray, np.ndarray]
"""``(indices, steps)``: the coordinates of one chunk and their steps."""
ChunkMapper = Callable[..., Iterator[Chunk]]
"""``(cost, params, X, Y, chunks, **options) -> iterator of (indices, differences)``, any order."""

FLOAT64 = np.dtype(np.float64)


@dataclass(frozen=True)
class FDEngine:
    """One way of evaluating the 2n forward passes of the centered differences.

    ``handles(cost, params, X, Y)`` says whether this engine can evaluate that
    cost at that point (the fast engines know the MLP cost only);
    ``bytes_per_coordinate(params, X)`` is the peak extra memory per coordinate
    of a chunk (one number, or one per coordinate when it differs by tensor),
    from which the driver sizes chunks; ``max_chunk`` caps a chunk
    so the progress bar still moves (the loop engine needs no memory);
    ``fast_chunk_bytes``, when given, is the working set at which the engine
    runs fastest (a cache-sized chunk beats a budget-sized one for
    memory-bound engines); ``auto_suits(params, X)``, when given, limits the points for which
    ``engine="auto"`` picks this engine (e.g. only small nets).

    ``map_chunks``, when given, replaces the driver's one-chunk-after-another
    loop: it receives every chunk and yields ``(indices, differences)`` as
    each completes, in any order (a distributed engine keeps them all in
    flight); ``options`` names the keyword options it accepts (e.g. a
    scheduler address), which the driver passes through to it.
    """

    name: str
    description: str
    prepare: Callable[[Cost, Params, Any, Any], ChunkEvaluator]
    handles: Callable[[Cost, Params, Any, Any], bool]
    bytes_per_coordinate: Callable[[Params, Any], int | np.ndarray]
    requires: tuple[str, ...] = ()
    max_chunk: int | None = None
    fast_chunk_bytes: int | None = None
    auto_suits: Callable[[Params, Any], bool] | None = None
    map_chunks: ChunkMapper | None = None
    options: tuple[str, ...] = ()

    def is_available(self) -> bool:
        """True when every framework in ``requires`` can be imported here."""
        return all(importlib.util.find_spec(module) is not None for module in self.requires)

    def evaluate_chunks(self, cost: Cost, params: Params, X: Any, Y: Any, chunks: Iterable[Chunk],
                        **options: Any) -> Iterator[Chunk]:
        """``(indices, differences)`` of every chunk, in completion order.

        By default the evaluator from ``prepare`` runs the chunks one after
        another (lazily, so only one chunk's memory is alive); an engine with
        ``map_chunks`` schedules them its own way.
        """
        if self.map_chunks is not None:
            return self.map_chunks(cost, params, X, Y, chunks, **options)
        return evaluate_in_order(self.prepare(cost, params, X, Y), chunks)


def evaluate_in_order(evaluate: ChunkEvaluator, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    """The sequential schedule: one chunk after another, each as soon as it is asked for."""
    for indices, steps in chunks:
        yield indices, evaluate(indices, steps)


def perturbed_values(values: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(theta_i + step, theta_i - step)``, rounded exactly as the loop engine stores them."""
    return values + steps, values - steps


def perturbed_batch(flat: np.ndarray, indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """(2k, n): copies of ``flat`` with coordinate ``indices[b]`` moved +step (first k), then -step."""
    plus, minus = perturbed_values(flat[indices], steps)
    batch = np.repeat(flat[None], 2 * indices.size, axis=0)
    batch[np.arange(2 * indices.size), np.tile(indices, 2)] = np.concatenate([plus, minus])
    return batch


def centered(cost_plus: np.ndarray, cost_minus: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The centered difference, divided by the nominal ``2 * step`` as the loop does."""
    return (cost_plus - cost_minus) / (2 * steps)


def is_float64_point(params: Params, X: Any, Y: Any) -> bool:
    """The fast engines compute in float64 only; other dtypes go to the loop engine."""
    arrays = list(params.values()) + [X] + ([] if Y is None else [Y])
    return all(isinstance(a, np.ndarray) and a.dtype == FLOAT64 for a in arrays)

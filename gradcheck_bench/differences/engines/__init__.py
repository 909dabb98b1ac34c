"""Engines of the finite-difference oracle, and the one seam they share.

An engine evaluates the cost at perturbed points for a *chunk of
coordinates*: ``engine.prepare(model, params, X, Y)`` returns a
:data:`ChunkEvaluator` ``(indices, steps) -> costs`` where ``costs`` has shape
``(2, k)``: ``costs[0, j] = J(theta + steps[j] e_i)`` and
``costs[1, j] = J(theta - steps[j] e_i)`` for ``i = indices[j]``, with
``theta`` the flat parameter vector (:func:`gradcheck_bench.ravel.ravel`
order). The driver in :mod:`gradcheck_bench.differences` turns
them into differences and error estimates, walking the chunks with a
progress bar and sizing them to a memory budget.

Each module of this package declares ``ENGINE = FDEngine(...)`` and is found
by :func:`engines`, so a new engine is one new file. An engine says which
costs it can evaluate (``handles``, from what the model declares) and where
``engine="auto"`` should try it (``auto_rank``, lower first). A distributed
engine adds ``map_chunks``, which keeps every chunk in flight and hands back
each one's costs as it completes.

Engines only ever evaluate the forward cost, never a derivative formula.
"""

from __future__ import annotations

import importlib
import pkgutil
import tracemalloc
from dataclasses import dataclass
from typing import Any, Callable, Generator, Iterable, Iterator

import numpy as np

from ...counting import counted, record_passes
from ...errors import InputError
from ...installed import module_installed
from ...models import Model, Params
from ...ravel import PointParams
from ...validation import scalar_cost

ChunkEvaluator = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(indices: int array (k,), steps: float array (k,)) -> costs (2, k)`` at ``theta +- step``."""
Chunk = tuple[np.ndarray, np.ndarray]
"""``(indices, steps)``: the coordinates of one chunk and their steps."""
ChunkMapper = Callable[..., Generator[Chunk, None, None]]
"""``(model, params, X, Y, chunks, **options) -> iterator of (indices, costs)``, any order."""

FLOAT64 = np.dtype(np.float64)
FLOAT_BYTES = 8
AGREEMENT = 1e-9
"""Relative agreement a framework engine's cost must reach with the NumPy cost at the unperturbed point."""
DEFAULT_MEMORY_BUDGET = 256 * 2**20
"""Peak extra bytes an engine may hold at once (256 MiB); chunks are sized from it."""


class EngineUnsuitable(Exception):
    """An engine found, once running, that it cannot evaluate this cost (``auto`` moves on)."""


@dataclass(frozen=True)
class FDEngine:
    """One way of evaluating the 2n forward passes of the centered differences.

    ``handles(model, params, X, Y)`` says whether this engine can evaluate the
    model's cost at that point, from what the model declares;
    ``bytes_per_coordinate(model, params, X, Y)`` is the peak extra memory per
    coordinate of a chunk (one number, or one per coordinate), from which the
    driver sizes chunks; ``max_chunk`` caps a chunk so the progress bar still
    moves; ``fast_chunk_bytes``, when given, is the working set at which the
    engine runs fastest; ``auto_rank`` orders the engines ``engine="auto"``
    tries (lower first; None: only when named), and ``auto_suits(model,
    params, X, Y)``, when given, limits the points for which auto picks it;
    ``measured_only`` makes it a candidate only where ``auto`` times the
    candidates (a one-off cost such as compiling pays off only on long runs).

    ``map_chunks``, when given, replaces the driver's one-chunk-after-another
    loop (a distributed engine keeps them all in flight); ``options`` names
    the keyword options it accepts, passed as ``fd(engine_options={...})``.
    """

    name: str
    description: str
    prepare: Callable[[Model, Params, Any, Any], ChunkEvaluator]
    handles: Callable[[Model, Params, Any, Any], bool]
    bytes_per_coordinate: Callable[[Model, Params, Any, Any], int | np.ndarray]
    requires: tuple[str, ...] = ()
    max_chunk: int | None = None
    fast_chunk_bytes: int | None = None
    auto_rank: int | None = None
    auto_suits: Callable[[Model, Params, Any, Any], bool] | None = None
    map_chunks: ChunkMapper | None = None
    options: tuple[str, ...] = ()
    measured_only: bool = False

    def is_available(self) -> bool:
        """True when every framework in ``requires`` can be imported here."""
        return all(module_installed(module) for module in self.requires)

    def evaluate_chunks(self, model: Model, params: Params, X: Any, Y: Any, chunks: Iterable[Chunk],
                        **options: Any) -> Generator[Chunk, None, None]:
        """``(indices, costs)`` of every chunk, in completion order.

        By default the evaluator from ``prepare`` runs the chunks one after
        another (lazily, so only one chunk's memory is alive); an engine with
        ``map_chunks`` schedules them its own way.
        """
        if self.map_chunks is not None:
            return self.map_chunks(model, params, X, Y, chunks, **options)
        return evaluate_in_order(self.prepare(model, params, X, Y), chunks)


_ENGINES: dict[str, FDEngine] = {}


def engines() -> dict[str, FDEngine]:
    """Every engine this package declares, usable here or not, by name."""
    if not _ENGINES:
        for module_info in pkgutil.iter_modules(__path__):
            engine = getattr(importlib.import_module(f"{__name__}.{module_info.name}"), "ENGINE", None)
            if isinstance(engine, FDEngine):
                _ENGINES[engine.name] = engine
    return _ENGINES


def fd_engines(in_process: bool = False) -> list[str]:
    """Names of the finite-difference engines usable here (``engine=`` of :func:`~gradcheck_bench.fd`).

    ``in_process=True`` leaves out the engines that hand their chunks to other processes (dask).
    """
    return [name for name, engine in engines().items()
            if engine.is_available() and not (in_process and engine.map_chunks is not None)]


def get_engine(name: str) -> FDEngine:
    """The engine called ``name``; an unknown or uninstalled one is a clear error."""
    known = engines()
    if name not in known:
        raise InputError(f"unknown finite-difference engine {name!r}; choose auto or one of {', '.join(known)}.")
    engine = known[name]
    if not engine.is_available():
        raise ImportError(f"the {name!r} finite-difference engine needs {', '.join(engine.requires)}: "
                          f"pip install {' '.join(engine.requires)}")
    return engine


def auto_order(model: Model, params: Params, X: Any, Y: Any, measuring: bool = False) -> list[FDEngine]:
    """The engines ``engine="auto"`` may use for this point, best first (the last always handles it).

    ``measuring=True`` adds the engines that ``auto`` only takes after timing them (``measured_only``).
    """
    ranked = sorted((e for e in engines().values() if e.auto_rank is not None and e.is_available()
                     and (measuring or not e.measured_only)), key=lambda e: e.auto_rank or 0)
    return [e for e in ranked if e.handles(model, params, X, Y)
            and (e.auto_suits is None or e.auto_suits(model, params, X, Y))]


def choose_engine(name: str, model: Model, params: Params, X: Any, Y: Any) -> FDEngine:
    """The engine to run: ``auto`` is the best that handles this cost; a named one must handle it."""
    if name == "auto":
        return auto_order(model, params, X, Y)[0]
    engine = get_engine(name)
    if not engine.handles(model, params, X, Y):
        raise InputError(
            f"the {name!r} finite-difference engine cannot evaluate model {model.name!r} at this point "
            f"({engine.description}); use engine='auto' or 'loop'."
        )
    return engine


def evaluate_in_order(evaluate: ChunkEvaluator, chunks: Iterable[Chunk]) -> Generator[Chunk, None, None]:
    """The sequential schedule: one chunk after another, each as soon as it is asked for."""
    for indices, steps in chunks:
        yield indices, evaluate(indices, steps)


def perturbed_batch(flat: np.ndarray, indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """(2k, n): copies of ``flat`` with coordinate ``indices[j]`` moved +step (first k), then -step.

    A fresh array per call; the batched engines use :class:`PerturbedBatch`, which reuses one buffer.
    """
    return PerturbedBatch(flat).fill(indices, steps)


BLOCK_WORKING_SET = 16 * 2**20
"""Bytes the passes of one block of a batched engine may hold together: half the shared cache (L3) of a
typical server, so a block's perturbed rows and intermediates are still cached when the next op reads
them. Past it, the time per pass jumps several-fold (docs/engines.md shows the sweep)."""
BLOCK_LIMITS = (4, 128)
"""Fewest and most coordinates in one block (powers of two): below, the per-call overhead dominates; above, it
is paid off."""


def cache_block(bytes_per_coordinate: int | np.ndarray) -> int:
    """Coordinates per block of a batched engine: the largest power of two whose block keeps its working set
    (both passes of each coordinate) within :data:`BLOCK_WORKING_SET`, within :data:`BLOCK_LIMITS`.

    A power of two, so that ``auto``'s probe (a multiple of the largest block) is whole blocks for every engine.
    """
    fewest, most = BLOCK_LIMITS
    fits = BLOCK_WORKING_SET // max(int(np.max(bytes_per_coordinate)), 1)
    return int(min(max(2 ** int(np.log2(max(fits, 1))), fewest), most))


class PerturbedBatch:
    """A reused buffer of copies of a flat vector, ``(2k, n)``; each call moves only the entries it needs.

    ``fill(indices, steps)`` returns ``2k`` rows with coordinate ``indices[j]``
    moved ``+steps[j]`` in row ``j`` and ``-steps[j]`` in row ``k + j``; the
    entries the previous call moved are first put back. So a block costs
    ``O(k)`` writes, not ``2k`` fresh copies of the whole vector. The buffer
    is allocated at the first call, as large as that call needs (so it stays
    within the chunk the memory budget allows), and again only when a later
    call needs more rows. The rows returned are valid until the next ``fill``.
    """

    def __init__(self, flat: np.ndarray) -> None:
        self.flat = np.asarray(flat, dtype=FLOAT64)
        self.buffer = np.empty((0, self.flat.size), dtype=FLOAT64)
        self.moved: tuple[np.ndarray, np.ndarray] | None = None  # (rows, columns) written by the last fill
        self.allocations = 0
        """Times the buffer was allocated: once for chunks that never grow."""

    def fill(self, indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
        k = indices.size
        if 2 * k > self.buffer.shape[0]:
            self.buffer = np.empty((2 * k, self.flat.size), dtype=FLOAT64)
            self.buffer[...] = self.flat
            self.allocations += 1
        elif self.moved is not None:
            rows, columns = self.moved
            self.buffer[rows, columns] = self.flat[columns]
        rows, columns = np.arange(2 * k), np.concatenate([indices, indices])
        values = self.flat[indices]
        self.buffer[rows, columns] = np.concatenate([values + steps, values - steps])
        self.moved = (rows, columns)
        return self.buffer[:2 * k]


def blockwise(evaluate_block: ChunkEvaluator, block: int) -> ChunkEvaluator:
    """A chunk evaluator that hands ``evaluate_block`` at most ``block`` coordinates at a time."""

    def evaluate(indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
        if indices.size <= block:
            return evaluate_block(indices, steps)
        costs = np.empty((2, indices.size))
        for start in range(0, indices.size, block):
            part = slice(start, start + block)
            costs[:, part] = evaluate_block(indices[part], steps[part])
        return costs

    return evaluate


def by_tensor(blocks: list[tuple[str, slice]], indices: np.ndarray) -> Iterator[tuple[tuple[str, slice], np.ndarray]]:
    """Split flat indices into ``(tensor block, positions into indices)``, one tensor at a time."""
    owner = np.searchsorted([where.stop for _, where in blocks], indices, side="right")
    for number in np.unique(owner):
        yield blocks[number], np.flatnonzero(owner == number)


def costs_of_batch(costs: Any, batch: np.ndarray) -> np.ndarray:
    """The ``(2, k)`` costs of a batch from :func:`perturbed_batch`, counted as ``len(batch)`` passes."""
    record_passes(batch.shape[0])
    costs = np.asarray(costs, dtype=np.float64).reshape(batch.shape[0])
    return costs.reshape(2, -1)


def float64_params(params: Params) -> bool:
    """The fast engines compute in float64: other parameter dtypes go to the loop engine."""
    if isinstance(params, PointParams):
        return params.all_float64
    return all(isinstance(value, np.ndarray) and value.dtype == FLOAT64 for value in params.values())


_PASS_BYTES: dict[Any, int] = {}


def pass_bytes(key: Any, run_one_pass: Callable[[], Any]) -> int:
    """Peak memory (traced by ``tracemalloc``) that ``run_one_pass()`` adds, measured once per ``key``.

    The engines size their chunks from it: what one forward pass of this
    cost holds at its peak, for a layout of parameters and data. The pass is
    a real one and is counted as such.
    """
    if key not in _PASS_BYTES:
        already = tracemalloc.is_tracing()
        if not already:
            tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            start = tracemalloc.get_traced_memory()[0]
            run_one_pass()
            _PASS_BYTES[key] = max(tracemalloc.get_traced_memory()[1] - start, 0)
        finally:
            if not already:
                tracemalloc.stop()
    return _PASS_BYTES[key]


def layout_of(params: Params, X: Any, Y: Any) -> tuple[Any, ...]:
    """What a pass's memory depends on: the parameters' names and shapes, and the data arrays' shapes."""
    return (tuple((name, np.shape(value)) for name, value in params.items()),
            tuple(np.shape(value) for value in (X, Y) if isinstance(value, np.ndarray)))


def require_agreement(engine_cost: float, model: Model, params: Params, X: Any, Y: Any, backend: str) -> None:
    """The engine's cost at the point must be the NumPy cost's, or the engine does not evaluate this cost."""
    record_passes(1)
    numpy_cost = scalar_cost(counted(model.cost)(params, X, Y))
    if abs(engine_cost - numpy_cost) > AGREEMENT * max(abs(numpy_cost), 1e-300):
        raise EngineUnsuitable(f"its cost under xp={backend} gives {engine_cost!r} at the point, NumPy gives "
                               f"{numpy_cost!r}: the cost is not written against xp throughout")


def numpy_pass_bytes(model: Model, params: Params, X: Any, Y: Any) -> int:
    """Peak memory of one NumPy pass of the model's cost (the vmapped pass holds about as much per member)."""
    cost = counted(model.cost)
    return pass_bytes((cost.function, *layout_of(params, X, Y)), lambda: cost(params, X, Y))


def handles_framework(framework: str) -> Callable[[Model, Params, Any, Any], bool]:
    """``handles`` for an engine that runs the cost on ``framework``'s arrays: costs written against ``xp``
    (or native to that framework), at a float64 point."""
    return lambda model, params, X, Y: model.runs_on(framework) and float64_params(params)

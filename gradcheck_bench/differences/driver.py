"""Centered differences of a cost from any engine: the driver every finite-difference oracle runs.

An oracle (``fd``, ``richardson``, the kink-aware second look) decides the
steps and what the differences mean; this module gets it the costs
``J(theta +- h_i e_i)`` for the coordinates it asks for, from the engine it
names or the best one that works (:mod:`gradcheck_bench.differences.engines`): chunks
sized to a memory budget, a progress bar over them, and the quotient
``(J+ - J-) / 2h``.
"""

from __future__ import annotations

import functools
import time
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from .engines import (BLOCK_LIMITS, DEFAULT_MEMORY_BUDGET, Chunk, ChunkEvaluator, EngineUnsuitable, FDEngine,
                      auto_order, choose_engine, evaluate_in_order, float64_params, layout_of)
from ..errors import InputError
from ..models import Model, Params, cost_model
from ..progress import progress_bar
from ..ravel import parameter_count
from ..tolerances import point_dtype
from .steps import step_vector


def chunk_ranges(engine: FDEngine, model: Model, params: Params, X: Any, Y: Any, indices: np.ndarray,
                 memory_budget: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, stop)`` ranges over ``indices`` whose extra memory each fits the budget.

    A chunk is filled up to the budget, or up to the engine's ``fast_chunk_bytes``
    when that is smaller (a coordinate that alone exceeds it gets a chunk of its own).
    """
    everything = parameter_count(params)
    n = indices.size
    need = np.broadcast_to(np.asarray(engine.bytes_per_coordinate(model, params, X, Y), dtype=np.int64),
                           (everything,))[indices]
    if n and need.max() > memory_budget:
        raise InputError(
            f"memory_budget={memory_budget} bytes is too small for one coordinate of the "
            f"{engine.name!r} engine ({int(need.max())} bytes); raise it or use engine='loop'."
        )
    target = min(memory_budget, engine.fast_chunk_bytes or memory_budget)
    longest = engine.max_chunk or max(n, 1)
    if n <= longest and need.sum() <= target:
        return [(0, n)] if n else []  # all of it fits in one chunk
    cumulative = np.concatenate([[0], np.cumsum(need)])
    ranges, start = [], 0
    while start < n:
        fits = int(np.searchsorted(cumulative, cumulative[start] + target, side="right")) - 1
        stop = min(max(fits, start + 1), start + longest, n)
        ranges.append((start, stop))
        start = stop
    return ranges


def chunks_in(ranges: list[tuple[int, int]], indices: np.ndarray, steps: np.ndarray) -> Iterator[Chunk]:
    """The chunks ``(indices, steps)`` of ranges over the coordinate list, made on demand."""
    for start, stop in ranges:
        yield indices[start:stop], steps[start:stop]


@dataclass(frozen=True)
class EngineRun:
    """The costs at ``theta +- step`` of the coordinates asked for, and which engine gave them."""

    costs: np.ndarray  # (2, k)
    engine: str
    notes: tuple[str, ...] = ()


def perturbed_costs(model: Model, params: Params, X: Any, Y: Any, indices: np.ndarray, steps: np.ndarray,
                    engine: str = "auto", memory_budget: int = DEFAULT_MEMORY_BUDGET, progress: bool | None = None,
                    engine_options: Mapping[str, Any] | None = None) -> EngineRun:
    """``J(theta +- steps[j] e_i)`` for ``i = indices[j]``, with the named engine or the best that works.

    With ``engine="auto"``, an engine that finds it cannot evaluate this cost
    (:class:`EngineUnsuitable`) hands over to the next one, and a note says so.
    """
    candidates = auto_order(model, params, X, Y) if engine == "auto" else [choose_engine(engine, model, params, X, Y)]
    notes: list[str] = []
    if engine == "auto" and indices.size >= MEASURED_CHOICE_MINIMUM:
        measured = auto_order(model, params, X, Y, measuring=True)
        if len(measured) > 1:
            return measured_run(measured, model, params, X, Y, indices, steps, memory_budget, progress,
                                engine_options)
    for chosen in candidates:
        try:
            costs = run_engine(chosen, model, params, X, Y, indices, steps, memory_budget, progress, engine_options)
        except EngineUnsuitable as reason:
            if engine != "auto":
                raise InputError(f"the {engine!r} finite-difference engine cannot evaluate model "
                                 f"{model.name!r}: {reason}; use engine='auto' or 'loop'.") from None
            notes.append(f"the {chosen.name} engine was not used: {reason}")
            continue
        return EngineRun(costs, chosen.name, tuple(notes))
    raise AssertionError("the loop engine evaluates every cost")  # auto_order always ends with it


MEASURED_CHOICE_MINIMUM = 128
"""``engine="auto"`` measures the candidate engines on a run of at least this many coordinates (below it the
ranking decides: measuring would cost more than any choice saves)."""
PROBE_WINDOW = BLOCK_LIMITS[1]
"""``auto`` times the candidate engines on windows of this many consecutive coordinates: a whole block of every
batched engine (their blocks are powers of two up to this), laid as the run lays them, so no engine's time
includes padding or blocks cut short by coordinates scattered over many tensors."""
PROBE_WINDOWS = 4
"""At most this many windows, spread over the run: an engine whose chunks are large (torch's hold hundreds of
coordinates) pays its fixed cost per chunk about as often per coordinate in the probe as in the run."""
PROBE_RUN_SHARE = 6
"""One window per this many windows' worth of the run (the probe holds at most about a sixth of it)."""
PROBE_ROUNDS = 5
"""Times each candidate is timed, alternating; the median round counts: neither the slow first runs after a
compile nor one lucky round of an engine whose time varies several-fold on a busy machine decides the choice
that is then kept for the process."""
DROP_FACTOR = 4.0
"""After a round, a candidate more than this many times slower than the fastest is not timed again (a generous
factor: a compiled engine's first rounds after its compile run several times slower than its later ones)."""
PROBE_SHARE = 0.5
"""Rounds after the second stop once measuring has taken this share of the loop's estimated whole run (a cost
whose every pass is slow, like the LSTM's, gets two rounds, not five)."""
LOOP_MARGIN = 0.9
"""Another engine replaces the loop only when it took at most this fraction of the loop's time on the probe:
a near tie is left to the reference, so timing noise cannot make ``auto`` slower than the loop."""
_MEASURED: dict[Any, str] = {}
"""The engine ``auto`` measured fastest, per cost and layout of the point (so each is measured once)."""


def choice_key(model: Model, params: Params, X: Any, Y: Any) -> tuple[Any, ...]:
    """What ``auto``'s measured choice is kept by: the cost's name, not its identity (a derived cost, a VJP's
    u . f, is a new closure at every check, and a choice shared by two costs of one name can only be slower,
    never wrong), the layout of the point, and its dtype."""
    return (model.name, getattr(model.cost, "__qualname__", ""), layout_of(params, X, Y), float64_params(params))


def measured_choice(model: Model, params: Params, X: Any, Y: Any) -> str | None:
    """The engine ``auto`` measured fastest for this cost and layout in this process (None: not measured)."""
    return _MEASURED.get(choice_key(model, params, X, Y))


def measured_run(candidates: list[FDEngine], model: Model, params: Params, X: Any, Y: Any, indices: np.ndarray,
                 steps: np.ndarray, memory_budget: int, progress: bool | None,
                 engine_options: Mapping[str, Any] | None) -> EngineRun:
    """``auto`` by measurement: each candidate is prepared and warmed (a compile it caches for later calls is
    paid here, not timed), then times the same coordinates (:func:`probe_positions`, in the chunks of its own
    run) in alternating rounds, and the fastest median round runs the rest; the choice is kept for this cost,
    layout and dtype. The loop is always a candidate and keeps the run unless another engine
    beats it by a clear margin (:data:`LOOP_MARGIN`), so warm ``auto`` is not slower than the loop; the chosen
    engine's probe costs are reused."""
    key = choice_key(model, params, X, Y)
    notes: list[str] = []
    probe = probe_positions(indices.size)
    probed: dict[str, np.ndarray] = {}
    chosen_name = _MEASURED.get(key)
    if chosen_name is None:
        evaluators: dict[str, Callable[[], np.ndarray]] = {}  # each times its engine on the whole probe
        for candidate in candidates:
            try:
                evaluate = candidate.prepare(model, params, X, Y)
                first = probe[:PROBE_WINDOW]
                as_run(evaluate, run_chunks(candidate, model, params, X, Y, indices[first], steps[first],
                                            memory_budget))  # first-call costs (a compile, a block's buffers)
                chunks = run_chunks(candidate, model, params, X, Y, indices[probe], steps[probe], memory_budget)
                evaluators[candidate.name] = functools.partial(as_run, evaluate, chunks)
            except EngineUnsuitable as reason:
                notes.append(f"the {candidate.name} engine was not used: {reason}")
        rounds: dict[str, list[float]] = {name: [] for name in evaluators}
        spent = 0.0
        for number in range(PROBE_ROUNDS):
            seconds = {name: float(np.median(times)) if times else 0.0 for name, times in rounds.items()}
            if number >= 2 and spent > PROBE_SHARE * seconds.get("loop", np.inf) * indices.size / probe.size:
                break  # enough measuring: more rounds would cost a good share of the loop's whole run
            fastest = min(seconds.values(), default=np.inf)
            for name, time_probe in list(evaluators.items()):
                if seconds[name] > DROP_FACTOR * fastest:  # clearly out of the running
                    continue
                start = time.perf_counter()
                try:
                    probed[name] = time_probe()
                except EngineUnsuitable as reason:  # a coordinate the warm-up did not reach
                    notes.append(f"the {name} engine was not used: {reason}")
                    del evaluators[name], rounds[name]
                    continue
                elapsed = time.perf_counter() - start
                rounds[name].append(elapsed)
                spent += elapsed
        seconds = {name: float(np.median(times)) for name, times in rounds.items()}
        chosen_name = min(seconds, key=seconds.__getitem__)
        if "loop" in seconds and seconds[chosen_name] > LOOP_MARGIN * seconds["loop"]:
            chosen_name = "loop"
        _MEASURED[key] = chosen_name
    chosen = next(candidate for candidate in candidates if candidate.name == chosen_name)
    costs = np.empty((2, indices.size))
    rest = np.arange(indices.size)
    if chosen_name in probed:
        costs[:, probe] = probed[chosen_name]
        rest = np.setdiff1d(rest, probe)
    if rest.size:
        costs[:, rest] = run_engine(chosen, model, params, X, Y, indices[rest], steps[rest], memory_budget, progress,
                                    engine_options)
    return EngineRun(costs, chosen_name, tuple(notes))


def probe_positions(size: int) -> np.ndarray:
    """The positions in a run of ``size`` coordinates that ``auto`` times the candidates on: windows of
    ``PROBE_WINDOW`` consecutive coordinates, centred in equal shares of the run (the whole run when it is
    shorter than a window)."""
    windows = int(np.clip(size // (PROBE_WINDOW * PROBE_RUN_SHARE), 1, PROBE_WINDOWS))
    width = min(PROBE_WINDOW, size)
    centres = (np.arange(windows) + 0.5) * size / windows
    starts = np.clip(np.round(centres - width / 2).astype(int), 0, size - width)
    return np.unique(np.concatenate([np.arange(start, start + width) for start in starts]))


def run_chunks(engine: FDEngine, model: Model, params: Params, X: Any, Y: Any, indices: np.ndarray,
               steps: np.ndarray, memory_budget: int) -> list[Chunk]:
    """The coordinates cut into the chunks the engine's run would use (its memory budget and fast chunk size),
    so a probe times the engine as the run will use it; cut once, before any timing."""
    return list(chunks_in(chunk_ranges(engine, model, params, X, Y, indices, memory_budget), indices, steps))


def as_run(evaluate: ChunkEvaluator, chunks: list[Chunk]) -> np.ndarray:
    """The costs ``(2, k)`` of the chunks, one after another, as the run evaluates them."""
    return np.concatenate([costs for _, costs in evaluate_in_order(evaluate, chunks)], axis=1)


def run_engine(chosen: FDEngine, model: Model, params: Params, X: Any, Y: Any, indices: np.ndarray,
               steps: np.ndarray, memory_budget: int, progress: bool | None,
               engine_options: Mapping[str, Any] | None) -> np.ndarray:
    """The costs ``(2, k)`` from one engine, chunk by chunk with a progress bar (when there are several).

    The bar advances as chunks complete, in whatever order the engine finishes
    them; their costs are placed by coordinate, so ``indices`` must be
    distinct. Ctrl-C stops it cleanly: the bar is closed, the engine's work is
    cancelled, ``params`` was never touched (engines work on copies).
    """
    if not (np.all(indices[1:] > indices[:-1]) or np.unique(indices).size == indices.size):  # increasing: distinct
        raise ValueError("run_engine places costs by coordinate: evaluate a repeated coordinate in a run of its own.")
    ranges = chunk_ranges(chosen, model, params, X, Y, indices, memory_budget)
    if len(ranges) == 1 and chosen.map_chunks is None:  # one chunk here: nothing for a bar to show
        return chosen.prepare(model, params, X, Y)(indices, steps)
    options = dict(engine_options or {})
    if "memory_budget" in chosen.options:  # an engine that re-chunks (dask) honours the same budget
        options["memory_budget"] = memory_budget
    position = {int(i): j for j, i in enumerate(indices)}  # each coordinate is asked for once per run
    costs = np.empty((2, indices.size))
    chunks = chosen.evaluate_chunks(model, params, X, Y, chunks_in(ranges, indices, steps), **options)
    with progress_bar(total=indices.size, description=f"fd[{chosen.name}]", show=progress, unit="coord") as bar, \
            closing(chunks):
        for chunk_indices, chunk_costs in chunks:
            costs[:, [position[int(i)] for i in chunk_indices]] = chunk_costs
            bar.update(chunk_indices.size)
    return costs


def centered(costs: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The centered differences of costs ``(2, k)`` at ``theta +- steps``."""
    return (costs[0] - costs[1]) / (2 * steps)


def central_differences(
    cost: Callable[..., Any] | Model,
    params: Params,
    X: Any,
    Y: Any,
    eps: float | np.ndarray | None = None,
    engine: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool | None = None,
    engine_options: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """The flat centered-difference gradient from one engine: no checks of the point, no error bars.

    What every engine must agree on; the tools and the engine tests use it
    directly. ``eps=None`` takes the default steps at the parameters' dtype.
    """
    model = cost if isinstance(cost, Model) else cost_model(cost)
    steps = step_vector(eps, params, point_dtype(params))
    indices = np.arange(steps.size)
    return centered(perturbed_costs(model, params, X, Y, indices, steps, engine, memory_budget, progress,
                                    engine_options).costs, steps)

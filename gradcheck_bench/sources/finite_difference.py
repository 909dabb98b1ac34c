"""The finite-difference oracle: a gradient from forward passes only.

``fd(cost)`` is a gradient source for any cost ``(params, X, Y) -> float``; by
default the MLP's. The gradient is the centered difference per coordinate,

    g[i] = (J(theta + eps_i e_i) - J(theta - eps_i e_i)) / (2 eps_i),

2n forward passes for n parameters. How those passes are evaluated is the job
of an *engine* (:class:`~gradcheck_bench.fd_engines.FDEngine`): it turns a
chunk of coordinate indices into their differences. The driver here walks the
chunks with a progress bar, sizing them so that the engine's extra memory
stays under ``memory_budget``. ``loop`` (the exercise's method, one coordinate
at a time, any cost) is the reference; every other engine must agree with it.
``engine="auto"`` picks the fastest engine that can evaluate the cost.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from ..errors import InputError
from ..fd_engines import ChunkEvaluator, FDEngine, jax_vmap, numpy_batched, structured, torch_vmap
from ..fd_engines import Chunk, dask_engine
from ..flatten import ravel
from ..models import Model, Params, mlp_cost
from ..progress import progress_bar
from ..validation import require_finite_cost, scalar_cost
from ..steps import TOLERANCES, default_step
from .registry import SourceSpec

Cost = Callable[[Params, Any, Any], Any]

DEFAULT_EPS = TOLERANCES[np.dtype(np.float64)].fd_step
"""Default step in float64 (2^-17 = 7.6e-6), near the cube root of machine epsilon
where round-off and truncation error balance for centered differences; the
exercise's 1e-7 is ``eps=1e-7``. With ``eps=None`` (the default) the step is
chosen by the parameters' dtype from :data:`gradcheck_bench.steps.TOLERANCES`."""

DEFAULT_MEMORY_BUDGET = 256 * 2**20
"""Peak extra bytes an engine may hold at once (256 MiB); chunks are sized from it."""

LOOP_CHUNK = 256
"""Coordinates per chunk of the loop engine: it needs no memory, only a moving bar."""


def loop_engine(cost: Cost, params: Params, X: Any, Y: Any, eps: float | np.ndarray) -> np.ndarray:
    """The reference: perturb one coordinate at a time, two forward passes each."""
    flat, _ = ravel(params)
    steps = np.broadcast_to(np.asarray(eps, dtype=np.float64), flat.shape)
    return prepare_loop(cost, params, X, Y)(np.arange(flat.size), steps)


def prepare_loop(cost: Cost, params: Params, X: Any, Y: Any) -> ChunkEvaluator:
    """The loop engine's evaluator: its own copy of the point, perturbed in place and restored."""
    flat, unravel = ravel(params)
    point = unravel(flat)  # views into flat: perturbing flat[i] perturbs the dict

    def evaluate(indices: np.ndarray, steps: np.ndarray) -> np.ndarray:
        differences = np.empty(indices.size)
        for k, (i, eps) in enumerate(zip(indices, steps)):
            original = flat[i]
            try:
                flat[i] = original + eps
                cost_plus = scalar_cost(cost(point, X, Y))
                flat[i] = original - eps
                cost_minus = scalar_cost(cost(point, X, Y))
            finally:
                flat[i] = original
            differences[k] = (cost_plus - cost_minus) / (2 * eps)
        return differences

    return evaluate


LOOP = FDEngine(
    name="loop",
    description="the reference: one coordinate at a time, any cost",
    prepare=prepare_loop,
    handles=lambda cost, params, X, Y: True,
    bytes_per_coordinate=lambda params, X: 0,
    max_chunk=LOOP_CHUNK,
)

ENGINES: dict[str, FDEngine] = {
    engine.name: engine
    for engine in (LOOP, structured.ENGINE, numpy_batched.ENGINE, jax_vmap.ENGINE, torch_vmap.ENGINE,
                   dask_engine.ENGINE)
}
"""Every engine this package knows, usable here or not (see :func:`fd_engines`)."""

AUTO_PREFERENCE = ("numpy-batched", "structured", "loop")
"""What ``engine="auto"`` tries, in order: the first that handles the cost and suits the point
(numpy-batched only for small nets; measured with ``gradcheck-bench peers --growth``)."""


def fd_engines() -> list[str]:
    """Names of the finite-difference engines usable here (``engine=`` of :func:`fd`)."""
    return [name for name, engine in ENGINES.items() if engine.is_available()]


def choose_engine(name: str, cost: Cost, params: Params, X: Any, Y: Any) -> FDEngine:
    """The engine to run: ``auto`` is the fastest that handles this cost; a named one must."""
    if name == "auto":
        return next(engine for engine in (ENGINES[n] for n in AUTO_PREFERENCE)
                    if engine.handles(cost, params, X, Y)
                    and (engine.auto_suits is None or engine.auto_suits(params, X)))
    engine = ENGINES[name]
    if not engine.handles(cost, params, X, Y):
        raise InputError(
            f"the {name!r} finite-difference engine evaluates only the MLP cost "
            "(gradcheck_bench.mlp_cost) in float64; use engine='loop' or 'auto' for this cost or dtype."
        )
    return engine


def chunk_ranges(engine: FDEngine, params: Params, X: Any, n: int, memory_budget: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, stop)`` coordinate ranges whose extra memory each fits the budget.

    A chunk is filled up to the budget, or up to the engine's ``fast_chunk_bytes``
    when that is smaller (a coordinate that alone exceeds it gets a chunk of its own).
    """
    need = np.broadcast_to(np.asarray(engine.bytes_per_coordinate(params, X), dtype=np.int64), (n,))
    if n and need.max() > memory_budget:
        raise InputError(
            f"memory_budget={memory_budget} bytes is too small for one coordinate of the "
            f"{engine.name!r} engine ({int(need.max())} bytes); raise it or use engine='loop'."
        )
    target = min(memory_budget, engine.fast_chunk_bytes or memory_budget)
    cumulative = np.concatenate([[0], np.cumsum(need)])
    longest = engine.max_chunk or max(n, 1)
    ranges, start = [], 0
    while start < n:
        fits = int(np.searchsorted(cumulative, cumulative[start] + target, side="right")) - 1
        stop = min(max(fits, start + 1), start + longest, n)
        ranges.append((start, stop))
        start = stop
    return ranges


def central_differences(
    cost: Cost,
    params: Params,
    X: Any,
    Y: Any,
    eps: float | np.ndarray = DEFAULT_EPS,
    engine: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool | None = None,
    engine_options: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """The flat centered-difference gradient, chunk by chunk with a progress bar (when there are several).

    The bar advances as chunks complete, in whatever order the engine
    finishes them (a distributed engine keeps all chunks in flight);
    ``engine_options`` go to the engine (e.g. ``{"scheduler": ...}`` for dask).
    Ctrl-C stops it cleanly: the bar is closed, the engine's work is
    cancelled, ``params`` was never touched (engines work on copies) and the
    KeyboardInterrupt propagates.
    """
    n = sum(int(np.size(value)) for value in params.values())
    steps = step_vector(eps, n)
    chosen = choose_engine(engine, cost, params, X, Y)
    ranges = chunk_ranges(chosen, params, X, n, memory_budget)
    if len(ranges) == 1 and chosen.map_chunks is None:  # one chunk here: nothing for a bar to show
        return chosen.prepare(cost, params, X, Y)(np.arange(n), steps)
    options = dict(engine_options or {})
    if "memory_budget" in chosen.options:  # an engine that re-chunks (dask) honours the same budget
        options["memory_budget"] = memory_budget
    chunks = chosen.evaluate_chunks(cost, params, X, Y, chunks_in(ranges, steps), **options)
    gradient = np.empty(n)
    with progress_bar(total=n, description=f"fd[{chosen.name}]", show=progress, unit="coord") as bar, \
            closing(chunks):
        for indices, differences in chunks:
            gradient[indices] = differences
            bar.update(indices.size)
    return gradient


def chunks_in(ranges: list[tuple[int, int]], steps: np.ndarray) -> Iterator[Chunk]:
    """The chunks ``(indices, steps[indices])`` of coordinate ranges, made on demand."""
    for start, stop in ranges:
        yield np.arange(start, stop), steps[start:stop]


def step_vector(eps: float | np.ndarray, n: int) -> np.ndarray:
    """``eps`` as a float64 vector of n positive finite steps (a float is used for every coordinate)."""
    try:
        steps = np.asarray(eps, dtype=np.float64)
    except (TypeError, ValueError):
        steps = None
    if steps is None or steps.ndim not in (0, 1) or (steps.ndim == 1 and steps.shape != (n,)):
        raise InputError(
            f"eps must be a positive float or an array of shape ({n},), one step per parameter; "
            f"got {eps!r:.80}."
        )
    if not np.all(np.isfinite(steps) & (steps > 0)):
        raise InputError(f"eps must be positive and finite, got {eps!r:.80}; try 1e-6.")
    return np.broadcast_to(steps, (n,)).copy()


def validate_step(eps: Any) -> None:
    """A float step, or a 1-D array of steps (its length is checked against n when called)."""
    if isinstance(eps, np.ndarray) and eps.ndim == 1:
        step_vector(eps, eps.size)
        return
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not (np.isfinite(eps) and eps > 0):
        raise InputError(
            f"eps must be a positive finite step or an array of shape (n,), got {eps!r:.80}; try 1e-6."
        )


@dataclass(frozen=True)
class CentralDifference:
    """A gradient source that differentiates ``cost`` by centered differences."""

    cost: Cost = mlp_cost
    eps: float | np.ndarray | None = None
    engine: str = "auto"
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    progress: bool | None = field(default=None, compare=False)
    name: str = "fd"
    scheduler: str | None = None
    client: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not callable(self.cost):
            raise InputError(f"fd() needs a callable cost (params, X, Y) -> float, got {self.cost!r}.")
        if self.eps is not None:
            validate_step(self.eps)
        if self.engine != "auto" and self.engine not in ENGINES:
            raise InputError(
                f"unknown finite-difference engine {self.engine!r}; "
                f"choose auto or one of {', '.join(ENGINES)}."
            )
        if self.engine != "auto" and not ENGINES[self.engine].is_available():
            missing = ENGINES[self.engine].requires
            raise ImportError(
                f"the {self.engine!r} finite-difference engine needs {', '.join(missing)}: "
                f"pip install {' '.join(missing)}"
            )
        validate_engine_options(self.engine, self.engine_options)
        if not (isinstance(self.memory_budget, int) and self.memory_budget > 0):
            raise InputError(
                f"memory_budget must be a positive number of bytes, got {self.memory_budget!r}; "
                "e.g. 256 * 2**20 for 256 MiB."
            )

    def __call__(self, params: Params, X: Any, Y: Any) -> Params:
        require_finite_cost(self.cost, params, X, Y)
        _, unravel = ravel(params)
        eps = default_step(params) if self.eps is None else self.eps
        gradient = central_differences(self.cost, params, X, Y, eps, self.engine,
                                       self.memory_budget, self.progress, self.engine_options)
        return {name: value.copy() for name, value in unravel(gradient).items()}

    @property
    def engine_options(self) -> dict[str, Any]:
        """The options given for the engine (where it runs), without the ones left unset."""
        return {name: value for name, value in (("scheduler", self.scheduler), ("client", self.client))
                if value is not None}

    def forward_passes(self, params: Params) -> int:
        """2n passes for the differences, plus two to check the cost is finite and deterministic."""
        return forward_passes(params)

    def recheck(self, params: Params, X: Any, Y: Any, names: list[str]) -> Params | None:
        """A second look at tensors a check found wrong: step around ReLU kinks there.

        Only the MLP cost has known kinks. A coordinate whose step straddles one
        gets a one-sided (or smaller-step) difference, recorded in the notes;
        every other coordinate keeps exactly its centered value. None: nothing
        to re-examine for this cost.
        """
        if self.cost is not mlp_cost or Y is None:
            return None
        from .kink_safe_fd import kink_safe_tensors  # the kink machinery needs the MLP

        eps = default_step(params) if self.eps is None else self.eps
        if np.ndim(eps) != 0:
            return None  # per-coordinate steps: left as given
        return kink_safe_tensors(params, X, Y, float(eps), names)


def validate_engine_options(engine: str, options: Mapping[str, Any]) -> None:
    """Options such as ``scheduler=`` only mean something to an engine that declares them."""
    accepted = ENGINES[engine].options if engine in ENGINES else ()
    stray = sorted(set(options) - set(accepted))
    if stray:
        takers = sorted(name for name, spec in ENGINES.items() if set(stray) <= set(spec.options))
        hint = f"pass engine={takers[0]!r} (--engine {takers[0]}) with it" if takers else "leave it out"
        raise InputError(
            f"{', '.join(stray)} {'is' if len(stray) == 1 else 'are'} not an option of the "
            f"{engine!r} finite-difference engine; {hint}."
        )


def forward_passes(params: Params) -> int:
    """2n passes for the differences, plus two to check the cost is finite and deterministic."""
    return 2 * sum(int(np.size(value)) for value in params.values()) + 2


def fd(
    cost: Cost | None = None,
    *,
    eps: float | np.ndarray | None = None,
    engine: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool | None = None,
    scheduler: str | None = None,
    client: Any = None,
) -> CentralDifference:
    """The finite-difference oracle for ``cost`` (the MLP cost if none is given).

    ``engine`` is ``"auto"`` (the fastest that can evaluate ``cost``) or one of
    :func:`fd_engines`; ``eps`` a float, one step per parameter (shape (n,)),
    or None for the dtype's default step (:data:`gradcheck_bench.steps.TOLERANCES`);
    ``memory_budget`` the engine's peak extra bytes; ``progress`` shows the bar
    (None: only on a terminal). With ``engine="dask"``, ``scheduler``
    (``"tcp://HOST:PORT"``) or ``client`` (a ``distributed.Client``) is the
    cluster to run on; with neither, a local cluster is started and stopped.
    """
    return CentralDifference(cost=mlp_cost if cost is None else cost, eps=eps, engine=engine,
                             memory_budget=memory_budget, progress=progress, scheduler=scheduler,
                             client=client)


def _fd_for_model(model: Model, eps: float | np.ndarray | None = None, engine: str = "auto",
                  memory_budget: int = DEFAULT_MEMORY_BUDGET, scheduler: str | None = None,
                  client: Any = None) -> CentralDifference:
    return CentralDifference(cost=model.cost, eps=eps, engine=engine, memory_budget=memory_budget,
                             scheduler=scheduler, client=client)


SOURCES = [
    SourceSpec(
        name="fd",
        factory=_fd_for_model,
        description="centered finite differences of the cost (2n forward passes)",
        kind="oracle",
        models=(),
    ),
]

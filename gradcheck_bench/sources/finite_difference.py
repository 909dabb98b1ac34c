"""The finite-difference oracle: a gradient from forward passes only, with its own error bars.

``fd(cost)`` is a gradient source for any cost ``(params, X, Y) -> float`` (or
any :class:`~gradcheck_bench.models.Model`; by default the MLP). The gradient
is the centered difference per coordinate,

    g[i] = (J(theta + h_i e_i) - J(theta - h_i e_i)) / (2 h_i),

2n forward passes for n parameters, with ``h_i`` relative to ``|theta_i|``
(:mod:`gradcheck_bench.steps`). How those passes are evaluated is the job of
an *engine* (:mod:`gradcheck_bench.engines`); ``engine="auto"`` takes the
best one that can evaluate the cost, and moves on to the next when one finds
it cannot (a cost that does not run under ``vmap``).

Every value comes with an estimate of its own error (``Gradient.error``):

* rounding: the cost carries about ``CONDITION * eps * |J|`` of noise, so a
  difference over ``2 h`` carries ``CONDITION * eps * |J| / h``;
* truncation (``error="full"``): the same difference at ``h / 2``; the
  centered difference's error is ``c h^2``, so ``|D(h) - D(h/2)| * 4/3``
  estimates it (and is large wherever a step crossed a kink). Where it
  outweighs round-off, the two estimates give the step that balances them
  and that coordinate is evaluated again there (adaptive only where it pays).

``error="auto"`` (the default) adds the truncation estimate when the check
runs below float64, where it decides the verdict; in float64 a failing check
asks for it on the tensors it is about to name (:meth:`CentralDifference.recheck`).
"""

from __future__ import annotations

import warnings
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from ..counting import counted
from ..errors import InputError
from ..engines import (
    DEFAULT_MEMORY_BUDGET,
    Chunk,
    EngineUnsuitable,
    FDEngine,
    auto_order,
    choose_engine,
    engines,
    get_engine,
)
from ..gradient import Gradient
from ..models import Model, Params, cost_model, get_model
from ..progress import progress_bar
from ..ravel import parameter_count, parameter_slices, ravel
from ..steps import LowPrecisionWarning, point_dtype, rounding_error, step_vector
from ..validation import CostAtPoint, cost_at_point
from .kink_safe_fd import kink_safe_tensors
from .registry import SourceSpec

ERROR_MODES = ("auto", "rounding", "full")
REFINE_RATIO = 4.0
"""With error bars from a second step, a coordinate whose truncation error outweighs its round-off
by this much is evaluated again at the step that balances the two."""
MAX_REFINEMENT = 1024
"""A refined step is never smaller than the default one divided by this."""


class LowPrecisionCostWarning(LowPrecisionWarning):
    """The cost's values carry float32 precision although the parameters are float64."""


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


def combine_errors(rounding: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """The error bar: the two-step measurement, which contains the round-off it saw, never below the
    round-off model (one measurement can come out small by chance). Adding the two would count
    round-off twice and hide real mismatches in small gradients."""
    return np.maximum(rounding, measured)


def validate_step(eps: Any) -> None:
    """A positive finite step, or a 1-D array of them (its length is checked when the oracle runs)."""
    if isinstance(eps, np.ndarray) and eps.ndim == 1:
        if eps.size and np.issubdtype(eps.dtype, np.number) and np.all(np.isfinite(eps) & (eps > 0)):
            return
    elif not isinstance(eps, bool) and isinstance(eps, (int, float, np.floating)) and np.isfinite(eps) and eps > 0:
        return
    raise InputError(f"eps must be a positive finite step or an array of shape (n,), got {eps!r:.80}; try 1e-6, "
                     "or leave it out for a step relative to each parameter.")


@dataclass(frozen=True)
class CentralDifference:
    """A gradient source that differentiates ``model``'s cost by centered differences."""

    model: Model
    eps: float | np.ndarray | None = None
    engine: str = "auto"
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    progress: bool | None = field(default=None, compare=False)
    engine_options: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    error: str = "auto"
    name: str = "fd"

    def __post_init__(self) -> None:
        if self.eps is not None:
            validate_step(self.eps)
        if self.engine != "auto":
            get_engine(self.engine)
        if self.error not in ERROR_MODES:
            raise InputError(f"error must be one of {', '.join(ERROR_MODES)}, got {self.error!r}.")
        validate_engine_options(self.engine, self.engine_options)
        if not (isinstance(self.memory_budget, int) and not isinstance(self.memory_budget, bool)
                and self.memory_budget > 0):
            raise InputError(
                f"memory_budget must be a positive number of bytes, got {self.memory_budget!r}; "
                "e.g. 256 * 2**20 for 256 MiB."
            )

    @property
    def cost(self) -> Callable[..., Any]:
        return self.model.cost

    def __call__(self, params: Params, X: Any, Y: Any) -> Gradient:
        # A model's point check may evaluate the cost on the way: that pass is the first of the two
        # that show the cost finite and deterministic, not an extra one.
        return self.checked(params, X, Y, cost=self.model.check_point(params, X, Y))

    def checked(self, params: Params, X: Any, Y: Any, cost: float | None = None) -> Gradient:
        """The gradient at a point the model's own check has passed (``check`` calls this after checking).

        ``cost``, when given, is the cost at the point as the caller evaluated
        it; it counts as the first of the two evaluations that show the cost
        is finite and deterministic.
        """
        at_point = self.cost_at_point(params, X, Y, cost)
        return self.differentiate(params, X, Y, at_point, list(params), self.wants_truncation(at_point))

    def cost_at_point(self, params: Params, X: Any, Y: Any, first: float | None = None) -> CostAtPoint:
        """The cost at the point: finite, deterministic, and the precision it carries."""
        at_point = cost_at_point(counted(self.model.cost), params, X, Y, probe=self.eps is None, first=first)
        if at_point.precision != np.dtype(np.float64) and all(v.dtype == np.float64 for v in params.values()):
            warnings.warn(
                f"the cost of {self.model.name!r} returns values with only {at_point.precision} precision at "
                "float64 parameters (a float32 computation, or a float32 tensor's .item()); the oracle steps "
                f"and the verdict follow {at_point.precision}. Compute the cost in float64 to check small errors.",
                LowPrecisionCostWarning, stacklevel=3)
        return at_point

    def wants_truncation(self, at_point: CostAtPoint) -> bool:
        return self.error == "full" or (self.error == "auto" and at_point.precision != np.dtype(np.float64))

    def differentiate(self, params: Params, X: Any, Y: Any, at_point: CostAtPoint, names: list[str],
                      truncation: bool) -> Gradient:
        """Centered differences of the tensors ``names``, with their error estimates."""
        slices = parameter_slices(params)
        all_steps = step_vector(self.eps, params, at_point.precision)
        indices = np.concatenate([np.arange(slices[name].start, slices[name].stop) for name in names])
        steps = all_steps[indices]
        run = self._run(params, X, Y, indices, steps)
        values, error = centered(run.costs, steps), rounding_error(at_point.value, at_point.precision, steps)
        if truncation:
            values, error = self._with_truncation(params, X, Y, at_point, indices, steps, values, error)
        return Gradient(tensors=self._tensors(params, names, values), notes=run.notes,
                        error=self._tensors(params, names, error), precision=at_point.precision)

    def _with_truncation(self, params: Params, X: Any, Y: Any, at_point: CostAtPoint, indices: np.ndarray,
                         steps: np.ndarray, values: np.ndarray, rounding: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The truncation error from a second step, and a better step where truncation dominates.

        ``D(h) - D(h/2) = 3/4 c h^2``, so ``T = |D(h) - D(h/2)| * 4/3`` is the
        truncation error at ``h``. With round-off ``R`` at ``h``, the error at
        a step ``s`` is about ``R h / s + T (s / h)^2``, smallest at
        ``s* = h (R / 2T)^(1/3)``: where ``T`` outweighs ``R`` by
        ``REFINE_RATIO``, those coordinates are evaluated again at ``s*``
        (a power of two, at least ``h / MAX_REFINEMENT``) and keep that value.
        """
        truncation = np.abs(values - centered(self._run(params, X, Y, indices, steps / 2).costs, steps / 2)) * 4 / 3
        error = combine_errors(rounding, truncation)
        refine = np.flatnonzero(truncation > REFINE_RATIO * rounding) if self.eps is None else np.zeros(0, int)
        if refine.size:
            ideal = steps[refine] * np.cbrt(rounding[refine] / (2 * truncation[refine]))
            better = np.maximum(np.exp2(np.floor(np.log2(ideal))), steps[refine] / MAX_REFINEMENT)
            values = values.copy()
            values[refine] = centered(self._run(params, X, Y, indices[refine], better).costs, better)
            error = error.copy()
            error[refine] = rounding[refine] * steps[refine] / better + truncation[refine] * (better / steps[refine]) ** 2
        return values, error

    def _run(self, params: Params, X: Any, Y: Any, indices: np.ndarray, steps: np.ndarray) -> EngineRun:
        return perturbed_costs(self.model, params, X, Y, indices, steps, self.engine, self.memory_budget,
                               self.progress, self.engine_options)

    @staticmethod
    def _tensors(params: Params, names: list[str], flat: np.ndarray) -> Params:
        """Split values of the tensors ``names`` (concatenated in that order) back into shaped arrays."""
        tensors, start = {}, 0
        for name in names:
            size = int(np.size(params[name]))
            tensors[name] = flat[start:start + size].reshape(np.shape(params[name])).astype(params[name].dtype)
            start += size
        return tensors

    def recheck(self, params: Params, X: Any, Y: Any, names: list[str]) -> Gradient:
        """A second look at tensors a check is about to name: full error bars, and kinks stepped around.

        Every coordinate of those tensors gets the truncation estimate of a
        second step. Where the model declares its kinks, a coordinate whose
        step straddles one is redone one-sided (or with a smaller step) and
        recorded in the notes; every other coordinate keeps its value.
        """
        at_point = cost_at_point(counted(self.model.cost), params, X, Y, deterministic=False, probe=self.eps is None)
        full = self.differentiate(params, X, Y, at_point, names, truncation=True)
        if self.model.kink_pattern is None:
            return full
        stepped = kink_safe_tensors(self.model, params, X, Y, step_vector(self.eps, params, at_point.precision),
                                    names, at_point)
        error = {name: value.copy() for name, value in (full.error or {}).items()}
        for crossing in stepped.kinks:  # a straddling coordinate: the stepped-around value and its own error
            error[crossing.tensor][crossing.index] = stepped.error[crossing.tensor][crossing.index]
        return Gradient(tensors=stepped.tensors, notes=full.notes + stepped.notes, kinks=stepped.kinks, error=error,
                        precision=at_point.precision)


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


def validate_engine_options(engine: str, options: Mapping[str, Any]) -> None:
    """Options such as ``scheduler=`` only mean something to an engine that declares them."""
    if not isinstance(options, Mapping):
        raise InputError(f"engine_options must be a dict, got {type(options).__name__}; e.g. "
                         "engine_options={'scheduler': 'tcp://HOST:8786'}.")
    accepted = engines()[engine].options if engine in engines() else ()
    stray = sorted(set(options) - set(accepted))
    if stray:
        takers = sorted(name for name, spec in engines().items() if set(stray) <= set(spec.options))
        hint = f"pass engine={takers[0]!r} (--engine {takers[0]}) with it" if takers else "leave it out"
        raise InputError(
            f"{', '.join(stray)} {'is' if len(stray) == 1 else 'are'} not an option of the "
            f"{engine!r} finite-difference engine; {hint}."
        )


def fd(
    cost: Callable[..., Any] | Model | str | None = None,
    *,
    eps: float | np.ndarray | None = None,
    engine: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool | None = None,
    engine_options: Mapping[str, Any] | None = None,
    error: str = "auto",
) -> CentralDifference:
    """The finite-difference oracle for ``cost``: a function, a :class:`Model` or a model's name (the MLP if none).

    ``engine`` is ``"auto"`` (the best that can evaluate the cost) or one of
    :func:`~gradcheck_bench.engines.fd_engines`; a cost that takes ``xp=``
    can use the torch and jax engines. ``eps`` is a float, one step per
    parameter (shape (n,)), or None for steps relative to each parameter
    (:mod:`gradcheck_bench.steps`); ``memory_budget`` the engine's peak extra
    bytes; ``progress`` shows the bar (None: only on a terminal);
    ``engine_options`` go to the engine (e.g. ``{"scheduler":
    "tcp://HOST:PORT"}`` for dask); ``error`` is ``"auto"``, ``"rounding"`` or
    ``"full"`` (see the module docstring).
    """
    if cost is None or isinstance(cost, (str, Model)):
        model = get_model(cost or "mlp")
    elif callable(cost):
        model = cost_model(cost)
    else:
        raise InputError(f"fd() needs a callable cost (params, X, Y) -> float or a Model, got {cost!r:.80}.")
    return CentralDifference(model=model, eps=eps, engine=engine, memory_budget=memory_budget, progress=progress,
                             engine_options=dict(engine_options or {}), error=error)


def _fd_for_model(model: Model, eps: float | np.ndarray | None = None, engine: str = "auto",
                  memory_budget: int = DEFAULT_MEMORY_BUDGET, engine_options: Mapping[str, Any] | None = None,
                  error: str = "auto") -> CentralDifference:
    return CentralDifference(model=model, eps=eps, engine=engine, memory_budget=memory_budget,
                             engine_options=dict(engine_options or {}), error=error)


SOURCES = [
    SourceSpec(
        name="fd",
        factory=_fd_for_model,
        description="centered finite differences of the cost (2n forward passes), with error bars",
        kind="oracle",
    ),
]

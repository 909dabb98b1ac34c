"""The finite-difference oracle: a gradient from forward passes only, with its own error bars.

``fd(cost)`` is a gradient source for any cost ``(params, X, Y) -> float`` (or
any :class:`~gradcheck_bench.models.Model`; by default the MLP). The gradient
is the centered difference per coordinate,

    g[i] = (J(theta + h_i e_i) - J(theta - h_i e_i)) / (2 h_i),

2n forward passes for n parameters, with ``h_i`` relative to ``|theta_i|``
(:mod:`gradcheck_bench.differences.steps`). How those passes are evaluated is the job of
an *engine* (:mod:`gradcheck_bench.differences.engines`); ``engine="auto"`` takes the
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
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import numpy as np

from ..counting import counted
from .driver import EngineRun, centered, perturbed_costs
from .engines import DEFAULT_MEMORY_BUDGET, engines, get_engine
from ..errors import GradCheckError, InputError
from .domain import repair, summarize as summarize_repairs, tolerant_costs
from ..gradient import Gradient
from ..kinds import ALL_KINDS, Request
from ..point import Output, Point
from ..source import GradientSource
from ..models import DEFAULT_MODEL, Model, Params, cost_model, get_model
from ..ravel import Coordinates, coordinate_indices, split_coordinates
from ..tolerances import TOLERANCES, LowPrecisionWarning
from .steps import relative_steps, rounding_error, step_vector
from .vector import (columns, direction_step, directional, directional_model, flattened_output, jacobian_blocks,
                     kink_free_step, uses_complex_step,
                     projected_model, rounding_of, split_output, without)
from ..validation import CostAtPoint, cost_at_point, is_count, is_positive_number, measured_noise, scalar_cost
from .coloring import coloured_columns, greedy_colouring, sparsity_pattern
from .kink_safe import kink_safe_tensors
from .richardson import RichardsonDifference

ERROR_MODES = ("auto", "rounding", "full")
REFINE_RATIO = 4.0
"""With error bars from a second step, a coordinate whose truncation error outweighs its round-off
by this much is evaluated again at the step that balances the two."""
MAX_REFINEMENT = 1024
"""A refined step is never smaller than the default one divided by this."""


class LowPrecisionCostWarning(LowPrecisionWarning):
    """The cost's values carry float32 precision although the parameters are float64."""


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
    elif is_positive_number(eps):
        return
    raise InputError(f"eps must be a positive finite step or an array of shape (n,), got {eps!r:.80}; try 1e-6, "
                     "or leave it out for a step relative to each parameter.")


@dataclass(frozen=True)
class CentralDifference(GradientSource):
    """A gradient source that differentiates ``model``'s cost by centered differences."""

    forward_only = True

    model: Model
    eps: float | np.ndarray | None = None
    engine: str = "auto"
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    progress: bool | None = field(default=None, compare=False)
    engine_options: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    error: str = "auto"
    name: str = "fd"
    noise: float | None = field(default=None, compare=False)
    """The absolute round-off of one evaluation of the cost, where it is not ``eps |J|`` (a derived cost that is
    itself a difference, as for a Hessian-vector product)."""

    def __post_init__(self) -> None:
        if self.eps is not None:
            validate_step(self.eps)
        if self.engine != "auto":
            get_engine(self.engine)
        if self.error not in ERROR_MODES:
            raise InputError(f"error must be one of {', '.join(ERROR_MODES)}, got {self.error!r}.")
        validate_engine_options(self.engine, self.engine_options)
        if not is_count(self.memory_budget):
            raise InputError(
                f"memory_budget must be a positive number of bytes, got {self.memory_budget!r}; "
                "e.g. 256 * 2**20 for 256 MiB."
            )

    @property
    def cost(self) -> Callable[..., Any]:
        return self.model.cost

    def gradient_at(self, point: Point) -> Gradient:
        """Every tensor's centered differences with their error bars. The cost at the point, when the check
        evaluated it for this model, counts as the first of the two evaluations that show the cost finite and
        deterministic, not an extra one."""
        at_point = self.cost_at_point(point.params, point.X, point.Y, point.cost_for(self.model))
        return self.differentiate(point.params, point.X, point.Y, at_point, point.names,
                                  self.wants_truncation(at_point))

    def checked_point(self, point: Point) -> Point:
        """A direct call runs the model's point check, whose cost (when it gives one) is the first of the two
        evaluations that show the cost finite and deterministic."""
        return point.with_cost(self.model.check_point(point.params, point.X, point.Y), self.model)

    def second_look(self, point: Point, names: list[str], within_error_bars: bool,
                    request: Request | None = None, coordinates: Coordinates | None = None) -> Gradient | None:
        """Full error bars and kinks stepped around (:meth:`recheck`); where every mismatch was within this
        oracle's error bars, a more accurate value instead (:meth:`resolve`). For another kind, the derived
        cost's own second look, or the Jacobian again with its truncation error. With ``coordinates``, only
        those elements of each tensor are evaluated again (1-D values in their order)."""
        if request is not None and request.name != "gradient":
            return self._second_look_of(point, names, within_error_bars, request, coordinates)
        look = self.resolve if within_error_bars else self.recheck
        return look(point.params, point.X, point.Y, names, coordinates)

    def provides(self) -> frozenset[str]:
        return ALL_KINDS

    def derivative_at(self, point: Point, request: Request) -> Gradient:
        """Any kind from forward passes only (:mod:`gradcheck_bench.differences.vector`)."""
        if request.name == "gradient":
            return self.gradient_at(point)
        if request.name in ("vjp", "hvp"):
            return self._derived(point, request).gradient_at(without(point))
        assert request.output is not None
        values = flattened_output(self.model, request.output, point.X, point.Y)
        if request.name == "jacobian":
            return self._jacobian(point, request, values, truncation=False)
        assert request.probe is not None
        step = direction_step(point, request.probe, TOLERANCES[point.precision].fd_step)
        coarse = directional(values, point, request.probe, step)
        if not request.error_bars:  # judged on its value alone: the second step would only size an error bar
            return Gradient(tensors=split_output(coarse, request.output),
                            notes=(f"a centered difference along the tangent, step {step:.2g}",))
        fine = directional(values, point, request.probe, step / 2)
        at_point = request.output.values  # the output where the check evaluated it
        flat_at_point = np.concatenate([np.ravel(at_point[name]) for name in request.output.names])
        error = combine_errors(rounding_of(flat_at_point, point.precision, step), np.abs(coarse - fine) * 4 / 3)
        return Gradient(tensors=split_output(coarse, request.output), error=split_output(error, request.output),
                        notes=(f"a centered difference along the tangent, steps {step:.2g} and {step / 2:.2g}",))

    def _jacobian(self, point: Point, request: Request, values: Any, truncation: bool) -> Gradient:
        """One column per coordinate, or, where the model declares its sparsity, one difference per colour of
        columns that share no row (:mod:`gradcheck_bench.differences.coloring`)."""
        assert request.output is not None
        steps = step_vector(self.eps, point.params, point.precision)
        difference, notes = self._columns_for(point, request.output)
        matrix, error = difference(values, point, steps)
        if truncation:
            finer, _ = difference(values, point, steps / 2)
            error = combine_errors(error, np.abs(matrix - finer) * 4 / 3)
        return Gradient(tensors=jacobian_blocks(matrix, point, request.output),
                        error=jacobian_blocks(error, point, request.output), notes=notes)

    def _columns_for(self, point: Point, output: Output) -> tuple[Callable[..., Any], tuple[str, ...]]:
        if self.model.jacobian_sparsity is None:
            return columns, ()
        [leaf] = output.leaves
        declared = self.model.jacobian_sparsity(dict(point.params), point.X, point.Y)
        pattern = sparsity_pattern(declared, point, int(np.prod(leaf.shape, dtype=int)), self.model.name)
        colours = greedy_colouring(*pattern, point.flat.size)
        count = int(colours.max(initial=-1)) + 1
        note = f"columns sharing no row differenced together: {count} colours for {point.flat.size} columns"
        return (lambda values, at, steps: coloured_columns(values, at, steps, pattern, colours, self.model.name),
                (note,))

    def _derived(self, point: Point, request: Request) -> "CentralDifference":
        """The gradient oracle on the derived cost: ``u . f`` for a VJP, the directional difference for a HVP."""
        assert request.probe is not None
        if request.name == "vjp":
            assert request.output is not None
            return replace(self, model=projected_model(self.model, request.output, request.probe))
        if uses_complex_step(self.model):  # grad J . v exact to round-off: an ordinary cost to difference
            return replace(self, model=directional_model(self.model, request.probe, 0.0))
        base = TOLERANCES[point.precision].hvp_step
        step = kink_free_step(self.model, point, request.probe, direction_step(point, request.probe, base))
        cost = point.cost_for(self.model)
        if cost is None:
            cost = float(scalar_cost(counted(self.model.cost)(point.params, point.X, point.Y)))
        noise = float(np.finfo(point.precision).eps) * max(abs(cost), np.finfo(np.float64).tiny) / step
        steps = relative_steps(point.params, base) if self.eps is None else self.eps
        return replace(self, model=directional_model(self.model, request.probe, step), eps=steps, noise=noise)

    def _second_look_of(self, point: Point, names: list[str], within_error_bars: bool,
                        request: Request, coordinates: Coordinates | None = None) -> Gradient | None:
        """A derived cost's second look takes the coordinates (its gradient is the check's derivative); a
        Jacobian's blocks are not shaped like the parameters, so it is evaluated again whole."""
        if request.name in ("vjp", "hvp"):
            return self._derived(point, request).second_look(without(point), names, within_error_bars,
                                                             coordinates=coordinates)
        if request.name == "jacobian":
            assert request.output is not None
            values = flattened_output(self.model, request.output, point.X, point.Y)
            return self._jacobian(point, request, values, truncation=True)
        return None

    def for_model(self, model: Model) -> "CentralDifference":
        return replace(self, model=model)

    def settings(self) -> dict[str, str]:
        return {"eps": str(self.eps), "engine": self.engine}

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
                      truncation: bool, coordinates: Coordinates | None = None) -> Gradient:
        """Centered differences of the tensors ``names`` (or of their ``coordinates`` only, as 1-D values in
        that order), with their error estimates."""
        all_steps = step_vector(self.eps, params, at_point.precision)
        indices = coordinate_indices(params, names, coordinates)
        steps = all_steps[indices]
        costs, notes = self._costs(params, X, Y, indices, steps)
        with np.errstate(invalid="ignore"):
            values = centered(costs, steps)
        error = rounding_error(at_point.value, at_point.precision, steps, at_point.noise) if self.noise is None else self.noise / steps
        left = np.flatnonzero(~np.isfinite(values))
        if left.size:  # a step left the cost's domain: a smaller or one-sided difference there, and say so
            values, error = values.copy(), error.copy()
            cost_noise = float(rounding_error(at_point.value, at_point.precision, np.ones(1), at_point.noise)[0])
            fixed, bars, repairs = repair(self.model, params, X, Y, indices[left], steps[left], at_point.value,
                                          cost_noise)
            values[left], error[left] = fixed, bars
            notes = notes + summarize_repairs(repairs)
        if truncation:
            values, error = self._with_truncation(params, X, Y, at_point, indices, steps, values, error)
        whole = coordinates is None and names == list(params) and \
            all(value.dtype == np.float64 for value in params.values())
        return Gradient(tensors=split_coordinates(params, names, values, coordinates), notes=notes,
                        error=split_coordinates(params, names, error, coordinates),
                        precision=at_point.precision, flat=values if whole else None,
                        flat_error=error if whole else None)

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
        with np.errstate(invalid="ignore"):
            halved = centered(self._costs(params, X, Y, indices, steps / 2)[0], steps / 2)
        truncation = np.nan_to_num(np.abs(values - halved) * 4 / 3, nan=0.0)  # outside the domain: no second step
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

    def _costs(self, params: Params, X: Any, Y: Any, indices: np.ndarray,
               steps: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
        """The engine's costs at ``theta +- steps``; NaN where the cost raised there (coordinate by coordinate)."""
        try:
            run = self._run(params, X, Y, indices, steps)
        except GradCheckError:
            raise
        except Exception:  # noqa: BLE001 - the user's cost raised at a perturbed point: redo coordinate by coordinate
            return tolerant_costs(self.model, params, X, Y, indices, steps), ()
        return run.costs, run.notes

    def _run(self, params: Params, X: Any, Y: Any, indices: np.ndarray, steps: np.ndarray) -> EngineRun:
        return perturbed_costs(self.model, params, X, Y, indices, steps, self.engine, self.memory_budget,
                               self.progress, self.engine_options)

    def _at_point_with_noise(self, params: Params, X: Any, Y: Any) -> CostAtPoint:
        """The cost at the point for a second look, with its round-off measured rather than modelled (a first
        look that failed may have trusted ``eps |J|`` where the cost carries more)."""
        at_point = cost_at_point(counted(self.model.cost), params, X, Y, deterministic=False, probe=self.eps is None)
        return replace(at_point, noise=measured_noise(self.model.cost, params, X, Y, at_point.value))

    def recheck(self, params: Params, X: Any, Y: Any, names: list[str],
                coordinates: Coordinates | None = None) -> Gradient:
        """A second look at tensors a check is about to name (or at their ``coordinates`` only): full error
        bars, and kinks stepped around.

        Every coordinate looked at gets the truncation estimate of a second
        step, from the oracle's engine (vectorised). Where the model declares
        its kinks, each of them is also differenced by the kink-aware loop: a
        coordinate whose step straddles a kink is redone one-sided (or with a
        smaller step) and recorded in the notes; every other coordinate keeps
        its value.
        """
        at_point = self._at_point_with_noise(params, X, Y)
        full = self.for_coordinates(coordinates).differentiate(params, X, Y, at_point, names, truncation=True,
                                                               coordinates=coordinates)
        if self.model.kink_pattern is None:
            return full
        stepped = kink_safe_tensors(self.model, params, X, Y, step_vector(self.eps, params, at_point.precision),
                                    names, at_point, coordinates)
        error = {name: value.copy() for name, value in (full.error or {}).items()}
        assert stepped.error is not None  # kink_safe_tensors always gives error bars
        for crossing in stepped.kinks:  # a straddling coordinate: the stepped-around value and its own error
            assert crossing.tensor is not None and crossing.index is not None  # a coordinate's crossing
            where = crossing_position(crossing.tensor, crossing.index, np.shape(params[crossing.tensor]), coordinates)
            error[crossing.tensor][where] = stepped.error[crossing.tensor][where]
        return Gradient(tensors=stepped.tensors, notes=full.notes + stepped.notes, kinks=stepped.kinks, error=error,
                        precision=at_point.precision)

    def for_coordinates(self, coordinates: Coordinates | None) -> "CentralDifference":
        """The oracle for a second look at a few coordinates: the fastest engine that can evaluate them
        (``auto``: a named engine was chosen for all 2n passes, where its fixed costs, a jit compile or a
        cluster, pay off), without a progress bar; itself for whole tensors."""
        if coordinates is None:
            return self
        return replace(self, engine="auto", engine_options={}, progress=False)

    def resolve(self, params: Params, X: Any, Y: Any, names: list[str],
                coordinates: Coordinates | None = None) -> Gradient:
        """The tensors ``names`` (or their ``coordinates`` only) again, for a check that failed with every
        mismatch inside this oracle's error bars: at its step the round-off (or truncation) it carries is
        larger than the difference to decide. Richardson extrapolation of centered differences from coarser
        steps carries less of both (kinks the model declares stepped around), so the verdict can be taken on
        what it resolves."""
        at_point = self._at_point_with_noise(params, X, Y)
        looked = RichardsonDifference(self.model).tensors(params, X, Y, names, at_point, coordinates)
        said = ("their mismatch was within this oracle's error bars at its step, so they were evaluated again "
                "by Richardson extrapolation from coarser steps",)
        return replace(looked, notes=said + looked.notes)


def crossing_position(tensor: str, index: tuple[int, ...], shape: tuple[int, ...],
                      coordinates: Coordinates | None) -> Any:
    """Where a coordinate's crossing sits in a second look's values: its index in the whole tensor, or its
    position among the ``coordinates`` looked at."""
    if coordinates is None:
        return index
    flat = int(np.ravel_multi_index(index, shape)) if shape else 0
    return int(np.flatnonzero(np.asarray(coordinates[tensor]) == flat)[0])


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
    """The finite-difference oracle for ``cost``: a function, a :class:`Model` or a model's name
    (None: :data:`~gradcheck_bench.models.DEFAULT_MODEL`).

    ``engine`` is ``"auto"`` (the best that can evaluate the cost) or one of
    :func:`~gradcheck_bench.differences.engines.fd_engines`; a cost that takes ``xp=``
    can use the torch and jax engines. ``eps`` is a float, one step per
    parameter (shape (n,)), or None for steps relative to each parameter
    (:mod:`gradcheck_bench.differences.steps`); ``memory_budget`` the engine's peak extra
    bytes; ``progress`` shows the bar (None: only on a terminal);
    ``engine_options`` go to the engine (e.g. ``{"scheduler":
    "tcp://HOST:PORT"}`` for dask); ``error`` is ``"auto"``, ``"rounding"`` or
    ``"full"`` (see the module docstring).
    """
    if cost is None or isinstance(cost, (str, Model)):
        model = get_model(cost or DEFAULT_MODEL)
    elif callable(cost):
        model = cost_model(cost)
    else:
        raise InputError(f"fd() needs a callable cost (params, X, Y) -> float or a Model, got {cost!r:.80}.")
    return CentralDifference(model=model, eps=eps, engine=engine, memory_budget=memory_budget, progress=progress,
                             engine_options=dict(engine_options or {}), error=error)

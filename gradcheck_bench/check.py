"""One checking interface: compare any gradient source against any other, at a point built once.

``check(candidate, reference, params, X, Y)`` reads the caller's parameters
into a :class:`~gradcheck_bench.point.Point` (any pytree of NumPy, torch or
jax arrays, real or complex; the caller's values are never touched), runs the
model's point check once, asks the two sources for their gradients there and
hands both to the one judge (:func:`gradcheck_bench.judge.judge`), which
takes the verdict and its second look. :func:`prepare` (the point, the model's
point check, the sources, the derivative asked for) and :func:`judged` (the
judge with the point and the sources) are the two halves of that path, public
so that ``compare`` judges its cells on the derivatives it timed exactly as
``check`` would. ``gradient`` runs one source the same way, so a reference
computed once can serve many checks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np

from .counting import count_forward_passes, counted
from .errors import InputError
from .gradient import Gradient
from .judge import Tolerance, judge
from .kinds import CHEAP_KINDS, DEFAULT_PROJECTIONS, DerivativeKind, Request, draw_probe, get_kind
from .second_look import DEFAULT_SECOND_LOOK_BUDGET, LookBudget
from .models import DEFAULT_MODEL, Model, get_model
from .point import Point, build_point, for_layout, read_output
from .result import CheckResult
from .source import GradientSource, as_source
from .sources.registry import build_source, option_owners, unused_options
from .tolerances import warn_if_low_precision
from .validation import is_count, is_positive_number, require_finite_cost

SourceLike = Union[str, GradientSource, Callable[..., Any], Mapping[str, Any]]
"""A registry name, a source object, a callable ``(params, X, Y) -> gradient``, or a gradient already computed."""


def check(
    candidate: SourceLike,
    reference: SourceLike,
    params: Any,
    X: Any = None,
    Y: Any = None,
    *,
    threshold: float | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    model: str | Model | None = None,
    derivative: str = "gradient",
    seed: int = 0,
    tangent: Any = None,
    cotangent: Any = None,
    vector: Any = None,
    mode: str = "full",
    projections: int = DEFAULT_PROJECTIONS,
    second_look_budget: float | None = DEFAULT_SECOND_LOOK_BUDGET,
    **options: Any,
) -> CheckResult:
    """Check ``candidate``'s derivative against ``reference``'s at ``(params, X, Y)``: by default the gradient.

    Each source is a registry name (``"numpy"``, ``"numpy-buggy"``, ``"fd"``, ...),
    a source object (``gb.fd(cost)``), a callable ``(params, X, Y) -> gradient``,
    or a gradient already computed (e.g. from :func:`gradient`, so one oracle
    run serves many checks). ``params`` is a dict, or any pytree (nested dicts,
    lists, tuples) of NumPy arrays, numbers, torch tensors or jax arrays, real
    or complex; tensors are named by their ``/``-joined path. A callable and
    the model's functions get the caller's own structure and kinds of value,
    as private copies. Named sources are built for ``model`` (default the
    exercise's MLP) with the ``options`` they accept, e.g. ``eps=1e-7`` for
    ``fd``; an option no named source accepts is an error.

    ``threshold=None`` takes the dtype table's relative threshold (2e-7 in
    float64; below float64, 1e-4 on the difference the oracle's error bars
    leave unexplained); ``atol``/``rtol`` judge element by element instead, as
    ``torch.allclose`` does, except where an element lies within its error bars.

    ``derivative`` is ``"gradient"``, ``"jacobian"``, ``"jvp"``, ``"vjp"`` or
    ``"hvp"`` (:mod:`gradcheck_bench.kinds` says what each candidate takes and
    returns); the tangent, cotangent or vector it needs is drawn from ``seed``
    (the same for both sources, recorded in the result) unless given.

    ``mode="fast"`` compares ``projections`` random projections ``u^T D v``
    first (:mod:`gradcheck_bench.projections`: a few forward passes for an
    oracle instead of 2n) and falls back to the full check, with its
    localisation, only where one fails.

    When the first look fails, the sources that can take a second look at
    the coordinates past the threshold (:func:`gradcheck_bench.judge.second_look`)
    until the verdict is settled. The budget never decides the verdict: the
    look goes on until it is decided, whatever that costs. Only then does
    ``second_look_budget`` apply, to deciding which tensors to name: at most
    that many times the first look's forward passes, counted where a source
    differentiates from forward passes only (elsewhere, its seconds; None:
    no limit). A tensor the budget left undecided is not named, and the notes
    say so and what was left.
    """
    tolerance = Tolerance.of(threshold, atol, rtol)
    if mode not in ("full", "fast"):
        raise InputError(f"mode must be 'full' or 'fast', got {mode!r}.")
    if second_look_budget is not None and not is_positive_number(second_look_budget):
        raise InputError(f"second_look_budget must be a positive number (times the first look's forward passes) "
                         f"or None for no limit, got {second_look_budget!r}; e.g. 3.")
    prepared = prepare((candidate, reference), params, X, Y, model=model, derivative=derivative, seed=seed,
                       tangent=tangent, cotangent=cotangent, vector=vector, **options)
    point, request, sources = prepared.point, prepared.request, prepared.sources
    started = time.perf_counter()
    first = None
    notes: tuple[str, ...] = ()
    with count_forward_passes() as first_look:
        if mode == "fast" and request.name in CHEAP_KINDS:  # the cheap mode's module loads only when asked for
            quick, notes, first = fast_look(prepared, tolerance, projections, seed)
            if quick is not None:
                return quick
        if first is None:
            first = sources[0].derivative_at(point, request)
        outputs = [first, sources[1].derivative_at(point, request)]
    prepared = prepared.after_first_look(time.perf_counter() - started, first_look.passes, second_look_budget)
    return judged(prepared, outputs, tolerance, notes)


@dataclass(frozen=True)
class Prepared:
    """What a check is taken on: the point (with the model's cost there), the model wrapped for the caller's
    layout, the sources built for it with their labels, and the derivative asked of them. ``compare``
    prepares its cells the same way."""

    point: Point
    model: Model | None
    """The model the named sources were built for, wrapped for the caller's layout (None: no named source)."""
    sources: tuple[GradientSource, ...]
    labels: tuple[str, ...]
    request: Request
    look_budget: LookBudget = LookBudget()
    """What a failing first look's second look may spend on naming tensors once its verdict is decided: a
    multiple of the first look's forward passes (``check`` counts them, ``compare`` gives the ones its
    measurements counted) or, where the caller knows only its time, of its seconds; else no limit."""

    def after_first_look(self, seconds: float | None, passes: float | None,
                         factor: float | None = DEFAULT_SECOND_LOOK_BUDGET) -> "Prepared":
        """These sources with the second look's budget set from what their first look cost: its ``passes``
        count where one of the two is an oracle (then its forward passes are that cost), else its ``seconds``
        (None, NaN or no passes: not known)."""
        oracle = any(source.forward_only for source in self.sources[:2])
        counted = int(passes) if passes is not None and math.isfinite(passes) and passes > 0 else None
        timed = seconds if seconds is not None and math.isfinite(seconds) else None
        return replace(self, look_budget=LookBudget(timed, factor, counted if oracle else None))


def prepare(sources: Sequence[SourceLike], params: Any, X: Any = None, Y: Any = None, *,
            model: str | Model | None = None, derivative: str = "gradient", seed: int = 0, tangent: Any = None,
            cotangent: Any = None, vector: Any = None, **options: Any) -> Prepared:
    """The point built once, the model's point check run there, the ``sources`` built for it, the probe drawn.

    The arguments are :func:`check`'s (``sources`` its candidate and reference,
    or any number of them); the cost at the point is evaluated once, by the
    model the sources are built for, and every source may reuse it.
    """
    kind = get_kind(derivative)
    point = build_point(params, X, Y)
    warn_if_low_precision(point.params)
    names = [s for s in sources if isinstance(s, str)]
    refuse_unknown_options(names, options)
    chosen = None if model is None and not names else get_model(model or DEFAULT_MODEL)
    checked_model = None if chosen is None else for_layout(chosen, point.layout)
    built = tuple(source_for(s, checked_model, options, point, kind.name) for s in sources)
    evaluating = checked_model or next((s.model for s in built if s.model is not None), None)
    if evaluating is not None and kind.scalar_output:
        point = point.with_cost(cost_at(evaluating, point), evaluating)
    request = request_for(kind, point, evaluating, seed, tangent=tangent, cotangent=cotangent, vector=vector)
    labels = tuple(label_of(s, b) for s, b in zip(sources, built))
    return Prepared(point=point, model=checked_model, sources=built, labels=labels, request=request)


def judged(prepared: Prepared, outputs: Sequence[Any], tolerance: Tolerance = Tolerance(),
           notes: tuple[str, ...] = ()) -> CheckResult:
    """The one judge on the first two prepared sources' ``outputs`` (their derivatives at ``prepared.point``):
    the precision rule, the tolerances, and, when the first look fails, each source's second look, within
    ``prepared.look_budget``."""
    candidate, reference = prepared.sources[:2]
    labels = (prepared.labels[0], prepared.labels[1])
    result = judge(outputs[0], outputs[1], labels=labels, tolerance=tolerance, precision=prepared.point.precision,
                   point=prepared.point, sources=(candidate, reference), request=prepared.request,
                   budget=prepared.look_budget)
    result = replace(result, notes=notes + result.notes) if notes else result
    if prepared.request.name == "gradient":
        return result
    return localised(result, prepared.request, prepared.point, [candidate, reference], labels, tolerance)


def fast_look(prepared: Prepared, tolerance: Tolerance, count: int,
              seed: int) -> tuple[CheckResult | None, tuple[str, ...], Any]:
    """The cheap mode's verdict on a few projections, or None (with a note) where the full check must decide;
    and the candidate's full derivative where the projections computed it."""
    if not is_count(count):
        raise InputError(f"projections must be a positive integer, got {count!r}; e.g. 4.")
    from .projections import projections as projections_of

    request, labels = prepared.request, (prepared.labels[0], prepared.labels[1])
    projected = projections_of(prepared.sources[0], prepared.sources[1], prepared.point, request, count, seed)
    if projected is None:
        return None, (f"fast mode: {labels[1]} is not an oracle that projections would save work, or gives no "
                      f"directional derivative to project on here, so the full {request.name} was checked",), None
    quick = judge({"projections": projected[0]}, {"projections": projected[1]}, labels=labels,
                  tolerance=tolerance, precision=prepared.point.precision)
    said = f"fast mode: {count} random projections u^T D v, seed {seed}"
    if quick.passed:
        return replace(quick, derivative=request.name, probe=request.probe, seed=request.seed,
                       notes=(said,)), (), None
    return None, (f"{said}: a projection failed (difference {quick.difference:.3e}), so the full "
                  f"{request.name} was checked",), projected[2]


def request_for(kind: DerivativeKind, point: Point, model: Model | None, seed: int, **given: Any) -> Request:
    """What the check asks both sources for: the kind, the function's output at the point, the probe drawn."""
    if not is_count(seed, smallest=0):
        raise InputError(f"seed must be a non-negative integer, got {seed!r}; e.g. seed=0.")
    for name, value in given.items():
        if value is not None and name != kind.draws:
            raise InputError(f"{name}= is not used by the {kind.name} kind"
                             + (f"; it takes {kind.draws}=" if kind.draws else "") + ".")
    if kind.name == "gradient":
        return Request(kind)
    if model is None:
        raise InputError(f"a {kind.name} check needs the model whose function it differentiates: pass "
                         "model=gb.Model(name=..., function=f) (or a model's name).")
    output = None
    if not kind.scalar_output or kind.draws == "cotangent":
        model.check_point(point.params, point.X, point.Y)
        output = read_output(counted(model.function)(point.params, point.X, point.Y), model.name)
    if kind.name == "jacobian":
        from .kinds.jacobian import require_one_output

        require_one_output(Request(kind, output), model.name)
    supplied = given.get(kind.draws) if kind.draws else None
    probe = draw_probe(kind, point, output, seed, supplied)
    return Request(kind, output, probe, None if supplied is not None else seed)


def localised(result: CheckResult, request: Request, point: Point, sources: list[GradientSource],
              labels: tuple[str, str], tolerance: Tolerance) -> CheckResult:
    """The result with its kind and probe recorded; a failing JVP re-checked one tensor's tangent at a time,
    so the tensor whose tangent exposes the mismatch is named."""
    tensors: tuple[str, ...] = ()
    if request.name == "jvp" and not result.passed and request.probe is not None:
        exposing = []
        for name in point.names:
            alone = {key: value if key == name else np.zeros_like(value) for key, value in request.probe.items()}
            one = replace(request, probe=alone)
            outputs = [source.derivative_at(point, one) for source in sources]
            again = judge(outputs[0], outputs[1], labels=labels, tolerance=tolerance, precision=point.precision)
            if not again.passed:
                exposing.append(name)
        tensors = tuple(exposing)
    notes = result.notes + ((f"re-checked one tensor's tangent at a time: the mismatch shows along "
                             f"{', '.join(tensors)}",) if tensors else ())
    axes = len(request.output.leaves[0].shape) if request.name == "jacobian" and request.output is not None else 0
    return replace(result, derivative=request.name, probe=request.probe, seed=request.seed, exposed_by=tensors,
                   notes=notes, output_axes=axes)


def gradient(source: SourceLike, params: Any, X: Any = None, Y: Any = None, *,
             model: str | Model | None = None, derivative: str = "gradient", seed: int = 0, tangent: Any = None,
             cotangent: Any = None, vector: Any = None, **options: Any) -> Gradient:
    """One source's derivative at the point, validated: compute a reference once, check many candidates.

    ``ref = gradient("fd", params, X, Y, model="gmm")`` then ``check(c, ref, ...)``
    for each candidate ``c``; an oracle's result keeps its error bars and notes.
    ``derivative`` chooses the kind (for ``"jacobian"``, one block per parameter
    of shape ``output.shape + param.shape``); its probe is drawn from ``seed``
    as :func:`check` draws it, so the two agree.
    """
    prepared = prepare((source,), params, X, Y, model=model, derivative=derivative, seed=seed, tangent=tangent,
                       cotangent=cotangent, vector=vector, **options)
    return prepared.sources[0].derivative_at(prepared.point, prepared.request)


def cost_at(model: Model, point: Point) -> float:
    """The model's point check, and the cost there (finite), evaluated once for every source to reuse."""
    cost = model.check_point(point.params, point.X, point.Y)
    if cost is None:
        cost = require_finite_cost(counted(model.cost), point.params, point.X, point.Y, deterministic=False)
    return float(cost)


def source_for(source: SourceLike, model: Model | None, options: dict[str, Any], point: Point,
               derivative: str = "gradient") -> GradientSource:
    """The source object: a name built for the model, anything else wrapped once (and given the model)."""
    if isinstance(source, str):
        assert model is not None
        return build_source(source, model, derivative=derivative, **options)
    built = as_source(source)
    if built.model is not None and not point.layout.plain:
        return built.for_model(for_layout(built.model, point.layout))
    return built


def label_of(source: SourceLike, built: GradientSource) -> str:
    """A readable name: the registry name, or the source's own."""
    return source if isinstance(source, str) else built.name


def refuse_unknown_options(names: list[str], options: dict[str, Any]) -> None:
    """An option that no named source accepts is an error that lists the options that exist."""
    unknown = unused_options(names, options)
    if not unknown:
        return
    accepted = option_owners(names)
    offered = "; ".join(f"{name} takes {', '.join(sorted(taken)) or 'no options'}" for name, taken in accepted.items())
    raise InputError(
        f"option(s) {', '.join(unknown)} are not accepted by "
        f"{' or '.join(names) if names else 'sources given as callables, objects or gradients'}"
        f"{' (' + offered + ')' if offered else ''}; check() itself takes threshold=, atol=, rtol= and model=."
    )


__all__ = ["CheckResult", "DEFAULT_MODEL", "Prepared", "SourceLike", "check", "gradient", "judged", "prepare"]


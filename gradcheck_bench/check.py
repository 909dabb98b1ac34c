"""One checking interface: compare any gradient source against any other, at a point built once.

``check(candidate, reference, params, X, Y)`` reads the caller's parameters
into a :class:`~gradcheck_bench.point.Point` (any pytree of NumPy, torch or
jax arrays, real or complex; the caller's values are never touched), runs the
model's point check once, asks the two sources for their gradients there and
hands both to the one judge (:func:`gradcheck_bench.judge.judge`), which
takes the verdict and its second look. ``gradient`` runs one source the same
way, so a reference computed once can serve many checks.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Union

from .counting import counted
from .errors import InputError
from .gradient import Gradient
from .judge import Tolerance, judge
from .models import DEFAULT_MODEL, Model, get_model
from .point import Point, build_point, for_layout
from .result import CheckResult
from .source import GradientSource, as_source
from .sources.registry import build_source, option_owners, unused_options
from .tolerances import warn_if_low_precision
from .validation import require_finite_cost

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
    **options: Any,
) -> CheckResult:
    """Check ``candidate``'s gradient against ``reference``'s at ``(params, X, Y)``.

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
    """
    tolerance = Tolerance.of(threshold, atol, rtol)
    point = build_point(params, X, Y)
    warn_if_low_precision(point.params)
    names = [s for s in (candidate, reference) if isinstance(s, str)]
    refuse_unknown_options(names, options)
    chosen = None if model is None and not names else get_model(model or DEFAULT_MODEL)
    checked_model = None if chosen is None else for_layout(chosen, point.layout)
    sources = [source_for(s, checked_model, options, point) for s in (candidate, reference)]
    evaluating = checked_model or next((s.model for s in sources if s.model is not None), None)
    if evaluating is not None:
        point = point.with_cost(cost_at(evaluating, point), evaluating)
    outputs = [source.gradient_at(point) for source in sources]
    labels = (label_of(candidate, sources[0]), label_of(reference, sources[1]))
    return judge(outputs[0], outputs[1], labels=labels, tolerance=tolerance, precision=point.precision,
                 point=point, sources=(sources[0], sources[1]))


def gradient(source: SourceLike, params: Any, X: Any = None, Y: Any = None, *,
             model: str | Model | None = None, **options: Any) -> Gradient:
    """One source's gradient at the point, validated: compute a reference once, check many candidates.

    ``ref = gradient("fd", params, X, Y, model="gmm")`` then ``check(c, ref, ...)``
    for each candidate ``c``; an oracle's result keeps its error bars and notes.
    """
    point = build_point(params, X, Y)
    names = [source] if isinstance(source, str) else []
    refuse_unknown_options(names, options)
    chosen = None if model is None and not names else get_model(model or DEFAULT_MODEL)
    checked_model = None if chosen is None else for_layout(chosen, point.layout)
    built = source_for(source, checked_model, options, point)
    evaluating = checked_model or built.model
    if evaluating is not None:
        point = point.with_cost(evaluating.check_point(point.params, point.X, point.Y), evaluating)
    return built.gradient_at(point)


def cost_at(model: Model, point: Point) -> float:
    """The model's point check, and the cost there (finite), evaluated once for every source to reuse."""
    cost = model.check_point(point.params, point.X, point.Y)
    if cost is None:
        cost = require_finite_cost(counted(model.cost), point.params, point.X, point.Y, deterministic=False)
    return float(cost)


def source_for(source: SourceLike, model: Model | None, options: dict[str, Any], point: Point) -> GradientSource:
    """The source object: a name built for the model, anything else wrapped once (and given the model)."""
    if isinstance(source, str):
        assert model is not None
        return build_source(source, model, **options)
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


__all__ = ["CheckResult", "DEFAULT_MODEL", "SourceLike", "check", "gradient"]


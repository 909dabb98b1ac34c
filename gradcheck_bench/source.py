"""The one contract every gradient source keeps, with its optional hooks declared.

A source turns a :class:`~gradcheck_bench.point.Point` into a
:class:`~gradcheck_bench.gradient.Gradient` (the check's arrays by name, with
notes, error bars and the precision it found where it knows them). What else
a source may offer is declared here, with a default that says "not offered",
so no caller has to find out what a source can do:

* ``second_look(point, names, within_error_bars, request, coordinates)``: the
  tensors ``names`` again, for a check about to name them (an oracle's full
  error bars, kinks stepped around, or a more accurate method where its own
  error bars could not decide), or only the ``coordinates`` of them the judge
  asks about (the largest mismatches, in rounds: :func:`gradcheck_bench.judge.second_look`);
* ``for_model(model)``: the same source for another model (``check`` hands
  oracles built from a bare cost the model wrapped for the caller's values);
* ``compile_seconds``: seconds spent compiling so far (jit), kept apart from run time;
* ``settings()``: the options it runs with (step, engine, device), for a report.

A source may use ``point.cost``, when set, instead of evaluating the cost at
the point again. Anything else is wrapped once, at the boundary: a callable
``(params, X, Y) -> gradient`` as :class:`CallableSource`, a gradient already
computed as :class:`GivenGradient`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable

from .errors import SourceError
from .gradient import Gradient
from .models import Model
from .point import Point, build_point, for_layout

if TYPE_CHECKING:
    from .kinds import Request
    from .ravel import Coordinates

GRADIENT_ONLY = frozenset({"gradient"})


class GradientSource:
    """Base of every source: ``gradient_at`` and the optional hooks, each with its "not offered" default."""

    name: str = "source"
    model: Model | None = None
    forward_only: bool = False
    """Whether it differentiates from forward passes only (an oracle): the cheap mode's projections save it
    work, where an autograd source's full derivative costs about what a projection would."""

    def gradient_at(self, point: Point) -> Gradient:
        """The gradient at ``point`` (whose model check, if any, has passed)."""
        raise NotImplementedError

    def provides(self) -> frozenset[str]:
        """The derivative kinds this source gives (:mod:`gradcheck_bench.kinds`)."""
        return GRADIENT_ONLY

    def derivative_at(self, point: Point, request: "Request") -> Gradient:
        """The derivative ``request`` asks for at ``point``: the gradient here, other kinds where a source offers them."""
        if request.name == "gradient":
            return self.gradient_at(point)
        raise SourceError(f"gradient source {self.name!r} gives {', '.join(sorted(self.provides()))}, "
                          f"not the {request.name}.")

    def second_look(self, point: Point, names: list[str], within_error_bars: bool,
                    request: "Request | None" = None, coordinates: "Coordinates | None" = None) -> Gradient | None:
        """The tensors ``names`` re-examined, or None when this source has nothing more to offer.

        ``within_error_bars``: every mismatch lay inside the sources' error bars, so what is
        needed is a more accurate value, not a second opinion on the same one. ``request``: the
        derivative the check compares (None: the gradient). ``coordinates``: per tensor, the flat
        positions to re-examine (None: every element); the values (and error bars) returned for a
        tensor are then 1-D, in that order, or the whole tensor where the source can only redo it whole.
        """
        return None

    def for_model(self, model: Model) -> "GradientSource":
        """This source for ``model`` (a model wrapped for the caller's layout); itself where it holds none."""
        return self

    @property
    def compile_seconds(self) -> float | None:
        """Seconds spent compiling so far; None for a source that compiles nothing."""
        return None

    def settings(self) -> dict[str, str]:
        """The options this source runs with, as text (for a report's header)."""
        return {}

    def __call__(self, params: Any, X: Any = None, Y: Any = None) -> Gradient:
        """The gradient at ``(params, X, Y)`` directly, without a check: the caller's values read once, as
        they are (an oracle also runs the model's point check, :meth:`checked_point`)."""
        point = build_point(params, X, Y, shared=False)
        source = self
        if self.model is not None and not point.layout.plain:
            source = self.for_model(for_layout(self.model, point.layout))
        return source.gradient_at(source.checked_point(point))

    def checked_point(self, point: Point) -> Point:
        """The point a direct call differentiates at: as it is here; an oracle checks it first."""
        return point


class CallableSource(GradientSource):
    """A function ``(params, X, Y) -> gradient`` (a user's): given private copies of the caller's values in
    the caller's structure, its output read back whatever kind of arrays it returns.

    ``check_arrays=True`` for a function that already speaks the check's arrays (a model's hand-written
    gradient, which the check's model wraps for the caller's layout itself).
    """

    def __init__(self, function: Callable[..., Any], name: str | None = None, check_arrays: bool = False,
                 kinds: frozenset[str] | None = None) -> None:
        self.function = function
        self.check_arrays = check_arrays
        self.kinds = kinds
        self.name = name or getattr(function, "name", None) or getattr(function, "__name__", None) or repr(function)

    def provides(self) -> frozenset[str]:
        """A user's callable is whatever the check asks it to be; a model's is what the model declares."""
        if self.kinds is not None:
            return self.kinds
        from .kinds import kinds

        return frozenset(kinds())

    def gradient_at(self, point: Point) -> Gradient:
        X, Y = point.private_data()
        params = point.private_params()
        given = params if self.check_arrays or point.layout.plain else point.layout.for_caller(params)
        return point.layout.gradient(self.function(given, X, Y), self.name)

    def derivative_at(self, point: Point, request: "Request") -> Gradient:
        if request.name == "gradient":
            return self.gradient_at(point)
        X, Y = point.private_data()
        params = point.private_params()
        given = params if point.layout.plain else point.layout.for_caller(params)
        returned = self.function(*request.arguments(point, given, X, Y))
        return returned if isinstance(returned, Gradient) else request.kind.read(point, request, returned, self.name)


class GivenGradient(GradientSource):
    """A gradient already computed (a dict, the parameters' tree, or a :class:`Gradient` with its error bars)."""

    name = "given gradient"

    def __init__(self, gradient: Any) -> None:
        self.gradient = gradient

    def gradient_at(self, point: Point) -> Gradient:
        return point.layout.gradient(self.gradient, self.name)

    def provides(self) -> frozenset[str]:
        from .kinds import kinds

        return frozenset(kinds())

    def derivative_at(self, point: Point, request: "Request") -> Gradient:
        if isinstance(self.gradient, Gradient):
            return self.gradient
        return request.kind.read(point, request, self.gradient, self.name)


def as_source(source: Any) -> GradientSource:
    """A :class:`GradientSource` for whatever a check was given as one (not a registry name)."""
    if isinstance(source, GradientSource):
        return source
    if isinstance(source, (Mapping, list, tuple)):
        return GivenGradient(source)
    if callable(source):
        return CallableSource(source)
    from .errors import InputError

    raise InputError(f"a gradient source must be a name, a callable or a dict of arrays, got {source!r:.80}.")

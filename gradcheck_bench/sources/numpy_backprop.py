"""The hand-written gradients, as sources: ``numpy`` and its planted-bug twin ``numpy-buggy``.

A model that declares a hand-written NumPy gradient (``Model.gradient``) gets
the ``numpy`` source; one that declares a planted bug (``Model.planted_bug``)
gets ``numpy-buggy``. The gradients themselves live with their models (the
MLP's backprop in :mod:`gradcheck_bench.models.mlp`), each reverse step next
to the forward line it reverses.
"""

from __future__ import annotations

from ..gradient import Gradient
from ..kinds import Request
from ..models import Model
from ..point import Point
from ..source import CallableSource, GradientSource
from .registry import SourceSpec


class HandWritten(GradientSource):
    """A model's hand-written derivatives (or its planted bug's): the gradient, and the other kinds it declares."""

    model: Model

    def __init__(self, model: Model, planted: bool = False) -> None:
        self.model = model
        self.planted = planted
        self.name = "numpy-buggy" if planted else "numpy"

    def functions(self) -> dict[str, object]:
        if self.planted:
            assert self.model.planted_bug is not None
            bug = self.model.planted_bug
            return {**({"gradient": bug.gradient} if bug.gradient is not None else {}), **bug.derivatives}
        return {**({"gradient": self.model.gradient} if self.model.gradient is not None else {}),
                **self.model.derivatives}

    def provides(self) -> frozenset[str]:
        return frozenset(self.functions())

    def for_model(self, model: Model) -> "HandWritten":
        return HandWritten(model, self.planted)

    def _as_callable(self, kind: str) -> CallableSource:
        function = self.functions()[kind]
        assert callable(function)
        # the gradient is wrapped for the caller's layout by the check's model; the other kinds are the user's own
        return CallableSource(function, self.name, check_arrays=kind == "gradient", kinds=self.provides())

    def gradient_at(self, point: Point) -> Gradient:
        return self._as_callable("gradient").gradient_at(point)

    def derivative_at(self, point: Point, request: Request) -> Gradient:
        if request.name not in self.provides():
            return super().derivative_at(point, request)
        return self._as_callable(request.name).derivative_at(point, request)


def _hand_written(model: Model) -> HandWritten:
    return HandWritten(model)


def _planted_bug(model: Model) -> HandWritten:
    return HandWritten(model, planted=True)


def _declared_kinds(model: Model) -> frozenset[str]:
    return HandWritten(model).provides()


def _planted_kinds(model: Model) -> frozenset[str]:
    return HandWritten(model, planted=True).provides() if model.planted_bug is not None else frozenset()


SOURCES = [
    SourceSpec(
        name="numpy",
        factory=_hand_written,
        description="the model's hand-written NumPy gradient",
        kind="hand-written",
        applies_to=lambda model: model.gradient is not None or bool(model.derivatives),
        needs="a hand-written gradient (Model(gradient=...)) or derivatives (Model(derivatives={...}))",
        derivatives=_declared_kinds,
    ),
    SourceSpec(
        name="numpy-buggy",
        factory=_planted_bug,
        description="the model's hand-written gradient with a planted bug (the MLP: dW2 x2, db1 x4)",
        kind="planted-bug",
        applies_to=lambda model: model.planted_bug is not None,
        needs="a planted bug (Model(planted_bug=...))",
        derivatives=_planted_kinds,
    ),
]

"""The ``richardson`` source: centered differences at halving steps, extrapolated (:mod:`gradcheck_bench.differences.richardson`)."""

from __future__ import annotations

from ..differences.richardson import DEFAULT_LEVELS, RICHARDSON_KINDS, RichardsonDifference
from ..models import Model
from .registry import SourceSpec


def _richardson_for_model(model: Model, h: float | None = None, levels: int = DEFAULT_LEVELS) -> RichardsonDifference:
    return RichardsonDifference(model=model, h=h, levels=levels)


SOURCES = [
    SourceSpec(
        name="richardson",
        factory=_richardson_for_model,
        description="centered differences at halving steps, Richardson-extrapolated (2*levels*n passes)",
        kind="oracle",
        derivatives=lambda model: RICHARDSON_KINDS,
    ),
]

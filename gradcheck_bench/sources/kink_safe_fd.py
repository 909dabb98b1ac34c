"""The ``fd-kink-safe`` source: centered differences that step around declared kinks (:mod:`gradcheck_bench.differences.kink_safe`)."""

from __future__ import annotations

from ..differences.kink_safe import KinkSafeDifference
from ..models import Model
from .registry import SourceSpec


def _kink_safe_for_model(model: Model, eps: float | None = None) -> KinkSafeDifference:
    return KinkSafeDifference(model=model, eps=eps)


SOURCES = [
    SourceSpec(
        name="fd-kink-safe",
        factory=_kink_safe_for_model,
        description="centered differences that detect kinks between theta +- eps and step around them",
        kind="oracle",
        applies_to=lambda model: model.kink_pattern is not None,
        needs="a declared kink pattern (Model(kink_pattern=...))",
    ),
]

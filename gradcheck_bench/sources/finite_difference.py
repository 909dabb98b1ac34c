"""The ``fd`` source: centered differences with error bars (the oracle lives in :mod:`gradcheck_bench.differences.central`)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..differences.central import CentralDifference
from ..differences.engines import DEFAULT_MEMORY_BUDGET
from ..kinds import ALL_KINDS
from ..models import Model
from .registry import SourceSpec


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
        derivatives=lambda model: ALL_KINDS,
    ),
]

"""The hand-written gradients, as sources: ``numpy`` and its planted-bug twin ``numpy-buggy``.

A model that declares a hand-written NumPy gradient (``Model.gradient``) gets
the ``numpy`` source; one that declares a planted bug (``Model.planted_bug``)
gets ``numpy-buggy``. The gradients themselves live with their models (the
MLP's backprop in :mod:`gradcheck_bench.models.mlp`), each reverse step next
to the forward line it reverses.
"""

from __future__ import annotations

from ..models import Model
from ..source import CallableSource
from .registry import SourceSpec


def _hand_written(model: Model) -> CallableSource:
    assert model.gradient is not None  # the registry only builds it for models that declare one
    return CallableSource(model.gradient, "numpy", check_arrays=True)


def _planted_bug(model: Model) -> CallableSource:
    assert model.planted_bug is not None
    return CallableSource(model.planted_bug.gradient, "numpy-buggy", check_arrays=True)


SOURCES = [
    SourceSpec(
        name="numpy",
        factory=_hand_written,
        description="the model's hand-written NumPy gradient",
        kind="hand-written",
        applies_to=lambda model: model.gradient is not None,
        needs="a hand-written gradient (Model(gradient=...))",
    ),
    SourceSpec(
        name="numpy-buggy",
        factory=_planted_bug,
        description="the model's hand-written gradient with a planted bug (the MLP: dW2 x2, db1 x4)",
        kind="planted-bug",
        applies_to=lambda model: model.planted_bug is not None,
        needs="a planted bug (Model(planted_bug=...))",
    ),
]

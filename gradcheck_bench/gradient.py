"""What a gradient source may return besides the arrays: a :class:`Gradient`.

A source returns either a plain ``{name: ndarray}`` or a ``Gradient``, which
reads like that dict (``grad["W1"]``, ``list(grad)``) and also carries what
the source did that a reader of the check should know (``notes``, the kinks
it stepped around) and, for the finite-difference oracles, an estimate of
each coordinate's own error (``error``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .models import Params


@dataclass(frozen=True)
class Gradient(Mapping[str, np.ndarray]):
    """A gradient (one array per parameter) with what its source knows about it."""

    tensors: Params
    """One array per parameter (what ``grad[name]`` reads)."""
    notes: tuple[str, ...] = ()
    """Sentences for the check's summary (e.g. kinks stepped around)."""
    kinks: tuple[Any, ...] = ()
    """:class:`~gradcheck_bench.kinks.KinkCrossing` of every difference that straddled a kink."""
    error: Params | None = field(default=None, repr=False)
    """Per coordinate, an estimate of ``|value - true derivative|`` (oracles only), same shapes."""
    precision: np.dtype | None = None
    """The precision the source found the cost to carry, when it looked (the fd oracle does)."""

    def __getitem__(self, name: str) -> np.ndarray:
        return self.tensors[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)


def notes_of(output: Any) -> tuple[str, ...]:
    """The notes a source attached to its output (none for a plain dict)."""
    return output.notes if isinstance(output, Gradient) else ()


def kinks_of(output: Any) -> tuple[Any, ...]:
    """The kink crossings a source recorded (none for a plain dict)."""
    return output.kinks if isinstance(output, Gradient) else ()


def error_of(output: Any) -> Params | None:
    """The per-coordinate error estimates a source gave (None for a plain dict)."""
    return output.error if isinstance(output, Gradient) else None

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
    """:class:`~gradcheck_bench.differences.kinks.KinkCrossing` of every difference that straddled a kink."""
    error: Params | None = field(default=None, repr=False)
    """Per coordinate, an estimate of ``|value - true derivative|`` (oracles only), same shapes."""
    precision: np.dtype | None = None
    """The precision the source found the cost to carry, when it looked (the fd oracle does)."""
    flat: np.ndarray | None = field(default=None, repr=False, compare=False)
    """The same values as one vector in ``tensors``' order, when the source computed them so (the judge
    then reads them instead of flattening the tensors again)."""
    flat_error: np.ndarray | None = field(default=None, repr=False, compare=False)
    """``error`` as one vector, likewise."""

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


def flat_of(output: Any, names: list[str]) -> np.ndarray:
    """The values of ``names`` as one float64 vector: the source's own flat vector when it kept one."""
    if isinstance(output, Gradient) and output.flat is not None and list(output.tensors) == names:
        return output.flat.astype(np.float64, copy=False)
    return np.concatenate([np.ravel(output[name]) for name in names]).astype(np.float64, copy=False)


def flat_error_of(output: Any, names: list[str]) -> np.ndarray | None:
    """The error bars of ``names`` as one vector (the source's own when it kept one); None without error bars."""
    if not isinstance(output, Gradient) or output.error is None:
        return None
    if output.flat_error is not None and list(output.tensors) == names:
        return output.flat_error
    if not all(name in output.error for name in names):
        return None
    return np.concatenate([np.ravel(output.error[name]) for name in names])

"""Forward passes, counted: the one wrapper every oracle, tool and benchmark counts with.

A forward pass is one evaluation of the cost at one point. Every place in the
package that evaluates a cost reports what it evaluated: a plain cost is
called through :func:`counted` (one pass per call), and a batched engine
calls :func:`record_passes` with the length of the batch it evaluated (read
off the array itself). Anyone can watch:

    with count_forward_passes() as counter:
        oracle(params, X, Y)
    counter.passes

:class:`CountingCost` wraps a function that someone else's checker calls
(``torch.autograd.gradcheck``, ``scipy.optimize.check_grad``) and counts its
calls, reporting each as a pass too, so a peer's count comes from the same
place as ours.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator


@dataclass
class ForwardPassCounter:
    """Passes recorded while it was active."""

    passes: int = 0


_ACTIVE: ContextVar[tuple[ForwardPassCounter, ...]] = ContextVar("gradcheck_bench_counters", default=())


@contextmanager
def count_forward_passes() -> Iterator[ForwardPassCounter]:
    """Count every forward pass evaluated inside the ``with`` block (nested blocks both count)."""
    counter = ForwardPassCounter()
    token = _ACTIVE.set(_ACTIVE.get() + (counter,))
    try:
        yield counter
    finally:
        _ACTIVE.reset(token)


def record_passes(count: int) -> None:
    """Report ``count`` evaluations of the cost to every active counter."""
    for counter in _ACTIVE.get():
        counter.passes += int(count)


class CountingCost:
    """A cost (or any function) that counts its calls in ``.calls`` and reports each as a pass.

    Its signature is the wrapped function's (``inspect.signature`` follows
    ``__wrapped__``), so a wrapped cost that takes ``xp=`` still does.
    """

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.calls = 0
        self.__wrapped__ = function
        self.__name__ = getattr(function, "__name__", "cost")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        record_passes(1)
        return self.function(*args, **kwargs)


def counted(function: Callable[..., Any]) -> CountingCost:
    """``function`` as a :class:`CountingCost` (itself, when it already is one: nothing counts twice)."""
    return function if isinstance(function, CountingCost) else CountingCost(function)

"""A gradient check for other people's test suites.

``assert_gradients_close(candidate, reference, params, X, Y)`` runs
:func:`gradcheck_bench.check` and raises ``AssertionError`` when the check
fails, so it drops into a pytest suite the way ``torch.autograd.gradcheck``
does. Unlike that function, the message names more than the tensor: it is
the whole per-parameter table, worst tensor first, with the element of the
largest error, both values there and the factor by which the candidate is off.
"""

from __future__ import annotations

from typing import Any

from .check import CheckResult, SourceLike, check
from .models import Model, Params


def failure_message(result: CheckResult) -> str:
    """The verdict line, the culprits, then the per-parameter table sorted worst first."""
    headline = result.summary().split("\n\n", 1)[0]
    return f"{headline}\n\nPer-parameter breakdown, worst first:\n{result.table(worst_first=True)}"


def assert_gradients_close(
    candidate: SourceLike,
    reference: SourceLike,
    params: Params,
    X: Any,
    Y: Any = None,
    *,
    threshold: float | None = None,
    model: str | Model | None = None,
    **options: Any,
) -> CheckResult:
    """Assert that ``candidate``'s gradient matches ``reference``'s at ``(params, X, Y)``.

    Takes exactly the arguments of :func:`gradcheck_bench.check` (source names
    or callables, ``threshold``, ``model``, source options such as ``eps`` or
    ``device``). Returns the :class:`CheckResult` when the relative difference
    is below ``threshold``; raises ``AssertionError`` with the per-parameter
    table, worst tensor first, when it is not. Bad input still raises the
    usual :class:`~gradcheck_bench.errors.GradCheckError`, so a broken test is
    never mistaken for a wrong gradient. The verdict follows the same rule as
    ``check`` (``threshold=None``: the dtype table's, raised below float64 to
    what the oracle resolves), and this function's own frame is hidden from
    pytest's traceback, as in ``numpy.testing``.
    """
    __tracebackhide__ = True
    result = check(candidate, reference, params, X, Y, threshold=threshold, model=model, **options)
    if not result.passed:
        raise AssertionError(failure_message(result))
    return result

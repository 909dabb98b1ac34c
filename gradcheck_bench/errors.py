"""The exceptions the harness raises on bad input.

Every message is a sentence that says what was wrong and what to do. The CLI
turns any :class:`GradCheckError` into a one-line message and exit status 2,
never a traceback.
"""

from __future__ import annotations


class GradCheckError(ValueError):
    """Base class: the inputs of a check were unusable; nothing was changed."""


class InputError(GradCheckError):
    """The point of the check (params, X, Y) or an option was invalid."""


class SourceError(GradCheckError):
    """A gradient source is unknown, or returned something that is not a gradient."""


class NotApplicable(SourceError):
    """A source that cannot serve this model here (torch.compile on a program too long to compile): compare
    shows the cell UNAVAILABLE with the reason, not as an error of the run."""


class NonFiniteLossError(InputError):
    """The cost is NaN or infinite at the point, so no gradient can be checked there."""


class NondeterministicCostError(InputError):
    """The cost gave two different values at the same point, so differences of it are noise."""


class SaturationWarning(UserWarning):
    """The output sigmoid rounds to 0 or 1 against the label at the point being checked."""

"""Stopping a long run cleanly: a time limit, SIGTERM and Ctrl-C become exceptions.

Python already turns Ctrl-C (SIGINT) into ``KeyboardInterrupt``; SIGTERM, by
default, kills the process with no cleanup. Inside :func:`stoppable` both, and
the ``--timeout`` alarm, raise exceptions instead, so ``finally`` blocks close
progress bars and atomic writes discard their temporary files: results already
on disk stay whole, and the CLI says why it stopped.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Callable, Iterator

from ..errors import GradCheckError
from ..validation import is_positive_number


class TimeLimitExceeded(BaseException):
    """The run took longer than its ``--timeout``. A BaseException, as KeyboardInterrupt is: it arrives at any
    line, and code that handles a user's cost raising (``except Exception``: a domain error, an engine that
    cannot run the cost) must not take it for one and carry on."""


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM; handled like Ctrl-C."""


@contextmanager
def stoppable(timeout: float | None = None) -> Iterator[None]:
    """Run the body with SIGTERM as :class:`Terminated` and an optional time limit.

    Signal handlers can only be installed from the main thread; elsewhere the
    body simply runs (and a timeout is refused rather than ignored).
    """
    if timeout is not None and not is_positive_number(timeout):
        raise GradCheckError(f"--timeout must be a positive number of seconds, got {timeout}.")
    if threading.current_thread() is not threading.main_thread():
        if timeout is not None:
            raise GradCheckError("a timeout can only be enforced from the main thread.")
        yield
        return

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise Terminated("terminated by SIGTERM")

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TimeLimitExceeded(
            f"stopped after the time limit of {timeout:g} s; results written before this point "
            "are intact. Raise --timeout, or make the run smaller (fewer cases, a smaller net)."
        )

    previous_term = signal.signal(signal.SIGTERM, on_term)
    previous_alarm = signal.signal(signal.SIGALRM, on_alarm) if timeout else None
    if timeout:
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield
    finally:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_alarm)
        signal.signal(signal.SIGTERM, previous_term)


@contextmanager
def saying_where(describe: Callable[[], str]) -> Iterator[None]:
    """Re-raise a stop (Ctrl-C, SIGTERM, time limit) with ``describe()``: how far the run got."""
    try:
        yield
    except TimeLimitExceeded as stop:
        raise TimeLimitExceeded(f"{stop} {describe()}") from None
    except KeyboardInterrupt as stop:
        raise type(stop)(describe()) from None

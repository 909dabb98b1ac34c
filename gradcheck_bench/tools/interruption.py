"""Stopping a long run cleanly: a time limit, SIGTERM and Ctrl-C become exceptions.

Python already turns Ctrl-C (SIGINT) into ``KeyboardInterrupt``; SIGTERM, by
default, kills the process with no cleanup. Inside :func:`stoppable` both, and
the ``--timeout`` alarm, raise exceptions instead, so ``finally`` blocks close
progress bars and atomic writes discard their temporary files: results already
on disk stay whole, and the CLI says why it stopped.

A signal's exception is raised at whatever line runs when it arrives. Where
that line is in a garbage-collector callback, a ``__del__`` or a weakref
callback (jax runs one on every collection), Python cannot propagate it: it
prints "Exception ignored in ..." and carries on, and the run would go on as if
it had never been stopped. Inside :func:`stoppable` such a swallowed stop is
delivered again, to be raised at the next line that can propagate it.

A stop that arrives while a module is being imported (torch and jax take
seconds to import) waits until the import is over. Raised inside an
import, it would leave the import's finished submodules in ``sys.modules``
under a package Python drops, so the next import of the package fails
("partially initialized module 'jax' has no attribute 'version'"); and
raised inside a compiled extension's initialisation (jaxlib's nanobind
types) it aborts the process. A stop is held for at most
:data:`IMPORT_GRACE_SECONDS`, so an import that never ends is still stopped.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from contextlib import contextmanager
from types import FrameType
from typing import Any, Callable, Iterator

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

    redelivery = Redelivery()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop = redelivery.raising(Terminated("terminated by SIGTERM"), frame)
        if stop is not None:
            raise stop

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        stop = redelivery.raising(TimeLimitExceeded(
            f"stopped after the time limit of {timeout:g} s; results written before this point "
            "are intact. Raise --timeout, or make the run smaller (fewer cases, a smaller net)."
        ), frame)
        if stop is not None:
            raise stop

    previous_term = signal.signal(signal.SIGTERM, on_term)
    previous_alarm = signal.signal(signal.SIGALRM, on_alarm) if timeout else None
    previous_hook, sys.unraisablehook = sys.unraisablehook, redelivery.hook(sys.unraisablehook)
    if timeout:
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield
        redelivery.raise_if_swallowed()  # the body ended before the stop was delivered again
    finally:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
        redelivery.finish()
        sys.unraisablehook = previous_hook
        if timeout:
            signal.signal(signal.SIGALRM, previous_alarm)
        signal.signal(signal.SIGTERM, previous_term)


IMPORT_GRACE_SECONDS = 10.0
"""How long a stop waits for an import in progress to end before it is raised inside it anyway."""


def inside_an_import(frame: FrameType | None) -> bool:
    """Whether ``frame`` or a caller of it is Python's import machinery, running a module's import."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


class Redelivery:
    """Delivers a stop again, from another thread, for as long as Python has swallowed it (see the module's
    docstring)."""

    SIGNALS: tuple[tuple[type[BaseException], signal.Signals], ...] = (
        (Terminated, signal.SIGTERM), (TimeLimitExceeded, signal.SIGALRM))
    RETRY_SECONDS = 0.01
    """How often the swallowed stop's signal is delivered again until its handler raises it."""

    def __init__(self) -> None:
        self.swallowed: BaseException | None = None
        self.held_at: float | None = None
        """When a stop was first held back from an import in progress (None: none is)."""
        self.in_hook = False
        self.finished = False
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def raising(self, stop: BaseException, frame: FrameType | None = None) -> BaseException | None:
        """``stop`` for its signal's handler to raise; None inside the hook, where the raise would be lost
        (the delivery is tried again), and inside an import (delivered again once it is over, or after
        :data:`IMPORT_GRACE_SECONDS`)."""
        if self.in_hook:
            return None
        if inside_an_import(frame) and time.monotonic() - self.held_since() < IMPORT_GRACE_SECONDS:
            self.hold(stop)
            return None
        with self.lock:
            self.swallowed, self.held_at = None, None
        return stop

    def held_since(self) -> float:
        with self.lock:
            return self.held_at if self.held_at is not None else time.monotonic()

    def signal_of(self, stop: BaseException) -> signal.Signals | None:
        """The signal whose handler raises ``stop`` (None: ``stop`` is not one of ours)."""
        return next((number for kind, number in self.SIGNALS if isinstance(stop, kind)), None)

    def hold(self, stop: BaseException) -> None:
        """Keep ``stop`` and deliver its signal again, every :data:`RETRY_SECONDS`, until it is raised."""
        signum = self.signal_of(stop)
        assert signum is not None  # only our handlers hold a stop
        with self.lock:
            delivering = self.swallowed is not None
            self.swallowed = stop
            if self.held_at is None:
                self.held_at = time.monotonic()
        if not delivering:
            self.deliver_in_background(signum)

    def deliver_in_background(self, signum: signal.Signals) -> None:
        thread = threading.Thread(target=self.deliver, args=(signum,), daemon=True)
        self.threads.append(thread)
        thread.start()

    def hook(self, previous: Callable[[Any], None]) -> Callable[[Any], None]:
        """An ``unraisablehook`` that delivers a swallowed stop's signal again, and passes anything else on."""

        def on_unraisable(unraisable: Any) -> None:
            signum = self.signal_of(unraisable.exc_value)
            if signum is None:
                previous(unraisable)
                return
            self.in_hook = True
            with self.lock:
                self.swallowed = unraisable.exc_value
            self.deliver_in_background(signum)
            self.in_hook = False

        return on_unraisable

    def deliver(self, signum: signal.Signals) -> None:
        """Deliver ``signum`` to the main thread until its handler has raised the stop (or the body is over)."""
        while True:
            with self.lock:
                if self.swallowed is None or self.finished:
                    return
                signal.pthread_kill(threading.main_thread().ident or 0, signum)  # wakes a blocking call, too
            time.sleep(self.RETRY_SECONDS)

    def raise_if_swallowed(self) -> None:
        self.finish()
        if self.swallowed is not None:
            raise self.swallowed

    def finish(self) -> None:
        """Stop delivering, and wait for the threads, so that none delivers to a handler restored after the body."""
        with self.lock:
            self.finished = True
        while self.threads:
            self.threads.pop().join()


@contextmanager
def saying_where(describe: Callable[[], str]) -> Iterator[None]:
    """Re-raise a stop (Ctrl-C, SIGTERM, time limit) with ``describe()``: how far the run got."""
    try:
        yield
    except TimeLimitExceeded as stop:
        raise TimeLimitExceeded(f"{stop} {describe()}") from None
    except KeyboardInterrupt as stop:
        raise type(stop)(describe()) from None

"""One cell of ``compare`` under a wall-clock budget, and the outcome every cell ends with.

Outcomes, as gradbench records them: ``PASS`` and ``FAIL`` (the check ran),
``UNAVAILABLE`` (a framework is not installed), ``TIMEOUT`` (a source gave no
gradient within the budget) and ``ERROR`` (a source raised; its message is kept).

How a budget is enforced: :func:`run_within_budget` runs the work in a worker
and waits for it at most ``budget`` seconds; :func:`run_each_within_budget`
runs many works in turn in one worker, each with a budget of its own, and
starts a fresh worker after one that ran out of time or killed it. The worker
is one of two kinds.

* **A forked process**, wherever forking is safe: the worker is killed when
  the budget runs out, whatever it is doing (a JAX compile that would take
  minutes and gigabytes, one long call into compiled code), and a crash of the
  worker (a segfault, the OOM killer) is that cell's ERROR. Forking is safe
  only in a process whose frameworks have started no threads yet: a child
  forked after JAX has started its runtime, or after torch has started its
  OpenMP pool, deadlocks at its first computation. That is the
  ``gradcheck-bench compare`` process, which computes nothing itself:
  :func:`prepare_forking` imports the run's frameworks there once (so no
  worker imports them again) if none was imported before, and notes the
  process's native threads; a cell forks while that count has not grown and
  JAX's runtime has not started. (A process that computes with torch itself
  between two runs can slip past the count, since OpenBLAS stops its own
  threads at each fork; a worker that then hangs is killed at its budget.)
* **A thread** everywhere else (a test session or a notebook that has
  already used torch or JAX): when the budget runs out :class:`CellStopped` is
  raised inside it (CPython's ``PyThreadState_SetAsyncExc``), which its Python
  code meets at the next bytecode: between two forward passes of an oracle,
  two steps of a Python loop, two calls into NumPy or torch. It is raised
  again until the worker ends, since one that lands in a garbage-collection
  callback is dropped (with an "Exception ignored" line on stderr). A worker
  still inside one long call into compiled code after a grace period is
  abandoned: the cell is TIMEOUT all the same, and the call runs on, using a
  core and its memory, until it returns.

Forking rather than spawning: a spawned worker would import the frameworks
again for every cell, and could not receive what lives only in this process
(a source registered at run time, a user's model whose cases are lambdas);
a forked one has all of it already.
"""

from __future__ import annotations

import ctypes
import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, Iterator, Sequence, TypeVar

PASS, FAIL, UNAVAILABLE, TIMEOUT, ERROR = "PASS", "FAIL", "UNAVAILABLE", "TIMEOUT", "ERROR"
OUTCOMES = (PASS, FAIL, UNAVAILABLE, TIMEOUT, ERROR)
"""Every outcome a cell can have, in report order."""
OK = "OK"
"""A measurement that finished; its cell's outcome is the check's PASS or FAIL."""
INCOMPLETE = (TIMEOUT, ERROR)
"""Outcomes that mean the run could not check a cell it should have."""
SEVERITY = (ERROR, TIMEOUT, UNAVAILABLE)
"""When both sources of a pair have a problem, the cell shows the first of these that occurs."""

DEFAULT_BUDGET = 60.0
"""Seconds one source may take on one case (its first call and warm repeats together) before it is TIMEOUT:
enough for every shipped case on a 2-core machine."""
GRACE_SECONDS = 2.0
"""How long a stopped worker thread has to reach its next bytecode before it is abandoned."""
RETRY_SECONDS = 0.1
"""How often the stop is raised again while a worker thread has not ended."""
MESSAGE_LENGTH = 500
PR_SET_PDEATHSIG = 1
"""prctl(2): the signal this process gets when its parent dies."""
THREADS_DIRECTORY = Path("/proc/self/task")
"""One entry per thread of this process, native threads included (Linux)."""
LAZY_IMPORTS = {"torch": ("torch._dynamo",)}
"""Modules a framework imports at its first call of some transform, imported with it before forking.

``torch.func``'s transforms import ``torch._dynamo`` (and sympy with it) at their first call: about a
second, which every forked worker that takes a Jacobian, JVP, VJP or HVP would otherwise pay again."""

T = TypeVar("T")


@dataclass(frozen=True)
class Cell:
    """What the work of a cell is given: its deadline, and a place to leave a result it is still improving."""

    deadline: float
    """A ``time.perf_counter()`` value: the work may skip optional steps it would not finish by then."""
    keep: Callable[[Any], None]
    """``keep(value)``: the cell's result if the budget runs out before the work returns (the last one kept)."""


class CellStopped(BaseException):
    """Raised inside a worker thread whose budget ran out (a BaseException: ``except Exception`` lets it by)."""


@dataclass(frozen=True)
class CellRun(Generic[T]):
    """How one budgeted piece of work ended: ``OK`` with its value, ``ERROR`` or ``TIMEOUT`` with a message."""

    outcome: str
    value: T | None = None
    message: str = ""


def describe(error: BaseException) -> str:
    """``ValueError: what it said``, cut to a readable length."""
    text = f"{type(error).__name__}: {error}".strip()
    return text if len(text) <= MESSAGE_LENGTH else text[: MESSAGE_LENGTH - 3] + "..."


def run_within_budget(work: Callable[[Cell], T], budget: float, name: str = "cell",
                      grace: float = GRACE_SECONDS, isolate: bool | None = None) -> CellRun[T]:
    """``work(cell)`` in a worker, given at most ``budget`` seconds of wall time.

    ``isolate`` chooses the worker: a forked process (True), a thread
    (False), or a process wherever :func:`forking_is_safe` (None). The work
    ends ``OK`` with what it returns, or, when the budget runs out after it
    called ``cell.keep(value)``, with the last value kept; ``TIMEOUT`` when it
    kept nothing. An ``Exception`` raised by the work becomes ``ERROR``;
    Ctrl-C, SIGTERM or ``--timeout`` while waiting stop the worker and
    propagate, and so does a ``KeyboardInterrupt`` or ``SystemExit`` raised by
    the work itself.
    """
    if isolate is None:
        isolate = forking_is_safe()
    if isolate:
        return _in_process(work, budget, name)
    return _in_thread(work, budget, name, grace)


def run_each_within_budget(works: Sequence[Callable[[Cell], T]], budget: float, names: Sequence[str],
                           isolate: bool | None = None) -> Iterator[CellRun[T]]:
    """``run_within_budget(work, budget, name)`` for each work in turn, one worker process serving many.

    Each work has ``budget`` seconds of its own, and ends with the outcome it
    would have had alone: a work that runs out of time or kills its worker
    ends TIMEOUT (or with what it kept) or ERROR, and the works after it go
    on in a fresh worker. One fork for a run of short works, rather than one
    each, saves the fork and the worker's warm-up (its first touch of the
    parent's memory, the caches a model builds on first use) per work.
    """
    if len(works) != len(names):
        raise ValueError(f"{len(works)} works but {len(names)} names")
    if isolate is None:
        isolate = forking_is_safe()
    if not isolate:
        for work, name in zip(works, names):
            yield _in_thread(work, budget, name, GRACE_SECONDS)
        return
    start = 0
    while start < len(works):
        for run in _each_in_process(works, start, budget, names[start]):
            start += 1
            yield run


# --------------------------------------------------------------------------
# A forked process, where that is safe
# --------------------------------------------------------------------------


_fork_state: dict[str, Any] = {}
"""``allowed``: decided at the first :func:`prepare_forking`; ``baseline``: native threads just after it."""


def prepare_forking(frameworks: Iterable[str]) -> bool:
    """Import ``frameworks`` here once, so that forked workers start with them; whether forking is safe.

    The first call decides for the whole process: one of the frameworks
    imported before it (by someone who may have started its threads), or JAX's
    runtime running, and this process never forks.
    """
    frameworks = list(frameworks)
    if "allowed" not in _fork_state:
        _fork_state["allowed"] = (hasattr(os, "fork") and THREADS_DIRECTORY.is_dir() and not _jax_started()
                                  and not any(framework in sys.modules for framework in frameworks))
    if not _fork_state["allowed"]:
        return False
    for framework in frameworks:
        importlib.import_module(framework)  # importing starts no thread; computing does
        for module in LAZY_IMPORTS.get(framework, ()):
            _import_if_possible(module)
    _fork_state.setdefault("baseline", native_threads())
    return forking_is_safe()


def _import_if_possible(module: str) -> None:
    """Import ``module`` ahead of the workers; a version of the framework without it only loses the head start."""
    try:
        importlib.import_module(module)
    except ImportError:
        pass


def native_threads() -> int:
    """Threads of this process that Python did not start (OpenBLAS, OpenMP, XLA runtime threads)."""
    return len(os.listdir(THREADS_DIRECTORY)) - threading.active_count()


def forking_is_safe() -> bool:
    """Whether :func:`prepare_forking` allowed it and no framework seems to have started a thread since.

    "Seems": OpenBLAS stops its threads before each fork and starts them at
    its next large product, so a count at most the baseline is taken as clean;
    JAX's runtime is asked directly.
    """
    return "baseline" in _fork_state and native_threads() <= _fork_state["baseline"] and not _jax_started()


def _jax_started() -> bool:
    """Whether JAX's runtime (and its threads) has started in this process; never imports JAX."""
    bridge = sys.modules.get("jax._src.xla_bridge")
    return bridge is not None and getattr(bridge, "backends_are_initialized", lambda: True)()


def _in_process(work: Callable[[Cell], T], budget: float, name: str) -> CellRun[T]:
    """One work in a forked worker of its own: :func:`_each_in_process` serving a single work."""
    return next(_each_in_process([work], 0, budget, name))


def _child(work: Callable[[Cell], Any], deadline: float, sender: Any) -> bool:
    """In the worker process: do the work, send back what it keeps and then ``(outcome, value)``. Whether the
    work went on to its end (False: it was stopped, by Ctrl-C or a signal, and no further work should start)."""
    _die_with_parent()
    try:
        message: tuple[str, Any] = (OK, work(Cell(deadline, keep=lambda value: sender.send(("kept", value)))))
    except Exception as error:  # noqa: BLE001 - a broken source is an outcome
        message = (ERROR, describe(error))
    except BaseException as stop:  # Ctrl-C, SIGTERM: the parent re-raises it
        message = ("stop", stop)
    try:
        sender.send(message)
    except Exception as error:  # noqa: BLE001 - a result that cannot be pickled
        sender.send((ERROR, f"its result could not be sent back: {describe(error)}"))
    return message[0] != "stop"


def _each_in_process(works: Sequence[Callable[[Cell], T]], start: int, budget: float,
                     name: str) -> Iterator[CellRun[T]]:
    """Works ``start``, ``start + 1``, ... in one forked worker, each within ``budget``; ends early (the
    worker gone) after a work that ran out of time or killed it, whose outcome is the last one yielded."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(target=_each_child, args=(works, start, budget, sender),
                             name=f"compare: {name}" + (" and the works after it" if len(works) - start > 1 else ""),
                             daemon=True)
    worker.start()
    sender.close()
    try:
        for _ in range(start, len(works)):
            deadline = time.perf_counter() + budget  # the child's deadline for this work is at most this
            kept, message = None, None
            try:
                while message is None and receiver.poll(max(deadline - time.perf_counter(), 0)):
                    kind, value = receiver.recv()
                    if kind == "kept":
                        kept = value
                    else:
                        message = (kind, value)
            except EOFError:  # the worker died without a word, in this work
                worker.join()
                yield CellRun(ERROR, message=f"the worker process died ({_exit_reason(worker.exitcode)})")
                return
            if message is None:
                worker.kill()
                worker.join()
                yield _out_of_time(budget, kept, "worker process stopped")
                return
            outcome, value = message
            if outcome == "stop":
                raise value
            yield CellRun(ERROR, message=value) if outcome == ERROR else CellRun(OK, value=value)
    finally:
        receiver.close()
        if worker.is_alive() and worker.exitcode is None:
            worker.kill()
        worker.join()


def _each_child(works: Sequence[Callable[[Cell], Any]], start: int, budget: float, sender: Any) -> None:
    """In the worker process: each work from ``start`` on, as :func:`_child` does one, with its own deadline."""
    for work in works[start:]:
        if not _child(work, time.perf_counter() + budget, sender):
            break
    sender.close()


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent dies, so a killed run leaves no worker computing on."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux, or no prctl: the worker ends with its work
        pass


def _out_of_time(budget: float, kept: Any, how: str) -> CellRun:
    """The budget ran out: what the work kept, or TIMEOUT."""
    if kept is not None:
        return CellRun(OK, value=kept, message=f"cut short by the budget of {budget:g} s ({how}); what it kept stands")
    return CellRun(TIMEOUT, message=f"no result within the budget of {budget:g} s ({how}); raise --budget to let "
                                    "it finish")


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


# --------------------------------------------------------------------------
# A thread, everywhere else
# --------------------------------------------------------------------------


def _in_thread(work: Callable[[Cell], T], budget: float, name: str, grace: float) -> CellRun[T]:
    deadline = time.perf_counter() + budget
    finished = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            try:
                box["value"] = work(Cell(deadline, keep=lambda value: box.__setitem__("kept", value)))
            except CellStopped:
                box["stopped"] = True
            except Exception as error:  # noqa: BLE001 - a broken source is an outcome, not the end of the run
                box["error"] = error
            except BaseException as stop:  # Ctrl-C and friends: the main thread re-raises them
                box["stop"] = stop
        except CellStopped:  # arrived while the result was being stored
            box["stopped"] = True
        finally:
            finished.set()

    worker = threading.Thread(target=target, name=f"compare: {name}", daemon=True)
    worker.start()
    try:
        done = finished.wait(budget)
    except BaseException:
        stop_thread(worker)
        raise
    if not done:
        ended = stop_and_wait(worker, finished, grace)
        how = "stopped" if ended else (f"abandoned after {grace:g} s more, still inside one long call into compiled "
                                       "code (it uses a core until that call returns)")
        return _out_of_time(budget, box.get("kept"), how)
    if "stop" in box:
        raise box["stop"]
    if "error" in box:
        return CellRun(ERROR, message=describe(box["error"]))
    return CellRun(OK, value=box["value"])


def stop_and_wait(thread: threading.Thread, finished: threading.Event, grace: float) -> bool:
    """Stop ``thread`` and wait up to ``grace`` seconds for ``finished``; whether it came."""
    give_up = time.perf_counter() + grace
    while not finished.is_set() and time.perf_counter() < give_up:
        stop_thread(thread)
        finished.wait(RETRY_SECONDS)
    return finished.is_set()


def stop_thread(thread: threading.Thread) -> None:
    """Raise :class:`CellStopped` in ``thread`` at its next bytecode (nothing if it has ended)."""
    if thread.ident is None or not thread.is_alive():
        return
    changed = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(CellStopped))
    if changed > 1:  # cannot happen for one live id; CPython asks callers to undo it if it does
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), None)

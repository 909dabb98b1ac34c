"""A stop (SIGTERM, the time limit) raised where Python cannot propagate it is delivered again.

jax runs a callback on every garbage collection; a SIGTERM that arrived while it ran was printed as
"Exception ignored in: <function _xla_gc_callback ...>" and the run went on as if never stopped.
"""

from __future__ import annotations

import gc
import signal
import sys

import pytest

from gradcheck_bench.tools.interruption import Terminated, TimeLimitExceeded, stoppable


def signal_inside_a_gc_callback(signum: int):
    """A gc callback that delivers ``signum`` once, so that its handler runs (and raises) inside the callback."""
    fired = []

    def callback(phase, info):
        if phase == "start" and not fired:
            fired.append(signum)
            signal.raise_signal(signum)
            for _ in range(1000):  # the handler runs at one of these lines, inside the callback
                pass

    return callback, fired


@pytest.mark.parametrize("signum, stop, timeout", [(signal.SIGTERM, Terminated, None),
                                                    (signal.SIGALRM, TimeLimitExceeded, 600.0)])
def test_a_stop_swallowed_inside_a_gc_callback_is_raised_again(signum, stop, timeout, monkeypatch):
    passed_on = []
    monkeypatch.setattr(sys, "unraisablehook", passed_on.append)
    before = signal.getsignal(signum)
    callback, fired = signal_inside_a_gc_callback(signum)
    gc.callbacks.append(callback)
    try:
        with pytest.raises(stop):
            with stoppable(timeout):
                gc.collect()
    finally:
        gc.callbacks.remove(callback)
    assert fired == [signum]  # the signal did arrive inside the callback
    assert passed_on == []  # the swallowed stop is not printed as "Exception ignored"
    assert sys.unraisablehook == passed_on.append  # the caller's hook is back
    assert signal.getsignal(signum) == before  # and the caller's handler


def test_other_unraisable_exceptions_still_reach_the_callers_hook(monkeypatch):
    passed_on = []
    monkeypatch.setattr(sys, "unraisablehook", passed_on.append)

    class Broken:
        def __del__(self):
            raise ValueError("from __del__")

    with stoppable():
        Broken()
    assert [type(unraisable.exc_value) for unraisable in passed_on] == [ValueError]


def test_a_body_that_is_not_stopped_runs_to_its_end():
    with stoppable():
        gc.collect()
        finished = True
    assert finished


def test_a_stop_during_an_import_waits_for_the_import_to_end(tmp_path, monkeypatch):
    # A package whose __init__ imports a submodule, then sleeps past a 0.3 s limit: raised there, the stop would
    # leave slowpackage.part orphaned in sys.modules, and the next import of slowpackage would fail.
    package = tmp_path / "slowpackage"
    package.mkdir()
    (package / "part.py").write_text("VALUE = 42\n")
    (package / "__init__.py").write_text("import time\nimport slowpackage.part\ntime.sleep(1.0)\n"
                                         "VALUE = slowpackage.part.VALUE\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(TimeLimitExceeded):
            with stoppable(timeout=0.3):
                import slowpackage

                while True:  # the stop is raised here, once the import is over
                    pass
        assert sys.modules["slowpackage"].VALUE == 42
    finally:
        sys.modules.pop("slowpackage", None), sys.modules.pop("slowpackage.part", None)


def test_an_import_that_never_ends_is_stopped_after_the_grace(monkeypatch):
    from gradcheck_bench.tools import interruption

    monkeypatch.setattr(interruption, "IMPORT_GRACE_SECONDS", 0.2)
    monkeypatch.setattr(interruption, "inside_an_import", lambda frame: True)  # as if always importing
    with pytest.raises(TimeLimitExceeded):
        with stoppable(timeout=0.1):
            while True:
                pass

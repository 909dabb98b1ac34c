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


def test_a_stop_inside_an_import_leaves_the_package_importable_afterwards(tmp_path, monkeypatch):
    # A package whose __init__ imports a submodule, then takes long enough for the time limit to land in it.
    package = tmp_path / "slowpackage"
    package.mkdir()
    (package / "part.py").write_text("VALUE = 42\n")
    (package / "__init__.py").write_text(
        "import os, time\n"
        "import slowpackage.part\n"
        "if os.environ.get('SLOWPACKAGE_SLOW'):\n"
        "    time.sleep(30)\n"
        "VALUE = slowpackage.part.VALUE\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SLOWPACKAGE_SLOW", "1")
    with pytest.raises(TimeLimitExceeded):
        with stoppable(timeout=0.5):
            import slowpackage  # noqa: F401
    assert "slowpackage" not in sys.modules and "slowpackage.part" not in sys.modules
    monkeypatch.delenv("SLOWPACKAGE_SLOW")
    import slowpackage  # imported afresh: not against the stopped import's leftovers

    assert slowpackage.VALUE == 42
    del sys.modules["slowpackage"], sys.modules["slowpackage.part"]

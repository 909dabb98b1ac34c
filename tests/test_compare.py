"""The comparison report: cells and their outcomes, the screen summary, files and pictures, the HTML, the CLI."""

import contextlib
import dataclasses
import io
import json
import multiprocessing
import os
import re
import signal
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gradcheck_bench as gb

from gradcheck_bench.tools import atomic_files, compare_cells, compare_html
from gradcheck_bench.tools import report as report_module
from gradcheck_bench.cli import main
from gradcheck_bench.tools.compare import (CANDIDATE_KINDS, EXIT_INCOMPLETE, REFERENCE_KINDS, Measurement,
                                           compare_sources, default_cases, every_case,
                                           measure, select_cases)
from gradcheck_bench.tools.compare_cells import CellStopped, run_within_budget
from gradcheck_bench.tools.compare_figures import heatmap_figure
from gradcheck_bench.tools.compare_summary import MAX_LINES
from gradcheck_bench.errors import InputError, SourceError
from gradcheck_bench.sources import registry
from gradcheck_bench.sources.registry import SourceSpec, build_source, source_specs
from gradcheck_bench.models import get_model, model_names

REPORT_FILES = ["compare.csv", "compare.json", "compare.md", "cost.png", "heatmap.png", "matrix.png",
                "provenance.json", "report.html", "sources.csv", "sources.json"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def registered(kinds):
    return [name for name, spec in source_specs().items() if spec.kind in kinds]


def installed(kinds):
    return [name for name, spec in source_specs().items() if spec.kind in kinds and spec.is_available()]


# --------------------------------------------------------------------------
# Sources that break on purpose, registered for one test only
# --------------------------------------------------------------------------


def _raising(model):
    def gradient(params, X, Y):
        raise RuntimeError("deliberately broken source")
    return gradient


def _wrong_shape(model):
    return lambda params, X, Y: {name: np.zeros(1) for name in params}


def _slow(model):
    def gradient(params, X, Y):  # pure Python that would run for a minute: a budget must stop it
        end = time.monotonic() + 60
        while time.monotonic() < end:
            time.sleep(0.005)
        return model.gradient(params, X, Y)
    return gradient


def _doubled(model):  # a wrong gradient that raises nothing: its cells FAIL where PASS is expected
    return lambda params, X, Y: {name: 2 * value for name, value in model.gradient(params, X, Y).items()}


def _tiring(model):
    calls = []

    def gradient(params, X, Y):  # the first call is quick, the next would take a minute
        calls.append(1)
        end = time.monotonic() + (60 if len(calls) > 1 else 0)
        while time.monotonic() < end:
            time.sleep(0.005)
        return model.gradient(params, X, Y)
    return gradient


@pytest.fixture
def broken_sources(monkeypatch):
    """A fresh registry for the test, holding the package's sources and five that fail in their own ways."""
    monkeypatch.setattr(registry, "_REGISTRY", registry._Registry(specs=dict(source_specs()), scanned=True))
    for name, factory in (("broken", _raising), ("misshapen", _wrong_shape), ("slow", _slow), ("tiring", _tiring),
                          ("doubled", _doubled)):
        gb.register_source(SourceSpec(name=name, factory=factory, description=f"a {name} source for tests",
                                      kind="autograd"))
    yield
    # the slow source's worker was stopped, not left running
    assert not [t for t in threading.enumerate() if t.name.startswith("compare:") and "slow" in t.name]
    assert not multiprocessing.active_children()


FORCED_FORK = "ignore:os.fork\\(\\) was called:RuntimeWarning"
"""JAX's warning when a test forks on purpose after another test started JAX: these workers use NumPy only."""


@pytest.fixture(params=["process", "thread"])
def worker(request, monkeypatch):
    """Run the test once with forked worker processes and once with worker threads."""
    monkeypatch.setattr(compare_cells, "forking_is_safe", lambda: request.param == "process")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
        yield request.param


# --------------------------------------------------------------------------
# Cells and verdicts
# --------------------------------------------------------------------------


def test_narrowed_run_has_one_row_per_case_candidate_reference():
    report = compare_sources(["seed", "linear1d"], ["numpy", "numpy-buggy"], ["fd"], repeats=2, show_progress=False)
    table = report.table
    # numpy-buggy handles only the MLP, so linear1d has one row.
    assert list(zip(table["case"], table["candidate"], table["reference"])) == [
        ("seed", "numpy", "fd"), ("seed", "numpy-buggy", "fd"), ("linear1d", "numpy", "fd"),
    ]
    assert list(table["verdict"]) == ["PASS", "FAIL", "PASS"] and table["as_expected"].all()
    assert list(table["parameters"]) == [47, 47, 1] and list(table["examples"]) == [3, 3, 1]
    # Counted passes: centered differences need 2 per parameter, plus a few checks of the point itself.
    passes = list(table["reference_forward_passes"])
    assert passes[0] == passes[1] and 2 * 47 <= passes[0] <= 2 * 47 + 6 and 2 <= passes[2] <= 2 + 6
    assert (table["candidate_seconds"] > 0).all() and (table["reference_first_call_seconds"] > 0).all()
    assert (table["candidate_repeats"] <= 2).all()
    # One row per (case, source) in the timings, each with one cost evaluation's time to compare against.
    sources = report.sources
    assert list(zip(sources["case"], sources["source"])) == [
        ("seed", "numpy"), ("seed", "numpy-buggy"), ("seed", "fd"), ("linear1d", "numpy"), ("linear1d", "fd")]
    assert (sources["outcome"] == "OK").all() and (sources["cost_seconds"] > 0).all()
    assert np.allclose(sources["cost_ratio"], sources["seconds"] / sources["cost_seconds"])
    numpy_seconds = sources[sources["source"] == "numpy"].set_index("case")["seconds"]
    assert np.allclose(sources["baseline_ratio"], sources["seconds"] / sources["case"].map(numpy_seconds))


def test_the_planted_bugs_are_caught_by_every_reference_with_w2_and_b1_named():
    report = compare_sources(["seed", "fraud-s1-m16"], ["numpy-buggy"], None, repeats=1, show_progress=False)
    table = report.table
    assert sorted(set(table["reference"])) == sorted(registered(REFERENCE_KINDS))
    checked = table[table["reference"].isin(installed(REFERENCE_KINDS))]
    assert (checked["verdict"] == "FAIL").all() and checked["as_expected"].all()
    assert all(sorted(culprits.split()) == ["W2", "b1"] for culprits in checked["culprits"])
    assert (checked["worst_parameter"] == "b1").all()
    assert checked["worst_parameter_scale"].round(6).eq(4.0).all()
    assert (table.drop(checked.index)["verdict"] == "UNAVAILABLE").all()


def test_default_sources_are_every_registered_candidate_and_reference():
    report = compare_sources(["seed"], repeats=1, show_progress=False)
    candidates, references = registered(CANDIDATE_KINDS), registered(REFERENCE_KINDS)
    expected_pairs = {(c, r) for c in candidates for r in references if c != r}
    assert set(zip(report.table["candidate"], report.table["reference"])) == expected_pairs
    correct = report.table[(report.table["candidate"] != "numpy-buggy") & report.table["verdict"].isin(["PASS"])]
    is_autograd = correct["reference"].map(lambda name: gb.source_specs()[name].kind == "autograd")
    assert (correct[is_autograd]["difference"] <= 1e-12).all()
    assert (correct[~is_autograd]["difference"] < 1e-8).all()  # the finite-difference oracles
    assert report.table["as_expected"].sum() == len(report.table) - (report.table["verdict"] == "UNAVAILABLE").sum()


def test_jit_compile_time_is_reported_apart_from_run_time():
    pytest.importorskip("jax")
    table = compare_sources(["seed"], ["numpy"], ["jax"], repeats=3, show_progress=False).table
    row = table.iloc[0]
    assert row["reference_compile_seconds"] > 0
    assert row["reference_first_call_seconds"] >= row["reference_compile_seconds"]  # the first call compiles
    assert pd.isna(row["candidate_compile_seconds"])  # numpy compiles nothing


def test_a_fd_step_across_a_relu_kink_passes_as_check_does():
    # One hidden pre-activation of this case sits 1.4e-5 from zero: a step of 1e-5 crosses it (the default
    # step, 2^-17 = 7.6e-6, happens not to). The first look fails (~2.5e-6); the check's second look steps
    # around the kink and passes, and the compare cell is judged the same way (it used to stop at the first look).
    report = compare_sources(["fraud-s3-m1024"], ["numpy"], ["fd"], repeats=1, eps=1e-5, show_progress=False)
    row = report.table.iloc[0]
    case = every_case()["fraud-s3-m1024"]
    checked = gb.check("numpy", "fd", *case.point(), model=case.model, eps=1e-5)
    assert checked.passed and any("straddled a ReLU kink" in note for note in checked.notes)
    assert row["verdict"] == "PASS" and row["as_expected"] and row["relu_margin"] < 1e-4
    assert row["difference"] == pytest.approx(checked.difference, rel=1e-12) and row["difference"] < 1e-9
    assert report.unexpected.empty and report.incomplete.empty and "UNEXPECTED" not in report.summary()


AGREEMENT_SAMPLE = {
    # every reference on one case of each shipped model family, planted bugs and autograd among the candidates
    "default": (["seed", "linear1d", "gmm-d2-k5"], ["numpy", "numpy-buggy", "torch", "jax"], None, {}),
    # where compare used to stop at the first look: a step across a ReLU kink (FAIL ~2.5e-6 before, PASS now)
    "kink": (["fraud-s3-m1024"], ["numpy", "numpy-buggy"], ["fd"], {"eps": 1e-5}),
}


@pytest.mark.parametrize("sample", list(AGREEMENT_SAMPLE))
def test_every_cell_has_the_verdict_and_difference_check_gives(sample):
    cases, candidates, references, options = AGREEMENT_SAMPLE[sample]
    table = compare_sources(cases, candidates, references, repeats=1, show_progress=False, **options).table
    checked = table[table["verdict"].isin(["PASS", "FAIL"])]
    assert len(checked) == len(table) - (table["verdict"] == "UNAVAILABLE").sum()  # no ERROR, no TIMEOUT
    cases_by_name = every_case()
    for row in checked.itertuples():
        case = cases_by_name[row.case]
        taken = set().union(*registry.option_owners([row.candidate, row.reference]).values())
        result = gb.check(row.candidate, row.reference, *case.point(), model=case.model,
                          **{key: value for key, value in options.items() if key in taken})
        cell = f"{row.case}: {row.candidate} vs {row.reference}"
        assert row.verdict == ("PASS" if result.passed else "FAIL"), cell
        assert row.difference == pytest.approx(result.difference, rel=1e-12, abs=0), cell
        assert row.threshold == result.threshold and row.culprits == " ".join(result.culprits), cell
    buggy = checked[checked["candidate"] == "numpy-buggy"]
    assert len(buggy) and (buggy["verdict"] == "FAIL").all()  # failing cells: the second look ran, and agreed
    assert (checked["reference"] == "fd").any()


def test_an_unexpected_fail_near_a_relu_kink_is_explained():
    report = compare_sources(["fraud-s3-m1024"], ["numpy"], ["fd"], repeats=1, eps=1e-5, show_progress=False)
    failed = report.table.assign(verdict="FAIL", as_expected=False, difference=2.5e-6)  # as the first look had it
    summary = dataclasses.replace(report, table=failed).summary()
    assert "UNEXPECTED" in summary and "from the ReLU kink" in summary
    assert "FAIL!" in summary  # the matrix cell is marked


def test_missing_frameworks_are_unavailable_cells_not_errors(monkeypatch):
    original = SourceSpec.is_available
    monkeypatch.setattr(SourceSpec, "is_available", lambda spec: spec.name != "torch" and original(spec))
    report = compare_sources(["seed"], ["numpy", "torch"], ["fd", "torch"], repeats=1, show_progress=False)
    table = report.table.set_index(["candidate", "reference"])["verdict"]
    assert table.to_dict() == {("numpy", "fd"): "PASS", ("numpy", "torch"): "UNAVAILABLE",
                               ("torch", "fd"): "UNAVAILABLE"}
    assert 'pip install "gradcheck-bench[torch]"' in report.unavailable["torch"]
    torch_rows = report.table[report.table["verdict"] == "UNAVAILABLE"]
    assert torch_rows["message"].str.contains(r'pip install "gradcheck-bench\[torch\]"', regex=True).all()
    assert report.incomplete.empty and report.unexpected.empty  # a missing framework is neither
    assert "unavailable: torch" in report.summary()
    with pytest.raises(ImportError, match=r'pip install "gradcheck-bench\[torch\]"'):
        build_source("torch", get_model("mlp"))


@pytest.mark.parametrize("source, message", [("broken", "RuntimeError: deliberately broken source"),
                                             ("misshapen", "shape")])
def test_a_broken_source_is_error_in_its_cells_and_the_rest_completes(broken_sources, worker, tmp_path, source,
                                                                      message):
    report = compare_sources(["seed", "linear1d"], ["numpy", source], ["fd", source], repeats=1,
                             show_progress=False)
    verdicts = report.table.set_index(["case", "candidate", "reference"])["verdict"].to_dict()
    assert verdicts == {
        ("seed", "numpy", "fd"): "PASS", ("seed", "numpy", source): "ERROR", ("seed", source, "fd"): "ERROR",
        ("linear1d", "numpy", "fd"): "PASS", ("linear1d", "numpy", source): "ERROR",
        ("linear1d", source, "fd"): "ERROR",
    }
    errors = report.table[report.table["verdict"] == "ERROR"]
    assert errors["message"].str.contains(message).all() and errors["message"].str.startswith(f"{source}: ").all()
    assert len(report.incomplete) == 4 and report.unexpected.empty
    report.write(tmp_path)
    rows = json.loads((tmp_path / "compare.json").read_text())
    assert [row["message"] for row in rows if row["verdict"] == "ERROR"] == list(errors["message"])
    assert "ERROR" in report.summary() and f"{source} ERROR" in report.summary()


def test_a_slow_source_is_stopped_at_the_budget_and_recorded_as_timeout(broken_sources, worker):
    report = compare_sources(["seed"], ["numpy", "slow"], ["fd"], repeats=1, budget=1.0, show_progress=False)
    verdicts = report.table.set_index("candidate")["verdict"].to_dict()
    assert verdicts == {"numpy": "PASS", "slow": "TIMEOUT"}
    slow = report.sources.set_index("source").loc["slow"]
    assert slow["outcome"] == "TIMEOUT" and np.isnan(slow["seconds"])
    assert f"budget of 1 s ({'worker process stopped' if worker == 'process' else 'stopped'})" in slow["message"]
    pytest.importorskip("matplotlib")  # the rest is about the pictures
    assert {"heatmap.png", "cost.png", "matrix.png"} <= set(report.render())  # a timeout is drawn too


def test_a_warm_call_cut_short_by_the_budget_leaves_the_first_calls_time(broken_sources, worker):
    report = compare_sources(["seed"], ["tiring"], ["fd"], repeats=3, budget=1.0, show_progress=False)
    assert list(report.table["verdict"]) == ["PASS"]  # its gradient came within the budget: no TIMEOUT
    tiring = report.sources.set_index("source").loc["tiring"]
    assert tiring["outcome"] == "OK" and tiring["repeats"] == 0
    assert tiring["seconds"] == tiring["first_call_seconds"]


def test_a_check_that_raises_or_runs_out_of_time_is_that_cells_error_or_timeout(worker, monkeypatch):
    import gradcheck_bench.tools.compare as compare_module

    def judged(prepared, outputs, tolerance):
        if prepared.labels[0] == "numpy-buggy":  # its first look fails: the second look is where a check can hang
            end = time.monotonic() + 60
            while time.monotonic() < end:
                time.sleep(0.005)
        raise RuntimeError("the judge broke")

    monkeypatch.setattr(compare_module, "judged", judged)
    started = time.perf_counter()
    report = compare_sources(["seed"], ["numpy", "numpy-buggy"], ["fd"], repeats=1, budget=1.0, show_progress=False)
    assert time.perf_counter() - started < 20
    table = report.table.set_index("candidate")
    assert table["verdict"].to_dict() == {"numpy": "ERROR", "numpy-buggy": "TIMEOUT"}
    assert table.loc["numpy", "message"] == "the check: RuntimeError: the judge broke"
    assert table.loc["numpy-buggy", "message"].startswith("the check: no result within the budget of 1 s")
    assert (report.sources["outcome"] == "OK").all()  # the sources were fine: only the check is missing
    assert len(report.incomplete) == 2 and report.unexpected.empty
    assert "seed: numpy vs fd ERROR; seed: numpy-buggy vs fd TIMEOUT" in report.summary()


def _unpicklable(cell):
    return lambda: None


def _keeps_then_loops(cell):
    cell.keep("first")
    cell.keep("second")
    while True:
        time.sleep(0.002)


def _dies(cell):
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.filterwarnings(FORCED_FORK)
@pytest.mark.parametrize("isolate", [True, False], ids=["process", "thread"])
def test_run_within_budget_gives_every_outcome(isolate):
    run = lambda work, budget=5, **options: run_within_budget(work, budget, isolate=isolate, **options)  # noqa: E731
    assert run(lambda cell: cell.deadline > time.perf_counter()).value is True
    assert run(lambda cell: 1 / 0).message == "ZeroDivisionError: division by zero"
    looping = run(lambda cell: [time.sleep(0.002) for _ in range(10**6)], 0.3)
    assert looping.outcome == "TIMEOUT" and "stopped" in looping.message
    kept = run(_keeps_then_loops, 0.3)
    assert kept.outcome == "OK" and kept.value == "second" and "cut short" in kept.message
    with pytest.raises(KeyboardInterrupt):  # a stop inside the work is not a cell's outcome
        run(lambda cell: (_ for _ in ()).throw(KeyboardInterrupt))
    stuck = run(lambda cell: time.sleep(3), 0.3, grace=0.2)  # one call that no exception can enter
    assert stuck.outcome == "TIMEOUT"
    assert ("worker process stopped" if isolate else "abandoned") in stuck.message


def _sleeps_then_says_pid(cell):
    time.sleep(0.2)
    return os.getpid()


@pytest.mark.filterwarnings(FORCED_FORK)
@pytest.mark.parametrize("isolate", [True, False], ids=["process", "thread"])
def test_run_each_within_budget_gives_each_work_its_own_outcome_and_budget(isolate):
    works = [
        _sleeps_then_says_pid, _sleeps_then_says_pid, _sleeps_then_says_pid,  # 0.6 s together, 0.2 s each
        lambda cell: 1 / 0,
        lambda cell: [time.sleep(0.002) for _ in range(10**6)],
        _sleeps_then_says_pid,
        _keeps_then_loops,
        lambda cell: os.getpid(),
    ]
    if isolate:
        works += [_dies, lambda cell: os.getpid(), _unpicklable, lambda cell: os.getpid()]
    runs = list(compare_cells.run_each_within_budget(works, 0.5, [f"work {k}" for k in range(len(works))],
                                                     isolate=isolate))
    assert len(runs) == len(works)
    assert [run.outcome for run in runs[:4]] == ["OK", "OK", "OK", "ERROR"]
    assert runs[3].message == "ZeroDivisionError: division by zero"
    assert runs[4].outcome == "TIMEOUT"
    assert runs[5].outcome == "OK" and runs[6].outcome == "OK" and runs[6].value == "second"
    assert "cut short" in runs[6].message and runs[7].outcome == "OK"
    if isolate:  # one worker serves works until one runs out of time or kills it; the next starts afresh
        assert runs[0].value == runs[1].value == runs[2].value != os.getpid()
        assert runs[5].value not in (runs[0].value, os.getpid())
        assert runs[7].value not in (runs[5].value, os.getpid())
        assert runs[8].outcome == "ERROR" and "killed by SIGKILL" in runs[8].message
        assert runs[9].outcome == "OK" and runs[9].value != runs[7].value
        assert runs[10].outcome == "ERROR" and "could not be sent back" in runs[10].message
        assert runs[11].value == runs[9].value  # a result that could not be sent leaves the worker serving
    assert not multiprocessing.active_children()


@pytest.mark.filterwarnings(FORCED_FORK)
def test_a_stop_inside_one_of_many_works_stops_the_run():
    works = [lambda cell: 1, lambda cell: (_ for _ in ()).throw(KeyboardInterrupt), lambda cell: 3]
    runs = compare_cells.run_each_within_budget(works, 5, ["a", "b", "c"], isolate=True)
    assert next(runs).value == 1
    with pytest.raises(KeyboardInterrupt):
        next(runs)
    assert not multiprocessing.active_children()


@pytest.mark.filterwarnings(FORCED_FORK)
def test_a_worker_process_that_dies_or_cannot_answer_is_an_error():
    died = run_within_budget(_dies, 5, isolate=True)
    assert died.outcome == "ERROR" and "killed by SIGKILL" in died.message
    mute = run_within_budget(_unpicklable, 5, isolate=True)
    assert mute.outcome == "ERROR" and "could not be sent back" in mute.message
    assert issubclass(CellStopped, BaseException) and not issubclass(CellStopped, Exception)


def test_forking_is_refused_where_a_framework_was_imported_first(monkeypatch):
    monkeypatch.setattr(compare_cells, "_fork_state", {})
    assert compare_cells.prepare_forking(["json"]) is False  # json is imported: someone may have used it
    assert compare_cells.prepare_forking([]) is False and not compare_cells.forking_is_safe()  # decided once
    monkeypatch.setattr(compare_cells, "_fork_state", {})
    allowed = compare_cells.prepare_forking([])
    assert allowed == compare_cells.forking_is_safe() == (not compare_cells._jax_started())


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        ({"cases": ["nope"]}, InputError, "unknown case"),
        ({"candidates": ["nope"]}, SourceError, "unknown gradient source 'nope'"),
        ({"repeats": 0}, InputError, "repeats must be a positive integer"),
        ({"threshold": -1.0}, InputError, "threshold must be a positive number"),
        ({"budget": 0}, InputError, "budget must be a positive number of seconds"),
    ],
)
def test_bad_arguments_are_clear_errors(arguments, error, message):
    with pytest.raises(error, match=message):
        compare_sources(**{"cases": ["seed"], **arguments})


# --------------------------------------------------------------------------
# The screen
# --------------------------------------------------------------------------


def _instant_measure(source, name, point, repeats, repeat_seconds, deadline=float("inf"), keep=None):
    """A measurement that computes nothing: every gradient all ones but the hand-written one (twos), so the
    planted bug differs from it yet agrees with every reference; one source breaks."""
    if name == "fd":
        raise RuntimeError("fd broken for the length test")
    value = 2.0 if name == "numpy" else 1.0
    return Measurement("OK", gradient={k: np.full(np.shape(v), value) for k, v in point.params.items()}, seconds=1e-3,
                       repeats=1, first_call_seconds=1e-3, forward_passes=1.0)


def test_the_summary_of_the_default_cases_fits_in_40_lines(monkeypatch):
    import gradcheck_bench.tools.compare as compare_module

    monkeypatch.setattr(compare_module, "measure", _instant_measure)
    monkeypatch.setattr(compare_cells, "forking_is_safe", lambda: False)  # ~330 checks of nothing: no fork each
    report = compare_sources(repeats=1, repeat_seconds=0.01, show_progress=False, full=True)
    lines = report.summary().splitlines()
    assert MAX_LINES == 40 and len(lines) <= 40
    # every default model is there, with every outcome it had, and the way to the rest
    models = {case.model.name for case in default_cases().values()}
    assert all(any(line.startswith(f"{model}, ") for line in lines) for model in models)
    assert "ERROR" in lines[0] and any("fd ERROR" in line for line in lines)  # the broken source
    assert "UNEXPECTED" in lines[0]  # the planted bug passes: its all-ones gradient agrees with the references
    assert lines[-1].startswith("full tables and pictures: results/compare/report.html")


def test_many_models_still_fit_in_40_lines(monkeypatch):
    import gradcheck_bench.tools.compare as compare_module

    pytest.importorskip("torch")  # without it the torch cells are UNAVAILABLE and the copies are not folded

    def mlp_loud(source, name, point, repeats, repeat_seconds, deadline=float("inf"), keep=None):
        """All ones, but the MLP's hand-written gradient (twos): its planted bug passes against every reference."""
        value = 2.0 if name == "numpy" and "W1" in point.params else 1.0
        return Measurement("OK", gradient={k: np.full(np.shape(v), value) for k, v in point.params.items()},
                           seconds=1e-3, repeats=1, first_call_seconds=1e-3, forward_passes=1.0)

    monkeypatch.setattr(compare_module, "measure", mlp_loud)
    linear = get_model("linear1d")
    extra = [gb.Model(name=f"copy{i}", cost=linear.cost, gradient=linear.gradient, cases={f"copy{i}": linear.cases[
        "linear1d"]}) for i in range(8)]
    report = compare_sources(candidates=["numpy", "numpy-buggy", "torch"], references=["richardson", "torch"], repeats=1,
                             repeat_seconds=0.01, show_progress=False, models=[*extra, get_model("mlp")], full=True)
    lines = report.summary().splitlines()
    assert len(lines) <= 40
    assert any(line.startswith("every cell as expected") and "copy0" in line for line in lines)
    assert any(line.startswith("mlp, 7 cases") for line in lines)  # its planted bug passes: it stays shown


# --------------------------------------------------------------------------
# The command and its files
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One CLI run, shared: its exit status, what it printed, and the folder it wrote."""
    folder = tmp_path_factory.mktemp("compare")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(["compare", "--cases", "seed,linear1d", "--candidates", "numpy,numpy-buggy",
                       "--references", "fd,richardson", "--repeats", "2", "--output", str(folder)])
    return status, printed.getvalue(), folder


def test_cli_prints_a_summary_and_writes_every_file(cli_run):
    status, out, folder = cli_run
    assert status == 0
    lines = out.splitlines()
    assert len(lines) <= 40 and "every verdict as expected" in lines[0]
    assert "4 PASS, 2 FAIL" in lines[0]
    matrix = [line.split() for line in lines if line.startswith(("mlp, ", "numpy ", "numpy-buggy "))]
    assert matrix[0][:4] == ["mlp,", "1", "case", "fd"] and matrix[2][0] == "numpy-buggy"
    assert matrix[2][2] == "FAIL" and matrix[1][2] == "PASS"  # worst difference, then the verdict
    assert f"{folder / 'report.html'}" in lines[-1]
    csv = pd.read_csv(folder / "compare.csv")  # plain: no options needed
    rows = json.loads((folder / "compare.json").read_text())
    markdown = (folder / "compare.md").read_text()
    provenance = json.loads((folder / "provenance.json").read_text())
    assert len(csv) == len(rows) == 6
    assert list(csv["verdict"]) == [row["verdict"] for row in rows]
    assert list(csv["verdict"]).count("FAIL") == 2 and set(csv.loc[csv["verdict"] == "FAIL", "candidate"]) == {
        "numpy-buggy"}
    assert len(pd.read_csv(folder / "sources.csv")) == 4 + 3  # seed: all four; linear1d: no numpy-buggy
    for name in ("command", "commit", "versions", "platform", "cpu_count", "load_average_at_start"):
        assert name in provenance
    assert provenance["settings"]["budget"] == 60.0  # the documented default
    assert {"numpy", "torch", "jax"} <= set(provenance["versions"]) and "compare" in provenance["command"]
    assert "| seed " in markdown and "| mlp " in markdown
    pytest.importorskip("matplotlib")  # the rest is about the pictures
    assert "![heatmap](heatmap.png)" in markdown
    assert sorted(p.name for p in folder.iterdir()) == REPORT_FILES


def test_cli_rows_prints_every_row(tmp_path, capsys):
    assert main(["compare", "--cases", "seed", "--candidates", "numpy-buggy", "--references", "fd",
                 "--repeats", "1", "--rows", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "b1 x4.000" in out and "ref passes" in out and "every verdict as expected" in out


def test_the_pictures_are_pngs_and_the_heatmap_reads_pass_green_and_fail_red(cli_run):
    pytest.importorskip("matplotlib")
    import matplotlib.image

    _, _, folder = cli_run
    for name in ("heatmap.png", "cost.png", "matrix.png"):
        data = (folder / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        pixels = matplotlib.image.imread(io.BytesIO(data))
        assert pixels.shape[0] > 200 and pixels.shape[1] > 300
    table = pd.read_csv(folder / "compare.csv")
    figure = heatmap_figure(table)
    image = figure.axes[0].images[0]
    colours = image.to_rgba(image.get_array())  # rows: cases; columns: (candidate, reference) pairs
    pairs = list(dict.fromkeys(zip(table["candidate"], table["reference"])))
    passed, failed = colours[0, pairs.index(("numpy", "fd"))], colours[0, pairs.index(("numpy-buggy", "fd"))]
    assert passed[1] > passed[0] and failed[0] > failed[1]  # green below the threshold, red above
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts.count("FAIL ✓") == 2 and "n/a" in texts  # numpy-buggy does not apply to linear1d


def test_without_matplotlib_the_rest_is_written_and_one_line_says_so(tmp_path, monkeypatch):
    report = compare_sources(["seed"], ["numpy"], ["fd"], repeats=1, show_progress=False)
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # import matplotlib now fails
    paths = report.write(tmp_path)
    assert sorted(paths) == sorted(name for name in REPORT_FILES if not name.endswith(".png"))
    note = [line for line in report.summary().splitlines() if "matplotlib" in line]
    assert len(note) == 1 and "pip install matplotlib" in note[0]
    assert "pip install matplotlib" in (tmp_path / "report.html").read_text()


def test_cli_exit_statuses(broken_sources, tmp_path, capsys):
    base = ["compare", "--cases", "seed", "--references", "fd", "--repeats", "1", "--output", str(tmp_path)]
    kink = ["compare", "--cases", "fraud-s3-m1024", "--references", "fd", "--eps", "1e-5", "--repeats", "1",
            "--output", str(tmp_path)]  # a step that crosses a kink: the second look steps around it, as check's does
    assert main([*base, "--candidates", "numpy,numpy-buggy", "--strict"]) == 0
    assert main([*base, "--candidates", "numpy,broken"]) == EXIT_INCOMPLETE == 3
    assert main([*base, "--candidates", "numpy,broken", "--strict"]) == 3
    assert main([*base, "--candidates", "numpy,slow", "--budget", "0.5"]) == 3
    assert main([*kink, "--candidates", "numpy", "--strict"]) == 0
    assert main([*base, "--candidates", "numpy,doubled"]) == 0  # an unexpected FAIL: a report, not an error
    assert main([*base, "--candidates", "numpy,doubled", "--strict"]) == 1
    assert main([*base, "--candidates", "numpy,doubled,broken", "--strict"]) == 1  # a wrong verdict outranks a gap
    assert main([*base, "--candidates", "numpy,doubled,broken"]) == 3
    capsys.readouterr()


def test_cli_bad_case_is_exit_2_with_a_message(tmp_path, capsys):
    assert main(["compare", "--cases", "nope", "--output", str(tmp_path)]) == 2
    assert "unknown case(s) nope" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def small_report():
    return compare_sources(["seed"], ["numpy-buggy"], ["fd"], repeats=1, show_progress=False)


def test_a_crash_mid_write_leaves_the_old_files_whole(tmp_path, monkeypatch):
    small_report().write(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def crash(_descriptor):  # the new bytes are in the temporary file, not yet in place
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_files.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        small_report().write(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporary files left either


@pytest.mark.parametrize("module, function", [(report_module, "table_to_markdown"), (compare_html, "report_html")])
def test_a_report_that_cannot_be_rendered_changes_no_file(tmp_path, monkeypatch, module, function):
    small_report().write(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(module, function, lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        small_report().write(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_the_committed_results_are_a_real_run():
    results = Path(__file__).resolve().parents[1] / "results" / "compare"
    current = (results / "provenance.json").is_file() and "gradbench_mismatch" in pd.read_csv(results / "compare.csv")
    if not current:  # the format of before gradbench's figure and matrix.png
        pytest.skip("no committed compare results in the current format (they are regenerated after merges)")
    csv = pd.read_csv(results / "compare.csv")
    rows = json.loads((results / "compare.json").read_text())
    assert len(csv) == len(rows) > 0
    assert all((results / name).is_file() for name in REPORT_FILES)
    buggy = csv[csv["candidate"] == "numpy-buggy"]
    checked = buggy[buggy["verdict"].isin(["PASS", "FAIL"])]  # UNAVAILABLE and TIMEOUT cells hold no verdict
    unchanged = checked["message"].fillna("").str.contains("leaves this derivative unchanged")
    assert (checked.loc[~unchanged, "verdict"] == "FAIL").all()  # a bug is caught wherever it changes something
    assert (checked.loc[unchanged, "verdict"] == "PASS").all() and unchanged.sum() < len(checked) / 4
    assert not (csv["verdict"] == "ERROR").any()
    assert (checked["reference"] == "fd").any()


def test_an_interrupted_compare_says_where_it_stopped_and_leaves_the_files(tmp_path, monkeypatch, capsys):
    import gradcheck_bench.tools.compare as compare_module

    assert main(["compare", "--cases", "seed", "--candidates", "numpy", "--references", "fd",
                 "--repeats", "1", "--output", str(tmp_path)]) == 0
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    capsys.readouterr()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare_module, "measure", interrupted)
    status = main(["compare", "--cases", "seed", "--candidates", "numpy", "--references", "fd",
                   "--repeats", "1", "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 130
    assert "compare stopped at case 'seed', source 'numpy' (0 of 2 measurements done)" in err
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


# --------------------------------------------------------------------------
# The HTML report in a real browser
# --------------------------------------------------------------------------


PROBE = """<script>
window.addEventListener('load', function () {
  var images = Array.prototype.map.call(document.images, function (i) { return [i.alt, i.naturalWidth]; });
  var probe = document.createElement('pre');
  probe.id = 'probe';
  probe.textContent = JSON.stringify({images: images, tables: document.querySelectorAll('table').length});
  document.body.appendChild(probe);
});
</script>"""


def test_the_html_report_opens_offline_in_chromium_with_tables_and_pictures(cli_run, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image
    from gradcheck_bench.tools.dashboard import find_chromium, run_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on PATH (apt-get install -y chromium)")
    _, _, folder = cli_run
    page = (folder / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing from the network
    assert page.count("src='data:image/png;base64,") == 3
    probed = tmp_path / "probed.html"  # the report with a script that writes what the browser loaded into the DOM
    probed.write_text(page.replace("</body>", PROBE + "</body>"))
    dom = run_chromium(chromium, probed.as_uri(), "--dump-dom")
    seen = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1).replace("&quot;", '"'))
    assert sorted(alt for alt, _ in seen["images"]) == ["cost", "heatmap", "matrix"]
    assert all(width > 0 for _, width in seen["images"])  # every picture decoded
    assert seen["tables"] >= 5  # two verdict matrices, the timings, every cell, every source
    assert "numpy-buggy" in dom and "every cell" in dom.lower()
    screenshot = tmp_path / "report.png"
    run_chromium(chromium, (folder / "report.html").as_uri(), f"--screenshot={screenshot}")
    pixels = matplotlib.image.imread(screenshot)[..., :3]
    colours = np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 50  # text, tables and pictures; a blank page has one colour


def test_an_option_no_compared_source_takes_is_refused_not_ignored():
    with pytest.raises(InputError, match="option.s. eps are not taken by any of the sources compared"):
        compare_sources(["seed"], ["numpy"], ["torch" if "torch" in gb.available_sources() else "numpy-buggy"],
                        eps=1e-6, repeats=1, show_progress=False)


# --------------------------------------------------------------------------
# Kind cells: Jacobians, JVPs, VJPs and HVPs
# --------------------------------------------------------------------------


SOFTMAX_KINDS = ["jacobian", "jvp", "vjp", "hvp"]
"""What the softmax layer declares by hand beyond its gradient (models/softmax.py), in the kinds' order."""


def _two_case_mlp():
    """The MLP with only its two smallest cases, so that a default-cases run of it stays quick."""
    mlp = get_model("mlp")
    return dataclasses.replace(mlp, cases={name: mlp.cases[name] for name in ("seed", "fraud-s1-m16")})


def test_a_full_run_checks_the_declared_kinds_on_each_models_first_case():
    report = compare_sources(None, ["numpy", "numpy-buggy"], ["fd", "complex-step", "richardson"], repeats=1,
                             show_progress=False, models=[get_model("softmax"), _two_case_mlp()], full=True)
    cells = list(zip(report.table["case"], report.table["derivative"], report.table["candidate"],
                     report.table["reference"]))
    candidates, every_reference = ["numpy", "numpy-buggy"], ["fd", "complex-step", "richardson"]
    # complex-step and richardson give no Hessian-vector product: no cell, rather than an UNAVAILABLE one
    giving = {"gradient": every_reference, "jacobian": every_reference, "jvp": every_reference,
              "vjp": every_reference, "hvp": ["fd"]}
    expected = [("softmax-k5-d4-m6", kind, c, r) for kind in ["gradient", *SOFTMAX_KINDS] for c in candidates
                for r in giving[kind]]
    expected += [("softmax-k10-d20-m30", "gradient", c, r) for c in candidates for r in every_reference]
    expected += [("seed", kind, c, r) for kind in ["gradient", "hvp"] for c in candidates for r in giving[kind]]
    expected += [("fraud-s1-m16", "gradient", c, r) for c in candidates for r in every_reference]
    assert cells == expected
    table = report.table
    assert (table["verdict"] == table["candidate"].map({"numpy": "PASS", "numpy-buggy": "FAIL"})).all()
    assert table["as_expected"].all() and report.unexpected.empty and report.incomplete.empty
    # the planted bias-path bug is named in every softmax kind: by its tensor, or for a JVP by its tangent
    buggy = table[(table["model"] == "softmax") & (table["candidate"] == "numpy-buggy")]
    jvp = buggy["derivative"] == "jvp"
    assert (buggy.loc[~jvp, "culprits"] == "b").all() and (buggy.loc[jvp, "exposed_by"] == "b").all()
    assert (table.loc[table["derivative"] != "jvp", "exposed_by"] == "").all()
    # each (case, derivative, source) is measured once, and timed against the numpy source's same derivative
    sources = report.sources
    assert not sources.duplicated(["case", "derivative", "source"]).any()
    assert set(zip(sources["case"], sources["derivative"])) == set(zip(table["case"], table["derivative"]))
    numpy_seconds = sources[sources["source"] == "numpy"].set_index(["case", "derivative"])["seconds"]
    baseline = [numpy_seconds[case, kind] for case, kind in zip(sources["case"], sources["derivative"])]
    assert np.allclose(sources["baseline_ratio"], sources["seconds"] / baseline)
    assert report.header["derivatives"] == {"softmax-k5-d4-m6": ["gradient", *SOFTMAX_KINDS],
                                            "softmax-k10-d20-m30": ["gradient"], "seed": ["gradient", "hvp"],
                                            "fraud-s1-m16": ["gradient"]}


def test_the_default_run_is_each_models_first_case_and_full_is_every_case():
    tiny = gb.Model(name="tiny", cost=get_model("linear1d").cost,
                    cases={"tiny-n1": get_model("linear1d").cases["linear1d"], "tiny-n2": lambda: None})
    models = [get_model("softmax"), _two_case_mlp(), tiny]  # a model built at run time joins by its first case
    assert list(default_cases(models)) == ["softmax-k5-d4-m6", "seed", "tiny-n1"]
    assert [case.name for case in select_cases(None, models, full=True)] == [
        "softmax-k5-d4-m6", "softmax-k10-d20-m30", "seed", "fraud-s1-m16", "tiny-n1", "tiny-n2"]
    assert [case.name for case in select_cases(["tiny-n2", "seed"], models)] == ["tiny-n2", "seed"]  # any case
    report = compare_sources(None, ["numpy", "numpy-buggy"], ["fd"], repeats=1, show_progress=False,
                             models=[get_model("softmax"), _two_case_mlp()])
    assert list(dict.fromkeys(report.table["case"])) == ["softmax-k5-d4-m6", "seed"]
    assert report.header["derivatives"] == {"softmax-k5-d4-m6": ["gradient", *SOFTMAX_KINDS],
                                            "seed": ["gradient", "hvp"]}  # the kind cells, as in a full run
    # every registered model is in the default run, each by the first case its file declares
    shipped = {get_model(name).name: next(iter(get_model(name).cases)) for name in model_names()}
    assert {case.model.name: name for name, case in default_cases().items()} == shipped


def test_named_cases_check_their_gradients_unless_derivatives_name_kinds():
    def kinds(**options):
        table = compare_sources(["softmax-k5-d4-m6", "linear1d"], ["numpy"], ["fd"], repeats=1,
                                show_progress=False, **options).table
        return list(zip(table["case"], table["derivative"]))

    assert kinds() == [("softmax-k5-d4-m6", "gradient"), ("linear1d", "gradient")]  # as before kind cells
    every = [("softmax-k5-d4-m6", kind) for kind in ["gradient", *SOFTMAX_KINDS]] + [("linear1d", "gradient")]
    assert kinds(derivatives="all") == every  # the 1-D model declares nothing beyond its gradient
    assert kinds(derivatives=["hvp", "jvp"]) == [("softmax-k5-d4-m6", "jvp"), ("softmax-k5-d4-m6", "hvp")]
    with pytest.raises(InputError, match="unknown derivative.s. hessian; choose from gradient, jacobian, jvp, vjp, "
                                         "hvp, or all"):
        compare_sources(["seed"], derivatives=["hessian"])


KIND_AGREEMENT_SAMPLE = {
    # every kind of the softmax layer, every reference that gives it, a planted bug and autograd among the candidates
    "softmax": (["softmax-k5-d4-m6"], ["numpy", "numpy-buggy", "torch"], None),
    # the MLP's hand-written Hessian-vector product and its planted bug, against every reference that gives one
    "mlp-hvp": (["seed"], ["numpy", "numpy-buggy", "jax"], None),
}


@pytest.mark.parametrize("sample", list(KIND_AGREEMENT_SAMPLE))
def test_every_kind_cell_has_the_verdict_and_difference_check_gives(sample):
    cases, candidates, references = KIND_AGREEMENT_SAMPLE[sample]
    table = compare_sources(cases, candidates, references, derivatives=SOFTMAX_KINDS, repeats=1,
                            show_progress=False).table
    checked = table[table["verdict"].isin(["PASS", "FAIL"])]
    assert len(checked) == len(table) - (table["verdict"] == "UNAVAILABLE").sum()  # no ERROR, no TIMEOUT
    assert set(checked["derivative"]) == ({"hvp"} if sample == "mlp-hvp" else set(SOFTMAX_KINDS))
    cases_by_name = every_case()
    for row in checked.itertuples():
        case = cases_by_name[row.case]
        result = gb.check(row.candidate, row.reference, *case.point(), model=case.model, derivative=row.derivative)
        cell = f"{row.case} {row.derivative}: {row.candidate} vs {row.reference}"
        assert result.derivative == row.derivative, cell
        assert row.verdict == ("PASS" if result.passed else "FAIL"), cell
        assert row.difference == pytest.approx(result.difference, rel=1e-12, abs=0), cell
        assert row.threshold == result.threshold and row.culprits == " ".join(result.culprits), cell
        assert row.exposed_by == " ".join(result.exposed_by), cell
    buggy = checked[checked["candidate"] == "numpy-buggy"]
    assert len(buggy) and (buggy["verdict"] == "FAIL").all() and checked["as_expected"].all()
    assert (checked["reference"] == "fd").any()


def _instant_or_measured(source, name, point, repeats, repeat_seconds, deadline=float("inf"), keep=None,
                         request=None):
    """Gradients as the length test's stub has them (all ones, fd broken); the few kind cells measured for real."""
    if request is None:
        return _instant_measure(source, name, point, repeats, repeat_seconds, deadline, keep)
    return measure(source, name, point, 1, 0.0, deadline, keep, request)


def test_the_summary_of_the_default_run_with_its_kind_cells_fits_in_40_lines(monkeypatch):
    import gradcheck_bench.tools.compare as compare_module

    monkeypatch.setattr(compare_module, "measure", _instant_or_measured)
    monkeypatch.setattr(compare_cells, "forking_is_safe", lambda: False)  # ~400 checks, most of nothing: no fork each
    report = compare_sources(repeats=1, repeat_seconds=0.01, show_progress=False)
    kinds = report.table[report.table["derivative"] != "gradient"]
    assert set(zip(kinds["case"], kinds["derivative"])) == {
        ("softmax-k5-d4-m6", kind) for kind in SOFTMAX_KINDS} | {("seed", "hvp"), ("hand-adbench-test", "jacobian"),
                                                                 ("ba-adbench-test", "jacobian"),
                                                                 ("ode-n1000-s1", "jvp"), ("ode-n1000-s1", "vjp"),
                                                                 ("kmeans-k10-n1000-d8", "hvp")}
    assert kinds["verdict"].isin(["PASS", "FAIL", "UNAVAILABLE"]).all() and kinds["as_expected"].sum() == (
        kinds["verdict"] != "UNAVAILABLE").sum()
    lines = report.summary().splitlines()
    assert len(lines) <= 40
    assert f"({len(kinds)} of them jacobian, jvp, vjp or hvp)" in lines[0]
    assert lines[-1].startswith("full tables and pictures: results/compare/report.html")


@pytest.fixture(scope="module")
def kinds_cli_run(tmp_path_factory):
    """One CLI run with kind cells: its exit status, what it printed (with --rows), and the folder it wrote."""
    folder = tmp_path_factory.mktemp("compare-kinds")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(["compare", "--cases", "softmax-k5-d4-m6,linear1d", "--candidates", "numpy,numpy-buggy",
                       "--references", "fd,complex-step", "--derivatives", "all", "--repeats", "1", "--rows",
                       "--output", str(folder)])
    return status, printed.getvalue(), folder


def test_the_tables_say_each_cells_derivative(kinds_cli_run):
    status, _, folder = kinds_cli_run
    assert status == 0
    csv = pd.read_csv(folder / "compare.csv", keep_default_na=False)
    rows = json.loads((folder / "compare.json").read_text())
    assert list(csv.columns[csv.columns.get_loc("derivative") + 1:][:2]) == ["candidate", "reference"]
    assert list(csv["derivative"]) == [row["derivative"] for row in rows]
    # two candidates x two references per kind, but complex-step gives no HVP; linear1d has no planted bug
    expected = [("softmax-k5-d4-m6", kind) for kind in ["gradient", "jacobian", "jvp", "vjp"] for _ in range(4)]
    expected += [("softmax-k5-d4-m6", "hvp")] * 2 + [("linear1d", "gradient")] * 2
    assert list(zip(csv["case"], csv["derivative"])) == expected
    sources = pd.read_csv(folder / "sources.csv", keep_default_na=False)
    assert list(sources.columns[:5]) == ["case", "model", "parameters", "derivative", "source"]
    hvp = sources[sources["derivative"] == "hvp"]
    assert list(hvp["source"]) == ["numpy", "numpy-buggy", "fd"]  # measured once each; complex-step not at all
    assert len(sources) == 4 * 4 + 3 + 3 and (sources["outcome"] == "OK").all()  # linear1d: numpy, fd, complex-step
    markdown = (folder / "compare.md").read_text()
    for kind in ["gradient", *SOFTMAX_KINDS]:
        assert f"| {kind} " in markdown  # the every-cell table's column
    for kind in SOFTMAX_KINDS:
        assert f"| softmax {kind}, 1 case " in markdown  # a matrix per kind


def test_the_screen_and_the_html_show_the_kind_where_it_matters(kinds_cli_run):
    _, out, folder = kinds_cli_run
    lines = out.splitlines()
    summary = lines[lines.index(next(line for line in lines if line.startswith("compare: "))):]
    assert len(summary) <= 40
    assert "(14 of them jacobian, jvp, vjp or hvp)" in summary[0] and "every verdict as expected" in summary[0]
    assert any(line.startswith("softmax, 1 case ") for line in summary)  # the gradients, as before
    kinds = next(line.split() for line in summary if line.startswith("softmax jacobian/jvp/vjp/hvp, 1 case"))
    assert kinds[-2:] == ["fd", "complex-step"]
    buggy = [line.split().count("FAIL") for line in summary if line.startswith("numpy-buggy ")]
    assert buggy == [2, 2]  # the gradient matrix, then the other kinds': both references fail it in each
    full = lines[:lines.index(summary[0])]
    assert full[0].split()[:3] == ["case", "derivative", "candidate"]  # --rows names each row's kind
    page = (folder / "report.html").read_text()
    for kind in SOFTMAX_KINDS:
        assert f"<h3>softmax {kind}, 1 case</h3>" in page
    assert "<h3>softmax, 1 case</h3>" in page and "<h3>linear1d, 1 case</h3>" in page
    assert "Time per derivative of the other kinds" in page
    pytest.importorskip("matplotlib")
    figure = heatmap_figure(pd.read_csv(folder / "compare.csv"))
    rows = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert rows == ["softmax-k5-d4-m6", *(f"softmax-k5-d4-m6 {kind}" for kind in SOFTMAX_KINDS), "linear1d"]
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts.count("FAIL ✓") == 4 * 2 + 1  # numpy-buggy: 4 kinds x 2 references, and its HVP against fd
    assert texts.count("n/a") == 2 + 2  # complex-step's HVP; linear1d has no planted bug


# --------------------------------------------------------------------------
# Honest colours, gradbench's validation figure, the research figure and the matrix
# --------------------------------------------------------------------------


def test_each_cell_has_gradbenchs_mismatch_figure_of_both_derivatives():
    pytest.importorskip("torch")
    report = compare_sources(["seed"], ["numpy", "numpy-buggy"], ["torch"], repeats=1, show_progress=False)
    rows = report.table.set_index("candidate")
    mlp = get_model("mlp")
    params, X, Y = mlp.cases["seed"]()
    right, wrong = mlp.gradient(params, X, Y), mlp.planted_bug.gradient(params, X, Y)  # torch agrees with `right`
    worst = max(float(np.max(np.abs(wrong[k] - right[k]) / np.maximum(1.0, np.abs(wrong[k]) + np.abs(right[k]))))
                for k in right)
    assert worst > 1e-4  # the planted bug is beyond gradbench's rule too
    assert rows.loc["numpy-buggy", "gradbench_mismatch"] == pytest.approx(worst, rel=1e-9, abs=1e-12)
    assert not rows.loc["numpy-buggy", "gradbench_passes"]
    assert rows.loc["numpy", "gradbench_mismatch"] < 1e-12 and rows.loc["numpy", "gradbench_passes"]


@pytest.mark.parametrize("case, family", [("gmm-d10-k5", "gmm-d10"), ("gmm-d10-k10", "gmm-d10"), ("seed", "seed"),
                                          ("linear1d", "linear1d"), ("lstm-adbench-l2-c1024", "lstm-adbench-l2"),
                                          ("gmm-adbench-test", "gmm-adbench-test"), ("wide-4-256-1", "wide-4-256")])
def test_a_cases_family_is_its_name_without_the_last_size_token(case, family):
    from gradcheck_bench.tools.compare_figures import case_family

    assert case_family(case) == family


def _timings(rows):
    """A sources table from (model, case, parameters, source, seconds) rows; the cost 1 ms everywhere."""
    frame = pd.DataFrame(rows, columns=["model", "case", "parameters", "source", "seconds"])
    return frame.assign(derivative="gradient", kind="autograd", outcome="OK", cost_seconds=1e-3,
                        cost_ratio=frame["seconds"] / 1e-3)


def test_the_research_figure_joins_only_one_familys_sizes():
    pytest.importorskip("matplotlib")
    from gradcheck_bench.tools.compare_figures import research_figure

    rows = [("m", case, n, source, n * scale) for source, scale in (("a", 1e-4), ("b", 1e-3))
            for case, n in (("m-d2-k5", 10), ("m-d2-k50", 100), ("m-d3-k5", 10), ("m-d10-k5", 50))]
    rows += [("solo", "solo", 3, source, 1e-3) for source in ("a", "b")]
    figure = research_figure(_timings(rows), budget=60.0)
    assert len(figure.axes) == 2 * 3  # per model: derivative time, primal time, ratio
    for axes in figure.axes[:3:2]:  # m's derivative time and ratio: one line per source, m-d2's two sizes
        drawn = [line for line in axes.get_lines() if line.get_linestyle() != "None"]
        # m-d2 across k, and m-k5 across d (m-d3-k5, m-d10-k5: alone in m-d3, m-d10); m-d2-k5 stays in m-d2
        assert sorted(list(line.get_xdata()) for line in drawn) == [[10, 50], [10, 50], [10, 100], [10, 100]]
        assert all(line.get_linestyle() != "None" for line in axes.get_lines())
    for axes in figure.axes[3:]:  # one size: points, no line
        assert all(line.get_linestyle() == "None" and len(line.get_xdata()) == 1 for line in axes.get_lines())


def _cells(rows):
    frame = pd.DataFrame(rows, columns=["model", "case", "candidate", "reference", "verdict"])
    return frame.assign(derivative="gradient", difference=1e-3, threshold=2e-7,
                        expected=np.where(frame["candidate"] == "bug", "FAIL", "PASS"),
                        as_expected=lambda f: f["verdict"] == f["expected"])


def test_the_matrix_gives_each_source_its_outcome_on_each_workload():
    pytest.importorskip("matplotlib")
    from gradcheck_bench.tools.compare_figures import matrix_figure
    from gradcheck_bench.tools.compare_summary import workload_outcomes

    table = _cells([("m", "m-1", "numpy", "fd", "PASS"), ("m", "m-1", "bug", "fd", "FAIL"),
                    ("m", "m-1", "torch", "fd", "FAIL"), ("m", "m-1", "numpy", "torch", "PASS"),
                    ("m", "m-1", "bug", "torch", "FAIL"), ("m", "m-1", "jax", "fd", "UNAVAILABLE"),
                    ("q", "q-1", "numpy", "fd", "PASS"), ("q", "q-1", "numpy", "fd", "PASS"),
                    ("q", "q-1", "numpy", "tc", "ERROR")])
    sources = _timings([("m", "m-1", 5, name, 2e-3) for name in ("numpy", "bug", "torch", "fd", "jax")]
                       + [("q", "q-1", 5, name, 4e-3) for name in ("numpy", "fd", "tc")])
    sources.loc[sources["source"] == "bug", "kind"] = "planted-bug"
    sources.loc[sources["source"] == "jax", "outcome"] = "UNAVAILABLE"
    sources.loc[sources["source"] == "tc", "outcome"] = "ERROR"  # its own failure: numpy's cell with it is no verdict
    found = workload_outcomes(table, sources).set_index(["model", "source"])
    # fd is failed by torch's FAIL, not by the planted bug's it catches; torch by its own cell against fd
    assert found["outcome"].to_dict() == {("m", "numpy"): "PASS", ("m", "bug"): "FAIL", ("m", "torch"): "FAIL",
                                          ("m", "fd"): "FAIL", ("m", "jax"): "UNAVAILABLE", ("q", "numpy"): "PASS",
                                          ("q", "fd"): "PASS", ("q", "tc"): "ERROR"}
    assert found.loc[("m", "bug"), "as_expected"] and not found.loc[("m", "torch"), "as_expected"]
    assert found.loc[("q", "fd"), "cost_ratio"] == pytest.approx(4.0)
    texts = [text.get_text() for text in matrix_figure(table, sources).axes[0].texts]
    assert "FAIL ✓\nx2" in texts and texts.count("FAIL !\nx2") == 2 and "UNAVAILABLE" in texts
    assert texts.count("n/a") == 4  # q has no bug, torch or jax; m no tc


def test_the_html_colours_the_outcome_and_marks_the_expectation(cli_run):
    _, _, folder = cli_run
    page = (folder / "report.html").read_text()
    assert "Colour is the outcome" in page and "✓ the verdict is the expected one, ! it is not" in page
    assert "3e-01 FAIL ✓" in page and "PASS ✓" in page and "FAIL !" not in page  # marked as expected
    timing = page[page.index("<h2>Gradient time over one cost evaluation"):]
    timing = timing[:timing.index("</table>")]
    rows = [re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", timing, re.S)]
    assert not any([text.strip() for text in row if text.strip()] == ["source"] for row in rows)  # no empty row
    assert rows[1][0].strip() == "source" and rows[2][0].strip() == "numpy"
    for name in ("heatmap.png", "cost.png", "matrix.png"):
        assert f"<figcaption>{name}: " in page


COLOUR_PROBE = """<script>
window.addEventListener('load', function () {
  var seen = {};
  document.querySelectorAll('td').forEach(function (cell) {
    var text = cell.textContent.trim();
    var verdict = / (PASS|FAIL) [✓!]$/.exec(text);
    if (verdict && !(verdict[1] in seen)) seen[verdict[1]] = getComputedStyle(cell).backgroundColor;
  });
  var probe = document.createElement('pre');
  probe.id = 'colours';
  probe.textContent = JSON.stringify(seen);
  document.body.appendChild(probe);
});
</script>"""


def test_in_a_browser_a_fail_cell_is_red_and_a_pass_cell_green(cli_run, tmp_path):
    from gradcheck_bench.tools.dashboard import find_chromium, run_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on PATH (apt-get install -y chromium)")
    _, _, folder = cli_run
    assert "FAIL" in set(pd.read_csv(folder / "compare.csv")["verdict"])  # the planted bug's expected FAIL
    probed = tmp_path / "probed.html"
    probed.write_text((folder / "report.html").read_text().replace("</body>", COLOUR_PROBE + "</body>"))
    dom = run_chromium(chromium, probed.as_uri(), "--dump-dom")
    seen = json.loads(re.search(r'<pre id="colours">(.*?)</pre>', dom, re.S).group(1).replace("&quot;", '"'))
    red, green = (tuple(int(v) for v in re.findall(r"\d+", seen[verdict])[:3]) for verdict in ("FAIL", "PASS"))
    assert red[0] > red[1] + 60 and red[0] > red[2] + 60  # red-ish, though the FAIL was expected
    assert green[1] > green[0] + 40 and green[1] > green[2] + 40  # green-ish


def test_the_published_results_are_a_full_run_and_the_results_page_says_so():
    from gradcheck_bench.cli import REGENERATE

    assert REGENERATE["compare"] == ["compare", "--full"]
    page = (Path(__file__).resolve().parents[1] / "docs" / "results.md").read_text()
    assert re.search(r"^\| `compare/` \| `gradcheck-bench compare --full` \|", page, re.M)


@pytest.mark.parametrize("flag", ["--full", "--large"])
def test_full_and_large_ask_for_every_case(flag, monkeypatch, tmp_path):
    import gradcheck_bench.tools.compare as compare_module
    from gradcheck_bench.cli import build_parser

    assert build_parser().parse_args(["compare", flag]).full and not build_parser().parse_args(["compare"]).full
    asked = {}

    class Asked(Exception):
        pass

    def recorded(*arguments, **options):
        asked.update(options)
        raise Asked  # stop before any work: what compare was asked is all this test reads

    monkeypatch.setattr(compare_module, "compare_sources", recorded)
    with pytest.raises(Asked):
        main(["compare", flag, "--output", str(tmp_path)])
    assert asked["full"] is True


def test_compiled_sources_join_a_full_run_not_the_default_one():
    default = compare_sources(["linear1d"], ["numpy"], None, repeats=1, show_progress=False)
    assert "torch-compile" not in set(default.table["reference"])  # its compile is most of a minute over the cases
    full = compare_sources(["linear1d"], ["numpy"], None, repeats=1, show_progress=False, full=True)
    assert set(full.table["reference"]) == set(default.table["reference"]) | {"torch-compile"}


def test_a_planted_bug_that_changes_nothing_at_a_case_is_expected_to_pass():
    # ode's gradient of y_{n-1} is identically zero at gradbench's sizes (n > 4 s): the bug there changes nothing
    report = compare_sources(["ode-n1000-s1", "seed"], ["numpy", "numpy-buggy"], ["fd"], repeats=1,
                             show_progress=False)
    rows = report.table[report.table["candidate"] == "numpy-buggy"].set_index("case")
    assert rows.loc["ode-n1000-s1", "verdict"] == "PASS" and rows.loc["ode-n1000-s1", "expected"] == "PASS"
    assert "leaves this derivative unchanged" in rows.loc["ode-n1000-s1", "message"]
    assert rows.loc["seed", "verdict"] == "FAIL" and rows.loc["seed", "expected"] == "FAIL"
    from gradcheck_bench.tools.compare_summary import workload_outcomes

    matrix = workload_outcomes(report.table, report.sources).set_index(["model", "source"])
    assert matrix.loc[("ode", "numpy-buggy"), "expected"] == "PASS"  # the matrix marks it ✓, not !
    assert matrix.loc[("mlp", "numpy-buggy"), "expected"] == "FAIL"


# --------------------------------------------------------------------------
# The research figure's x: problem size, parameters plus data values
# --------------------------------------------------------------------------


def _drawn(axes):
    """(x, y) of each line and each point the panel draws, lines first, as lists."""
    lines = [line for line in axes.get_lines() if line.get_linestyle() != "None"]
    points = [line for line in axes.get_lines() if line.get_linestyle() == "None"]
    return ([(list(line.get_xdata()), list(line.get_ydata())) for line in lines],
            [(list(line.get_xdata()), list(line.get_ydata())) for line in points])


@pytest.mark.parametrize("name, data_values", [
    ("det-l5", 0),  # no data: the matrix is the parameter
    ("ode-n1000-s10", 10),  # X: the s step lengths, Y none
    ("llsq-n16-m128", 16 * 128 + 16),  # X: the powers t_i^j (n, m); Y: the n targets
    ("softmax-k5-d4-m6", 4 * 6 + 5 * 6),  # X: d features x m examples; Y: k classes x m
])
def test_a_cases_data_values_are_the_elements_of_its_x_and_y(name, data_values):
    from gradcheck_bench.tools.compare import case_facts, every_case

    facts = case_facts(every_case()[name], repeats=1, repeat_seconds=0.0)
    assert facts.data_values == data_values


def test_a_hand_cases_data_values_count_its_mesh_and_its_correspondences():
    from gradcheck_bench.tools.compare import case_facts, every_case

    case = every_case()["hand-simple-c100"]
    _, X, Y = case.point()
    mesh = sum(int(np.prod(np.shape(X[key]))) for key in X if key != "correspondences")
    assert case_facts(case, repeats=1, repeat_seconds=0.0).data_values == mesh + 100 + 100 * 3


def test_llsqs_cases_spread_along_x_though_their_parameters_are_fixed():
    pytest.importorskip("matplotlib")
    from gradcheck_bench.tools.compare_figures import PROBLEM_SIZE_LABEL, research_figure

    ns = (16, 32, 64)
    report = compare_sources([f"llsq-n{n}-m128" for n in ns], ["numpy"], ["fd"], repeats=1, show_progress=False)
    sources = report.sources
    assert set(sources["parameters"]) == {128}  # gradbench's m = 128 in every case
    sizes = [128 + n * 128 + n for n in ns]  # m coefficients, the n x m powers and the n targets
    assert list(sources[sources["source"] == "numpy"]["data_values"]) == [size - 128 for size in sizes]
    figure = research_figure(sources, budget=60.0)
    for axes in figure.axes:  # one family, llsq-m128 (n varies; m, the last size token, does not): a line
        lines, points = _drawn(axes)
        assert not points and all(xs == sizes for xs, _ in lines)
        assert axes.get_xlabel() == PROBLEM_SIZE_LABEL
    assert len(_drawn(figure.axes[0])[0]) == 2  # numpy and fd, one line each


def test_x_is_parameters_plus_data_values_and_a_line_runs_in_that_order():
    pytest.importorskip("matplotlib")
    from gradcheck_bench.tools.compare_figures import research_figure

    # (case, parameters, data values, seconds): the family m-a's order by parameters (a2, a3, a1) is not its
    # order by size (a1 110, a2 510, a3 2050); m-b7 shares m-a2's parameter count, so x is the problem size
    cases = [("m-a1", 100, 10, 1e-3), ("m-a2", 10, 500, 2e-3), ("m-a3", 50, 2000, 3e-3), ("m-b7", 10, 7, 4e-3)]
    frame = _timings([("m", case, parameters, "s", seconds) for case, parameters, _, seconds in cases])
    frame["data_values"] = [data for _, _, data, _ in cases]
    frame.loc[frame["case"] == "m-b7", "outcome"] = "TIMEOUT"
    derivative, primal, _ = research_figure(frame, budget=60.0).axes
    (line_x, line_y), = _drawn(derivative)[0]
    assert line_x == [110, 510, 2050] and line_y == [1e-3, 2e-3, 3e-3]  # y follows x: each case at its size
    assert np.all(np.diff(line_x) > 0)
    (late_x, late_y), = _drawn(derivative)[1]
    assert late_x == [17] and late_y == [60.0]  # the TIMEOUT: an open triangle at the budget, at its size
    primal_x = sorted(x for xs, _ in _drawn(primal)[0] + _drawn(primal)[1] for x in xs)
    assert primal_x == [17, 110, 510, 2050]


@pytest.mark.parametrize("value, label", [(30, "30"), (999.9, "1k"), (2500, "2.5k"), (18000, "18k"),
                                          (2114696, "2.11M"), (0.5, "0.5")])
def test_the_size_axis_labels_counts_short(value, label):
    from gradcheck_bench.tools.compare_figures import count_label

    assert count_label(value) == label


@pytest.mark.parametrize("cases, families", [
    (["llsq-n16-m128", "llsq-n32-m128"], ["llsq-m128", "llsq-m128"]),  # m is last but fixed: n makes the family
    (["gmm-d2-k5", "gmm-d2-k10", "gmm-d10-k5"], ["gmm-d2", "gmm-d2", "gmm-d10"]),  # d2-k5 stays in gmm-d2
    (["m-a1-b1-c1", "m-a2-b1-c1", "m-a1-b2-c1", "m-a1-b3-c1"],  # b across a1 (three) first; a2-b1 left alone
     ["m-a1-c1", "m-a2-b1", "m-a1-c1", "m-a1-c1"]),
    (["gmm-d2-k5", "gmm-d2-k10", "gmm-d3-k5", "gmm-d10-k5"], ["gmm-d2", "gmm-d2", "gmm-k5", "gmm-k5"]),
    (["gmm-d2-k5", "gmm-d2-k10", "gmm-d10-k5", "gmm-d10-k10"], ["gmm-d2", "gmm-d2", "gmm-d10", "gmm-d10"]),
    (["fraud-s1-m16", "fraud-s2-m128"], ["fraud-s1", "fraud-s2"]),  # both sizes vary: nothing joins them
    (["seed"], ["seed"]),
])
def test_a_cases_family_drops_the_one_size_token_its_family_differs_in(cases, families):
    from gradcheck_bench.tools.compare_figures import case_families

    assert case_families(cases) == dict(zip(cases, families))


def test_the_size_axis_is_the_parameters_where_they_tell_the_cases_apart():
    pytest.importorskip("matplotlib")
    from gradcheck_bench.tools.compare_figures import PARAMETERS_LABEL, PROBLEM_SIZE_LABEL, research_figure

    # gmm-like: distinct parameter counts, large fixed data: x is the parameters
    spread = _timings([("g", "g-k5", 50, "s", 1e-3), ("g", "g-k50", 500, "s", 2e-3)]).assign(data_values=10_000)
    axes = research_figure(spread, budget=60.0).axes[0]
    assert axes.get_xlabel() == PARAMETERS_LABEL and _drawn(axes)[0][0][0] == [50, 500]
    # lstm-like: two cases share a parameter count: x is parameters plus data values, for all three
    shared = _timings([("l", "l-l2-c4", 100, "s", 1e-3), ("l", "l-l2-c1024", 100, "s", 2e-3),
                       ("l", "l-l4-c1024", 200, "s", 3e-3)])
    shared["data_values"] = [40, 10_240, 10_240]
    axes = research_figure(shared, budget=60.0).axes[0]
    lines, points = _drawn(axes)
    assert axes.get_xlabel() == PROBLEM_SIZE_LABEL
    assert lines[0][0] == [140, 10_340]  # the family l-l2 across c
    assert points[0][0] == [10_440]

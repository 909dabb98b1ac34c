"""The regression gate's rules, on plain numbers, and its command line on bad input."""

import math

import pytest

from gradcheck_bench.tools.gate import (
    ACCURACY_UNIT,
    GateRules,
    Measurement,
    compare_measurements,
    judge,
    unroll,
)
from gradcheck_bench.cli import main
from gradcheck_bench.errors import InputError

RULES = GateRules(accuracy_threshold=2e-7, accuracy_tolerance=0.05, cost_factor=2.0)
NAME = "bench_accuracy.SourceAgreement.track_relative_difference('numpy', 'fd', 'seed')"


def accuracy(value):
    return Measurement(value, ACCURACY_UNIT)


def seconds(value):
    return Measurement(value, "seconds")


def test_accuracy_rising_past_the_threshold_is_a_regression_named():
    found = judge(NAME, "env", accuracy(1e-11), accuracy(0.2), RULES)
    assert found is not None and found.benchmark == NAME and "threshold" in found.reason
    assert NAME in found.line()


def test_accuracy_moving_below_the_threshold_is_not_a_regression():
    assert judge(NAME, "env", accuracy(1e-11), accuracy(5e-11), RULES) is None


def test_canary_that_stays_put_passes_and_one_that_grows_fails():
    assert judge(NAME, "env", accuracy(0.2851), accuracy(0.2851), RULES) is None
    assert judge(NAME, "env", accuracy(0.2851), accuracy(0.45), RULES) is not None


def test_canary_gone_silent_is_a_regression():
    found = judge(NAME, "env", accuracy(0.2851), accuracy(1e-11), RULES)
    assert found is not None and "canary" in found.reason


def test_time_within_the_factor_passes_and_past_it_fails():
    assert judge("t", "env", seconds(1.0), seconds(1.9), RULES) is None
    found = judge("t", "env", seconds(1.0), seconds(2.5), RULES)
    assert found is not None and "x2.50" in found.reason


def test_failure_on_head_is_a_regression_and_not_available_is_ignored():
    assert judge("t", "env", seconds(1.0), Measurement(None, "seconds"), RULES) is not None
    assert judge("t", "env", seconds(math.nan), seconds(10.0), RULES) is None
    assert judge("t", "env", seconds(1.0), seconds(math.nan), RULES) is None


def test_compare_counts_and_pairs_single_environments():
    base = {("a", "env-1"): seconds(1.0), ("b", "env-1"): seconds(math.nan), ("c", "env-1"): seconds(1.0)}
    head = {("a", "env-2"): seconds(3.0), ("b", "env-2"): seconds(1.0)}
    report = compare_measurements(base, head, RULES)
    assert not report.passed and [r.benchmark for r in report.regressions] == ["a"]
    assert (report.compared, report.not_compared) == (1, 2)
    assert "FAIL (1 regression(s))" in report.summary("0" * 40, "1" * 40)


def test_unroll_names_parameters_like_asv():
    names = [name for name, _ in unroll("m.C.track", [["'numpy'", "'jax'"], ["'seed'"]], [1.0, None])]
    assert names == ["m.C.track('numpy', 'seed')", "m.C.track('jax', 'seed')"]
    assert list(unroll("m.time", [], [2.0])) == [("m.time", 2.0)]


def test_bad_rules_are_refused():
    with pytest.raises(InputError, match="factor > 1"):
        GateRules(cost_factor=0.5)


def test_gate_outside_a_git_repository_exits_2_saying_so(tmp_path, capsys):
    pytest.importorskip("asv")
    config = tmp_path / "asv.conf.json"
    config.write_text('{"version": 1, "repo": ".", "results_dir": "results"}')
    (tmp_path / "results" / "box").mkdir(parents=True)
    (tmp_path / "results" / "box" / "machine.json").write_text('{"machine": "box", "version": 1}')
    status = main(["gate", "HEAD", "HEAD", "--config", str(config)])
    assert status == 2
    assert "not a commit" in capsys.readouterr().err


def timing(samples):
    ordered = sorted(samples)
    stats = {"ci_99_a": ordered[0], "ci_99_b": ordered[-1], "q_25": ordered[1], "q_75": ordered[-2],
             "repeat": len(samples), "number": 1}
    return Measurement(float(ordered[len(ordered) // 2]), "seconds", stats, list(samples))


def test_a_slower_time_within_noise_is_not_a_regression():
    base = timing([1.0, 1.0, 2.4, 1.0, 2.6, 1.05, 2.5, 1.0, 2.5, 1.0])
    head = timing([2.1, 2.2, 2.3, 2.5, 2.2, 2.4, 2.6, 2.3, 2.1, 2.2])
    assert head.value > 2 * base.value
    assert judge("t", "env", base, head, RULES) is None


def test_a_slower_time_well_outside_the_noise_is_a_regression():
    base = timing([1.0, 1.01, 1.02, 0.99, 1.0, 1.01, 1.0, 0.98, 1.02, 1.0])
    head = timing([3.0, 3.01, 3.02, 2.99, 3.0, 3.01, 3.0, 2.98, 3.02, 3.0])
    assert judge("t", "env", base, head, RULES) is not None


def test_nothing_compared_is_reported_as_such():
    report = compare_measurements({("a", "e"): seconds(math.nan)}, {("a", "e"): seconds(1.0)}, RULES)
    assert report.compared == 0 and "NOTHING COMPARED" in report.summary("0" * 40, "1" * 40)


def test_a_benchmark_whose_code_changed_is_not_compared():
    base = {("t", "e"): Measurement(1.0, "seconds", version="old")}
    head = {("t", "e"): Measurement(9.0, "seconds", version="new")}
    report = compare_measurements(base, head, RULES)
    assert report.passed and (report.compared, report.not_compared) == (0, 1)

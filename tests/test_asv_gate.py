"""The regression gate's rules, on plain numbers, with the re-measurement mocked; its command line on bad input.

Expected p-values are derived here from combinatorics, not from the gate: when every one of n
re-measured HEAD samples is above every one of m BASE samples, the exact two-sided Mann-Whitney
p-value is 2 / C(n + m, n).
"""

import itertools
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
from math import comb
from pathlib import Path

import pytest

from gradcheck_bench.cli import main
from gradcheck_bench.errors import InputError
from gradcheck_bench.tools.gate import (
    ACCURACY_UNIT,
    CONFIRM_ALL,
    CONFIRM_NONE,
    EXIT_CANNOT_COMPARE,
    EXIT_NOT_JUDGED,
    EXIT_PASS,
    EXIT_REGRESSION,
    EXTRA_ROUNDS,
    NOT_CONFIRMED,
    NOT_JUDGED,
    REGRESSION,
    GateOptions,
    GateRules,
    BenchmarkValue,
    compare_measurements,
    judge,
    judge_remeasured,
    near_the_line,
    past_the_screen,
    select,
    signed_rank_p,
    smallest_p,
)
from gradcheck_bench.tools.gate_asv import (LOCAL_RESULTS_DIR, ResultsStore, choose_machine, current_machine,
                                            this_host, unroll)
from gradcheck_bench.tools.gate_quick import follow
from gradcheck_bench.tools.gate_remeasure import (
    CLOCK_VARIABLE,
    DEFAULT_ROUNDS,
    PREIMPORT_VARIABLE,
    Remeasured,
    RemeasurementError,
    asv_environment,
    asv_run_command,
    pool,
    preimports,
    remeasured,
    round_order,
    run_round,
    write_round_config,
)

RULES = GateRules(accuracy_threshold=2e-7, accuracy_tolerance=0.05, cost_factor=2.0)
RULES_AT_1_3 = GateRules(cost_factor=1.3)
NAME = "bench_accuracy.SourceAgreement.track_relative_difference('numpy', 'fd', 'seed')"
TIME = "bench_fd_cost.FDCheckTime.time_check('loop', 'fraud-47')"
ENV = "virtualenv-py3.11"

pytest.importorskip("scipy")


def accuracy(value):
    return BenchmarkValue(value, ACCURACY_UNIT)


def seconds(value, samples=None):
    return BenchmarkValue(value, "seconds", samples)


class FakeRemeasure:
    """Stands in for the interleaved asv run: returns fixed samples and records what it was asked."""

    def __init__(self, samples=None, error=None):
        self.samples, self.error, self.asked = samples or {}, error, []

    def __call__(self, keys):
        self.asked.append(list(keys))
        if self.error:
            raise RemeasurementError(self.error)
        return {key: self.samples.get(key[0], Remeasured([1.0] * 7, [1.0] * 7)) for key in keys}


# --------------------------------------------------------------------------
# Accuracy and failures: judged directly
# --------------------------------------------------------------------------


def test_accuracy_rising_past_the_threshold_is_a_regression_named():
    found = judge(NAME, "env", accuracy(1e-11), accuracy(0.2), RULES)
    assert found is not None and found.verdict == REGRESSION and "threshold" in found.reason
    assert found.line().startswith(f"REGRESSION  {NAME}")


def test_accuracy_moving_below_the_threshold_is_not_a_regression():
    assert judge(NAME, "env", accuracy(1e-11), accuracy(5e-11), RULES) is None


def test_canary_that_stays_put_passes_and_one_that_grows_fails():
    assert judge(NAME, "env", accuracy(0.2851), accuracy(0.2851), RULES) is None
    assert judge(NAME, "env", accuracy(0.2851), accuracy(0.45), RULES) is not None


def test_canary_gone_silent_is_a_regression():
    found = judge(NAME, "env", accuracy(0.2851), accuracy(1e-11), RULES)
    assert found is not None and "canary" in found.reason


def test_failure_on_head_is_a_regression_and_not_available_is_ignored():
    assert judge("t", "env", seconds(1.0), BenchmarkValue(None, "seconds"), RULES).verdict == REGRESSION
    assert judge("t", "env", seconds(math.nan), seconds(10.0), RULES) is None
    assert judge("t", "env", seconds(1.0), seconds(math.nan), RULES) is None


def test_a_cost_value_is_never_judged_on_its_saved_values():
    assert judge("t", "env", seconds(1.0), seconds(30.0), RULES) is None


def test_accuracy_is_never_sent_to_re_measurement():
    fake = FakeRemeasure()
    report = compare_measurements({(NAME, ENV): accuracy(1e-11)}, {(NAME, ENV): accuracy(0.3)}, RULES, fake)
    assert fake.asked == [] and [f.verdict for f in report.findings] == [REGRESSION]
    assert report.exit_status == EXIT_REGRESSION


# --------------------------------------------------------------------------
# Costs: screened on the saved values, confirmed by re-measurement
# --------------------------------------------------------------------------


def test_a_single_sample_slowdown_is_re_measured_and_not_confirmed_when_it_was_noise():
    fake = FakeRemeasure({TIME: Remeasured([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0], [1.1, 1.0, 1.0, 0.9, 1.0, 1.2, 1.0])})
    base = {(TIME, ENV): seconds(1.0), ("fast", ENV): seconds(1.0)}
    head = {(TIME, ENV): seconds(3.46), ("fast", ENV): seconds(1.5)}
    report = compare_measurements(base, head, RULES, fake)
    assert fake.asked == [[(TIME, ENV)]]  # only the value past the factor
    (finding,) = report.findings
    assert finding.verdict == NOT_CONFIRMED and finding.benchmark == TIME
    assert "x3.46 in the saved runs" in finding.reason and "not confirmed: x1.00 on re-measurement" in finding.reason
    assert report.exit_status == EXIT_PASS and report.passed


def test_a_real_slowdown_is_confirmed_with_its_factor_and_p():
    fake = FakeRemeasure({TIME: Remeasured([1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.0], [3.0, 3.1, 2.9, 3.0, 3.05, 2.95, 3.0])})
    report = compare_measurements({(TIME, ENV): seconds(1.0)}, {(TIME, ENV): seconds(3.2)}, RULES, fake)
    (finding,) = report.regressions
    p = 2 / comb(14, 7)
    assert f"confirmed x3.00 (p = {p:.2g}, 7+7 samples" in finding.reason
    assert report.exit_status == EXIT_REGRESSION and report.confirmed == 1


def test_the_screen_sends_values_below_the_factor_to_re_measurement_where_the_factor_decides():
    rules = GateRules(cost_factor=1.3, screen_factor=1.1)
    hidden = "bench_gradient.GradientTime.time_gradient('numpy', 'mlp-977')"
    fake = FakeRemeasure({hidden: Remeasured([1.0 + i / 100 for i in range(7)], [1.5 + i / 100 for i in range(7)]),
                          TIME: Remeasured([1.0 + i / 100 for i in range(7)], [1.2 + i / 100 for i in range(7)])})
    base = {(hidden, ENV): seconds(1.0), (TIME, ENV): seconds(1.0), ("flat", ENV): seconds(1.0)}
    head = {(hidden, ENV): seconds(1.15), (TIME, ENV): seconds(1.25), ("flat", ENV): seconds(1.05)}
    report = compare_measurements(base, head, rules, fake)
    assert sorted(fake.asked[0]) == sorted([(hidden, ENV), (TIME, ENV)])  # both past 1.1; "flat" is not
    assert [f.benchmark for f in report.regressions] == [hidden]  # x1.5 re-measured: past 1.3, confirmed
    assert [f.benchmark for f in report.of(NOT_CONFIRMED)] == [TIME]  # x1.2 re-measured: within 1.3


def test_without_a_screen_the_factor_screens_as_before():
    assert GateRules(cost_factor=2.0).screen == 2.0 and GateRules(cost_factor=2.0, screen_factor=1.1).screen == 1.1


def test_ties_within_each_side_do_not_weaken_the_test():
    verdict, reason = judge_remeasured(Remeasured([100.0] * 7, [300.0] * 7), RULES)  # pass counts: all equal
    assert verdict == REGRESSION and f"p = {2 / comb(14, 7):.2g}" in reason


def test_the_confirmed_factor_is_the_ratio_of_the_medians():
    verdict, reason = judge_remeasured(Remeasured([1, 1, 1, 2, 9, 9, 9], [2, 2, 2, 5, 30, 30, 30]), RULES)
    assert "x2.50" in reason  # median 5 against median 2, whatever the means


def test_a_slowdown_past_the_factor_that_is_not_significant_is_not_confirmed():
    base = [1.0, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0]
    head = [3.0, 2.5, 3.1, 2.4, 3.2, 2.6, 3.3]
    verdict, reason = judge_remeasured(Remeasured(base, head), RULES)
    assert verdict == NOT_CONFIRMED and "not significant" in reason


def test_a_significant_slowdown_within_the_factor_is_not_confirmed():
    base = [1.0 + i / 100 for i in range(7)]
    verdict, reason = judge_remeasured(Remeasured(base, [1.5 * value for value in base]), RULES)
    assert verdict == NOT_CONFIRMED and "x1.50" in reason


def test_too_few_samples_are_not_judged_and_say_how_to_get_more():
    assert smallest_p(6, 6) == 2 / comb(12, 6) > RULES.p_threshold > smallest_p(7, 7) == 2 / comb(14, 7)
    verdict, reason = judge_remeasured(Remeasured([1.0] * 6, [3.0] * 6), RULES)
    assert verdict == NOT_JUDGED and "--rounds" in reason
    verdict, _ = judge_remeasured(Remeasured([1.0] * 7, [3.0] * 7), RULES)
    assert verdict == REGRESSION


def test_a_value_the_re_measurement_lost_is_not_judged():
    verdict, reason = judge_remeasured(Remeasured([1.0] * 7, []), RULES)
    assert verdict == NOT_JUDGED and "HEAD" in reason


def test_a_failed_re_measurement_is_not_judged_and_exits_3():
    fake = FakeRemeasure(error="`asv run` exited 1")
    base = {(TIME, ENV): seconds(1.0), ("b", ENV): seconds(1.0)}
    head = {(TIME, ENV): seconds(3.0), ("b", ENV): seconds(2.5)}
    report = compare_measurements(base, head, RULES, fake)
    assert [f.verdict for f in report.findings] == [NOT_JUDGED, NOT_JUDGED]
    assert sum("`asv run` exited 1" in f.reason for f in report.findings) == 1  # asv's output quoted once
    assert report.exit_status == EXIT_NOT_JUDGED and not report.passed
    assert "NOT JUDGED (2 value(s))" in report.summary("0" * 40, "1" * 40)


def test_confirm_none_re_measures_nothing_and_never_passes_a_suspect():
    fake = FakeRemeasure()
    report = compare_measurements({(TIME, ENV): seconds(1.0)}, {(TIME, ENV): seconds(3.0)}, RULES, fake, CONFIRM_NONE)
    assert fake.asked == [] and report.exit_status == EXIT_NOT_JUDGED
    assert "--confirm none" in report.findings[0].reason


def test_confirm_all_re_measures_every_cost_value_and_can_find_a_hidden_slowdown():
    fake = FakeRemeasure({"hidden": Remeasured([1.0 + i / 100 for i in range(7)], [3.0 + i / 100 for i in range(7)])})
    base = {("hidden", ENV): seconds(1.0), ("fine", ENV): seconds(1.0), (NAME, ENV): accuracy(1e-11)}
    head = {("hidden", ENV): seconds(1.1), ("fine", ENV): seconds(1.0), (NAME, ENV): accuracy(1e-11)}
    report = compare_measurements(base, head, RULES, fake, CONFIRM_ALL)
    assert sorted(fake.asked[0]) == [("fine", ENV), ("hidden", ENV)]
    assert [(f.verdict, f.benchmark) for f in report.findings] == [(REGRESSION, "hidden")]  # "fine" is no news
    assert report.remeasured == 2


def test_a_regression_outranks_a_value_not_judged():
    fake = FakeRemeasure(error="no machine")
    base = {(TIME, ENV): seconds(1.0), (NAME, ENV): accuracy(1e-11)}
    head = {(TIME, ENV): seconds(3.0), (NAME, ENV): accuracy(0.3)}
    assert compare_measurements(base, head, RULES, fake).exit_status == EXIT_REGRESSION


def test_compare_counts_and_pairs_single_environments():
    base = {("a", "env-1"): seconds(1.0), ("b", "env-1"): seconds(math.nan), ("c", "env-1"): seconds(1.0)}
    head = {("a", "env-2"): seconds(3.0), ("b", "env-2"): seconds(1.0)}
    fake = FakeRemeasure({"a": Remeasured([1.0 + i / 100 for i in range(7)], [3.0 + i / 100 for i in range(7)])})
    report = compare_measurements(base, head, RULES, fake)
    assert [r.benchmark for r in report.regressions] == ["a"] and fake.asked == [[("a", "env-2")]]
    assert (report.compared, report.not_compared) == (1, 2)
    assert "FAIL (1 regression(s))" in report.summary("0" * 40, "1" * 40)


def test_nothing_compared_is_reported_as_such():
    report = compare_measurements({("a", "e"): seconds(math.nan)}, {("a", "e"): seconds(1.0)}, RULES, FakeRemeasure())
    assert report.compared == 0 and report.exit_status == EXIT_CANNOT_COMPARE
    assert "NOTHING COMPARED" in report.summary("0" * 40, "1" * 40)


def test_a_benchmark_whose_code_changed_is_not_compared():
    base = {("t", "e"): BenchmarkValue(1.0, "seconds", version="old")}
    head = {("t", "e"): BenchmarkValue(9.0, "seconds", version="new")}
    report = compare_measurements(base, head, RULES, FakeRemeasure())
    assert report.findings == [] and (report.compared, report.not_compared) == (0, 1)


def test_bad_rules_are_refused():
    with pytest.raises(InputError, match="factor > 1"):
        GateRules(cost_factor=0.5)


def test_bench_selects_values_by_name_with_parameters():
    values = {(TIME, ENV): seconds(1.0), (NAME, ENV): accuracy(1e-11)}
    assert list(select(values, r"time_check\('loop'")) == [(TIME, ENV)]
    with pytest.raises(InputError, match="regular expression"):
        select(values, "time_check(")


# --------------------------------------------------------------------------
# The re-measurement's plumbing (asv itself is not run here)
# --------------------------------------------------------------------------


def test_rounds_alternate_which_commit_goes_first():
    assert [round_order(n, "B", "H") for n in (1, 2, 3, 4)] == [("B", "H"), ("H", "B"), ("B", "H"), ("H", "B")]


def test_the_asv_command_selects_exactly_the_named_parameter_sets(tmp_path):
    command = asv_run_command(tmp_path / "c.json", "box", tmp_path / "h.txt", [TIME])
    patterns = [command[i + 1] for i, word in enumerate(command) if word == "--bench"]
    assert patterns and all(re.search(pattern, TIME) for pattern in patterns)
    assert not any(re.search(pattern, TIME.replace("fraud-47", "fraud-470")) for pattern in patterns)
    assert not any(re.search(pattern, TIME.replace("'loop'", "'structured'")) for pattern in patterns)
    assert command[command.index("--attribute") + 1] == "rounds=1" and "--record-samples" in command


def test_a_round_config_writes_elsewhere_and_reuses_the_environments(tmp_path):
    pytest.importorskip("asv")
    config = tmp_path / "project" / "asv.conf.json"
    config.parent.mkdir()
    config.write_text('{\n  // a comment, as ours has\n  "version": 1, "repo": ".", "env_dir": ".asv/env",\n'
                      '  "results_dir": "results/asv", "benchmark_dir": "benchmarks"\n}\n')
    written = write_round_config(config, tmp_path / "scratch" / "round-1")
    import json

    copied = json.loads(written.read_text())
    assert copied["env_dir"] == str(tmp_path / "project" / ".asv" / "env")
    assert copied["repo"] == str(tmp_path / "project")
    assert copied["results_dir"] == str(tmp_path / "scratch" / "round-1")
    assert (tmp_path / "project" / "results").exists() is False  # the saved results are not touched


def test_a_round_hides_asv_pythonpath_from_asv(tmp_path, monkeypatch):
    seen = {}

    def fake_run(command, env, **kwargs):
        seen["env"], seen["command"] = env, command
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setenv("ASV_PYTHONPATH", "/some/checkout")
    monkeypatch.setattr(subprocess, "run", fake_run)
    run_round(tmp_path / "c.json", "box", ("B", "H"), [TIME], tmp_path)
    assert "ASV_PYTHONPATH" not in seen["env"] and (tmp_path / "commits.txt").read_text() == "B\nH\n"


def test_a_round_where_asv_itself_failed_raises_with_its_output(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: subprocess.CompletedProcess(
        command, 1, "", "No information stored about machine 'box'"))
    with pytest.raises(RemeasurementError, match="(?s)No information stored about machine 'box'.*asv machine"):
        run_round(tmp_path / "c.json", "box", ("B", "H"), [TIME], tmp_path)


def test_a_round_that_read_asvs_machine_file_mid_write_is_run_again(tmp_path, monkeypatch):
    # another asv on this host was rewriting ~/.asv-machine.json as this one started (two gates at once)
    mid_write = "Error parsing JSON in file '/root/.asv-machine.json': Expecting value: line 1 column 1 (char 0)"
    exits = [1, 1, 0]
    calls = []

    def fake_run(command, **kwargs):
        calls.append(command)
        code = exits[len(calls) - 1]
        return subprocess.CompletedProcess(command, code, "", mid_write if code else "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    run_round(tmp_path / "c.json", "box", ("B", "H"), [TIME], tmp_path)
    assert len(calls) == 3
    exits[:] = [1] * 5  # it never clears: the gate stops after a few tries and quotes asv
    calls.clear()
    with pytest.raises(RemeasurementError, match="Error parsing JSON"):
        run_round(tmp_path / "c.json", "box", ("B", "H"), [TIME], tmp_path)
    assert len(calls) == 4


def test_rounds_pool_samples_and_one_value_rounds_keeping_each_round_apart():
    pooled = {}
    for _ in range(2):
        pool(pooled, {(TIME, ENV): seconds(1.0, [1.0, 1.1, 0.9]), ("track", ENV): seconds(2.0),
                      ("na", ENV): seconds(math.nan), ("failed", ENV): BenchmarkValue(None, "seconds")})
    samples = {key[0]: remeasured(key, pooled, pooled) for key in pooled}
    assert samples[TIME].base == [1.0, 1.1, 0.9] * 2 and samples["track"].base == [2.0, 2.0]
    assert samples["na"].base == [] and samples["failed"].base == []
    assert samples[TIME].rounds()[0] == [[1.0, 1.1, 0.9]] * 2 and samples["na"].rounds()[0] == [[], []]


def test_saved_values_from_another_environment_take_the_one_the_rounds_ran_in():
    base, head = {(TIME, ENV): [[1.0]]}, {(TIME, ENV): [[2.0]]}
    assert remeasured((TIME, "existing-py"), base, head) == Remeasured([1.0], [2.0], [[1.0]], [[2.0]])
    assert remeasured(("other", ENV), base, head) == Remeasured([], [], [], [])


def test_unroll_names_parameters_like_asv():
    names = [name for name, _ in unroll("m.C.track", [["'numpy'", "'jax'"], ["'seed'"]], [1.0, None])]
    assert names == ["m.C.track('numpy', 'seed')", "m.C.track('jax', 'seed')"]
    assert list(unroll("m.time", [], [2.0])) == [("m.time", 2.0)]


# --------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------


def test_gate_outside_a_git_repository_exits_2_saying_so(tmp_path, capsys):
    pytest.importorskip("asv")
    config = tmp_path / "asv.conf.json"
    config.write_text('{"version": 1, "repo": ".", "results_dir": "results"}')
    (tmp_path / "results" / "box").mkdir(parents=True)
    (tmp_path / "results" / "box" / "machine.json").write_text('{"machine": "box", "version": 1}')
    status = main(["gate", "HEAD", "HEAD", "--config", str(config)])
    assert status == 2
    assert "not a commit" in capsys.readouterr().err


@pytest.mark.parametrize("arguments", [["--rounds", "0"], ["--confirm", "maybe"], ["--factor", "-1"],
                                       ["--extra-rounds", "-1"], ["--extra-rounds", "two"]])
def test_gate_refuses_bad_options_with_status_2(arguments, capsys):
    assert main(["gate", "main", "HEAD", *arguments]) == 2
    assert "error" in capsys.readouterr().err


def test_extra_rounds_reach_the_gates_rules(monkeypatch, capsys):
    from gradcheck_bench.tools import gate as gate_module

    seen = []

    def fake_gate(base, head, rules, options):
        seen.append(rules.extra_rounds)
        return gate_module.GateReport(accuracy_judged=1), "0" * 40, "1" * 40
    monkeypatch.setattr(gate_module, "run_gate", fake_gate)
    assert main(["gate", "main", "HEAD", "--extra-rounds", "0"]) == 0 and main(["gate", "main", "HEAD"]) == 0
    assert seen == [0, EXTRA_ROUNDS]


def test_samples_writes_each_re_measured_values_rounds_and_verdict(tmp_path, monkeypatch, capsys):
    from gradcheck_bench.tools import gate as gate_module

    fake = FakeRounds(first={TIME: pooled_rounds([1.0, 1.0], [2.0, 2.0]), "flat": pooled_rounds([1.0, 1.0], [1.0, 1.0])},
                      rest={TIME: pooled_rounds([1.0] * 5, [2.0] * 5)})
    report = compare_measurements({(TIME, ENV): seconds(1.0), ("flat", ENV): seconds(1.0)},
                                  {(TIME, ENV): seconds(1.0), ("flat", ENV): seconds(1.0)},
                                  GateRules(cost_factor=1.3, screen_factor=1.1), fake, "fresh")
    monkeypatch.setattr(gate_module, "run_gate", lambda base, head, rules, options: (report, "0" * 40, "1" * 40))
    target = tmp_path / "samples.json"
    assert main(["gate", "main", "HEAD", "--samples", str(target)]) == EXIT_REGRESSION
    written = json.loads(target.read_text())
    assert written["base"] == "0" * 40 and written["head"] == "1" * 40
    by_name = {row["benchmark"]: row for row in written["values"]}
    assert by_name[TIME]["verdict"] == REGRESSION and by_name[TIME]["head_rounds"] == [[2.0]] * 7
    assert by_name["flat"]["verdict"] == "screened out" and by_name["flat"]["base_rounds"] == [[1.0], [1.0]]


def test_samples_into_a_missing_folder_is_refused_before_the_gate_runs(tmp_path, capsys):
    missing = tmp_path / "no-such-folder" / "samples.json"
    assert main(["gate", "main", "HEAD", "--samples", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and f"mkdir -p {missing.parent}" in err
    missing.parent.mkdir()  # the fix the message gives: the option is then accepted
    from gradcheck_bench.cli import file_to_write
    assert file_to_write(str(missing)) == missing


def test_the_summary_says_how_the_slowdowns_were_re_measured():
    fake = FakeRemeasure({TIME: Remeasured([1.0 + i / 100 for i in range(7)], [3.0 + i / 100 for i in range(7)])})
    report = compare_measurements({(TIME, ENV): seconds(1.0), ("b", ENV): seconds(1.0)},
                                  {(TIME, ENV): seconds(3.0), ("b", ENV): seconds(1.0)}, RULES, fake)
    report.remeasure_rounds, report.remeasure_seconds = 7, 125.0
    last = report.summary("0" * 40, "1" * 40).splitlines()[-1]
    assert ("2, of which 1 past the screen in the saved runs; 1 re-measured on both commits in 7 interleaved "
            "rounds, 2 min 5 s: 1 confirmed, 0 not confirmed, 0 not judged") in last


def test_the_summary_counts_suspects_that_were_not_re_measured():
    report = compare_measurements({(TIME, ENV): seconds(1.0), ("b", ENV): seconds(1.0)},
                                  {(TIME, ENV): seconds(3.0), ("b", ENV): seconds(1.0)}, RULES, FakeRemeasure(),
                                  CONFIRM_NONE)
    last = report.summary("0" * 40, "1" * 40).splitlines()[-1]
    assert "2, of which 1 past the screen in the saved runs; 0 re-measured on both commits: 0 confirmed, " \
           "0 not confirmed, 1 not judged" in last


# --------------------------------------------------------------------------
# Which machine, and the gate's own quick run
# --------------------------------------------------------------------------


class FakeStore:
    """Stands in for the results folders: which machines have results of which commits."""

    def __init__(self, results):
        self.results = results

    def machines(self):
        return sorted(self.results)

    def has_results(self, machine, commit):
        return commit in self.results.get(machine, ())


def test_the_only_machine_with_results_of_both_commits_is_picked_without_being_named():
    store = FakeStore({"reference-2core": {"B", "H"}, "reference-epyc-2core": {"B"}})
    assert choose_machine(store, ("B", "H"), None, "laptop") == "reference-2core"


def test_this_hosts_results_are_preferred_where_it_has_both_commits():
    store = FakeStore({"reference-2core": {"B", "H"}, "laptop": {"B", "H"}})
    assert choose_machine(store, ("B", "H"), None, "laptop") == "laptop"


def test_with_no_machine_holding_both_commits_this_host_measures_them():
    store = FakeStore({"reference-2core": {"B"}, "laptop": {"H"}})
    assert choose_machine(store, ("B", "H"), None, "laptop") == "laptop"


def test_several_other_machines_with_both_commits_need_machine():
    store = FakeStore({"reference-2core": {"B", "H"}, "reference-epyc-2core": {"B", "H"}})
    with pytest.raises(InputError, match="choose one with --machine"):
        choose_machine(store, ("B", "H"), None, "laptop")
    assert choose_machine(store, ("B", "H"), "reference-epyc-2core", "laptop") == "reference-epyc-2core"


def machine_file(home, *names):
    import json

    (home / ".asv-machine.json").write_text(json.dumps({**{name: {"machine": name} for name in names}, "version": 1}))


def test_this_host_is_named_as_asv_names_it(tmp_path, monkeypatch):
    pytest.importorskip("asv")
    from asv.machine import Machine

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(Machine, "hardcoded_machine_name", "host-x")
    assert current_machine() == "host-x"  # nothing registered: the host name
    machine_file(tmp_path, "gate-test")
    assert current_machine() == "gate-test"  # one machine registered under another name: asv takes it
    machine_file(tmp_path, "gate-test", "host-x")
    assert current_machine() == "host-x"
    assert this_host("reference-2core") == "host-x"  # a name given for committed results is not this host's
    assert this_host("gate-test") == "gate-test"  # a registered name is



def test_committed_results_are_filed_under_reference_names_their_files_agree_with():
    # asv files a host's runs under its host name or the one name ~/.asv-machine.json holds (this project's
    # hosts: vm, and epyc-2core where a session registered it); committed results must never be such a folder.
    import json

    results = Path(__file__).resolve().parents[1] / "results" / "asv"
    folders = sorted(path.parent for path in results.glob("*/machine.json"))
    assert folders, "no committed asv results found"
    for folder in folders:
        assert folder.name.startswith("reference-"), folder.name
        assert json.loads((folder / "machine.json").read_text())["machine"] == folder.name
        for result in folder.glob("*.json"):
            if result.name != "machine.json":
                assert json.loads(result.read_text())["params"]["machine"] == folder.name, result.name

def asv_result(results_dir, machine, commit):
    """A minimal result file as asv writes it, and the machine's machine.json."""
    from asv.results import Results

    Results({"machine": machine, "python": "3.11"}, {}, commit, 0, "3.11", "env", {}).save(str(results_dir))
    (results_dir / machine / "machine.json").write_text(f'{{"machine": "{machine}", "version": 1}}')


def test_the_store_reads_committed_and_local_results(tmp_path):
    pytest.importorskip("asv")
    committed, local = tmp_path / "results" / "asv", tmp_path / ".asv" / "results"
    base, head = "a" * 40, "b" * 40
    asv_result(committed, "reference-2core", base)
    asv_result(committed, "reference-2core", head)
    asv_result(local, "laptop", head)
    store = ResultsStore(committed, local)
    assert store.machines() == ["laptop", "reference-2core"]
    assert store.has_results("reference-2core", head) and store.has_results("laptop", head)
    assert not store.has_results("laptop", base)
    assert choose_machine(store, (base, head), None, "laptop") == "reference-2core"


def scratch_repository(tmp_path):
    import subprocess as sp

    root = tmp_path / "repo"
    root.mkdir()
    (root / "asv.conf.json").write_text('{"version": 1, "repo": ".", "results_dir": "results/asv"}')
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "base"],
                 ["commit", "-q", "--allow-empty", "-m", "head"]):
        sp.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *step], cwd=root, check=True)
    return root


def test_a_commit_without_results_here_is_measured_by_the_gates_own_quick_run(tmp_path, monkeypatch):
    pytest.importorskip("asv")
    from gradcheck_bench.tools import gate as gate_module

    root = scratch_repository(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    machine_file(tmp_path, "laptop")
    asked = []
    monkeypatch.setattr(gate_module, "quick_run", lambda *arguments: asked.append(arguments) or 1.0)
    with pytest.raises(InputError, match="no asv results"):  # the fake quick run measured nothing
        gate_module.run_gate("HEAD~1", "HEAD", options=gate_module.GateOptions(config_path=root / "asv.conf.json"))
    ((config, machine, commits, results_dir, bench, _),) = asked
    assert machine == "laptop" and len(commits) == 2 and bench is None
    assert results_dir == root / LOCAL_RESULTS_DIR  # git-ignored (.asv/), never the committed results


def test_a_named_machine_of_another_host_is_never_measured_here(tmp_path, monkeypatch):
    pytest.importorskip("asv")
    from gradcheck_bench.tools import gate as gate_module

    root = scratch_repository(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    machine_file(tmp_path, "laptop")
    monkeypatch.setattr(gate_module, "quick_run", lambda *arguments: pytest.fail("measured another host's results"))
    options = gate_module.GateOptions(config_path=root / "asv.conf.json", machine="reference-2core")
    with pytest.raises(InputError, match="leave out --machine"):
        gate_module.run_gate("HEAD~1", "HEAD", options=options)


def test_the_quick_run_turns_asvs_percentages_into_progress_lines():
    lines = ["[  0.00%] · For gradcheck-bench commit 1234abcd:", "[ 10.00%] ··· bench_a.T.time_a   ok",
             "[ 12.00%] ··· bench_a.T.time_b   ok", "[100.00%] ··· bench_b.T.time_c   ok"]
    said = []
    followed = follow([sys.executable, "-c", f"print({chr(10).join(lines)!r})"], said.append, 0.0)
    assert followed.returncode == 0 and followed.text.splitlines() == lines
    assert [line.split("%")[0] for line in said] == ["quick run   0", "quick run  10", "quick run 100"]
    assert "bench_b.T.time_c" in said[-1]


# --------------------------------------------------------------------------
# Re-measurement: one process of the suite per commit and round
# --------------------------------------------------------------------------


def test_a_round_runs_every_value_of_a_commit_in_one_forked_process_of_the_suite(tmp_path):
    command = asv_run_command(tmp_path / "c.json", "box", tmp_path / "h.txt", [TIME, NAME])
    assert command[command.index("--launch-method") + 1] == "forkserver"
    assert command.count("--bench") == 2 and command.count("run") == 1  # one asv run for all the values


def test_only_the_frameworks_a_value_names_are_imported_before_the_fork_and_none_for_peak_memory():
    torch_value = "bench_gradient.GradientTime.time_gradient('torch', 'mlp-977')"
    jax_value = "bench_fd_cost.FDCheckTime.time_check('jax', 'fraud-47')"
    peak = "bench_fd_cost.FDPeakMemory.peakmem_fd_gradient('torch', 'fraud-47')"
    assert preimports([TIME]) == ()
    assert preimports([TIME, torch_value]) == ("torch",)
    assert preimports([jax_value, torch_value]) == ("torch", "jax")
    assert preimports([torch_value, peak]) == ()
    assert asv_environment(("torch",))[PREIMPORT_VARIABLE] == "torch"
    assert PREIMPORT_VARIABLE not in asv_environment()


def test_the_rounds_time_in_cpu_time_on_one_thread_unless_wall_time_is_asked(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(subprocess, "run", lambda command, env, **kwargs: seen.append(env) or
                        subprocess.CompletedProcess(command, 0, "", ""))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv(CLOCK_VARIABLE, "wall")  # the caller's own setting never reaches the rounds
    run_round(tmp_path / "c.json", "box", ("B", "H"), [TIME], tmp_path)
    run_round(tmp_path / "c.json", "box", ("B", "H"), [TIME], tmp_path, clock="wall")
    cpu, wall = seen
    assert cpu[CLOCK_VARIABLE] == "cpu"
    assert cpu["OMP_NUM_THREADS"] == cpu["OPENBLAS_NUM_THREADS"] == cpu["MKL_NUM_THREADS"] == "1"
    assert wall[CLOCK_VARIABLE] == "wall" and wall["OMP_NUM_THREADS"] == "2" and "MKL_NUM_THREADS" not in wall
    assert CLOCK_VARIABLE not in asv_environment()  # the quick run: the suite's default, as asv run measures


def test_the_remeasurer_runs_every_round_on_its_clock(tmp_path, monkeypatch):
    for clock in ("cpu", "wall"):
        remeasurer, _, clocks = remeasurer_without_asv(tmp_path, monkeypatch, rounds=3, clock=clock)
        remeasurer([(TIME, ENV)])
        assert clocks == [clock] * 3


def test_a_clock_the_gate_does_not_know_is_refused_with_the_ones_it_does():
    with pytest.raises(InputError, match="clock must be one of cpu, wall; got 'cpu-time'"):
        GateOptions(clock="cpu-time")
    assert GateOptions(clock="wall").clock == "wall"


def test_the_suites_time_benchmarks_read_the_clock_the_environment_names():
    # asv takes a benchmark's timer from the function, its class or its module: discover the suite as asv does
    script = ("import time, timeit\nfrom asv_runner.discovery import disc_benchmarks\n"
              "timers = {b.name: b.timer for b in disc_benchmarks('benchmarks') if '.time_' in b.name}\n"
              "print(len(timers), sorted({t.__name__ for t in timers.values()}))\n")
    repository = Path(__file__).resolve().parents[1]
    for clock, timer in (("cpu", "process_time"), ("wall", "perf_counter"), (None, "perf_counter")):
        environment = {key: value for key, value in os.environ.items() if key != CLOCK_VARIABLE}
        if clock is not None:
            environment[CLOCK_VARIABLE] = clock
        completed = subprocess.run([sys.executable, "-c", script], cwd=repository, env=environment,
                                   capture_output=True, text=True, timeout=300)
        assert completed.returncode == 0, completed.stderr[-3000:]
        count, names = completed.stdout.split(" ", 1)
        assert int(count) >= 6 and names.strip() == f"['{timer}']", (clock, completed.stdout)
    environment[CLOCK_VARIABLE] = "cpu-time"
    refused = subprocess.run([sys.executable, "-c", "import benchmarks.common"], cwd=repository, env=environment,
                             capture_output=True, text=True, timeout=300)
    assert "GRADCHECK_BENCH_CLOCK='cpu-time' is not a clock the suite knows; set it to wall or cpu" in refused.stderr


def test_the_suite_imports_the_named_frameworks_only_in_asvs_forkserver(monkeypatch):
    import importlib

    imported = []
    monkeypatch.setenv(PREIMPORT_VARIABLE, "numbers,json")
    monkeypatch.setattr(importlib, "import_module", lambda name: imported.append(name))
    suite = Path(__file__).resolve().parents[1] / "benchmarks" / "__init__.py"
    code = compile(suite.read_text(), str(suite), "exec")
    monkeypatch.setattr(sys, "argv", ["benchmark.py", "discover"])
    exec(code, {"__name__": "benchmarks"})
    assert imported == []  # discovery (and every spawned value) imports nothing more
    monkeypatch.setattr(sys, "argv", ["benchmark.py", "run_server", "benchmarks", "socket"])
    exec(code, {"__name__": "benchmarks"})
    assert imported == ["numbers", "json"]


# --------------------------------------------------------------------------
# The default trigger: a fresh paired round of every cost value, then all the rounds for those past the screen
# --------------------------------------------------------------------------


class FakeRounds:
    """Stands in for the interleaved asv runs: per value, the screen's fresh rounds, then the remaining rounds,
    then the extra rounds for values near the line (numbered from 8)."""

    def __init__(self, first, rest, extra=None, again=None):
        self.first, self.rest, self.extra, self.asked = first, rest, extra or {}, []
        self.again = self.extra if again is None else again  # the second batch of extra rounds

    def __call__(self, keys, rounds=None, first_round=1):
        self.asked.append((sorted(keys), rounds, first_round))
        table = (self.first if first_round == 1 else self.rest if first_round <= DEFAULT_ROUNDS
                 else self.extra if first_round <= DEFAULT_ROUNDS + EXTRA_ROUNDS else self.again)
        return {key: table[key[0]] for key in keys}


def test_the_fresh_screen_finds_a_slowdown_the_saved_runs_hid_and_confirms_it_over_all_rounds():
    rules = GateRules(cost_factor=1.3, screen_factor=1.1)
    slowed, steady = "bench_gradient.GradientTime.time_gradient('numpy', 'mlp-977')", TIME
    fake = FakeRounds(first={slowed: Remeasured([1.0, 1.0], [1.5, 1.5]), steady: Remeasured([1.0, 1.0], [1.02, 1.0])},
                      rest={slowed: Remeasured([1.0 + i / 100 for i in range(5)], [1.5 + i / 100 for i in range(5)])})
    base = {(slowed, ENV): seconds(1.0), (steady, ENV): seconds(1.0)}
    head = {(slowed, ENV): seconds(0.8), (steady, ENV): seconds(1.0)}  # the saved runs read the slowdown as x0.8
    report = compare_measurements(base, head, rules, fake, "fresh")
    assert fake.asked == [(sorted([(slowed, ENV), (steady, ENV)]), 2, 1), ([(slowed, ENV)], None, 3)]
    (finding,) = report.regressions
    assert finding.benchmark == slowed and "x1.50 and x1.50 in 2 fresh paired rounds" in finding.reason
    pooled_base = [1.0, 1.0] + [1.0 + i / 100 for i in range(5)]
    pooled_head = [1.5, 1.5] + [1.5 + i / 100 for i in range(5)]
    ratio = sorted(pooled_head)[3] / sorted(pooled_base)[3]  # the medians of the seven pooled rounds
    assert f"confirmed x{ratio:.2f} (p = {2 / comb(14, 7):.2g}, 7+7 samples" in finding.reason
    assert report.remeasured == 2 and report.looked_regressed == 1 and report.exit_status == EXIT_REGRESSION
    assert "1 past the screen in 2 fresh paired rounds; 2 re-measured" in report.summary("0" * 40, "1" * 40)


def test_a_slowdown_one_fresh_round_hid_is_past_the_screen():
    # Round 1 (BASE then HEAD) read the 1.5x slowdown as x1.0; round 2, the other order, read it.
    hidden = Remeasured([1.0] * 6, [1.0] * 3 + [1.5] * 3, [[1.0] * 3, [1.0] * 3], [[1.0] * 3, [1.5] * 3])
    fake = FakeRounds(first={TIME: hidden}, rest={TIME: Remeasured([1.0] * 5, [1.5] * 5)},
                      extra={TIME: Remeasured([1.0] * 4, [1.5] * 4)})
    report = compare_measurements({(TIME, ENV): seconds(1.0)}, {(TIME, ENV): seconds(1.0)},
                                  GateRules(cost_factor=1.3, screen_factor=1.1), fake, "fresh")
    assert fake.asked[1] == ([(TIME, ENV)], None, 3) and report.looked_regressed == 1
    assert "x1.00 and x1.50 in 2 fresh paired rounds" in report.findings[0].reason


def test_one_fresh_round_past_the_screen_is_enough_whatever_the_other_read():
    # A loaded host read a 1.5x slowdown as x0.46 in one round and x1.69 in the other: their mean, 1.075, is
    # under the screen's 1.1, and the rounds' median was how the screen once missed it.
    rules = GateRules(cost_factor=1.3, screen_factor=1.1)
    swung = Remeasured([1.0, 1.0], [0.46, 1.69], [[1.0], [1.0]], [[0.46], [1.69]])
    assert past_the_screen(swung, rules)
    assert not past_the_screen(Remeasured([1.0, 1.0], [1.09, 0.5], [[1.0], [1.0]], [[1.09], [0.5]]), rules)
    assert past_the_screen(Remeasured([1.0], [], [[1.0]], [[]]), rules)  # nothing to read: looked at again
    fake = FakeRounds(first={TIME: swung}, rest={TIME: pooled_rounds(STEADY[2:], [1.5 + i / 100 for i in range(5)])},
                      extra={TIME: pooled_rounds(STEADY[:4], [1.5 + i / 100 for i in range(4)])})
    report = compare_measurements({(TIME, ENV): seconds(1.0)}, {(TIME, ENV): seconds(1.0)}, rules, fake, "fresh")
    assert fake.asked[1] == ([(TIME, ENV)], None, 3)
    assert "x0.46 and x1.69 in 2 fresh paired rounds" in report.findings[0].reason


def test_the_fresh_screen_passes_identical_code_without_more_rounds():
    fake = FakeRounds(first={TIME: Remeasured([1.0, 1.0], [1.05, 1.0])}, rest={})
    report = compare_measurements({(TIME, ENV): seconds(1.0)}, {(TIME, ENV): seconds(2.5)},
                                  GateRules(cost_factor=1.3, screen_factor=1.1), fake, "fresh")
    assert len(fake.asked) == 1 and report.findings == [] and report.exit_status == EXIT_PASS


def test_the_gates_default_is_the_fresh_screen_at_1_1_confirming_past_1_3():
    from gradcheck_bench.tools.gate import DEFAULT_COST_FACTOR, DEFAULT_SCREEN_FACTOR, GateOptions

    assert GateOptions().confirm == "fresh" and (DEFAULT_COST_FACTOR, DEFAULT_SCREEN_FACTOR) == (1.3, 1.1)


def test_a_slowdown_seen_in_the_samples_but_not_round_after_round_is_not_confirmed():
    # Identical code, torch on a loaded host: each round's five samples come from one process, fast or slow.
    base_rounds = [[17.0] * 5, [61.0] * 5, [17.0] * 5, [64.0] * 5, [18.0] * 5, [0.9] * 5, [17.0] * 5]
    head_rounds = [[15.0] * 5, [11.0] * 5, [0.8] * 5, [17.0] * 5, [0.9] * 5, [17.0] * 5, [17.0] * 5]
    flat = lambda rounds: [value for values in rounds for value in values]  # noqa: E731
    verdict, _ = judge_remeasured(Remeasured(flat(head_rounds), flat(base_rounds), head_rounds, base_rounds), RULES)
    assert verdict == NOT_CONFIRMED


def test_a_slowdown_needs_head_slower_in_all_rounds_but_one():
    base_rounds = [[1.0 + i / 100] * 5 for i in range(7)]
    slowed = [[2.5 + i / 100] * 5 for i in range(7)]
    flat = lambda rounds: [value for values in rounds for value in values]  # noqa: E731
    one_against = slowed[:6] + [[0.9] * 5]
    verdict, reason = judge_remeasured(Remeasured(flat(base_rounds), flat(one_against), base_rounds, one_against), RULES)
    assert verdict == REGRESSION and "HEAD slower in 6 of 7 rounds" in reason
    two_against = slowed[:5] + [[value - 0.005 for value in rounds] for rounds in base_rounds[5:]]  # a hair faster
    verdict, reason = judge_remeasured(Remeasured(flat(base_rounds), flat(two_against), base_rounds, two_against), RULES)
    assert verdict == NOT_CONFIRMED and "HEAD slower in 5 of 7 rounds" in reason


def remeasurer_without_asv(tmp_path, monkeypatch, rounds, clock="cpu"):
    """An ``AsvRemeasurer`` on ``clock`` whose rounds run no asv, the commit order of each round it ran, and the
    clock each round was asked to time by."""
    from gradcheck_bench.tools import gate_remeasure

    ran, clocks = [], []
    monkeypatch.setattr(gate_remeasure, "register_machine", lambda machine, progress: None)
    monkeypatch.setattr(gate_remeasure, "write_round_config", lambda config, results: results)
    monkeypatch.setattr(gate_remeasure, "run_round", lambda config, machine, order, names, scratch, launch, clock:
                        ran.append(order) or clocks.append(clock))
    monkeypatch.setattr(gate_remeasure, "load_config", lambda config: config)
    monkeypatch.setattr(gate_remeasure, "load_measurements", lambda config, machine, commit: {})
    return gate_remeasure.AsvRemeasurer(tmp_path / "asv.conf.json", "box", "b" * 40, "h" * 40, rounds=rounds,
                                        progress=lambda line: None, clock=clock), ran, clocks


def test_the_screen_never_runs_more_rounds_than_asked(tmp_path, monkeypatch):
    remeasurer, ran, _ = remeasurer_without_asv(tmp_path, monkeypatch, rounds=1)
    remeasurer([(TIME, ENV)], rounds=2)
    assert ran == [("b" * 40, "h" * 40)]


def test_a_round_runs_its_values_in_runs_each_over_both_commits_back_to_back(tmp_path, monkeypatch):
    from gradcheck_bench.tools import gate_remeasure

    base, head = "b" * 40, "h" * 40
    names = [f"bench_x.T.time_v({i})" for i in range(40)]
    ran = []
    monkeypatch.setattr(gate_remeasure, "register_machine", lambda machine, progress: None)
    monkeypatch.setattr(gate_remeasure, "write_round_config", lambda config, results: results)
    monkeypatch.setattr(gate_remeasure, "run_round", lambda config, machine, order, run, scratch, launch, clock:
                        ran.append((config, order, list(run))))
    monkeypatch.setattr(gate_remeasure, "load_config", lambda config: config)

    def measured(config, machine, commit):  # what the last run measured: each value's round number, HEAD x2
        (where, _, run) = ran[-1]
        assert where == config
        number = int(config.name.split("-")[1])
        others = {(name, ENV): seconds(math.nan) for name in names if name not in run}  # asv lists them as n/a
        return {**others, **{(name, ENV): seconds(number * (2.0 if commit == head else 1.0)) for name in run}}

    monkeypatch.setattr(gate_remeasure, "load_measurements", measured)
    remeasurer = gate_remeasure.AsvRemeasurer(tmp_path / "asv.conf.json", "box", base, head, rounds=3,
                                              progress=lambda line: None, values_per_run=16)
    pooled = remeasurer([(name, ENV) for name in names])
    assert [len(run) for _, _, run in ran] == [16, 16, 8] * 3  # 40 values in runs of at most 16, each round
    for number in range(3):
        runs = ran[3 * number:3 * number + 3]
        assert sorted(name for _, _, run in runs for name in run) == sorted(names)  # each value once a round
        assert {order for _, order, _ in runs} == {(base, head) if number % 2 == 0 else (head, base)}
        assert len({config for config, _, _ in runs}) == 3  # each run writes its own results
    assert len(remeasurer.round_seconds) == 3
    for name in names:
        assert pooled[(name, ENV)].rounds() == ([[1.0], [2.0], [3.0]], [[2.0], [4.0], [6.0]])


def one_a_round(values):
    """Samples of a one-value-a-round benchmark, each round kept apart."""
    return [[value] for value in values]


def pooled_rounds(base, head):
    return Remeasured(list(base), list(head), one_a_round(base), one_a_round(head))


STEADY = [1.0 + i / 100 for i in range(7)]


def test_a_slowdown_near_the_line_gets_more_rounds_and_is_confirmed_over_all_of_them():
    # x1.5 in 5 rounds, two rounds of load in which HEAD read as BASE: p = 0.007 after 7 rounds
    head = [1.5 + i / 100 for i in range(5)] + [1.035, 1.055]
    fake = FakeRounds(first={TIME: pooled_rounds(STEADY[:2], head[:2])},
                      rest={TIME: pooled_rounds(STEADY[2:], head[2:])},
                      extra={TIME: pooled_rounds([1.0, 1.01, 1.02, 1.03], [1.5, 1.51, 1.52, 1.53])})
    report = compare_measurements({(TIME, ENV): seconds(1.0)}, {(TIME, ENV): seconds(1.0)},
                                  GateRules(cost_factor=1.3, screen_factor=1.1), fake, "fresh")
    assert fake.asked[2] == ([(TIME, ENV)], EXTRA_ROUNDS, DEFAULT_ROUNDS + 1)
    (finding,) = report.regressions
    assert "near the line, so 4 more rounds; confirmed" in finding.reason and "11+11 samples" in finding.reason
    assert "HEAD slower in 9 of 11 rounds" in finding.reason  # two rounds against in 11 are allowed
    assert "(1 near the line given 4 more)" in report.summary("0" * 40, "1" * 40)
    without = FakeRounds(first=fake.first, rest=fake.rest)
    report = compare_measurements({(TIME, ENV): seconds(1.0)}, {(TIME, ENV): seconds(1.0)},
                                  GateRules(cost_factor=1.3, screen_factor=1.1, extra_rounds=0), without, "fresh")
    assert len(without.asked) == 2 and "not significant (p = 0.007" in report.findings[0].reason


def test_noise_confirmed_near_the_threshold_gets_more_rounds_that_undo_it():
    head = [1.35 + i / 100 for i in range(6)] + [1.055]  # one round against: p = 0.0012, confirmed on 7 rounds
    assert judge_remeasured(pooled_rounds(STEADY, head), GateRules(cost_factor=1.3))[0] == REGRESSION
    fake = FakeRounds(first={TIME: pooled_rounds(STEADY[:2], head[:2])},
                      rest={TIME: pooled_rounds(STEADY[2:], head[2:])},
                      extra={TIME: pooled_rounds([1.0, 1.01, 1.02, 1.03], [0.99, 1.0, 1.015, 1.02])})
    report = compare_measurements({(TIME, ENV): seconds(1.0)}, {(TIME, ENV): seconds(1.0)},
                                  GateRules(cost_factor=1.3, screen_factor=1.1), fake, "fresh")
    assert len(fake.asked) == 3 and report.regressions == [] and report.exit_status == EXIT_PASS
    assert "near the line, so 4 more rounds; not confirmed" in report.findings[0].reason


def test_a_value_still_near_the_line_gets_more_rounds_again_and_no_more_than_that():
    hair = [value - 0.001 for value in STEADY]  # HEAD a hair faster than BASE in that round
    head = [1.5, 1.51, 1.52, 1.53, 1.54, hair[5], hair[6]]  # 5 of 7, the two against nearest even
    fake = FakeRounds(first={TIME: pooled_rounds(STEADY[:2], head[:2])},
                      rest={TIME: pooled_rounds(STEADY[2:], head[2:])},
                      extra={TIME: pooled_rounds(STEADY[:4], [1.5, 1.51, hair[2], hair[3]])},
                      again={TIME: pooled_rounds(STEADY[:4], [1.5, 1.51, 1.52, 1.53])})
    report = compare_measurements({(TIME, ENV): seconds(1.0)}, {(TIME, ENV): seconds(1.0)},
                                  GateRules(cost_factor=1.3, screen_factor=1.1), fake, "fresh")
    assert [asked[2] for asked in fake.asked] == [1, 3, DEFAULT_ROUNDS + 1, DEFAULT_ROUNDS + EXTRA_ROUNDS + 1]
    # 9 of 11 with the four against the smallest: more than 2% of the 2**11 sign assignments sum as high
    assert sum(sum(ranks) >= sum(range(5, 12)) for ranks in subsets_of(range(1, 12))) / 2 ** 11 >= 0.02
    # 11 of 15, the four against the smallest: the assignments at least as high leave out ranks summing to <= 10
    assert sum(sum(ranks) <= 10 for ranks in subsets_of(range(1, 11))) / 2 ** 15 < 0.02
    (finding,) = report.regressions
    assert "near the line, so 8 more rounds; confirmed" in finding.reason
    assert "HEAD slower in 11 of 15 rounds" in finding.reason
    assert "(1 near the line given 4 more, 1 of them 4 more again)" in report.summary("0" * 40, "1" * 40)
    undecided = pooled_rounds(STEADY[:4], [1.5, 1.51, 0.5, 0.51])  # two rounds each way, far from even
    never = FakeRounds(first=fake.first, rest=fake.rest, extra={TIME: undecided}, again={TIME: undecided})
    rules = GateRules(cost_factor=1.3, screen_factor=1.1)
    report = compare_measurements({(TIME, ENV): seconds(1.0)}, {(TIME, ENV): seconds(1.0)}, rules, never, "fresh")
    assert len(never.asked) == 4 and "near the line, so 8 more rounds; not confirmed" in report.findings[0].reason
    all_rounds = fake.first[TIME] + fake.rest[TIME] + undecided + undecided
    assert near_the_line(all_rounds, rules)  # still near after 15 rounds, and no more were asked for


def subsets_of(ranks):
    ranks = list(ranks)
    return (combination for size in range(len(ranks) + 1) for combination in itertools.combinations(ranks, size))


def test_a_clean_confirmation_or_a_clear_pass_takes_no_more_rounds():
    for head in ([1.5 + i / 100 for i in range(7)], [1.0 + i / 100 for i in range(7)]):
        fake = FakeRounds(first={TIME: pooled_rounds(STEADY[:2], head[:2])},
                          rest={TIME: pooled_rounds(STEADY[2:], head[2:])})
        compare_measurements({(TIME, ENV): seconds(1.0)}, {(TIME, ENV): seconds(1.0)},
                             GateRules(cost_factor=1.3, screen_factor=1.1), fake, "fresh")
        assert len(fake.asked) == (2 if head[0] > 1.3 else 1)


def brute_force_signed_rank_p(ratios):
    """The one-sided signed-rank p by listing every sign assignment: rounds that read even dropped, equal
    magnitudes given their mean rank (written apart from the gate's counting of sums)."""
    logs = [math.log(ratio) for ratio in ratios if ratio != 1.0]
    magnitudes = sorted(abs(value) for value in logs)
    rank = {size: sum(i + 1 for i, m in enumerate(magnitudes) if m == size) / magnitudes.count(size)
            for size in magnitudes}
    observed = sum(rank[abs(value)] for value in logs if value > 0)
    signs = list(itertools.product((0, 1), repeat=len(logs)))
    at_least = sum(1 for chosen in signs
                   if sum(rank[abs(value)] for value, up in zip(logs, chosen) if up) >= observed - 1e-9)
    return at_least / len(signs)


def test_the_rounds_test_counts_sign_assignments_exactly():
    assert signed_rank_p([1.5] * 7) == 1 / 2 ** 7  # every round slower: one assignment in 128
    assert signed_rank_p([1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 0.99]) == 2 / 2 ** 7  # the one against nearest even
    # the one against farthest from even: the positive ranks sum to 21 of 28, reached by 19 of 128 assignments
    assert signed_rank_p([1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 0.5]) == 19 / 128
    assert signed_rank_p([1.0] * 7) == 1.0 and signed_rank_p([]) == 1.0  # nothing but even rounds: no evidence
    rng = random.Random(7)
    for _ in range(200):
        ratios = [rng.choice([0.5, 0.8, 1.0, 1.25, 2.0, rng.uniform(0.5, 2.0)]) for _ in range(rng.randint(1, 10))]
        assert signed_rank_p(ratios) == pytest.approx(brute_force_signed_rank_p(ratios), abs=1e-12)


def five_a_round(base, head):
    """Samples of a ``time_`` benchmark: five a round, each round kept apart."""
    base_rounds, head_rounds = [[value] * 5 for value in base], [[value] * 5 for value in head]
    return Remeasured([v for r in base_rounds for v in r], [v for r in head_rounds for v in r], base_rounds,
                      head_rounds)


def test_a_round_against_counts_by_how_far_from_even_it_read():
    base = [1.0 + i / 100 for i in range(7)]
    slowed = [value * (1.4 + i / 20) for i, value in enumerate(base)]  # x1.4 to x1.7, each round its own
    near_even = slowed[:6] + [base[6] * 0.99]  # one round against, the nearest even of all: p = 2/128
    verdict, reason = judge_remeasured(five_a_round(base, near_even), RULES_AT_1_3)
    assert verdict == REGRESSION and "HEAD slower in 6 of 7 rounds, p = 0.016 on the rounds" in reason
    far_from_even = slowed[:6] + [base[6] * 0.5]  # one round against, the farthest from even: p = 19/128
    verdict, reason = judge_remeasured(five_a_round(base, far_from_even), RULES_AT_1_3)
    assert verdict == NOT_CONFIRMED and f"p = {19 / 128:.2g} on the rounds" in reason


def test_in_11_rounds_two_rounds_against_near_even_are_allowed_and_far_ones_are_not():
    base = [1.0 + i / 100 for i in range(11)]
    slowed = [2.5 + i / 100 for i in range(11)]
    hair_faster = [value - 0.005 for value in base]  # HEAD a hair faster than BASE in that round
    verdict, reason = judge_remeasured(five_a_round(base, slowed[:9] + hair_faster[9:]), RULES)
    # ranks 1 and 2 against: the negative ranks sum to at most 3 in 5 of the 2048 assignments ({}, 1, 2, 3, 1+2)
    assert verdict == REGRESSION and f"HEAD slower in 9 of 11 rounds, p = {5 / 2048:.2g} on the rounds" in reason
    far_faster = [value / 3 for value in base]  # HEAD three times faster: the largest magnitudes of all
    verdict, reason = judge_remeasured(five_a_round(base, slowed[:9] + far_faster[9:]), RULES)
    assert verdict == NOT_CONFIRMED and "HEAD slower in 9 of 11 rounds" in reason


def test_the_slowdown_is_read_round_by_round_so_load_that_starts_mid_round_does_not_move_it():
    # Round 4's load arrived between its BASE and its HEAD, and stayed: across rounds the medians would read x6.
    base_rounds = [[1.0] * 3] * 4 + [[4.0] * 3] * 3
    head_rounds = [[1.5] * 3] * 3 + [[6.0] * 3] * 4
    flat = lambda rounds: [value for values in rounds for value in values]  # noqa: E731
    samples = Remeasured(flat(base_rounds), flat(head_rounds), base_rounds, head_rounds)
    assert statistics.median(flat(head_rounds)) / statistics.median(flat(base_rounds)) == 6.0
    verdict, reason = judge_remeasured(samples, RULES_AT_1_3)
    assert verdict == REGRESSION and "confirmed x1.50" in reason


def test_too_few_rounds_are_not_judged_however_many_samples_they_hold():
    base_rounds, head_rounds = [[1.0] * 10] * 5, [[3.0] * 10] * 5  # 50+50 samples, but 5 rounds: p >= 1/32
    flat = lambda rounds: [value for values in rounds for value in values]  # noqa: E731
    verdict, reason = judge_remeasured(Remeasured(flat(base_rounds), flat(head_rounds), base_rounds, head_rounds),
                                       RULES)
    assert verdict == NOT_JUDGED and "in 5 rounds" in reason and "--rounds" in reason


def test_extra_rounds_run_past_the_gates_rounds_when_asked_for(tmp_path, monkeypatch):
    remeasurer, ran, _ = remeasurer_without_asv(tmp_path, monkeypatch, rounds=7)
    remeasurer([(TIME, ENV)], rounds=4, first_round=8)
    assert ran == [("h" * 40, "b" * 40), ("b" * 40, "h" * 40)] * 2  # rounds 8 to 11, still alternating

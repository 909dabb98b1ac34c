"""gradcheck-bench gate-trial: the trial's commit is made without touching the work tree, and the results say
what was confirmed against what should have been."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gradcheck_bench.cli import main
from gradcheck_bench.errors import InputError
from gradcheck_bench.tools import gate_trial
from gradcheck_bench.tools.gate import REGRESSION, Finding, GateOptions, GateReport
from gradcheck_bench.tools.gate_remeasure import Remeasured
from gradcheck_bench.tools.gate_trial import PLANT_PATCH, Trial, run_trial, trial_commit

ROOT = Path(__file__).resolve().parents[1]
ENV = "virtualenv-py3.11"


def git(repository: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repository, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def clone(tmp_path):
    """A clone of this project sharing its objects: the shipped patch must apply to what is checked in."""
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip("the project is not a git checkout here")
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--shared", str(ROOT), str(target)], check=True)
    for key, value in (("user.name", "trial"), ("user.email", "trial@example.invalid")):
        git(target, "config", key, value)
    return target


def test_the_plant_is_the_shipped_patch_on_base_and_the_work_tree_is_untouched(clone):
    base = git(clone, "rev-parse", "HEAD")
    before = (clone / "gradcheck_bench/sources/numpy_backprop.py").read_text()
    plant = trial_commit(clone, "HEAD", "plant")
    assert git(clone, "rev-parse", f"{plant}^") == base
    assert git(clone, "diff", "--name-only", base, plant) == "gradcheck_bench/sources/numpy_backprop.py"
    added = [line for line in git(clone, "diff", base, plant).splitlines() if line.startswith("+") and
             not line.startswith("+++")]
    shipped = [line for line in (ROOT / PLANT_PATCH).read_text().splitlines() if line.startswith("+") and
               not line.startswith("+++")]
    assert added == shipped and any("busy-wait" in line for line in added)
    assert git(clone, "rev-parse", "refs/gate-trial/plant") == plant
    assert git(clone, "status", "--porcelain") == "" and git(clone, "rev-parse", "HEAD") == base
    assert (clone / "gradcheck_bench/sources/numpy_backprop.py").read_text() == before


def test_the_plant_spends_half_the_calls_cpu_time_again_whatever_the_wall_clock_does(clone, monkeypatch):
    """The planted module's own ``_slowed``, on a CPU clock faked to advance 1 a reading and 10 a call, and a wall
    clock that stands still (so a wait timed by the wall clock would end at once): it must keep reading the CPU
    clock until half the call's CPU time has passed again."""
    plant = trial_commit(clone, "HEAD", "plant")
    source = git(clone, "show", f"{plant}:gradcheck_bench/sources/numpy_backprop.py")
    namespace: dict = {}
    start = source.index("_T = TypeVar")
    exec("import time\nfrom typing import Any, Callable, TypeVar\n" + source[start:source.index("class HandWritten")],
         namespace)
    cpu = [0.0]

    def read_cpu() -> float:
        cpu[0] += 1
        return cpu[0]

    def call() -> str:
        cpu[0] += 10
        return "gradient"

    monkeypatch.setattr("time.process_time", read_cpu)
    monkeypatch.setattr("time.perf_counter", lambda: 0.0)
    assert namespace["_slowed"](call) == "gradient"
    # readings: 1 before the call, 12 after it (spent 11), 13 sets the deadline 13 + 5.5; the wait reads 14..19
    assert cpu[0] == 19


def test_identical_is_bases_tree_under_a_new_commit(clone):
    base = git(clone, "rev-parse", "HEAD")
    identical = trial_commit(clone, "HEAD", "identical")
    assert identical != base and git(clone, "rev-parse", f"{identical}^") == base
    assert git(clone, "rev-parse", f"{identical}^{{tree}}") == git(clone, "rev-parse", "HEAD^{tree}")
    assert git(clone, "status", "--porcelain") == ""


def test_a_base_that_is_not_a_commit_is_refused_with_a_fix_that_works(clone):
    with pytest.raises(InputError, match="not a commit") as refused:
        trial_commit(clone, "no-such-branch", "identical")
    assert "--base HEAD" in str(refused.value)
    assert trial_commit(clone, "HEAD", "identical")
    with pytest.raises(InputError, match="does not exist"):
        trial_commit(clone, "HEAD", "plant", Path("missing.patch"))
    with pytest.raises(InputError, match="not a commit"):
        run_trial("plant", "no-such-branch", clone / "results" / "trial",
                  options=GateOptions(config_path=clone / "asv.conf.json"), progress=lambda line: None)
    assert git(clone, "status", "--porcelain") == "" and not (clone / "results" / "trial").exists()
    assert git(clone, "for-each-ref", "refs/gate-trial/plant") == ""


TOUCHED = "bench_gradient.GradientTime.time_gradient('numpy', 'fraud-47')"
MISSED = "bench_workloads.WorkloadGradientTime.time_gradient('numpy', 'lse/lse-n2500')"
ELSEWHERE = "bench_gradient.GradientTime.time_gradient('torch', 'fraud-47')"
QUIET = "bench_fd_cost.FDCheckTime.time_check('loop', 'fraud-47')"


def a_report() -> GateReport:
    rounds = Remeasured([1.0, 1.0], [1.5, 1.5], [[1.0], [1.0]], [[1.5], [1.5]])
    report = GateReport(findings=[Finding(REGRESSION, TOUCHED, ENV, 1.0, 1.5, "seconds", "confirmed x1.50"),
                                  Finding(REGRESSION, ELSEWHERE, ENV, 1.0, 1.5, "seconds", "confirmed x1.50")])
    report.samples = {(name, ENV): rounds for name in (TOUCHED, MISSED, ELSEWHERE, QUIET)}
    return report


def test_the_plants_tally_names_what_it_missed_and_what_it_confirmed_elsewhere():
    tally = Trial("plant", a_report(), "b" * 40, "h" * 40, 1.0, "?? notes.txt\n", "?? notes.txt\n").tally()
    assert tally.startswith("plant: 1 of the 2 values it touches confirmed (should be all), 1 confirmed elsewhere")
    assert f"missed: {MISSED}" in tally and f"confirmed elsewhere: {ELSEWHERE}" in tally
    assert "git status unchanged by the gate" in tally  # what was untracked before the trial is not the gate's
    identical = Trial("identical", a_report(), "b" * 40, "h" * 40, 1.0, "?? notes.txt\n",
                      "?? notes.txt\n M asv.conf.json\n").tally()
    assert identical.startswith("identical code: 2 confirmed (should be 0)")
    assert identical.endswith("the gate changed:\n M asv.conf.json")
    table = Trial("plant", a_report(), "b" * 40, "h" * 40, 1.0, "", "").table().set_index("benchmark")
    assert table.loc[TOUCHED, "touched_by_plant"] and not table.loc[QUIET, "touched_by_plant"]
    assert table.loc[MISSED, "verdict"] == "screened out" and table.loc[TOUCHED, "reason"] == "confirmed x1.50"


def test_a_trial_writes_its_verdicts_samples_summary_and_provenance(clone, tmp_path, monkeypatch):
    ran = []

    def gate(base, head, rules, options, progress):
        ran.append((base, head))
        return a_report(), git(clone, "rev-parse", base), head

    monkeypatch.setattr(gate_trial, "run_gate", gate)
    out = tmp_path / "results"
    trial = run_trial("plant", "HEAD", out, options=GateOptions(config_path=clone / "asv.conf.json"),
                      progress=lambda line: None)
    assert ran == [("HEAD", git(clone, "rev-parse", "refs/gate-trial/plant"))]
    assert sorted(path.name for path in out.iterdir()) == ["findings.csv", "findings.json", "findings.md",
                                                          "provenance.json", "samples.json", "summary.txt"]
    settings = json.loads((out / "provenance.json").read_text())["settings"]
    assert settings["kind"] == "plant" and settings["head"] == trial.head and settings["confirmed"] == 2
    assert settings["exit_status"] == 1 and settings["git_status_after"] == "" and settings["changed_by_gate"] == []
    assert len(json.loads((out / "samples.json").read_text())["values"]) == 4
    assert "1 of the 2 values it touches confirmed" in (out / "summary.txt").read_text()


def test_the_command_refuses_a_kind_it_does_not_know(capsys):
    assert main(["gate-trial", "slower"]) == 2
    assert "invalid choice: 'slower'" in capsys.readouterr().err

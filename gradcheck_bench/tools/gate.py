"""The regression gate: compare two commits' asv results, confirm a slowdown before failing on it.

``gradcheck-bench gate BASE HEAD`` reads the results ``asv run`` saved for
both commits (:mod:`.gate_asv`) and applies these rules to every benchmark
value measured on both:

* **accuracy** (unit ``relative difference``, see ``benchmarks/common.py``)
  is deterministic, so it is judged directly: HEAD regresses when its value
  is above the threshold (default 2e-7, the check's verdict) and above
  BASE's by more than a relative tolerance; and a comparison that failed on
  BASE but passes on HEAD (the ``numpy-buggy`` canary gone silent) regresses
  too, because a check that stops seeing a planted bug is broken;
* a benchmark that **fails** on HEAD (asv stores ``None``) regresses;
* **cost** (times, peak memory, forward-pass counts) is never judged on the
  saved values, which were measured at different times under different
  load. They are a screen: a value past ``factor`` times BASE's *looks*
  regressed, and the gate re-measures it on both commits in one run,
  interleaved (:mod:`.gate_remeasure`). It regresses only when the
  re-measurement confirms it: the median of the rounds' ratios is past the
  factor, the two samples differ by a two-sided Mann-Whitney U test at
  p < 0.002 (scipy's ``mannwhitneyu``; the test and the threshold asv's own
  ``asv compare`` applies), *and* the rounds, one paired observation each,
  say HEAD is the slower (a one-sided signed-rank test, :data:`ROUNDS_P`).
  A value that cannot be re-measured, or whose samples or rounds are too
  few for the tests to reach those p, is reported NOT JUDGED, never passed
  or failed on a single sample.

n/a on either side (``NotImplementedError`` in ``setup``, stored as NaN), and
a benchmark whose code changed between the runs (asv's version hash
differs), are not compared. Why not ``asv continuous``: it exits 2 without
printing its comparison when any benchmark errors (losing the one thing a
gate must say: which benchmark), it keeps one value of a ``track_``
benchmark however many rounds it runs, and ``asv compare`` always exits 0.

Exit status: 0 pass, 1 regression, 2 nothing could be compared (or bad
usage), 3 no regression found but some value that looked regressed was not
judged (:attr:`GateReport.exit_status`).
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from typing import Callable

from ..errors import InputError
from .gate_asv import (
    LOCAL_RESULTS_DIR,
    BenchmarkKey,
    BenchmarkValue,
    ResultsStore,
    choose_machine,
    this_host,
    load_config,
    require_measurements,
    resolve_commit,
)
from .gate_quick import quick_run
from .gate_remeasure import (CLOCKS, CPU_CLOCK, DEFAULT_CLOCK, DEFAULT_ROUNDS, AsvRemeasurer, Remeasured,
                             RemeasurementError, report_progress)

ACCURACY_UNIT = "relative difference"
"""The unit the suite gives every accuracy ``track_`` (kept equal to ``benchmarks/common.py``)."""

DEFAULT_ACCURACY_THRESHOLD = 2e-7
DEFAULT_ACCURACY_TOLERANCE = 0.05
DEFAULT_COST_FACTOR = 1.3
"""A re-measured slowdown past this regresses: low enough that a 1.5x slowdown, re-measured on a loaded
host, still reads past it (docs/benchmarks.md, 'The default trigger')."""
DEFAULT_SCREEN_FACTOR = 1.1
"""A cost value past this in either fresh paired round is re-measured in every round (:func:`past_the_screen`)."""
SCREEN_ROUNDS = 2
"""Fresh paired rounds of every cost value that make the screen: one round (BASE then HEAD) can read a real
slowdown under the screen when one process of a commit runs slow or fast; a second, in the other order, pools
two processes a commit, so one process no longer hides a slowdown (docs/benchmarks.md)."""
P_THRESHOLD = 0.002
"""A re-measured difference is significant below this p: asv's own threshold (``asv compare``)."""
EXACT_TEST_MAX_SAMPLES = 20
"""Up to this many samples a side the test's p is exact (asv's own cut-off), above it approximated."""
SCIPY_INSTALL_HINT = "pip install 'scipy>=1.10'"
ROUNDS_P = 0.02
"""HEAD was slower round after round when the one-sided Wilcoxon signed-rank test on the rounds' ratios
(:func:`signed_rank_p`) gives p below this. Each round's two commits ran back to back, so a round is one paired
observation, and the rounds, not the samples, are what is independent. In 7 rounds it takes HEAD slower in all
of them, or in all but the one round that read nearest even (p = 2/128); in 11, one or two rounds against, the
nearer even the more allowed. Rounds that read exactly equal count for neither side."""
EXTRA_ROUNDS = 4
"""Rounds more for a value left near the line after the gate's rounds (:func:`near_the_line`): on a loaded
host a real 1.5x slowdown can end them past the factor, slower round after round, at p just above the
threshold, and noise near the factor can end them just below it; more rounds settle both."""
SETTLE_BATCHES = 2
"""Batches of ``EXTRA_ROUNDS`` at most for a value still near the line after the last batch: a real slowdown
whose rounds scatter widely on a loaded host can still be short of the rounds' test after one batch
(docs/benchmarks.md, 'The default trigger')."""
NEAR_P = 0.05
"""A slowdown past the factor whose p is below this but not below the threshold is near the line..."""
MARGINAL_P_SHARE = 0.5
"""...as is one confirmed with p above this share of the threshold (identical code near the factor was once
confirmed just under the threshold). Seven rounds of a one-value-a-round ``track_``, all apart, give an exact p
below it (2 / C(14, 7)), so a clean confirmation costs no more rounds."""

CONFIRM_FRESH, CONFIRM_SUSPECTS, CONFIRM_ALL, CONFIRM_NONE = "fresh", "suspects", "all", "none"
CONFIRM_MODES = (CONFIRM_FRESH, CONFIRM_SUSPECTS, CONFIRM_ALL, CONFIRM_NONE)
"""What the gate re-measures: every cost value in the fresh paired rounds and, in all the rounds, those past the
screen there (the default); the cost values past the screen in the saved runs; every cost value in all the
rounds; or none."""

REGRESSION, NOT_JUDGED, NOT_CONFIRMED = "REGRESSION", "NOT JUDGED", "NOT CONFIRMED"
EXIT_PASS, EXIT_REGRESSION, EXIT_CANNOT_COMPARE, EXIT_NOT_JUDGED = 0, 1, 2, 3

Remeasure = Callable[..., dict[BenchmarkKey, Remeasured]]
"""``remeasure(keys, rounds=None, first_round=1)``: the values' samples on BASE and HEAD from interleaved rounds
(``rounds`` of them, numbered from ``first_round``, which sets who goes first; None: the rest of its rounds)."""


@dataclass(frozen=True)
class GateRules:
    """The thresholds of the gate."""

    accuracy_threshold: float = DEFAULT_ACCURACY_THRESHOLD
    accuracy_tolerance: float = DEFAULT_ACCURACY_TOLERANCE
    cost_factor: float = DEFAULT_COST_FACTOR
    p_threshold: float = P_THRESHOLD
    screen_factor: float | None = None
    """A cost value past this factor times BASE's in the screen (the fresh paired rounds, or the saved runs with
    ``--confirm suspects``) is re-measured in every round (None: ``cost_factor``); below ``cost_factor``, so that
    a noisy screen does not hide a slowdown the re-measurement would confirm."""
    extra_rounds: int = EXTRA_ROUNDS
    """Rounds more for the values near the line after the gate's rounds (0: none)."""

    def __post_init__(self) -> None:
        if not (self.accuracy_threshold > 0 and self.accuracy_tolerance >= 0 and self.cost_factor > 1
                and 0 < self.p_threshold < 1 and (self.screen_factor is None or self.screen_factor > 0)
                and self.extra_rounds >= 0):
            raise InputError(
                "gate rules need accuracy_threshold > 0, accuracy_tolerance >= 0, factor > 1, screen > 0, "
                f"0 < p_threshold < 1 and extra_rounds >= 0; got {self.accuracy_threshold}, "
                f"{self.accuracy_tolerance}, {self.cost_factor}, {self.screen_factor}, {self.p_threshold}, "
                f"{self.extra_rounds}."
            )

    @property
    def screen(self) -> float:
        return self.cost_factor if self.screen_factor is None else self.screen_factor


@dataclass(frozen=True)
class Finding:
    """One benchmark value the gate has a word on: a REGRESSION, NOT JUDGED or NOT CONFIRMED."""

    verdict: str
    benchmark: str
    environment: str
    base: float | None
    head: float | None
    unit: str
    reason: str

    def line(self) -> str:
        return (f"{self.verdict}  {self.benchmark}  [{self.environment}]\n"
                f"    {format_value(self.base, self.unit)} -> {format_value(self.head, self.unit)}: {self.reason}")


@dataclass
class GateReport:
    """What the gate found, and how much it compared, judged and re-measured."""

    findings: list[Finding] = field(default_factory=list)
    accuracy_judged: int = 0
    failed_on_head: int = 0
    costs: int = 0
    looked_regressed: int = 0
    remeasured: int = 0
    confirmed: int = 0
    not_compared: int = 0
    remeasure_rounds: int | None = None
    clock: str | None = None
    """The clock the rounds timed values by (:data:`.gate_remeasure.DEFAULT_CLOCK`); None where none ran."""
    settled: int = 0
    """Values near the line after the rounds, given ``extra_rounds`` more."""
    settled_again: int = 0
    """Of those, the values still near the line after them, given ``extra_rounds`` more again."""
    extra_rounds: int = 0
    remeasure_seconds: float | None = None
    screened_on: str = "the saved runs"
    """What the screen compared: the saved runs, or fresh paired rounds of every cost value."""
    machine: str | None = None
    """The machine whose saved results were compared."""
    quick_run_seconds: float | None = None
    """Seconds of the quick asv run the gate made for commits without saved results (None: none made)."""
    samples: dict[BenchmarkKey, Remeasured] = field(default_factory=dict)
    """What the re-measurement measured of each value, round by round (:meth:`samples_json`)."""

    def of(self, verdict: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.verdict == verdict]

    @property
    def regressions(self) -> list[Finding]:
        return self.of(REGRESSION)

    @property
    def compared(self) -> int:
        return self.accuracy_judged + self.failed_on_head + self.costs

    @property
    def passed(self) -> bool:
        return not self.regressions and not self.of(NOT_JUDGED) and self.compared > 0

    @property
    def exit_status(self) -> int:
        """0 pass, 1 regression, 2 nothing compared, 3 no regression but something not judged."""
        if self.regressions:
            return EXIT_REGRESSION
        if self.of(NOT_JUDGED):
            return EXIT_NOT_JUDGED
        return EXIT_PASS if self.compared else EXIT_CANNOT_COMPARE

    def verdict(self) -> str:
        return {EXIT_PASS: "PASS", EXIT_REGRESSION: f"FAIL ({len(self.regressions)} regression(s))",
                EXIT_CANNOT_COMPARE: "NOTHING COMPARED",
                EXIT_NOT_JUDGED: f"NOT JUDGED ({len(self.of(NOT_JUDGED))} value(s))"}[self.exit_status]

    def summary(self, base: str, head: str) -> str:
        order = (REGRESSION, NOT_JUDGED, NOT_CONFIRMED)
        lines = [finding.line() for verdict in order for finding in self.of(verdict)]
        on = "" if self.machine is None else f" on machine {self.machine}"
        quick = "" if self.quick_run_seconds is None else \
            f" (saved results measured by the gate's own quick run, {format_duration(self.quick_run_seconds)})"
        lines.append(f"gate {base[:8]} -> {head[:8]}: {self.verdict()}; {self.compared} benchmark values "
                     f"compared{on}{quick}, {self.not_compared} n/a or on one side only")
        lines.append(f"    accuracy: {self.accuracy_judged} judged directly; failed on HEAD: {self.failed_on_head}; "
                     f"times, memory and counts: {self.costs}, of which {self.looked_regressed} past the screen in "
                     f"{self.screened_on}; {self.remeasured} re-measured on both commits{self.remeasure_time()}: "
                     f"{self.confirmed} confirmed, {len(self.of(NOT_CONFIRMED))} not confirmed, "
                     f"{len(self.of(NOT_JUDGED))} not judged")
        return "\n".join(lines)

    def samples_json(self) -> list[dict[str, object]]:
        """Every re-measured value's samples on each commit, round by round (round ``i`` of both ran back to
        back), with the verdict the gate gave it: the evidence behind each line, for a second opinion."""
        verdicts = {(finding.benchmark, finding.environment): finding.verdict for finding in self.findings}
        rows: list[dict[str, object]] = []
        for (name, environment), samples in sorted(self.samples.items()):
            base_rounds, head_rounds = samples.rounds()
            rows.append({"benchmark": name, "environment": environment,
                         "verdict": verdicts.get((name, environment), "screened out"),
                         "base_rounds": base_rounds, "head_rounds": head_rounds})
        return rows

    def samples_file(self, base: str, head: str) -> str:
        """What ``--samples`` writes: both commits and :meth:`samples_json`, as JSON text."""
        return json.dumps({"base": base, "head": head, "clock": self.clock, "values": self.samples_json()}, indent=1)

    def remeasure_time(self) -> str:
        rounds = "" if self.remeasure_rounds is None else f" in {self.remeasure_rounds} interleaved rounds"
        if self.settled:
            again = f", {self.settled_again} of them {self.extra_rounds} more again" if self.settled_again else ""
            rounds += f" ({self.settled} near the line given {self.extra_rounds} more{again})"
        clock = {None: "", CPU_CLOCK: ", times in CPU time on one thread"}.get(self.clock, f", times in {self.clock} time")
        seconds = "" if self.remeasure_seconds is None else f", {format_duration(self.remeasure_seconds)}"
        return rounds + clock + seconds


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "failed"
    if math.isnan(value):
        return "n/a"
    return f"{value:.4g} {unit}"


def format_duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


# --------------------------------------------------------------------------
# The rules, on plain numbers (unit-tested without asv)
# --------------------------------------------------------------------------


def judge(name: str, environment: str, base: BenchmarkValue, head: BenchmarkValue,
          rules: GateRules) -> Finding | None:
    """The direct verdict on one value: a failure on HEAD, or accuracy; None for anything else."""
    def regression(reason: str) -> Finding:
        return Finding(REGRESSION, name, environment, base.value, head.value, head.unit, reason)

    if head.failed:
        return failure_finding(name, environment, base, head)
    if not both_measured(base, head) or head.unit != ACCURACY_UNIT:
        return None
    assert base.value is not None and head.value is not None
    return judge_accuracy(base.value, head.value, rules, regression)


def failure_finding(name: str, environment: str, base: BenchmarkValue, head: BenchmarkValue) -> Finding:
    """The verdict on a value that failed on HEAD: always a regression."""
    return Finding(REGRESSION, name, environment, base.value, head.value, head.unit,
                   "the benchmark failed on HEAD (see `asv show` or rerun with --show-stderr)")


def judge_accuracy(base: float, head: float, rules: GateRules,
                   regression: Callable[[str], Finding]) -> Finding | None:
    """The accuracy rules: rising past the threshold, or a failing comparison going silent."""
    threshold = rules.accuracy_threshold
    if head > threshold and head > base * (1 + rules.accuracy_tolerance):
        return regression(f"relative difference rose past the threshold {threshold:g} "
                          f"(and by more than {rules.accuracy_tolerance:.0%})")
    if base > threshold >= head:
        return regression(f"a comparison that failed on BASE now passes (below {threshold:g}): "
                          "a canary such as numpy-buggy has gone silent")
    return None


def looks_regressed(base: BenchmarkValue, head: BenchmarkValue, rules: GateRules) -> bool:
    """The screen on saved values: HEAD's cost past the screen factor times BASE's."""
    assert base.value is not None and head.value is not None
    return head.value > base.value * rules.screen


def ratio_of(base: float, head: float) -> float:
    return head / base if base > 0 else math.inf


def smallest_p(base_count: int, head_count: int) -> float:
    """The smallest two-sided p a Mann-Whitney U test can give on samples this size (all apart)."""
    return min(1.0, 2 / comb(base_count + head_count, base_count))


def require_scipy() -> None:
    """Fail before minutes of re-measurement, not after, when scipy's test is not there."""
    try:
        import scipy.stats  # noqa: F401 - only its presence is checked here
    except ImportError as error:
        raise ImportError(f"the regression gate tests re-measured samples with scipy; install it with: "
                          f"{SCIPY_INSTALL_HINT}") from error


def mann_whitney_p(base: list[float], head: list[float]) -> float:
    """Two-sided p of scipy's Mann-Whitney U test; 1 where every sample is equal (nothing differs).

    Exact up to ``EXACT_TEST_MAX_SAMPLES`` samples a side, as asv computes it: scipy's normal
    approximation would otherwise switch on at the first tie (equal pass counts, a coarse timer)
    and give smaller p-values than the exact distribution on the few samples a gate takes.
    """
    require_scipy()
    from scipy.stats import mannwhitneyu

    method = "exact" if max(len(base), len(head)) <= EXACT_TEST_MAX_SAMPLES else "asymptotic"
    p = float(mannwhitneyu(head, base, alternative="two-sided", method=method).pvalue)
    return 1.0 if math.isnan(p) else p


@dataclass(frozen=True)
class Evidence:
    """What the interleaved rounds say about one cost value: HEAD's slowdown as the median of the rounds' ratios,
    asv's test on every sample, and the signed-rank test on the rounds."""

    ratio: float
    p: float
    rounds_p: float
    slower: int
    rounds: int
    counted: str

    @property
    def round_after_round(self) -> bool:
        """The rounds, one paired observation each, say HEAD is the slower (:data:`ROUNDS_P`)."""
        return self.rounds_p < ROUNDS_P

    def rounds_line(self) -> str:
        return f"HEAD slower in {self.slower} of {self.rounds} rounds, p = {self.rounds_p:.2g} on the rounds"


def round_ratios(samples: Remeasured) -> list[float]:
    """HEAD's median over BASE's in each round both commits measured: the two ran back to back, under one spell
    of load, so each ratio is one paired observation of the slowdown."""
    base_rounds, head_rounds = samples.rounds()
    return [round_ratio(statistics.median(base), statistics.median(head))
            for base, head in zip(base_rounds, head_rounds) if base and head]


def round_ratio(base: float, head: float) -> float:
    """``head / base``; 1 where both are equal (two zero counts included), infinite where only BASE is 0."""
    return 1.0 if head == base else ratio_of(base, head)


def paired_ratio(samples: Remeasured) -> float:
    """The median of the rounds' ratios (:func:`round_ratios`): a spell of load that slows both commits of a round
    cancels in its ratio, where it would move a median taken across rounds; infinite where a side gave nothing
    (it is looked at again)."""
    ratios = round_ratios(samples)
    return statistics.median(ratios) if ratios else math.inf


def signed_rank_p(ratios: list[float]) -> float:
    """One-sided exact p of the Wilcoxon signed-rank test that HEAD is the slower: the share of the ``2**n``
    ways to give the ranked ``|log ratio|`` signs whose positive ranks sum to at least the observed sum.

    A round that read exactly even is dropped (it is evidence for neither side); equal magnitudes share their
    mean rank (ranks are doubled so that they stay whole numbers). 1 where no round is left.
    """
    logs = [math.log(ratio) for ratio in ratios if ratio != 1.0]
    if not logs:
        return 1.0
    ranks = doubled_midranks([abs(value) for value in logs])
    observed = sum(rank for rank, value in zip(ranks, logs) if value > 0)
    ways = {0: 1}  # sum of the positive ranks -> number of sign assignments giving it
    for rank in ranks:
        shifted = dict(ways)
        for total, count in ways.items():
            shifted[total + rank] = shifted.get(total + rank, 0) + count
        ways = shifted
    return sum(count for total, count in ways.items() if total >= observed) / 2 ** len(ranks)


def doubled_midranks(values: list[float]) -> list[int]:
    """Twice each value's rank (1 for the smallest), tied values sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = start + end + 2  # twice the mean of ranks start+1 .. end+1
        start = end + 1
    return ranks


def evidence_of(samples: Remeasured) -> Evidence:
    ratios = round_ratios(samples)
    return Evidence(paired_ratio(samples), mann_whitney_p(samples.base, samples.head), signed_rank_p(ratios),
                    sum(ratio > 1 for ratio in ratios), len(ratios),
                    f"{len(samples.base)}+{len(samples.head)} samples")


def judgeable(samples: Remeasured, rules: GateRules) -> bool:
    """Enough samples for asv's test to reach the threshold, and enough rounds for the rounds' test to reach
    :data:`ROUNDS_P` (6: HEAD slower in each of 6 rounds gives p = 1/64)."""
    if not (samples.base and samples.head):
        return False
    return (smallest_p(len(samples.base), len(samples.head)) < rules.p_threshold
            and 0.5 ** len(round_ratios(samples)) < ROUNDS_P)


def judge_remeasured(samples: Remeasured, rules: GateRules) -> tuple[str, str]:
    """The verdict on a re-measured cost value, and its reason.

    REGRESSION only when three things hold: the median of the rounds' ratios (:func:`paired_ratio`) is past the
    factor; the samples differ significantly (asv's test on every sample); and the rounds say HEAD is the slower
    (:data:`ROUNDS_P`), each round's two commits having run back to back. A round's samples come from one process
    and move together, so the samples alone overstate how much was seen: identical code once read as x2.13 at
    p = 7.6e-6 on 35+35 samples that were 7 draws a side.
    NOT JUDGED when there is nothing or too little to test.
    """
    base, head = samples.base, samples.head
    if not base or not head:
        side = "BASE" if not base else "HEAD"
        return NOT_JUDGED, f"not judged: the re-measurement gave no value on {side} (it failed or was n/a there)"
    if not judgeable(samples, rules):
        return NOT_JUDGED, (f"not judged: {len(base)}+{len(head)} samples in {len(round_ratios(samples))} rounds "
                            f"cannot reach p < {rules.p_threshold:g} (and {ROUNDS_P:g} on the rounds); "
                            "rerun with more --rounds")
    seen = evidence_of(samples)
    ratio, p, counted = seen.ratio, seen.p, seen.counted
    if ratio > rules.cost_factor and p < rules.p_threshold:
        if seen.round_after_round:
            return REGRESSION, (f"confirmed x{ratio:.2f} (p = {p:.2g}, {counted} re-measured interleaved, "
                                f"{seen.rounds_line()})")
        return NOT_CONFIRMED, (f"not confirmed: x{ratio:.2f} on re-measurement at p = {p:.2g}, but "
                               f"{seen.rounds_line()} (a round's samples come from one process and move together; "
                               f"{counted})")
    if ratio > rules.cost_factor:
        return NOT_CONFIRMED, (f"not confirmed: x{ratio:.2f} on re-measurement, but not significant "
                               f"(p = {p:.2g} >= {rules.p_threshold:g}, {counted})")
    return NOT_CONFIRMED, f"not confirmed: x{ratio:.2f} on re-measurement (p = {p:.2g}, {counted})"


def near_the_line(samples: Remeasured, rules: GateRules) -> bool:
    """Past the factor, and either short of significance (p below ``NEAR_P``), or significant but not round
    after round, or confirmed at a p within twice the threshold: a few more rounds could change the verdict
    either way."""
    if not judgeable(samples, rules):
        return False
    seen = evidence_of(samples)
    if seen.ratio <= rules.cost_factor:
        return False
    if seen.p < rules.p_threshold:
        return seen.p >= MARGINAL_P_SHARE * rules.p_threshold or not seen.round_after_round
    return seen.p < NEAR_P


def settle(samples: dict[BenchmarkKey, Remeasured], rules: GateRules,
           remeasure: Remeasure) -> tuple[dict[BenchmarkKey, Remeasured], dict[BenchmarkKey, int]]:
    """The samples with ``rules.extra_rounds`` more rounds pooled in for the values near the line, again for
    those still near it (at most :data:`SETTLE_BATCHES` times), and how many more rounds each of them got."""
    settled: dict[BenchmarkKey, int] = {}
    for _ in range(SETTLE_BATCHES if rules.extra_rounds else 0):
        near = sorted(key for key, seen in samples.items() if near_the_line(seen, rules))
        if not near:
            break
        done = max(len(samples[key].rounds()[0]) for key in near)
        more = remeasure(near, rounds=rules.extra_rounds, first_round=done + 1)
        samples = {key: seen + more[key] if key in more else seen for key, seen in samples.items()}
        settled.update({key: settled.get(key, 0) + rules.extra_rounds for key in near})
    return samples, settled


def settled_reason(key: BenchmarkKey, settled: dict[BenchmarkKey, int]) -> str:
    return f"near the line, so {settled[key]} more rounds; " if key in settled else ""


# --------------------------------------------------------------------------
# The gate on two sets of saved values
# --------------------------------------------------------------------------


def compare_measurements(base: dict[BenchmarkKey, BenchmarkValue], head: dict[BenchmarkKey, BenchmarkValue],
                         rules: GateRules, remeasure: Remeasure | None = None,
                         confirm: str = CONFIRM_SUSPECTS) -> GateReport:
    """Apply the rules to every value measured on both sides; re-measure the cost values to confirm."""
    if confirm not in CONFIRM_MODES:
        raise InputError(f"confirm must be one of {', '.join(CONFIRM_MODES)}; got {confirm!r}.")
    base = pair_single_environments(base, head)
    report, to_confirm, suspects = GateReport(), [], set()
    for key in sorted(set(base) | set(head)):
        if key not in base or key not in head or benchmark_changed(base[key], head[key]):
            report.not_compared += 1
        elif head[key].failed:
            report.failed_on_head += 1
            report.findings.append(failure_finding(*key, base[key], head[key]))
        elif not both_measured(base[key], head[key]):
            report.not_compared += 1
        elif head[key].unit == ACCURACY_UNIT:
            report.accuracy_judged += 1
            report.findings += [found for found in [judge(*key, base[key], head[key], rules)] if found]
        else:
            report.costs += 1
            if looks_regressed(base[key], head[key], rules):
                suspects.add(key)
            if key in suspects or confirm in (CONFIRM_ALL, CONFIRM_FRESH):
                to_confirm.append(key)
    if confirm == CONFIRM_FRESH and remeasure is not None:
        done = confirm_fresh(to_confirm, base, head, rules, remeasure)
        report.screened_on = f"{SCREEN_ROUNDS} fresh paired rounds"
    else:
        done = confirm_costs(to_confirm, suspects, base, head, rules, remeasure, confirm)
    confirmed, settled, report.samples = done.findings, done.settled, done.samples
    suspects = done.suspects if done.suspects is not None else suspects
    report.findings += confirmed
    report.confirmed = sum(1 for finding in confirmed if finding.verdict == REGRESSION)
    report.remeasured = len(to_confirm) if confirm != CONFIRM_NONE and remeasure is not None else 0
    report.looked_regressed = len(suspects)
    report.settled, report.extra_rounds = len(settled), rules.extra_rounds
    report.settled_again = sum(rounds > rules.extra_rounds for rounds in settled.values())
    return report


@dataclass
class Confirmation:
    """What re-measuring the cost values gave: the findings, the values past the screen (None: the screen was the
    saved runs'), those given more rounds near the line, and every value's samples, round by round."""

    findings: list[Finding] = field(default_factory=list)
    suspects: set[BenchmarkKey] | None = None
    settled: dict[BenchmarkKey, int] = field(default_factory=dict)
    samples: dict[BenchmarkKey, Remeasured] = field(default_factory=dict)


def confirm_costs(keys: list[BenchmarkKey], suspects: set[BenchmarkKey], base: dict[BenchmarkKey, BenchmarkValue],
                  head: dict[BenchmarkKey, BenchmarkValue], rules: GateRules, remeasure: Remeasure | None,
                  confirm: str) -> Confirmation:
    """Findings on the cost values to re-measure (confirmed, not confirmed (suspects only), not judged), the
    values given more rounds near the line, and the samples."""
    if not keys:
        return Confirmation()
    if confirm == CONFIRM_NONE or remeasure is None:
        why = "--confirm none" if confirm == CONFIRM_NONE else "nothing to re-measure with"
        return Confirmation([cost_finding(key, base, head, NOT_JUDGED, f"not judged: x{screen_ratio(key, base, head):.2f} "
                                          f"in the saved runs, not re-measured ({why})")
                             for key in keys if key in suspects or confirm != CONFIRM_FRESH])
    require_scipy()
    try:
        samples, settled = settle(remeasure(keys), rules, remeasure)
    except RemeasurementError as error:
        return Confirmation(failed_findings(keys, base, head, error))
    findings = []
    for key in keys:
        verdict, reason = judge_remeasured(samples[key], rules)
        if verdict != NOT_CONFIRMED or key in suspects:
            screen = f"x{screen_ratio(key, base, head):.2f} in the saved runs; "
            findings.append(cost_finding(key, base, head, verdict,
                                         screen + settled_reason(key, settled) + reason))
    return Confirmation(findings, None, settled, samples)


def confirm_fresh(keys: list[BenchmarkKey], base: dict[BenchmarkKey, BenchmarkValue],
                  head: dict[BenchmarkKey, BenchmarkValue], rules: GateRules,
                  remeasure: Remeasure) -> Confirmation:
    """The default: every cost value re-measured in ``SCREEN_ROUNDS`` rounds on both commits, back to back (the
    screen: one saved sample of each commit, taken at another time, moved a 1.5x slowdown anywhere from x0.7 to
    x3), then the values past the screen there in the remaining rounds, the screen's rounds pooled in. Returns
    the findings, the values that were past the screen, those near the line given more rounds, and the samples."""
    if not keys:
        return Confirmation(suspects=set())
    require_scipy()
    try:
        first = remeasure(keys, rounds=SCREEN_ROUNDS)
        suspects = [key for key in keys if past_the_screen(first[key], rules)]
        rest = remeasure(suspects, first_round=SCREEN_ROUNDS + 1) if suspects else {}
        pooled, settled = settle({key: first[key] + rest[key] for key in suspects}, rules, remeasure)
    except RemeasurementError as error:
        return Confirmation(failed_findings(keys, base, head, error), set(keys))
    findings = []
    for key in suspects:
        verdict, reason = judge_remeasured(pooled[key], rules)
        screen = f"x{screen_ratio(key, base, head):.2f} in the saved runs, {screen_rounds(first[key])}; "
        findings.append(cost_finding(key, base, head, verdict, screen + settled_reason(key, settled) + reason))
    return Confirmation(findings, set(suspects), settled, {**first, **pooled})


def past_the_screen(screen: Remeasured, rules: GateRules) -> bool:
    """Either fresh paired round read HEAD past the screen factor (or gave nothing to read). Not their mean: on a
    loaded host one round can read a real slowdown far under even while the other reads it past the factor;
    and what the screen lets through, the rounds' test still has to confirm."""
    return max(round_ratios(screen), default=math.inf) > rules.screen


def screen_rounds(screen: Remeasured) -> str:
    """``x0.90 and x1.60 in 2 fresh paired rounds``: what each screen round read."""
    ratios = round_ratios(screen)
    read = " and ".join(f"x{ratio:.2f}" for ratio in ratios) if ratios else "nothing"
    return f"{read} in {SCREEN_ROUNDS} fresh paired rounds"


def failed_findings(keys: list[BenchmarkKey], base: dict[BenchmarkKey, BenchmarkValue],
                    head: dict[BenchmarkKey, BenchmarkValue], error: RemeasurementError) -> list[Finding]:
    """NOT JUDGED for every value, when asv could not re-measure them; asv's output quoted once."""
    explained = [f": {error}"] + [" (as above)"] * (len(keys) - 1)
    return [cost_finding(key, base, head, NOT_JUDGED, f"not judged: x{screen_ratio(key, base, head):.2f} in "
                         f"the saved runs, and the re-measurement failed{why}") for key, why in zip(keys, explained)]


def screen_ratio(key: BenchmarkKey, base: dict[BenchmarkKey, BenchmarkValue],
                 head: dict[BenchmarkKey, BenchmarkValue]) -> float:
    base_value, head_value = base[key].value, head[key].value
    assert base_value is not None and head_value is not None  # only measured cost values are screened
    return ratio_of(base_value, head_value)


def cost_finding(key: BenchmarkKey, base: dict[BenchmarkKey, BenchmarkValue], head: dict[BenchmarkKey, BenchmarkValue],
                 verdict: str, reason: str) -> Finding:
    return Finding(verdict, key[0], key[1], base[key].value, head[key].value, head[key].unit, reason)


def benchmark_changed(base: BenchmarkValue, head: BenchmarkValue) -> bool:
    """The benchmark's own code differs between the runs, so its values measure different things."""
    return None not in (base.version, head.version) and base.version != head.version


def both_measured(base: BenchmarkValue, head: BenchmarkValue) -> bool:
    return not (base.failed or base.not_available or head.failed or head.not_available)


def pair_single_environments(base: dict[BenchmarkKey, BenchmarkValue],
                             head: dict[BenchmarkKey, BenchmarkValue]) -> dict[BenchmarkKey, BenchmarkValue]:
    """When each commit ran in exactly one, differently named, environment, compare those two."""
    base_envs = {env for _, env in base}
    head_envs = {env for _, env in head}
    if len(base_envs) == 1 and len(head_envs) == 1 and base_envs != head_envs:
        (head_env,) = head_envs
        return {(name, head_env): value for (name, _), value in base.items()}
    return base


def select(measurements: dict[BenchmarkKey, BenchmarkValue], pattern: str | None) -> dict[BenchmarkKey, BenchmarkValue]:
    """The values whose ``name(params)`` matches the regular expression ``pattern`` (asv's ``--bench``)."""
    if pattern is None:
        return measurements
    try:
        expression = re.compile(pattern)
    except re.error as error:
        raise InputError(f"--bench {pattern!r} is not a regular expression ({error}).") from None
    return {key: value for key, value in measurements.items() if expression.search(key[0])}


# --------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class GateOptions:
    """Where the results are and what to re-measure."""

    config_path: Path = Path("asv.conf.json")
    machine: str | None = None
    confirm: str = CONFIRM_FRESH
    rounds: int = DEFAULT_ROUNDS
    bench: str | None = None
    clock: str = DEFAULT_CLOCK
    """How the re-measurement times a value (:data:`.gate_remeasure.DEFAULT_CLOCK`)."""

    def __post_init__(self) -> None:
        if self.clock not in CLOCKS:
            raise InputError(f"clock must be one of {', '.join(CLOCKS)}; got {self.clock!r}.")


def run_gate(base: str, head: str, rules: GateRules = GateRules(),
             options: GateOptions = GateOptions(),
             progress: Callable[[str], None] = report_progress) -> tuple[GateReport, str, str]:
    """Compare the saved asv results of two commits, re-measuring what looks regressed;
    returns the report and both full hashes.

    The machine is the one given, or this host's where it has results of both
    commits, or the only machine that has. A commit with no saved results on
    this host is measured first, by a quick ``asv run`` into the git-ignored
    local results (:func:`.gate_quick.quick_run`). Re-measurement always runs
    on this host, under its own machine name.
    """
    config = load_config(options.config_path)
    repository = options.config_path.resolve().parent
    base_hash, head_hash = resolve_commit(base, repository), resolve_commit(head, repository)
    store = ResultsStore(Path(config.results_dir), repository / LOCAL_RESULTS_DIR)
    here = this_host(options.machine)
    machine = choose_machine(store, (base_hash, head_hash), options.machine, here)
    commits = (base_hash, head_hash)
    saved = {commit: select(store.measurements(config, machine, commit), options.bench) for commit in commits}
    missing = [commit for commit in dict.fromkeys(commits) if not saved[commit]]
    quick_seconds = None
    if missing and machine == here:
        quick_seconds = quick_run(options.config_path, machine, missing, store.local, options.bench, progress)
        saved = {commit: select(store.measurements(config, machine, commit), options.bench) for commit in commits}
    base_saved, head_saved = (require_measurements(saved[commit], commit, machine, str(store.committed), here)
                              for commit in commits)
    remeasurer = AsvRemeasurer(options.config_path, here, base_hash, head_hash, options.rounds, progress,
                               clock=options.clock)
    report = compare_measurements(base_saved, head_saved, rules, remeasurer, options.confirm)
    report.machine, report.quick_run_seconds = machine, quick_seconds
    if report.remeasured:
        report.remeasure_rounds, report.remeasure_seconds = options.rounds, remeasurer.seconds
        report.clock = options.clock
    return report, base_hash, head_hash

"""The regression gate: compare two commits' asv results and fail, naming the benchmark.

``gradcheck-bench gate BASE HEAD`` reads the results that ``asv run`` saved for
both commits and exits 1 when HEAD regressed, 0 when it did not, 2 when it
cannot tell (no results, bad arguments). Why not asv's own commands:

* ``asv compare`` always exits 0, whatever it finds;
* ``asv continuous`` runs both commits itself, in isolated environments only,
  and when any benchmark errors it exits 2 without printing the comparison,
  so the one thing a gate must say (which benchmark) is lost.

So the gate reads the saved results through asv's own API
(:func:`asv.results.iter_results_for_machine_and_hash`, ``Results`` and
``Benchmarks.load`` for the units), which copes with asv's compressed,
parametrised result format, and applies two rules:

* **accuracy** (benchmarks whose unit is ``relative difference``, see
  ``benchmarks/common.py``): HEAD regresses when its value is above the
  threshold (default 2e-7, the check's verdict) and above BASE's by more than
  a relative tolerance; and a comparison that failed on BASE but passes on
  HEAD (the ``numpy-buggy`` canary gone silent) is flagged too, because a
  check that stops seeing a planted bug is broken, whatever made it pass;
* **cost** (every other benchmark: times, peak memory, forward-pass counts):
  HEAD regresses when its value grows past ``factor`` times BASE's and, where
  asv kept statistics for both, the two are statistically different by asv's
  own test (``asv._stats.is_different``, the test ``asv compare`` applies), so
  one noisy sample on a loaded machine does not fail the gate.

A benchmark that *fails* on HEAD (asv stores ``None``) is always a
regression; n/a on either side (``NotImplementedError`` in ``setup``, stored
as NaN), and a benchmark whose code changed between the runs (asv's version
hash differs), are never compared.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import InputError

ACCURACY_UNIT = "relative difference"
"""The unit the suite gives every accuracy ``track_`` (kept equal to ``benchmarks/common.py``)."""

DEFAULT_ACCURACY_THRESHOLD = 2e-7
DEFAULT_ACCURACY_TOLERANCE = 0.05
DEFAULT_COST_FACTOR = 2.0
ASV_INSTALL_HINT = "pip install 'asv>=0.6.6,<0.7'"

BenchmarkKey = tuple[str, str]
"""(benchmark name with its parameters, asv environment name)."""


@dataclass(frozen=True)
class Measurement:
    """One parametrised benchmark's value at one commit; ``None`` failed, NaN n/a.

    ``stats`` and ``samples`` are what asv kept for timing benchmarks (None otherwise);
    ``version`` is asv's hash of the benchmark's code when it ran.
    """

    value: float | None
    unit: str
    stats: dict[str, Any] | None = None
    samples: list[float] | None = None
    version: str | None = None

    @property
    def failed(self) -> bool:
        return self.value is None

    @property
    def not_available(self) -> bool:
        return self.value is not None and math.isnan(self.value)


@dataclass(frozen=True)
class GateRules:
    """The thresholds of the gate."""

    accuracy_threshold: float = DEFAULT_ACCURACY_THRESHOLD
    accuracy_tolerance: float = DEFAULT_ACCURACY_TOLERANCE
    cost_factor: float = DEFAULT_COST_FACTOR

    def __post_init__(self) -> None:
        if not (self.accuracy_threshold > 0 and self.accuracy_tolerance >= 0 and self.cost_factor > 1):
            raise InputError(
                "gate rules need accuracy_threshold > 0, accuracy_tolerance >= 0 and factor > 1; "
                f"got {self.accuracy_threshold}, {self.accuracy_tolerance}, {self.cost_factor}."
            )


@dataclass(frozen=True)
class Regression:
    """One benchmark that HEAD made worse, and why."""

    benchmark: str
    environment: str
    base: float | None
    head: float | None
    unit: str
    reason: str

    def line(self) -> str:
        return (f"REGRESSION  {self.benchmark}  [{self.environment}]\n"
                f"    {format_value(self.base, self.unit)} -> {format_value(self.head, self.unit)}: {self.reason}")


@dataclass(frozen=True)
class GateReport:
    """What the gate found: regressions, and how much it compared."""

    regressions: list[Regression]
    compared: int
    not_compared: int

    @property
    def passed(self) -> bool:
        return not self.regressions

    def summary(self, base: str, head: str) -> str:
        lines = [regression.line() for regression in self.regressions]
        verdict = "PASS" if self.passed else f"FAIL ({len(self.regressions)} regression(s))"
        if self.passed and self.compared == 0:
            verdict = "NOTHING COMPARED"
        lines.append(f"gate {base[:8]} -> {head[:8]}: {verdict}; {self.compared} benchmark values compared, "
                     f"{self.not_compared} n/a or on one side only")
        return "\n".join(lines)


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "failed"
    if math.isnan(value):
        return "n/a"
    return f"{value:.4g} {unit}"


# --------------------------------------------------------------------------
# The rules, on plain numbers (unit-tested without asv)
# --------------------------------------------------------------------------


def judge(name: str, environment: str, base: Measurement, head: Measurement,
          rules: GateRules) -> Regression | None:
    """The regression of one benchmark value from BASE to HEAD, or None."""
    def regression(reason: str) -> Regression:
        return Regression(name, environment, base.value, head.value, head.unit, reason)

    if head.failed:
        return regression("the benchmark failed on HEAD (see `asv show` or rerun with --show-stderr)")
    if base.failed or base.not_available or head.not_available:
        return None
    assert base.value is not None and head.value is not None
    if head.unit == ACCURACY_UNIT:
        return judge_accuracy(base.value, head.value, rules, regression)
    if head.value > base.value * rules.cost_factor and statistically_different(base, head):
        ratio = head.value / base.value if base.value > 0 else math.inf
        return regression(f"grew x{ratio:.2f}, past the factor {rules.cost_factor:g}")
    return None


def statistically_different(base: Measurement, head: Measurement) -> bool:
    """asv's test of two timings (as in ``asv compare``); True when there is too little data to test."""
    if not (base.stats and head.stats) or 1 in (base.stats.get("repeat"), head.stats.get("repeat")):
        return True
    from asv import _stats

    return bool(_stats.is_different(base.samples, head.samples, base.stats, head.stats))


def judge_accuracy(base: float, head: float, rules: GateRules,
                   regression: Callable[[str], Regression]) -> Regression | None:
    """The accuracy rules: rising past the threshold, or a failing comparison going silent."""
    threshold = rules.accuracy_threshold
    if head > threshold and head > base * (1 + rules.accuracy_tolerance):
        return regression(f"relative difference rose past the threshold {threshold:g} "
                          f"(and by more than {rules.accuracy_tolerance:.0%})")
    if base > threshold >= head:
        return regression(f"a comparison that failed on BASE now passes (below {threshold:g}): "
                          "a canary such as numpy-buggy has gone silent")
    return None


def compare_measurements(base: dict[BenchmarkKey, Measurement], head: dict[BenchmarkKey, Measurement],
                         rules: GateRules) -> GateReport:
    """Apply the rules to every benchmark value present on both sides."""
    base = pair_single_environments(base, head)
    regressions, compared, not_compared = [], 0, 0
    for key in sorted(set(base) | set(head)):
        if key not in base or key not in head or benchmark_changed(base[key], head[key]):
            not_compared += 1
            continue
        found = judge(key[0], key[1], base[key], head[key], rules)
        if found is not None:
            regressions.append(found)
        if found is not None or both_measured(base[key], head[key]):
            compared += 1
        else:
            not_compared += 1
    return GateReport(regressions, compared, not_compared)


def benchmark_changed(base: Measurement, head: Measurement) -> bool:
    """The benchmark's own code differs between the runs, so its values measure different things."""
    return None not in (base.version, head.version) and base.version != head.version


def both_measured(base: Measurement, head: Measurement) -> bool:
    return not (base.failed or base.not_available or head.failed or head.not_available)


def pair_single_environments(base: dict[BenchmarkKey, Measurement],
                             head: dict[BenchmarkKey, Measurement]) -> dict[BenchmarkKey, Measurement]:
    """When each commit ran in exactly one, differently named, environment, compare those two."""
    base_envs = {env for _, env in base}
    head_envs = {env for _, env in head}
    if len(base_envs) == 1 and len(head_envs) == 1 and base_envs != head_envs:
        (head_env,) = head_envs
        return {(name, head_env): value for (name, _), value in base.items()}
    return base


# --------------------------------------------------------------------------
# Reading asv's results
# --------------------------------------------------------------------------


def resolve_commit(revision: str, repository: Path) -> str:
    """The full hash of a git revision (a branch, tag, HEAD~1 or a hash prefix)."""
    completed = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
                               cwd=repository, capture_output=True, text=True)
    if completed.returncode != 0:
        raise InputError(f"{revision!r} is not a commit of the git repository at {repository}; "
                         "pass a branch, tag or hash.")
    return completed.stdout.strip()


def load_config(config_path: Path) -> Any:
    """asv's configuration object, with results_dir made absolute like asv does."""
    try:
        from asv.config import Config
        from asv import util
    except ImportError as error:
        raise ImportError(f"the regression gate reads results through asv; install it with: {ASV_INSTALL_HINT}") from error
    if not config_path.is_file():
        raise InputError(f"no asv configuration at {config_path}; run the gate from the repository root "
                         "or pass --config PATH/asv.conf.json.")
    try:
        config = Config.load(str(config_path))
    except util.UserError as error:
        raise InputError(f"cannot read {config_path}: {error}") from error
    root = config_path.resolve().parent
    config.results_dir = str(root / config.results_dir)
    config.benchmark_dir = str(root / config.benchmark_dir)
    return config


def choose_machine(results_dir: Path, machine: str | None) -> str:
    """The machine whose results to compare: the one given, or the only one there is."""
    machines = sorted(path.parent.name for path in results_dir.glob("*/machine.json"))
    if machine is not None:
        if machine not in machines:
            raise InputError(f"no results for machine {machine!r} in {results_dir}; "
                             f"machines there: {', '.join(machines) or 'none'}.")
        return machine
    if len(machines) != 1:
        raise InputError(f"{results_dir} holds results of {len(machines)} machines "
                         f"({', '.join(machines) or 'none: run asv first'}); choose one with --machine.")
    return machines[0]


def load_measurements(config: Any, machine: str, commit: str) -> dict[BenchmarkKey, Measurement]:
    """Every benchmark value asv saved for ``commit`` on ``machine``, one entry per parameter set."""
    from asv.benchmarks import Benchmarks
    from asv.results import iter_results_for_machine_and_hash
    from asv import util

    try:
        units = {name: info.get("unit") or "" for name, info in Benchmarks.load(config).items()}
    except util.UserError:
        units = {}
    measurements: dict[BenchmarkKey, Measurement] = {}
    for result in iter_results_for_machine_and_hash(config.results_dir, machine, commit):
        for key in result.get_all_result_keys():
            params = result.get_result_params(key)
            values = unroll(key, params, result.get_result_value(key, params))
            stats = unroll(key, params, result.get_result_stats(key, params))
            samples = unroll(key, params, result.get_result_samples(key, params))
            for (name, value), (_, stat), (_, sample) in zip(values, stats, samples):
                measurements[(name, result.env_name)] = Measurement(
                    value, units.get(key, ""), stat, sample, result.benchmark_version.get(key))
    if not measurements:
        raise InputError(
            f"no asv results for commit {commit[:8]} on machine {machine!r} in {config.results_dir}; run "
            f"`asv run --python=same --set-commit-hash={commit}` with that commit checked out (README, Benchmarks)."
        )
    return measurements


def unroll(key: str, params: list[list[str]], values: Any) -> Iterator[tuple[str, Any]]:
    """``name(p1, p2)`` and its value for each parameter combination (asv's own naming)."""
    if not params:
        yield key, (values[0] if isinstance(values, list) and values else None if values == [] else values)
        return
    combinations = list(itertools.product(*params))
    if values is None:
        values = [None] * len(combinations)
    for combination, value in zip(combinations, values):
        yield f"{key}({', '.join(combination)})", value


def run_gate(base: str, head: str, *, config_path: Path = Path("asv.conf.json"), machine: str | None = None,
             rules: GateRules = GateRules()) -> tuple[GateReport, str, str]:
    """Compare the saved asv results of two commits; returns the report and both full hashes."""
    config = load_config(config_path)
    repository = config_path.resolve().parent
    base_hash, head_hash = resolve_commit(base, repository), resolve_commit(head, repository)
    chosen = choose_machine(Path(config.results_dir), machine)
    report = compare_measurements(load_measurements(config, chosen, base_hash),
                                  load_measurements(config, chosen, head_hash), rules)
    return report, base_hash, head_hash


GATE_HELP = "compare two commits' asv results; exit 1 naming each benchmark that regressed"

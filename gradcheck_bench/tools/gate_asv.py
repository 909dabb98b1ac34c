"""What the regression gate reads from asv: its configuration and the results ``asv run`` saved.

Results are read through asv's public modules (``asv.config``, ``asv.results``,
``asv.benchmarks``), which cope with asv's compressed, parametrised result
format; every parameter combination becomes one :class:`BenchmarkValue`, named
the way asv names it (``name(p1, p2)``). Nothing here judges anything: the
rules are in :mod:`.gate`.
"""

from __future__ import annotations

import itertools
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError

ASV_INSTALL_HINT = "pip install 'asv>=0.6.6' 'virtualenv>=20'"

BenchmarkKey = tuple[str, str]
"""(benchmark name with its parameters, asv environment name)."""


@dataclass(frozen=True)
class BenchmarkValue:
    """One parametrised benchmark's value at one commit; ``None`` failed, NaN n/a.

    ``samples`` are the individual timings asv kept (``--record-samples``; None
    for ``track_`` and ``peakmem_`` benchmarks, which give one value a run);
    ``version`` is asv's hash of the benchmark's code when it ran.
    """

    value: float | None
    unit: str
    samples: list[float] | None = None
    version: str | None = None

    @property
    def failed(self) -> bool:
        return self.value is None

    @property
    def not_available(self) -> bool:
        return self.value is not None and math.isnan(self.value)

    def values(self) -> list[float]:
        """Every finite number this run measured: its samples, or else its one value."""
        if self.value is None:
            return []
        numbers = self.samples if self.samples else [self.value]
        return [float(number) for number in numbers if number is not None and math.isfinite(number)]


def resolve_commit(revision: str, repository: Path) -> str:
    """The full hash of a git revision (a branch, tag, HEAD~1 or a hash prefix)."""
    completed = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
                               cwd=repository, capture_output=True, text=True)
    if completed.returncode != 0:
        raise InputError(f"{revision!r} is not a commit of the git repository at {repository}; "
                         "pass a branch, tag or hash.")
    return completed.stdout.strip()


def load_config(config_path: Path) -> Any:
    """asv's configuration object, with results_dir and benchmark_dir made absolute like asv does."""
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


def load_measurements(config: Any, machine: str, commit: str) -> dict[BenchmarkKey, BenchmarkValue]:
    """Every benchmark value asv saved for ``commit`` on ``machine``, one entry per parameter set."""
    from asv.benchmarks import Benchmarks
    from asv.results import iter_results_for_machine_and_hash
    from asv import util

    try:
        units = {name: info.get("unit") or "" for name, info in Benchmarks.load(config).items()}
    except util.UserError:
        units = {}
    measurements: dict[BenchmarkKey, BenchmarkValue] = {}
    for result in iter_results_for_machine_and_hash(config.results_dir, machine, commit):
        for key in result.get_all_result_keys():
            params = result.get_result_params(key)
            values = unroll(key, params, result.get_result_value(key, params))
            samples = unroll(key, params, result.get_result_samples(key, params))
            for (name, value), (_, sample) in zip(values, samples):
                measurements[(name, result.env_name)] = BenchmarkValue(
                    value, units.get(key, ""), sample, result.benchmark_version.get(key))
    return measurements


def require_measurements(measurements: dict[BenchmarkKey, BenchmarkValue], commit: str, machine: str,
                         results_dir: str) -> dict[BenchmarkKey, BenchmarkValue]:
    """``measurements``, or a message saying how to make them when asv saved none."""
    if not measurements:
        raise InputError(
            f"no asv results for commit {commit[:8]} on machine {machine!r} in {results_dir}; run "
            f"`asv run {commit[:8]}^!` (or `asv run --python=same --set-commit-hash={commit}` with that "
            "commit checked out; docs/benchmarks.md)."
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

"""Re-measure benchmarks on two commits in one run, interleaved, with asv's own ``asv run``.

Saved results of two commits were measured at different times, under
whatever load the machine had then; on a shared machine identical code
measured minutes apart can differ by more than any sensible factor. So
before the gate fails on a time, a peak memory or a pass count, it measures
that benchmark again on both commits, alternating between them round by
round (BASE HEAD, HEAD BASE, BASE HEAD, ...), so that both see the same
load, and pools what each round measured:

* each round is one ``asv run HASHFILE:... --bench ^name$ -a rounds=1
  --record-samples``: asv builds (or takes from its build cache) each
  commit's wheel, installs it into the configuration's own isolated
  environment (created once, then reused, as ``asv continuous`` does) and
  runs this checkout's suite against it;
* a ``time_`` benchmark gives its repeats as samples, a ``track_`` or
  ``peakmem_`` benchmark one value a round, which is why the rounds are
  separate asv runs: within one ``asv run --interleave-rounds`` asv keeps
  only the last round's value of a ``track_`` benchmark;
* each round writes into a scratch results folder through a copy of the
  configuration, so the saved results the gate judged are left untouched.

``ASV_PYTHONPATH`` is removed from asv's environment: asv would put it on
the benchmarks' ``sys.path`` and every round would measure that checkout
instead of the commit under test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .gate_asv import BenchmarkKey, BenchmarkValue, load_config, load_measurements

DEFAULT_ROUNDS = 7
"""Rounds of re-measurement: a ``track_`` benchmark gives one value a round, and 7 against 7 is
the fewest with which a two-sided Mann-Whitney U test can reach asv's p < 0.002."""

OUTPUT_TAIL = 1500
"""Characters of asv's output quoted when a round fails."""


class RemeasurementError(Exception):
    """asv could not re-measure: the message says why and what to do."""


@dataclass(frozen=True)
class Remeasured:
    """What the interleaved rounds measured of one benchmark: every sample on each commit."""

    base: list[float]
    head: list[float]


def report_progress(message: str) -> None:
    print(f"gate: {message}", file=sys.stderr, flush=True)


@dataclass
class AsvRemeasurer:
    """Re-measures benchmark values on BASE and HEAD with ``asv run``, in interleaved rounds."""

    config_path: Path
    machine: str
    base: str
    head: str
    rounds: int = DEFAULT_ROUNDS
    progress: Callable[[str], None] = report_progress
    seconds: float = field(default=0.0, init=False)
    """Wall time of the last re-measurement."""

    def __call__(self, keys: list[BenchmarkKey]) -> dict[BenchmarkKey, Remeasured]:
        started = time.perf_counter()
        names = sorted({name for name, _ in keys})
        pooled: dict[str, dict[BenchmarkKey, list[float]]] = {self.base: {}, self.head: {}}
        with tempfile.TemporaryDirectory(prefix="gradcheck-gate-") as scratch:
            for number in range(1, self.rounds + 1):
                order = round_order(number, self.base, self.head)
                self.progress(f"re-measuring {len(names)} benchmark value(s), round {number}/{self.rounds} "
                              f"({' then '.join(commit[:8] for commit in order)}), "
                              f"{time.perf_counter() - started:.0f} s so far")
                config = write_round_config(self.config_path, Path(scratch) / f"round-{number}")
                run_round(config, self.machine, order, names, Path(scratch))
                for commit in order:
                    pool(pooled[commit], load_measurements(load_config(config), self.machine, commit))
        self.seconds = time.perf_counter() - started
        return {key: remeasured(key, pooled[self.base], pooled[self.head]) for key in keys}


def round_order(number: int, base: str, head: str) -> tuple[str, str]:
    """Round 1, 3, 5, ... measure BASE first; round 2, 4, ... HEAD first (asv's own interleaving)."""
    return (base, head) if number % 2 else (head, base)


def write_round_config(config_path: Path, results_dir: Path) -> Path:
    """A copy of the asv configuration that writes into ``results_dir`` and reuses the original's
    environments, repository and suite (every path made absolute: asv resolves them from the
    configuration's folder)."""
    from asv import util

    root = config_path.resolve().parent
    raw = util.load_json(str(config_path), js_comments=True)
    for key, default in (("repo", "."), ("benchmark_dir", "benchmarks"), ("env_dir", "env")):
        value = raw.get(key, default)
        raw[key] = value if "://" in str(value) else str((root / value).resolve())
    raw["results_dir"] = str(results_dir)
    raw["html_dir"] = str(results_dir / "html")
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "asv.conf.json"
    path.write_text(json.dumps(raw, indent=2))
    return path


def asv_run_command(config: Path, machine: str, hashfile: Path, names: list[str]) -> list[str]:
    """``asv run`` of exactly ``names`` (asv's ``name(params)`` spelling) on the commits in ``hashfile``."""
    selection = [argument for name in names for argument in ("--bench", f"^{re.escape(name)}$")]
    return [sys.executable, "-m", "asv", "run", f"HASHFILE:{hashfile}", "--config", str(config),
            "--machine", machine, "--attribute", "rounds=1", "--record-samples", "--show-stderr", *selection]


def run_round(config: Path, machine: str, order: tuple[str, str], names: list[str], scratch: Path) -> None:
    """One ``asv run`` over both commits in ``order``; raises when asv measured nothing."""
    hashfile = scratch / "commits.txt"
    hashfile.write_text("\n".join(order) + "\n")
    environment = {key: value for key, value in os.environ.items() if key != "ASV_PYTHONPATH"}
    completed = subprocess.run(asv_run_command(config, machine, hashfile, names), env=environment,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True)
    # asv exits 2 when a benchmark failed: the others were measured, and the failure is judged per value
    if completed.returncode not in (0, 2):
        output = (completed.stdout + completed.stderr).strip()
        raise RemeasurementError(
            f"`asv run` exited {completed.returncode} while re-measuring; its output ends: "
            f"...{output[-OUTPUT_TAIL:]}\n(an unknown machine: run `asv machine --machine {machine}` once; "
            "an environment that cannot be built: see docs/benchmarks.md, 'The regression gate')")


def pool(pooled: dict[BenchmarkKey, list[float]], measured: dict[BenchmarkKey, BenchmarkValue]) -> None:
    """Add one round's values of one commit to what earlier rounds measured."""
    for key, measurement in measured.items():
        pooled.setdefault(key, []).extend(measurement.values())


def remeasured(key: BenchmarkKey, base: dict[BenchmarkKey, list[float]],
               head: dict[BenchmarkKey, list[float]]) -> Remeasured:
    """The pooled samples of ``key`` on each commit; the environment is matched by name, or else
    taken as the one environment the rounds ran in (saved results may come from another one)."""
    return Remeasured(samples_of(key, base), samples_of(key, head))


def samples_of(key: BenchmarkKey, pooled: dict[BenchmarkKey, list[float]]) -> list[float]:
    if key in pooled:
        return pooled[key]
    name, _ = key
    environments = {environment for _, environment in pooled}
    if len(environments) == 1:
        return pooled.get((name, next(iter(environments))), [])
    return []


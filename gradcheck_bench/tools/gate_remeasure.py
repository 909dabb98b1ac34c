"""Re-measure benchmarks on two commits in one run, interleaved, with asv's own ``asv run``.

Saved results of two commits were measured at different times, under
whatever load the machine had then; on a shared machine identical code
measured minutes apart can differ by more than any sensible factor. So
before the gate fails on a time, a peak memory or a pass count, it measures
that benchmark again on both commits, alternating between them round by
round (BASE HEAD, HEAD BASE, BASE HEAD, ...), so that both see the same
load, and pools what each round measured:

* each round is one ``asv run HASHFILE:... --bench ^name$ -a rounds=1
  --record-samples`` per :data:`VALUES_PER_RUN` values, so that a value's
  two commits run back to back: asv builds (or takes from its build cache) each
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
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .gate_asv import (BenchmarkKey, BenchmarkValue, load_config, load_measurements, register_machine,
                       rerun_if_machine_file_was_mid_write)

DEFAULT_ROUNDS = 7
"""Rounds of re-measurement: a ``track_`` benchmark gives one value a round, and 7 against 7 is
the fewest with which a two-sided Mann-Whitney U test can reach asv's p < 0.002."""

VALUES_PER_RUN = 16
"""Values re-measured in one ``asv run`` over both commits. asv measures every value of the first commit, then
every value of the second, so in one run of all the cost values a value's BASE and HEAD samples were taken
as far apart as the whole run takes (many minutes for every cost value on a loaded host), under whatever load
came and went in between. A round therefore runs its values in runs of at most this many, each over both commits back to
back: a value's two samples come a minute or so apart, and asv's start is still paid once per this many values,
not once per value."""

OUTPUT_TAIL = 1500
"""Characters of asv's output quoted when a round fails."""
PREIMPORT_VARIABLE = "GRADCHECK_BENCH_PREIMPORT"
"""Set for the gate's asv runs: the frameworks (comma-separated) asv's forkserver imports with the suite
(``benchmarks/__init__.py``)."""
FRAMEWORKS = ("torch", "jax")
CLOCK_VARIABLE = "GRADCHECK_BENCH_CLOCK"
"""Set for the gate's re-measurement rounds: the clock the suite's ``time_`` benchmarks read
(``benchmarks/common.py``)."""
CPU_CLOCK, WALL_CLOCK = "cpu", "wall"
CLOCKS = (CPU_CLOCK, WALL_CLOCK)
DEFAULT_CLOCK = CPU_CLOCK
"""How the rounds time a value: this process's CPU time with one thread per numerical library (``cpu``), or
wall time with the threads the libraries choose, as ``asv run`` times it (``wall``). On a loaded 2-core host a
process waits for a core for a share of its wall time that changes from process to process, and a library
running two threads waits for the one that is not scheduled, so identical code read in wall time differs round
to round by more than the slowdowns the gate must see; the CPU one thread uses does not
(docs/benchmarks.md, 'The clock'). What ``cpu`` cannot see: a slowdown in waiting (sleep, I/O, locks) or in
how well work spreads over threads."""
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""The thread pools of torch (OpenMP), NumPy's BLAS and MKL, each held to one thread under the ``cpu`` clock."""
LAUNCH_METHOD = "forkserver"
"""How asv starts each re-measured value: ``forkserver`` imports the suite once per commit and round and forks
a child per value, where ``spawn`` (asv's default) starts a fresh interpreter for every value and commit."""


class RemeasurementError(Exception):
    """asv could not re-measure: the message says why and what to do."""


@dataclass(frozen=True)
class Remeasured:
    """What the interleaved rounds measured of one benchmark: every sample on each commit, and, where the
    rounds were recorded, the samples of each round (aligned: round ``i`` of both commits ran back to back)."""

    base: list[float]
    head: list[float]
    base_rounds: list[list[float]] | None = None
    head_rounds: list[list[float]] | None = None

    def rounds(self) -> tuple[list[list[float]], list[list[float]]]:
        """The samples of each round on each commit; where no rounds were recorded, each sample is one."""
        return (self.base_rounds if self.base_rounds is not None else [[value] for value in self.base],
                self.head_rounds if self.head_rounds is not None else [[value] for value in self.head])

    def __add__(self, later: "Remeasured") -> "Remeasured":
        """These rounds followed by ``later``'s."""
        (base, head), (more_base, more_head) = self.rounds(), later.rounds()
        return Remeasured(self.base + later.base, self.head + later.head, base + more_base, head + more_head)


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
    launch_method: str = LAUNCH_METHOD
    values_per_run: int = VALUES_PER_RUN
    clock: str = DEFAULT_CLOCK
    round_seconds: list[float] = field(default_factory=list, init=False)
    """Wall time of each round so far."""
    seconds: float = field(default=0.0, init=False)
    """Wall time of every re-measurement so far."""

    def __call__(self, keys: list[BenchmarkKey], rounds: int | None = None,
                 first_round: int = 1) -> dict[BenchmarkKey, Remeasured]:
        """``rounds`` rounds (None: the rest of ``self.rounds``) numbered from ``first_round``. Rounds that start
        within ``self.rounds`` never run past it (a screen of 2 rounds under ``--rounds 1`` runs 1); rounds asked
        for after them (the gate's extra rounds for values near the line) run as asked."""
        register_machine(self.machine, self.progress)
        started = time.perf_counter()
        names = sorted({name for name, _ in keys})
        pooled: dict[str, dict[BenchmarkKey, list[list[float]]]] = {self.base: {}, self.head: {}}
        last = self.rounds if rounds is None else first_round + rounds - 1
        if first_round <= self.rounds:
            last = min(last, self.rounds)
        with tempfile.TemporaryDirectory(prefix="gradcheck-gate-") as scratch:
            for number in range(first_round, last + 1):
                order = round_order(number, self.base, self.head)
                round_started = time.perf_counter()
                runs = runs_of(names, self.values_per_run)
                for part, run in enumerate(runs, start=1):
                    of_runs = f", run {part} of {len(runs)}" if len(runs) > 1 else ""
                    self.progress(f"re-measuring {len(names)} benchmark value(s), round {number}/"
                                  f"{max(last, self.rounds)}{of_runs} ({' then '.join(commit[:8] for commit in order)}),"
                                  f" {time.perf_counter() - started:.0f} s so far")
                    config = write_round_config(self.config_path, Path(scratch) / f"round-{number}-{part}")
                    run_round(config, self.machine, order, run, Path(scratch), self.launch_method, self.clock)
                    for commit in order:
                        measured = load_measurements(load_config(config), self.machine, commit)
                        pool(pooled[commit], {key: value for key, value in measured.items() if key[0] in run})
                self.round_seconds.append(time.perf_counter() - round_started)
        self.seconds += time.perf_counter() - started
        return {key: remeasured(key, pooled[self.base], pooled[self.head]) for key in keys}


def runs_of(names: list[str], size: int) -> list[list[str]]:
    """``names`` cut into consecutive runs of at most ``size`` (:data:`VALUES_PER_RUN`)."""
    return [names[start:start + size] for start in range(0, len(names), size)]


def round_order(number: int, base: str, head: str) -> tuple[str, str]:
    """Round 1, 3, 5, ... measure BASE first; round 2, 4, ... HEAD first (asv's own interleaving)."""
    return (base, head) if number % 2 else (head, base)


def write_round_config(config_path: Path, results_dir: Path, config_dir: Path | None = None) -> Path:
    """A copy of the asv configuration that writes into ``results_dir`` and reuses the original's
    environments, repository and suite (every path made absolute: asv resolves them from the
    configuration's folder). The copy is written into ``config_dir`` (default: ``results_dir``)."""
    from asv import util

    root = config_path.resolve().parent
    raw = util.load_json(str(config_path), js_comments=True)
    for key, default in (("repo", "."), ("benchmark_dir", "benchmarks"), ("env_dir", "env")):
        value = raw.get(key, default)
        raw[key] = value if "://" in str(value) else str((root / value).resolve())
    raw["results_dir"] = str(results_dir)
    raw["html_dir"] = str(results_dir / "html")
    results_dir.mkdir(parents=True, exist_ok=True)
    path = (config_dir or results_dir) / "asv.conf.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(raw, indent=2))
    return path


def asv_environment(preimport: tuple[str, ...] = (), clock: str | None = None) -> dict[str, str]:
    """This process's environment without ``ASV_PYTHONPATH``, which would make asv benchmark that checkout
    instead of the commit it installed; the suite's process (asv's forkserver) imports the frameworks in
    ``preimport`` once for all the values it forks (``benchmarks/__init__.py``). Under the ``cpu`` clock
    (:data:`DEFAULT_CLOCK`) the suite reads CPU time and every library runs one thread; with no clock, the
    suite's own default (wall time), as ``asv run`` measures."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("ASV_PYTHONPATH", PREIMPORT_VARIABLE, CLOCK_VARIABLE)}
    if preimport:
        environment[PREIMPORT_VARIABLE] = ",".join(preimport)
    if clock is not None:
        environment[CLOCK_VARIABLE] = clock
    if clock == CPU_CLOCK:
        environment.update(ONE_THREAD)
    return environment


def preimports(names: list[str]) -> tuple[str, ...]:
    """The frameworks worth importing before the fork: those a value names as a parameter (``'torch'``,
    ``'jax'``), and none where a ``peakmem_`` value is measured (what was imported before the fork sits in
    the forked value's memory: it would read a few hundred MB more than in a process of its own)."""
    if any(".peakmem_" in name for name in names):
        return ()
    return tuple(framework for framework in FRAMEWORKS if any(f"'{framework}'" in name for name in names))


def asv_run_command(config: Path, machine: str, hashfile: Path, names: list[str],
                    launch_method: str = LAUNCH_METHOD) -> list[str]:
    """``asv run`` of exactly ``names`` (asv's ``name(params)`` spelling) on the commits in ``hashfile``,
    every value of a commit in one process of the suite (``launch_method``, see :data:`LAUNCH_METHOD`)."""
    selection = [argument for name in names for argument in ("--bench", f"^{re.escape(name)}$")]
    return [sys.executable, "-m", "asv", "run", f"HASHFILE:{hashfile}", "--config", str(config),
            "--machine", machine, "--attribute", "rounds=1", "--record-samples", "--show-stderr",
            "--launch-method", launch_method, *selection]


def run_round(config: Path, machine: str, order: tuple[str, str], names: list[str], scratch: Path,
              launch_method: str = LAUNCH_METHOD, clock: str = DEFAULT_CLOCK) -> None:
    """One ``asv run`` over both commits in ``order``, timed by ``clock``; raises when asv measured nothing."""
    hashfile = scratch / "commits.txt"
    hashfile.write_text("\n".join(order) + "\n")
    preimport = preimports(names) if launch_method == "forkserver" else ()
    completed = rerun_if_machine_file_was_mid_write(
        lambda: subprocess.run(asv_run_command(config, machine, hashfile, names, launch_method),
                               env=asv_environment(preimport, clock), stdin=subprocess.DEVNULL, capture_output=True,
                               text=True),
        lambda done: "" if done.returncode in (0, 2) else done.stdout + done.stderr)
    # asv exits 2 when a benchmark failed: the others were measured, and the failure is judged per value
    if completed.returncode not in (0, 2):
        output = (completed.stdout + completed.stderr).strip()
        raise RemeasurementError(
            f"`asv run` exited {completed.returncode} while re-measuring; its output ends: "
            f"...{output[-OUTPUT_TAIL:]}\n(an unknown machine: run `asv machine --machine {machine}` once; "
            "an environment that cannot be built: see docs/benchmarks.md, 'The regression gate')")


def pool(pooled: dict[BenchmarkKey, list[list[float]]], measured: dict[BenchmarkKey, BenchmarkValue]) -> None:
    """Add one round's samples of each benchmark on one commit, as that round's, to what earlier rounds
    measured. ``measured`` holds only the values the run was asked for: asv's results also list a
    parametrised benchmark's other parameter sets, as n/a, which would otherwise count as rounds of their own. A round's samples come from one process, under one spell of load, and move together (on a
    loaded 2-core host a torch gradient can run an order of magnitude slower in one process than in the
    next, the same code on both commits), so the verdict also asks the rounds (:func:`.gate.judge_remeasured`)."""
    for key, measurement in measured.items():
        pooled.setdefault(key, []).append(measurement.values())


def remeasured(key: BenchmarkKey, base: dict[BenchmarkKey, list[list[float]]],
               head: dict[BenchmarkKey, list[list[float]]]) -> Remeasured:
    """The pooled samples of ``key`` on each commit, round by round; the environment is matched by name, or
    else taken as the one environment the rounds ran in (saved results may come from another one)."""
    base_rounds, head_rounds = samples_of(key, base), samples_of(key, head)
    return Remeasured([value for values in base_rounds for value in values],
                      [value for values in head_rounds for value in values], base_rounds, head_rounds)


def samples_of(key: BenchmarkKey, pooled: dict[BenchmarkKey, list[list[float]]]) -> list[list[float]]:
    if key in pooled:
        return pooled[key]
    name, _ = key
    environments = {environment for _, environment in pooled}
    if len(environments) == 1:
        return pooled.get((name, next(iter(environments))), [])
    return []


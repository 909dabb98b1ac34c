"""What the regression gate reads from asv: its configuration and the results ``asv run`` saved.

Results are read through asv's public modules (``asv.config``, ``asv.results``,
``asv.benchmarks``), which cope with asv's compressed, parametrised result
format; every parameter combination becomes one :class:`BenchmarkValue`, named
the way asv names it (``name(p1, p2)``). Nothing here judges anything: the
rules are in :mod:`.gate`.

Results live in two places (:class:`ResultsStore`): the configuration's
``results_dir`` (``results/asv``, committed, under machine names no host
has by default, such as ``reference-2core``) and :data:`LOCAL_RESULTS_DIR`
(``.asv/results``, git-ignored), where the gate's own quick runs write, so
that a gate run leaves every tracked file as it was.
"""

from __future__ import annotations

import copy
import itertools
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from ..errors import InputError

ASV_INSTALL_HINT = "pip install 'asv>=0.6.6' 'virtualenv>=20'"
LOCAL_RESULTS_DIR = Path(".asv") / "results"
"""Where the gate's own runs save their results, relative to the repository root (git-ignored with ``.asv/``)."""

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


def registered_machines() -> dict[str, Any]:
    """The machines asv knows on this host (``~/.asv-machine.json``), by name."""
    from asv.machine import MachineCollection
    from asv import util

    path = Path(MachineCollection.get_machine_file_path())
    return dict(util.load_json(str(path), MachineCollection.api_version)) if path.is_file() else {}


def register_machine(machine: str, progress: Callable[[str], None]) -> None:
    """Make sure asv knows ``machine`` on this host (``asv machine --yes``), so ``asv run`` never asks."""
    if machine in registered_machines():
        return
    progress(f"asv does not know this host yet: `asv machine --yes --machine {machine}`")
    completed = subprocess.run([sys.executable, "-m", "asv", "machine", "--yes", "--machine", machine],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if completed.returncode != 0:
        raise InputError(f"`asv machine --yes --machine {machine}` failed: "
                         f"{(completed.stdout + completed.stderr).strip()[-1500:]}")


MACHINE_FILE_MID_WRITE = "Error parsing JSON in file"
"""What asv says when it read ``~/.asv-machine.json`` while another asv on this host was rewriting it."""
MACHINE_FILE_RETRIES = 3
_Run = TypeVar("_Run")


def rerun_if_machine_file_was_mid_write(run: Callable[[], _Run], failed_output: Callable[[_Run], str]) -> _Run:
    """``run()``, run again (up to ``MACHINE_FILE_RETRIES`` times, a second apart) while asv exited at once on
    a half-written machine file: asv rewrites ``~/.asv-machine.json`` in place at every start, so two gates (or
    any two asv runs) on one host that start at the same moment can make one of them fail before it measured
    anything. ``failed_output`` gives a run's output when it failed, else an empty string."""
    for _ in range(MACHINE_FILE_RETRIES):
        result = run()
        output = failed_output(result)
        if MACHINE_FILE_MID_WRITE not in output or ".asv-machine.json" not in output:
            return result
        time.sleep(1.0)
    return run()


def current_machine(requested: str | None = None) -> str:
    """The name ``asv run`` gives this host's results: ``requested``, else the host name, or else the one
    machine ``~/.asv-machine.json`` describes (asv's own rule when the host name is not there)."""
    from asv.machine import Machine

    name = requested or Machine.get_unique_machine_name()
    known = registered_machines()
    if requested is None and name not in known and len(known) == 1:
        (only,) = known.values()
        return str(only.get("machine", name))
    return name


def this_host(requested: str | None = None) -> str:
    """This host's machine name: ``requested`` where asv knows it here (``~/.asv-machine.json``), else
    :func:`current_machine`'s (a name given for committed results, such as ``reference-2core``, is not
    this host's)."""
    return requested if requested is not None and requested in registered_machines() else current_machine()


@dataclass(frozen=True)
class ResultsStore:
    """The results the gate reads: the committed ones (the configuration's ``results_dir``) and the local
    ones its own runs write (:data:`LOCAL_RESULTS_DIR`, git-ignored); a machine may have results in either."""

    committed: Path
    local: Path

    @property
    def folders(self) -> tuple[Path, ...]:
        return (self.committed, self.local) if self.local != self.committed else (self.committed,)

    def machines(self) -> list[str]:
        return sorted({path.parent.name for folder in self.folders for path in folder.glob("*/machine.json")})

    def has_results(self, machine: str, commit: str) -> bool:
        from asv.results import iter_results_for_machine_and_hash

        return any(True for folder in self.folders if (folder / machine).is_dir()
                   for _ in iter_results_for_machine_and_hash(str(folder), machine, commit))

    def measurements(self, config: Any, machine: str, commit: str) -> dict[BenchmarkKey, BenchmarkValue]:
        """Every value saved for ``commit`` on ``machine`` in either folder (a local run's value wins)."""
        found: dict[BenchmarkKey, BenchmarkValue] = {}
        for folder in self.folders:
            if (folder / machine).is_dir():
                found.update(load_measurements(config, machine, commit, folder))
        return found


def choose_machine(store: ResultsStore, commits: tuple[str, ...], requested: str | None, here: str) -> str:
    """The machine whose results to compare: the one given; else this host's where it has results of every
    commit; else the only machine that has; else this host's (whose missing results the gate measures)."""
    if requested is not None:
        return requested
    complete = [machine for machine in store.machines()
                if all(store.has_results(machine, commit) for commit in commits)]
    if here in complete or not complete:
        return here
    if len(complete) == 1:
        return complete[0]
    raise InputError(f"machines {', '.join(complete)} all have results of both commits; choose one with --machine "
                     f"(or measure them on this host, {here!r}, with --machine {here}).")


def load_measurements(config: Any, machine: str, commit: str,
                      results_dir: Path | None = None) -> dict[BenchmarkKey, BenchmarkValue]:
    """Every benchmark value asv saved for ``commit`` on ``machine`` (in ``results_dir``, by default the
    configuration's), one entry per parameter set."""
    from asv.benchmarks import Benchmarks
    from asv.results import iter_results_for_machine_and_hash
    from asv import util

    if results_dir is not None:
        config = copy.copy(config)
        config.results_dir = str(results_dir)
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
                         results_dir: str, here: str | None = None) -> dict[BenchmarkKey, BenchmarkValue]:
    """``measurements``, or a message saying how to make them when asv saved none."""
    if not measurements:
        measure_here = "" if here is None or here == machine else \
            f"; or leave out --machine, and the gate measures both commits on this host ({here!r})"
        raise InputError(
            f"no asv results for commit {commit[:8]} on machine {machine!r} in {results_dir}; run "
            f"`asv run {commit[:8]}^! --machine {machine}` there{measure_here} (docs/benchmarks.md)."
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

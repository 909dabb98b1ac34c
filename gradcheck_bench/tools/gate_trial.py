"""A gate trial: the regression gate on identical code, or on a planted slowdown, from this checkout.

Whether the gate's default trigger does its job is an experiment, and one that
anyone should be able to repeat: identical code under a new hash must pass,
and a uniform 1.5x slowdown of the hand-written gradient must be confirmed on
every benchmark value it touches and nowhere else. ``gradcheck-bench
gate-trial identical|plant`` makes the commit under test from BASE without
touching the work tree (git plumbing: BASE's tree under a new commit, or
BASE's tree with the plant's patch applied in a scratch index), keeps it under
``refs/gate-trial/`` so that asv can build it, runs the gate on BASE and that
commit exactly as ``gradcheck-bench gate`` would, and writes what it found
into a results folder with its provenance: each re-measured value's verdict
(and, for the plant, whether the plant touches it), the samples, the gate's
summary, and ``git status`` after the run.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from ..errors import InputError
from .atomic_files import write_text_atomically
from .gate import GateOptions, GateReport, GateRules, run_gate
from .gate_asv import load_config
from .gate_remeasure import report_progress
from .report import load_average, provenance, write_provenance, write_table

IDENTICAL, PLANT = "identical", "plant"
KINDS = (IDENTICAL, PLANT)
PLANT_PATCH = Path("benchmarks") / "trial" / "plant-1.5x.patch"
"""The plant: after each call the hand-written gradient busy-waits for half the CPU time the call took, 50%
more work: a uniform 1.5x on either of the gate's clocks."""
PLANT_TOUCHES = re.compile(r"\.time_gradient\('numpy', ")
"""The benchmark values the plant slows: the hand-written gradient (the ``numpy`` source), as ``time_gradient``
times it. Elsewhere it is a small share of what is timed (a check's forward passes, a framework's gradient)."""
REF_PREFIX = "refs/gate-trial/"


@dataclass(frozen=True)
class Trial:
    """What a trial ran and found."""

    kind: str
    report: GateReport
    base: str
    head: str
    seconds: float
    status_before: str
    """``git status --porcelain`` before the trial made its commit."""
    status_after: str
    """``git status --porcelain`` right after the gate, before the trial wrote its results."""

    def changed_by_gate(self) -> list[str]:
        """The lines of ``git status`` the gate added: files it modified or left behind."""
        before = set(self.status_before.splitlines())
        return [line for line in self.status_after.splitlines() if line.strip() and line not in before]

    def touched(self, benchmark: str) -> bool:
        return self.kind == PLANT and PLANT_TOUCHES.search(benchmark) is not None

    def tally(self) -> str:
        """The trial's answer: what was confirmed, against what it should have been."""
        confirmed = {finding.benchmark for finding in self.report.regressions}
        changed = self.changed_by_gate()
        status = "unchanged by the gate" if not changed else "the gate changed:\n" + "\n".join(changed)
        if self.kind == IDENTICAL:
            return f"identical code: {len(confirmed)} confirmed (should be 0); git status {status}"
        touched = sorted({name for name, _ in self.report.samples if self.touched(name)})
        hit = [name for name in touched if name in confirmed]
        elsewhere = sorted(name for name in confirmed if not self.touched(name))
        missed = "".join(f"\n  missed: {name}" for name in touched if name not in confirmed)
        return (f"plant: {len(hit)} of the {len(touched)} values it touches confirmed (should be all), "
                f"{len(elsewhere)} confirmed elsewhere (should be 0); git status {status}{missed}"
                + "".join(f"\n  confirmed elsewhere: {name}" for name in elsewhere))

    def table(self) -> pd.DataFrame:
        """One row per re-measured value: its verdict, and the gate's reason where it gave one."""
        reasons = {(finding.benchmark, finding.environment): finding.reason for finding in self.report.findings}
        rows = [{"benchmark": row["benchmark"], "environment": row["environment"], "verdict": row["verdict"],
                 "touched_by_plant": self.touched(str(row["benchmark"])) if self.kind == PLANT else None,
                 "rounds": len(row["base_rounds"]),  # type: ignore[arg-type]
                 "reason": reasons.get((str(row["benchmark"]), str(row["environment"])), "")}
                for row in self.report.samples_json()]
        return pd.DataFrame(rows, columns=["benchmark", "environment", "verdict", "touched_by_plant", "rounds",
                                           "reason"])


def git(repository: Path, *args: str, index: Path | None = None) -> str:
    """``git args`` in ``repository`` (with ``index`` as its index file), its output stripped."""
    env = None if index is None else {**os.environ, "GIT_INDEX_FILE": str(index)}
    done = subprocess.run(["git", *args], cwd=repository, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise InputError(f"git {' '.join(args)} failed in {repository}: {done.stderr.strip()}")
    return done.stdout.strip()


def trial_commit(repository: Path, base: str, kind: str, patch: Path | None = None) -> str:
    """The commit under test, made from ``base`` without touching the work tree or the index, and kept under
    ``refs/gate-trial/<kind>``. The plant is ``patch`` (None: the repository's :data:`PLANT_PATCH`)."""
    if kind not in KINDS:
        raise InputError(f"a gate trial is one of {', '.join(KINDS)}; got {kind!r}.")
    try:
        base_hash = git(repository, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except InputError:
        raise InputError(f"{base!r} is not a commit of {repository}; name a branch, tag or hash "
                         "(git log --oneline lists them), e.g. --base HEAD.") from None
    if kind == IDENTICAL:
        tree, what = git(repository, "rev-parse", f"{base_hash}^{{tree}}"), "the same tree under a new hash"
    else:
        patch = repository / PLANT_PATCH if patch is None else patch
        if not patch.is_file():
            raise InputError(f"the plant's patch {patch} does not exist; name one with --patch FILE (the "
                             f"project's is {PLANT_PATCH}).")
        with tempfile.TemporaryDirectory() as scratch:
            index = Path(scratch) / "index"
            git(repository, "read-tree", base_hash, index=index)
            git(repository, "apply", "--cached", str(patch.resolve()), index=index)
            tree = git(repository, "write-tree", index=index)
        what = f"{patch.name} applied"
    commit = git(repository, "commit-tree", tree, "-p", base_hash, "-m", f"gate trial: {kind} ({what})")
    git(repository, "update-ref", REF_PREFIX + kind, commit)
    return commit


def run_trial(kind: str, base: str, out: Path, rules: GateRules = GateRules(), options: GateOptions = GateOptions(),
              patch: Path | None = None, progress: Callable[[str], None] = report_progress) -> Trial:
    """Make the trial's commit, run the gate on ``base`` and it, and write the results folder ``out``."""
    load_config(options.config_path)  # no asv configuration here: say so before making a commit
    repository = options.config_path.resolve().parent
    record = provenance(kind=kind, base=base, patch=str(patch or PLANT_PATCH) if kind == PLANT else None,
                        rules=asdict(rules), options=asdict(options))
    status_before = git(repository, "status", "--porcelain")
    head = trial_commit(repository, base, kind, patch)
    progress(f"trial: {kind}, gate {base} {head[:8]} (the trial's commit, {REF_PREFIX}{kind})")
    start = time.perf_counter()
    report, base_hash, head_hash = run_gate(base, head, rules, options, progress)
    trial = Trial(kind, report, base_hash, head_hash, time.perf_counter() - start, status_before,
                  git(repository, "status", "--porcelain"))
    out.mkdir(parents=True, exist_ok=True)
    write_table(trial.table(), out, "findings", title=f"Gate trial ({kind}): every re-measured value")
    write_text_atomically(out / "samples.json", report.samples_file(base_hash, head_hash))
    write_text_atomically(out / "summary.txt", report.summary(base_hash, head_hash) + "\n" + trial.tally() + "\n")
    record["settings"].update(base=base_hash, head=head_hash, exit_status=report.exit_status,
                              confirmed=len(report.regressions), gate_seconds=round(trial.seconds, 1),
                              load_average_at_end=load_average(), git_status_before=trial.status_before,
                              git_status_after=trial.status_after, changed_by_gate=trial.changed_by_gate())
    write_provenance(out, record)
    return trial

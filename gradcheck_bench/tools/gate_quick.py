"""The quick ``asv run`` the gate makes itself for a commit with no saved results on this host.

``gradcheck-bench gate BASE HEAD`` in a fresh clone finds no results for
either commit on the current machine. Rather than asking the user for one
``asv run --quick`` per commit, it makes that run itself, for every commit
that lacks results, in one ``asv run HASHFILE:... --quick`` (one discovery
of the suite, each commit's wheel built and installed in the
configuration's own isolated environment, which asv creates the first time),
and prints a progress line as asv works through the benchmarks. Like the
re-measurement it imports the suite once per commit (asv's forkserver), with
torch and jax, and forks it for every value; ``peakmem_`` values saved this
way carry the frameworks' resident memory (a few hundred MB) on both commits,
which makes their screen ratio read closer to 1 (their re-measurement runs
without it, see :func:`.gate_remeasure.preimports`).

It runs under this host's machine name (registering it with
``asv machine --yes`` where asv does not know it yet) and writes into the
git-ignored :data:`~.gate_asv.LOCAL_RESULTS_DIR` through a copy of the
configuration, so the committed results and ``benchmarks.json`` are left as
they were and ``git status`` stays clean.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from ..errors import InputError
from .gate_asv import register_machine, rerun_if_machine_file_was_mid_write
from .gate_remeasure import FRAMEWORKS, LAUNCH_METHOD, OUTPUT_TAIL, asv_environment, write_round_config

PROGRESS_STEP = 10.0
"""Percent of asv's run between two progress lines."""
PROGRESS_SECONDS = 60.0
"""At least one progress line this often while asv builds or runs (the environment takes minutes)."""
ASV_PERCENT = re.compile(r"^\[\s*(\d+(?:\.\d+)?)%\]\s*(?:[·.]+\s*)?(.*)$")
"""asv prints ``[ 12.50%] ··· benchmark.name   ok`` as it goes."""


def quick_run_command(config: Path, machine: str, hashfile: Path, bench: str | None) -> list[str]:
    """``asv run --quick`` of the commits in ``hashfile`` (every benchmark, or those matching ``bench``)."""
    selection = ["--bench", bench] if bench is not None else []
    return [sys.executable, "-m", "asv", "run", f"HASHFILE:{hashfile}", "--quick", "--config", str(config),
            "--machine", machine, "--launch-method", LAUNCH_METHOD, *selection]


def quick_run(config_path: Path, machine: str, commits: list[str], results_dir: Path, bench: str | None,
              progress: Callable[[str], None]) -> float:
    """One quick ``asv run`` of ``commits`` on this host, saved in ``results_dir``; returns its seconds."""
    register_machine(machine, progress)
    started = time.perf_counter()
    selection = "" if bench is None else f" (benchmarks matching {bench!r})"
    progress(f"no saved results for {', '.join(c[:8] for c in commits)} on machine {machine!r}: running the "
             f"quick asv suite{selection} for {'them' if len(commits) > 1 else 'it'} now, into {results_dir} "
             "(minutes; the first run on a host also builds asv's environment)")
    with tempfile.TemporaryDirectory(prefix="gradcheck-gate-quick-") as scratch:
        config = write_round_config(config_path, results_dir, Path(scratch))
        hashfile = Path(scratch) / "commits.txt"
        hashfile.write_text("\n".join(commits) + "\n")
        output = rerun_if_machine_file_was_mid_write(
            lambda: follow(quick_run_command(config, machine, hashfile, bench), progress, started, FRAMEWORKS),
            lambda done: "" if done.returncode in (0, 2) else done.text)
    if output.returncode not in (0, 2):  # 2: some benchmark failed, which the gate judges per value
        raise InputError(f"the quick `asv run` exited {output.returncode}; its output ends: "
                         f"...{output.text[-OUTPUT_TAIL:]}\n(see docs/benchmarks.md, 'The regression gate')")
    seconds = time.perf_counter() - started
    progress(f"quick run done in {seconds:.0f} s")
    return seconds


class Followed:
    """What a followed process printed, and how it exited."""

    def __init__(self, returncode: int, text: str) -> None:
        self.returncode, self.text = returncode, text


def follow(command: list[str], progress: Callable[[str], None], started: float,
           preimport: tuple[str, ...] = ()) -> Followed:
    """Run ``command``, turning asv's ``[ xx%]`` lines into a progress line every ``PROGRESS_STEP`` percent."""
    lines: list[str] = []
    shown, last_line_at = -PROGRESS_STEP, time.perf_counter()
    environment = {**asv_environment(preimport), "PYTHONUNBUFFERED": "1"}  # asv's lines as printed, not in blocks
    with subprocess.Popen(command, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, bufsize=1) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            matched = ASV_PERCENT.match(line.strip())
            now = time.perf_counter()
            if matched and (float(matched.group(1)) >= shown + PROGRESS_STEP or now - last_line_at > PROGRESS_SECONDS):
                shown = float(matched.group(1))
                progress(f"quick run {shown:3.0f}%: {matched.group(2).strip()[:80]} ({now - started:.0f} s so far)")
                last_line_at = now
            elif not matched and now - last_line_at > PROGRESS_SECONDS:
                progress(f"quick run: {line.strip()[:100]} ({now - started:.0f} s so far)")
                last_line_at = now
        returncode = process.wait()
    return Followed(returncode, "".join(lines))


__all__ = ["quick_run"]

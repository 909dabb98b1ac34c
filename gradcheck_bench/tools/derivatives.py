"""What each derivative kind costs an oracle, counted; and a Jacobian check timed against torch's gradcheck.

``gradcheck-bench derivatives`` writes ``results/derivatives/``:

* ``passes``: for each derivative kind and each oracle (``fd``, ``complex-step``,
  ``richardson``, and ``fd`` in the cheap mode ``mode="fast"``) on the softmax
  layer's case softmax-k10-d20-m30, and for the Hessian-vector product on the
  fraud MLP's seed case too, the forward passes counted while the oracle
  computed its derivative (in the cheap mode: its projections), while the check
  prepared the point (the cost or output there), and over the whole
  ``gb.check("numpy", oracle, ...)``, with the parameter count n beside them.
  Every number is counted by :func:`~gradcheck_bench.counting.count_forward_passes`
  while the work runs, none is a formula; each on a second run of the check, since
  the engines measure a pass's memory once per process and layout (one pass more,
  the first time only). The hand-written candidate evaluates
  the model in its own code, which evaluates no counted pass, so a check's
  passes are the preparation's and the oracle's. A kind an oracle does not give
  is a row that says so.
* ``speed``: a full Jacobian check of ``tanh(W @ X + b)``, ``W (50, 20)``,
  ``b (50, 1)``, ``X (20, 30)`` (``gb.check("torch", "fd", ..., derivative="jacobian")``)
  against ``torch.autograd.gradcheck`` in its slow mode on the same function of
  ``(W, b)`` in float64, and the cheap mode against torch's ``fast_mode=True``.
  Each comparison alternates ours and torch's, round after round, in one process
  after a warm-up, and reports the median of the rounds' ratios (torch's time
  over ours: 1 or more means ours is at least as fast) beside both medians; at
  torch's own intra-op thread setting and at one thread, since on a busy machine
  torch's threads can wait for cores longer than they compute on matrices this
  small. The fastest round of each is beside the medians: the time least moved by
  other processes. The cheap mode compares four projections where torch's
  ``fast_mode`` takes one, so a third row takes one too (``projections=1``), the
  cost of one projection against torch's. ``speed_rounds`` holds every round's times.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..check import Prepared, check, prepare
from ..counting import count_forward_passes
from ..errors import InputError
from ..frameworks.torch import limited_threads
from ..kinds import kinds
from ..models import Model, Params, PointTuple, get_model
from ..models.mlp import seed_case
from ..projections import CHEAP_KINDS, DEFAULT_PROJECTIONS, projections
from ..ravel import parameter_count
from ..sources.registry import get_spec
from ..validation import is_count
from .peers import alternating
from .atomic_files import write_text_atomically
from .report import load_average, provenance, write_provenance, write_table

RESULTS = Path("results") / "derivatives"
SEED = 0
"""The seed of every probe and projection, as ``gb.check``'s default."""
ORACLES: tuple[tuple[str, str], ...] = (("fd", "full"), ("complex-step", "full"), ("richardson", "full"),
                                        ("fd", "fast"))
"""(oracle, mode) of the passes table's rows."""
SOFTMAX_CASE = "softmax-k10-d20-m30"


@dataclass(frozen=True)
class CountedCase:
    """A point whose derivatives the passes table counts, and the kinds counted there."""

    label: str
    model: Model
    point: Callable[[], PointTuple]
    kinds: tuple[str, ...]


def counted_cases() -> list[CountedCase]:
    """Every kind on the softmax layer's larger case; the Hessian-vector product on the fraud MLP's seed case."""
    softmax = get_model("softmax")
    return [CountedCase(SOFTMAX_CASE, softmax, softmax.cases[SOFTMAX_CASE], tuple(kinds())),
            CountedCase("seed (fraud MLP)", get_model("mlp"), seed_case, ("hvp",))]


def oracle_passes(prepared: Prepared, mode: str) -> tuple[int, str]:
    """The passes the reference (the second prepared source) evaluates for the check's derivative, counted,
    and how it was checked: in the cheap mode the projections, as ``check`` takes them, where they apply."""
    candidate, reference = prepared.sources[:2]
    if mode == "fast" and prepared.request.name in CHEAP_KINDS:
        with count_forward_passes() as counter:
            projected = projections(candidate, reference, prepared.point, prepared.request, DEFAULT_PROJECTIONS, SEED)
        if projected is not None:
            return counter.passes, f"{DEFAULT_PROJECTIONS} random projections"
    with count_forward_passes() as counter:
        reference.derivative_at(prepared.point, prepared.request)
    if mode == "fast":
        why = "no cheaper mode" if prepared.request.name not in CHEAP_KINDS else "no projection applies"
        return counter.passes, f"in full ({why})"
    return counter.passes, "in full"


def passes_row(case: CountedCase, kind: str, oracle: str, mode: str) -> dict[str, Any]:
    """One kind and oracle on one case: the passes counted three ways, the verdict, or why there are none."""
    params, X, Y = case.point()
    row: dict[str, Any] = {"case": case.label, "n": parameter_count(params), "kind": kind, "oracle": oracle,
                           "mode": mode}
    given = get_spec(oracle).derivatives(case.model)
    if kind not in given:
        return {**row, "checked": f"not given: {oracle} gives {', '.join(sorted(given))} of {case.model.name}"}
    def run() -> bool:
        return check("numpy", oracle, params, X, Y, model=case.model, derivative=kind, mode=mode, seed=SEED).passed

    run()  # the engines measure a pass's memory once per process and layout: one pass more, the first time only
    with count_forward_passes() as whole:
        passed = run()
    with count_forward_passes() as setup:
        prepared = prepare(("numpy", oracle), params, X, Y, model=case.model, derivative=kind, seed=SEED)
    passes, checked = oracle_passes(prepared, mode)
    return {**row, "oracle_passes": passes, "oracle_passes_over_n": passes / row["n"], "setup_passes": setup.passes,
            "check_passes": whole.passes, "checked": checked, "verdict": "pass" if passed else "FAIL"}


COUNTS = ("oracle_passes", "setup_passes", "check_passes")


def passes_table() -> pd.DataFrame:
    """Every kind and oracle on every counted case (the candidate is the model's hand-written derivative)."""
    table = pd.DataFrame([passes_row(case, kind, oracle, mode) for case in counted_cases() for kind in case.kinds
                          for oracle, mode in ORACLES])
    for column in COUNTS:  # whole numbers, blank where the oracle does not give the kind (not NaN floats)
        table[column] = pd.Series([None if pd.isna(value) else int(value) for value in table[column]], dtype=object)
    return table


# --------------------------------------------------------------------------
# Speed: a Jacobian check against torch.autograd.gradcheck, alternating
# --------------------------------------------------------------------------


def tanh_layer(params: Params, X: Any, Y: Any = None, xp: Any = np) -> Any:
    """``tanh(W @ X + b)``: an output of shape ``(W.shape[0], X.shape[1])``, written against ``xp``."""
    return xp.tanh(params["W"] @ X + params["b"])


TANH_LAYER = Model(name="tanh-layer", function=tanh_layer,
                   description="tanh(W @ X + b), W (50, 20), b (50, 1), X (20, 30): an output (50, 30)")


def tanh_point(seed: int = 0) -> tuple[Params, np.ndarray]:
    """``W (50, 20)``, ``b (50, 1)`` and ``X (20, 30)``, float64, from ``seed``."""
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((50, 20)) / np.sqrt(20), "b": 0.1 * rng.standard_normal((50, 1))}
    return params, rng.standard_normal((20, 30))


def our_jacobian_check(mode: str, count: int = DEFAULT_PROJECTIONS) -> Callable[[], bool]:
    """``gb.check("torch", "fd", ..., derivative="jacobian", mode=mode, projections=count)`` on the tanh layer;
    returns the verdict."""
    params, X = tanh_point()
    return lambda: check("torch", "fd", params, X, None, model=TANH_LAYER, derivative="jacobian", mode=mode,
                         projections=count, seed=SEED).passed


def torch_jacobian_check(fast_mode: bool) -> Callable[[], bool]:
    """``torch.autograd.gradcheck`` of the same function of ``(W, b)``, float64; returns its verdict."""
    import torch

    params, X = tanh_point()
    data = torch.from_numpy(X)
    inputs = tuple(torch.tensor(params[name], dtype=torch.float64, requires_grad=True) for name in ("W", "b"))

    def function(W: Any, b: Any) -> Any:
        return torch.tanh(W @ data + b)

    return lambda: bool(torch.autograd.gradcheck(function, inputs, fast_mode=fast_mode, raise_exception=False))


COMPARISONS: dict[str, tuple[str, int, str, str, bool]] = {
    "full Jacobian check": ("full", DEFAULT_PROJECTIONS, 'gb.check("torch", "fd", derivative="jacobian")',
                            "torch.autograd.gradcheck (slow mode)", False),
    "cheap mode": ("fast", DEFAULT_PROJECTIONS, 'gb.check("torch", "fd", derivative="jacobian", mode="fast")',
                   "torch.autograd.gradcheck(fast_mode=True)", True),
    "cheap mode, one projection": ("fast", 1, 'gb.check("torch", "fd", derivative="jacobian", mode="fast", '
                                   'projections=1)', "torch.autograd.gradcheck(fast_mode=True)", True),
}
"""comparison -> (our mode, our projections, what we run, what torch runs, torch's fast_mode). The cheap mode
compares ``DEFAULT_PROJECTIONS`` random projections; torch's fast_mode one per input, so the last row takes
one, for the cost of a projection alike (it checks less than the default)."""


def speed_rows(rounds: int, fast_rounds: int, threads: Sequence[int | None]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each comparison at each thread setting (None: torch's own): the summary rows, and every round."""
    try:
        import torch
    except ImportError as missing:
        return pd.DataFrame([{"comparison": name, "status": f"unavailable ({missing})"}
                             for name in COMPARISONS]), pd.DataFrame()
    summaries, every_round = [], []
    for setting in threads:
        with limited_threads(torch, setting):
            used = torch.get_num_threads()
            for name, (mode, count, ours, theirs, fast_mode) in COMPARISONS.items():
                run_ours, run_torch = our_jacobian_check(mode, count), torch_jacobian_check(fast_mode)
                verdicts = run_ours(), run_torch()
                count = fast_rounds if mode == "fast" else rounds
                table = alternating(run_ours, run_torch, count)  # a warm-up of each, then rounds: ours, torch's
                table = table.rename(columns={"first_s": "ours_s", "second_s": "torch_s", "ratio": "torch_over_ours"})
                threads_label = f"{used}" + (" (torch's own setting)" if setting is None else "")
                every_round.append(table.assign(comparison=name, torch_threads=threads_label))
                summaries.append({
                    "comparison": name, "ours": ours, "torch": theirs, "torch_threads": threads_label,
                    "rounds": count, "ours_median_s": statistics.median(table["ours_s"]),
                    "torch_median_s": statistics.median(table["torch_s"]),
                    "torch_over_ours": statistics.median(table["torch_over_ours"]),
                    "ours_fastest_s": table["ours_s"].min(), "torch_fastest_s": table["torch_s"].min(),
                    "ours_verdict": "pass" if verdicts[0] else "FAIL",
                    "torch_verdict": "pass" if verdicts[1] else "FAIL", "status": "ok",
                })
    rounds_table = pd.concat(every_round, ignore_index=True)
    columns = ["comparison", "torch_threads", "round", "ours_s", "torch_s", "torch_over_ours"]
    return pd.DataFrame(summaries), rounds_table[columns]


def run_derivatives(out: Path = RESULTS, rounds: int = 9, fast_rounds: int = 101,
                    threads: Sequence[int | None] = (None, 1)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Count the passes, time the Jacobian checks, and write ``passes`` and ``speed`` (+ ``speed_rounds``)."""
    if not (is_count(rounds) and is_count(fast_rounds)):
        raise InputError(f"rounds and fast_rounds must be whole numbers of at least 1, got {rounds!r} and "
                         f"{fast_rounds!r}.")
    record = provenance(rounds=rounds, fast_rounds=fast_rounds, projections=DEFAULT_PROJECTIONS, seed=SEED,
                        torch_threads=["torch's own" if t is None else t for t in threads])
    passes = passes_table()
    write_table(passes, out, "passes", "Forward passes of each derivative kind, counted")
    speed, every_round = speed_rows(rounds, fast_rounds, threads)
    finished = load_average()
    write_table(speed, out, "speed", "A Jacobian check against torch.autograd.gradcheck, alternating rounds")
    notes = [
        "torch_over_ours: each round times ours, then torch's; the median over the rounds of torch's time over "
        "ours (1 or more: ours at least as fast). The medians and the fastest round of each are beside it.",
        f"Load average (1, 5, 15 minutes) on this {record['cpu_count']}-CPU machine: "
        f"{record['load_average_at_start']} when the run began, {finished} when it ended (provenance.json).",
    ]
    speed_page = out / "speed.md"
    write_text_atomically(speed_page, speed_page.read_text() + "\n" + "".join(f"- {line}\n" for line in notes))
    if not every_round.empty:
        write_table(every_round, out, "speed_rounds", "Every round of the speed comparison")
    write_provenance(out, {**record, "load_average_at_finish": finished})
    return passes, speed

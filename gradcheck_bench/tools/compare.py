"""The comparison report: every candidate against every reference on a set of cases.

``gradcheck-bench compare`` (or :func:`compare_sources`) computes each
source's gradient once per case, timing it, and then checks every
(candidate, reference) pair on those gradients. The result is one pandas
row per (case, candidate, reference): the relative difference, the verdict,
the worst tensor and its least-squares scale, the time per gradient of both
sources (median of repeats, with the first call and any jit compile time
apart), and how many forward passes the reference needed.

Cases: the exercise's seed case, random fraud nets (4-5-3-1) at several seeds
and example counts, wider and deeper He-initialised MLPs up to about 10,000
parameters, and the 1-D model. Sources whose framework is not installed are
listed as unavailable, not errors.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..check import compare_gradients
from ..counting import count_forward_passes
from ..errors import InputError
from ..models import Model, Params, get_model, model_names
from ..progress import progress_bar
from ..sources.registry import SourceSpec, build_source, get_spec, source_specs
from ..validation import validate_gradient, validate_threshold
from .interruption import saying_where
from .report import provenance, write_provenance, write_table

DEFAULT_OUTPUT = Path("results") / "compare"
CANDIDATE_KINDS = ("hand-written", "planted-bug", "autograd")
REFERENCE_KINDS = ("oracle", "autograd")
KINK_WARNING_MARGIN = 1e-3
"""Below this ``relu_margin`` the summary explains an unexpected fd verdict as a kink crossing."""


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A named point of a model to check at: ``build()`` returns a fresh ``(params, X, Y)``."""

    name: str
    model: Model
    build: Callable[[], tuple[Params, Any, Any]] = field(repr=False)

    def point(self) -> tuple[Params, Any, Any]:
        return self.build()

    def relu_margin(self) -> float:
        """How close the point is to a kink of the model (min |Z| over hidden units and examples).

        A finite-difference step that moves some hidden ``Z`` across 0 measures
        a one-sided slope, not the gradient. NaN for models without declared kinks.
        """
        if self.model.layers is None:
            return math.nan
        params, X, Y = self.point()
        net = self.model.layers(params, X, Y)
        hidden = net.Z[1:-1]
        return min((float(np.min(np.abs(Z))) for Z in hidden), default=math.nan)


def default_cases(models: list[Model] | None = None) -> dict[str, Case]:
    """The cases of a default run, by name, in report order: every case every model declares."""
    chosen = models if models is not None else [get_model(name) for name in model_names()]
    return {name: Case(name, model, build) for model in chosen for name, build in model.cases.items()}


def select_cases(names: list[str] | None, models: list[Model] | None = None) -> list[Case]:
    """The named cases (all when ``names`` is None); an unknown name is an InputError."""
    cases = default_cases(models)
    if names is None:
        return list(cases.values())
    unknown = [name for name in names if name not in cases]
    if unknown or not names:
        raise InputError(
            f"unknown case(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(cases)}."
        )
    return [cases[name] for name in names]


# --------------------------------------------------------------------------
# Sources: which ones, and timing them
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceChoice:
    """The sources a run uses, and those asked for (or defaulted) but not installed."""

    candidates: list[str]
    references: list[str]
    unavailable: dict[str, str]  # name -> install hint


def default_source_names(kinds: tuple[str, ...]) -> list[str]:
    return [name for name, spec in source_specs().items() if spec.kind in kinds]


def choose_sources(candidates: list[str] | None, references: list[str] | None) -> SourceChoice:
    """Resolve the names (unknown names are errors); split off the unavailable ones."""
    candidates = default_source_names(CANDIDATE_KINDS) if candidates is None else candidates
    references = default_source_names(REFERENCE_KINDS) if references is None else references
    if not candidates or not references:
        raise InputError("compare needs at least one candidate and one reference source.")
    specs = {name: get_spec(name) for name in [*candidates, *references]}
    unavailable = {name: _install_hint(spec) for name, spec in specs.items() if not spec.is_available()}
    return SourceChoice(
        candidates=[name for name in candidates if name not in unavailable],
        references=[name for name in references if name not in unavailable],
        unavailable=unavailable,
    )


def _install_hint(spec: SourceSpec) -> str:
    return spec.install_hint or f"pip install {' '.join(spec.requires)}"


@dataclass(frozen=True)
class Measurement:
    """One source's gradient at one case, and what it cost."""

    gradient: Params
    seconds: float  # median of the timed repeats (the first call excluded)
    repeats: int
    first_call_seconds: float
    compile_seconds: float  # NaN for sources that do not compile
    forward_passes: float  # counted: evaluations of the cost during the first call
    examples: int  # m, the columns of X (1 for the 1-D model)


def measure(source: Any, name: str, params: Params, X: Any, Y: Any, repeats: int, budget_seconds: float) -> Measurement:
    """Call ``source`` once cold, then time up to ``repeats`` warm calls.

    The warm calls stop early once they have used ``budget_seconds`` (at least
    one is always made), so a slow oracle on a big net costs a couple of calls,
    not ``repeats`` of them.
    """
    compiled_before = getattr(source, "compile_seconds", None)
    with count_forward_passes() as counter:
        start = time.perf_counter()
        gradient = validate_gradient(source(params, X, Y), params, name)
        first_call = time.perf_counter() - start
    compiled_after = getattr(source, "compile_seconds", None)
    times: list[float] = []
    while len(times) < repeats and (not times or sum(times) < budget_seconds):
        start = time.perf_counter()
        source(params, X, Y)
        times.append(time.perf_counter() - start)
    return Measurement(
        gradient=gradient,
        seconds=statistics.median(times),
        repeats=len(times),
        first_call_seconds=first_call,
        compile_seconds=(compiled_after - compiled_before) if compiled_before is not None else math.nan,
        forward_passes=float(counter.passes),
        examples=int(np.shape(X)[1]) if np.ndim(X) == 2 else 1,
    )


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparisonReport:
    """The outcome of a comparison run: the table, its header, and what could not run."""

    table: pd.DataFrame
    header: dict[str, Any]
    unavailable: dict[str, str]

    @property
    def unexpected(self) -> pd.DataFrame:
        """Rows whose verdict is not the expected one (a planted bug passing, or a real source failing)."""
        return self.table[~self.table["as_expected"]]

    def text(self) -> str:
        """The table for a terminal, then a one-paragraph summary."""
        return format_comparison(self)

    def write(self, directory: str | Path = DEFAULT_OUTPUT, stem: str = "compare") -> dict[str, Path]:
        """Write CSV, JSON and Markdown (each atomically) and provenance.json; return the paths."""
        paths = write_table(self.table, directory, stem, "gradcheck-bench compare")
        paths["provenance"] = write_provenance(directory, {**self.header, "unavailable": self.unavailable})
        return paths


def compare_sources(
    cases: list[str] | None = None,
    candidates: list[str] | None = None,
    references: list[str] | None = None,
    *,
    threshold: float | None = None,
    repeats: int = 5,
    budget_seconds: float = 0.25,
    device: str | None = None,
    threads: int | None = None,
    eps: float | None = None,
    show_progress: bool | None = None,
    models: list[Model] | None = None,
) -> ComparisonReport:
    """Check every candidate against every reference on every case, timing every source.

    Arguments left as None mean "all": every case of :func:`default_cases`,
    every installed source of kind hand-written/planted-bug/autograd as a
    candidate and of kind oracle/autograd as a reference. A pair is skipped
    when a source does not handle the case's model (``numpy-buggy`` on the
    1-D model) or when candidate and reference are the same source.
    ``device`` goes to the sources that take one (torch, jax), ``threads`` to
    torch (its intra-op threads during each call; None leaves torch's own),
    ``eps`` to the finite-difference oracles (None: their dtype-aware default).
    """
    if not (isinstance(repeats, int) and repeats >= 1):
        raise InputError(f"repeats must be a positive integer, got {repeats!r}.")
    if threshold is not None:
        validate_threshold(threshold)
    record = provenance(cases=cases, candidates=candidates, references=references, threshold=threshold,
                        repeats=repeats, budget_seconds=budget_seconds, device=device, threads=threads, eps=eps)
    selected_cases = select_cases(cases, models)
    choice = choose_sources(candidates, references)
    options = {
        key: value for key, value in (("device", device), ("threads", threads), ("eps", eps)) if value is not None
    }
    plan = [(case, name) for case in selected_cases for name in _sources_for(case, choice)]
    measurements: dict[tuple[str, str], Measurement] = {}
    margins = {case.name: case.relu_margin() for case in selected_cases}
    source_settings: dict[str, dict[str, Any]] = {}
    reached = {"case": "", "source": ""}

    def where() -> str:
        return (f"compare stopped at case {reached['case']!r}, source {reached['source']!r} "
                f"({len(measurements)} of {len(plan)} measurements done); no report file was written, "
                "so the previous ones are intact.")

    with saying_where(where), progress_bar(total=len(plan), description="compare", show=show_progress) as bar:
        for case, name in plan:
            reached.update(case=case.name, source=name)
            bar.set_postfix_str(f"{case.name}: {name}")
            source = build_source(name, case.model, **options)
            if _settings_of(source):
                source_settings.setdefault(name, _settings_of(source))
            params, X, Y = case.point()
            measurements[case.name, name] = measure(source, name, params, X, Y, repeats, budget_seconds)
            bar.update(1)
    rows = [
        _row(case, candidate, reference, measurements, threshold, margins[case.name])
        for case in selected_cases
        for candidate in choice.candidates
        for reference in choice.references
        if candidate != reference and (case.name, candidate) in measurements
        and (case.name, reference) in measurements
    ]
    header = {**record, "timing": f"median of up to {repeats} warm calls within {budget_seconds} s, first call apart",
              "source_settings": source_settings}
    return ComparisonReport(table=pd.DataFrame(rows, columns=COLUMNS), header=header, unavailable=choice.unavailable)


def _sources_for(case: Case, choice: SourceChoice) -> list[str]:
    wanted = list(dict.fromkeys([*choice.candidates, *choice.references]))
    return [name for name in wanted if get_spec(name).applies_to(case.model)]


def _settings_of(source: Any) -> dict[str, Any]:
    """The options a built source reports (eps, engine, device), for the header."""
    return {key: str(getattr(source, key)) for key in ("eps", "engine", "device", "threads") if hasattr(source, key)}


COLUMNS = [
    "case", "model", "parameters", "examples", "relu_margin", "candidate", "reference", "difference", "threshold",
    "verdict", "expected", "as_expected", "worst_parameter", "worst_parameter_difference",
    "worst_parameter_scale", "culprits", "candidate_seconds", "candidate_first_call_seconds",
    "candidate_compile_seconds", "reference_seconds", "reference_first_call_seconds",
    "reference_compile_seconds", "reference_forward_passes", "candidate_repeats", "reference_repeats",
]


def _row(case: Case, candidate: str, reference: str, measurements: dict[tuple[str, str], Measurement],
         threshold: float | None, relu_margin: float) -> dict[str, Any]:
    ours, theirs = measurements[case.name, candidate], measurements[case.name, reference]
    result = compare_gradients(ours.gradient, theirs.gradient, threshold=threshold,
                               candidate_name=candidate, reference_name=reference)
    worst = result.per_parameter["difference"].idxmax()
    verdict = "PASS" if result.passed else "FAIL"
    expected = "FAIL" if get_spec(candidate).kind == "planted-bug" else "PASS"
    return {
        "case": case.name,
        "model": case.model.name,
        "parameters": sum(int(np.size(g)) for g in ours.gradient.values()),
        "examples": ours.examples,
        "relu_margin": relu_margin,
        "candidate": candidate,
        "reference": reference,
        "difference": result.difference,
        "threshold": result.threshold,
        "verdict": verdict,
        "expected": expected,
        "as_expected": verdict == expected,
        "worst_parameter": worst,
        "worst_parameter_difference": float(result.per_parameter.loc[worst, "difference"]),
        "worst_parameter_scale": float(result.per_parameter.loc[worst, "scale"]),
        "culprits": " ".join(result.culprits),
        "candidate_seconds": ours.seconds,
        "candidate_first_call_seconds": ours.first_call_seconds,
        "candidate_compile_seconds": ours.compile_seconds,
        "reference_seconds": theirs.seconds,
        "reference_first_call_seconds": theirs.first_call_seconds,
        "reference_compile_seconds": theirs.compile_seconds,
        "reference_forward_passes": theirs.forward_passes,
        "candidate_repeats": ours.repeats,
        "reference_repeats": theirs.repeats,
    }


# --------------------------------------------------------------------------
# Showing it
# --------------------------------------------------------------------------


def _milliseconds(seconds: float) -> str:
    return "-" if not np.isfinite(seconds) else f"{seconds * 1e3:.3g}"


def format_comparison(report: ComparisonReport) -> str:
    """A compact terminal table (times in ms) and a summary of verdicts and unavailable sources."""
    table = report.table
    shown = pd.DataFrame({
        "case": table["case"],
        "candidate": table["candidate"],
        "reference": table["reference"],
        "difference": [f"{d:.2e}" for d in table["difference"]],
        "verdict": [v if ok else f"{v}(!)" for v, ok in zip(table["verdict"], table["as_expected"])],
        "worst": [f"{p} x{s:.3f}" if np.isfinite(s) else f"{p} x nan"
                  for p, s in zip(table["worst_parameter"], table["worst_parameter_scale"])],
        "cand ms": [_milliseconds(s) for s in table["candidate_seconds"]],
        "ref ms": [_milliseconds(s) for s in table["reference_seconds"]],
        "ref 1st ms": [_milliseconds(s) for s in table["reference_first_call_seconds"]],
        "ref jit ms": [_milliseconds(s) for s in table["reference_compile_seconds"]],
        "relu margin": [f"{m:.1e}" if np.isfinite(m) else "-" for m in table["relu_margin"]],
        "ref passes": ["-" if not np.isfinite(p) else f"{int(p)}" for p in table["reference_forward_passes"]],
    })
    lines = [shown.to_string(index=False) if len(shown) else "(no pairs to compare)", ""]
    lines.append(_verdict_summary(report))
    for name, hint in report.unavailable.items():
        lines.append(f"unavailable: {name} (install with: {hint})")
    return "\n".join(lines)


def _verdict_summary(report: ComparisonReport) -> str:
    table = report.table
    passed = int((table["verdict"] == "PASS").sum())
    summary = f"{len(table)} checks: {passed} PASS, {len(table) - passed} FAIL; "
    if report.unexpected.empty:
        return summary + "every verdict as expected (planted-bug sources fail, all others pass)."
    pairs = ", ".join(f"{r.case}: {r.candidate} vs {r.reference} {r.verdict}" for r in report.unexpected.itertuples())
    lines = [summary + f"{len(report.unexpected)} UNEXPECTED, marked (!): {pairs}."]
    for case, rows in report.unexpected.groupby("case", sort=False):
        margin = float(rows["relu_margin"].iloc[0])
        if np.isfinite(margin) and margin < KINK_WARNING_MARGIN:
            lines.append(
                f"  {case}: a hidden pre-activation is only |Z| = {margin:.2g} from the ReLU kink, so a "
                "finite-difference step there can cross it and measure a one-sided slope; where the "
                "autograd sources agree with each other, the mismatch is fd's, not the candidate's."
            )
    return "\n".join(lines)

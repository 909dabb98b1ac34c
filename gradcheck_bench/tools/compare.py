"""The comparison run: every candidate against every reference on every case, one outcome per cell.

``gradcheck-bench compare`` (or :func:`compare_sources`) computes each
source's gradient once per case, timing it within a per-cell budget, and
then checks every (candidate, reference) pair on those gradients, the way
:func:`gradcheck_bench.check` does: the point and the model's point check
(:func:`~gradcheck_bench.check.prepare`), then the one judge with the
precision rule and, where the first look fails, the sources' second look
(:func:`~gradcheck_bench.check.judged`), in a budgeted worker of its own,
since the second look runs the oracle again. So a cell's verdict is
``check``'s on the same pair, point and options. Each pair on each case is a
cell with one outcome (:mod:`.compare_cells`): PASS or FAIL from the check,
UNAVAILABLE (framework not installed), TIMEOUT (no gradient, or no verdict,
within ``budget`` seconds) or ERROR (a source or the check raised; its
message is kept). A broken or slow source costs its own cells, never the run.

Beyond the gradient, a case is checked for the other derivative kinds its
model's hand-written source declares (a Jacobian, JVP, VJP or HVP:
:mod:`gradcheck_bench.kinds`), each against every reference that gives that
kind; a reference that cannot give a kind has no cell for it, as a source
that does not handle a model has none. Each (source, kind) is measured once
per case, its tangent, cotangent or vector drawn by ``prepare`` from the
default seed, so both sources of a cell are given the same probe. The default
run checks the gradient on every case and the other kinds on each model's
first (smallest) case; ``derivatives=`` chooses the kinds for every case.

Two tables come out: ``table``, one row per (case, derivative, candidate,
reference), with the relative difference, the verdict, the worst tensor and
its least-squares scale, and both sources' times; and ``sources``, one row
per (case, derivative, source), with the time per derivative (median of warm
calls, the first call and any jit compile apart), the counted forward passes,
and the time relative to one evaluation of the cost and to the hand-written
source's.
:meth:`ComparisonReport.write` renders the files (:mod:`.compare_summary`,
:mod:`.compare_figures`, :mod:`.compare_html`) and
:meth:`ComparisonReport.summary` the screen.
"""

from __future__ import annotations

import importlib.util
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .. import gradbench
from ..check import judged, prepare
from ..counting import count_forward_passes
from ..errors import InputError, NotApplicable
from ..differences.engines import engines
from ..gradient import Gradient
from ..judge import DEFAULT_THRESHOLD, Tolerance
from ..kinds import GRADIENT, Request, kinds
from ..models import Model, Params, get_model, model_names
from ..point import Point
from ..progress import progress_bar
from ..ravel import leaves_by_path, parameter_count
from ..result import CheckResult
from ..source import GradientSource
from ..sources.registry import SourceSpec, build_source, get_spec, option_owners, source_specs, unused_options
from ..validation import is_count, is_positive_number, validate_gradient, validate_threshold
from . import compare_figures, compare_html, compare_summary
from .atomic_files import write_bytes_atomically, write_text_atomically
from .compare_cells import (DEFAULT_BUDGET, FAIL, INCOMPLETE, OK, PASS, SEVERITY, UNAVAILABLE, Cell, CellRun,
                            prepare_forking, run_each_within_budget, run_within_budget)
from .interruption import saying_where
from .report import provenance, table_to_json, write_provenance

DEFAULT_OUTPUT = Path("results") / "compare"
CANDIDATE_KINDS = ("hand-written", "planted-bug", "autograd")
REFERENCE_KINDS = ("oracle", "autograd")
FULL_REFERENCE_KINDS = (*REFERENCE_KINDS, "compiled")
"""A compiled source (``torch-compile``) is a reference column of a ``--full`` run, or where it is named: its
compile takes seconds per case (most of a minute over the default cases), and as a column, not a candidate row,
the summary keeps its rows."""
BASELINE_SOURCE = "numpy"
"""The hand-written source: every other one's time is also given relative to it, and the derivative kinds it
declares for a model beyond the gradient are the kinds that model's cases are checked for."""
REPEAT_SECONDS = 0.25
"""Warm repeats of a source stop once they have used this much time (at least one is made when it fits)."""
EXIT_INCOMPLETE = 3
"""``gradcheck-bench compare``'s exit status when a cell is ERROR or TIMEOUT (0 pass, 1 ``--strict`` unexpected)."""


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


def every_case(models: list[Model] | None = None) -> dict[str, Case]:
    """Every case every model declares (every registered model when ``models`` is None), by name, in report
    order: what ``--full`` runs, and the names ``--cases`` may choose from."""
    chosen = models if models is not None else [get_model(name) for name in model_names()]
    return {name: Case(name, model, build) for model in chosen for name, build in model.cases.items()}


def default_cases(models: list[Model] | None = None) -> dict[str, Case]:
    """The representative set a default run checks: each model's first case, by name, in report order.

    A model declares its cases smallest first (:attr:`~gradcheck_bench.models.Model.cases`), and its author
    keeps the first one cheap, so one case per model covers every model and every source in about a minute;
    a model added as a new file joins the set with its first case. ``--full`` (:func:`every_case`) runs the
    rest, the sizes the research figure draws.
    """
    firsts: dict[str, Case] = {}
    for case in every_case(models).values():
        firsts.setdefault(case.model.name, case)
    return {case.name: case for case in firsts.values()}


def select_cases(names: list[str] | None, models: list[Model] | None = None, full: bool = False) -> list[Case]:
    """The named cases (when ``names`` is None: :func:`default_cases`, or :func:`every_case` with ``full``);
    an unknown name is an InputError."""
    cases = every_case(models)
    if names is None:
        return list((cases if full else default_cases(models)).values())
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
    """The sources of a run, installed or not, and an install hint for each one that is not."""

    candidates: list[str]
    references: list[str]
    unavailable: dict[str, str]  # name -> install hint


def default_source_names(kinds: tuple[str, ...]) -> list[str]:
    """Every registered source of these kinds, grouped by kind in the order given."""
    specs = source_specs()
    return [name for kind in kinds for name, spec in specs.items() if spec.kind == kind]


def choose_sources(candidates: list[str] | None, references: list[str] | None, full: bool = False) -> SourceChoice:
    """Resolve the names (unknown names are errors); note which are not installed. By default every source of
    the candidate and reference kinds, the compiled ones only in a ``full`` run."""
    candidates = default_source_names(CANDIDATE_KINDS) if candidates is None else candidates
    if references is None:
        references = default_source_names(FULL_REFERENCE_KINDS if full else REFERENCE_KINDS)
    if not candidates or not references:
        raise InputError("compare needs at least one candidate and one reference source.")
    specs = {name: get_spec(name) for name in [*candidates, *references]}
    unavailable = {name: _install_hint(spec) for name, spec in specs.items() if not spec.is_available()}
    return SourceChoice(candidates=list(candidates), references=list(references), unavailable=unavailable)


def _install_hint(spec: SourceSpec) -> str:
    if spec.modules_installed() and spec.missing():
        return spec.missing()
    return spec.install_hint or f"pip install {' '.join(spec.requires)}"


@dataclass(frozen=True)
class Measurement:
    """One source's derivative at one case and what it cost, or why there is none (``outcome`` not OK)."""

    outcome: str  # OK, UNAVAILABLE, TIMEOUT or ERROR
    gradient: Gradient | Params | None = None  # the derivative as the source gave it: notes, error bars and
    # precision kept (a Jacobian's blocks, a JVP's output-shaped value for those kinds)
    seconds: float = math.nan  # steady state: median of the warm calls; when none fitted the budget, the first
    # call's time less its compile time
    repeats: int = 0  # warm calls timed
    first_call_seconds: float = math.nan
    compile_seconds: float = math.nan  # spent compiling during the first call (jit); NaN for sources that do not
    forward_passes: float = math.nan  # counted: evaluations of the cost during the first call (the cost at the
    # point, which check evaluates once for every source, is not the source's)
    message: str = ""


def measure(source: GradientSource, name: str, point: Point, repeats: int, repeat_seconds: float,
            deadline: float = math.inf, keep: Callable[[Measurement], None] | None = None,
            request: Request | None = None) -> Measurement:
    """``source.gradient_at(point)`` once cold, then up to ``repeats`` warm calls, timed, at the same point.

    ``point`` is built once (by :func:`~gradcheck_bench.check.prepare`, as
    ``check`` builds it, the cost there included) and serves every call;
    ``request`` (a kind other than the gradient, from the same ``prepare``)
    measures ``source.derivative_at(point, request)`` instead, its probe drawn
    once and given to every call. The warm calls stop once they have used
    ``repeat_seconds`` (so a slow oracle on a big case costs a call or two,
    not ``repeats`` of them), and none starts that the last call's duration
    says would end after ``deadline`` (a ``time.perf_counter()`` value).
    After the first call, ``keep`` receives the measurement so far, with the
    first call's time less its compile time as ``seconds``: what stands if a
    warm call is cut short by the budget. So ``seconds`` is always steady
    state, and ``compile_seconds`` (the source's own count, for a source that
    compiles) the time apart, as ADBench and gradbench report them.
    """
    def call() -> Gradient:
        return source.gradient_at(point) if request is None else source.derivative_at(point, request)

    compiled_before = source.compile_seconds
    with count_forward_passes() as counter:
        start = time.perf_counter()
        gradient = call()
        first_call = time.perf_counter() - start
    compiled_after = source.compile_seconds
    if request is None or request.kind.params_shaped:  # a Jacobian or JVP was read to its shapes by its kind
        validate_gradient(gradient, point.params, name)
    compiled = math.nan if compiled_before is None or compiled_after is None else compiled_after - compiled_before

    def measured(times: list[float]) -> Measurement:
        return Measurement(
            outcome=OK,
            gradient=gradient,
            seconds=statistics.median(times) if times else first_call - (0.0 if math.isnan(compiled) else compiled),
            repeats=len(times),
            first_call_seconds=first_call,
            compile_seconds=compiled,
            forward_passes=float(counter.passes),
        )

    if keep is not None:
        keep(measured([]))
    times: list[float] = []
    last = first_call
    while len(times) < repeats and sum(times) < repeat_seconds and time.perf_counter() + last < deadline:
        start = time.perf_counter()
        call()
        last = time.perf_counter() - start
        times.append(last)
    return measured(times)


@dataclass(frozen=True)
class CaseFacts:
    """What a case is (size, distance to a kink) and what one evaluation of its cost takes."""

    parameters: float = math.nan
    data_values: float = math.nan  # the numbers in X and Y (every array's elements): the data the cost is taken on
    examples: float = math.nan  # the columns of X (the MLP's m); 1 for a scalar or vector X
    relu_margin: float = math.nan
    cost_seconds: float = math.nan  # median of up to ``repeats`` calls of model.cost(params, X, Y)
    message: str = ""  # why the others are NaN, when the case could not be built or its cost failed


def case_facts(case: Case, repeats: int, repeat_seconds: float, deadline: float = math.inf) -> CaseFacts:
    """Build the case's point, measure it, and time ``model.cost`` on it (at least once)."""
    params, X, Y = case.point()
    times: list[float] = []
    while not times or (len(times) < repeats and sum(times) < repeat_seconds
                        and time.perf_counter() + times[-1] < deadline):
        start = time.perf_counter()
        case.model.cost(params, X, Y)
        times.append(time.perf_counter() - start)
    return CaseFacts(
        parameters=float(parameter_count(params)),
        data_values=float(sum(np.size(leaf) for _, leaf in leaves_by_path([X, Y]) if leaf is not None)),
        examples=float(np.shape(X)[1]) if np.ndim(X) == 2 else 1.0,
        relu_margin=case.relu_margin(),
        cost_seconds=statistics.median(times),
    )


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparisonReport:
    """The outcome of a comparison run: the cells, the per-source timings, the header, what is not installed."""

    table: pd.DataFrame
    sources: pd.DataFrame
    header: dict[str, Any]
    unavailable: dict[str, str]

    @property
    def unexpected(self) -> pd.DataFrame:
        """Checked cells whose verdict is not the expected one (a planted bug passing, a real source failing)."""
        return compare_summary.unexpected_rows(self.table)

    @property
    def incomplete(self) -> pd.DataFrame:
        """Cells the run could not check: ERROR or TIMEOUT."""
        return self.table[self.table["verdict"].isin(INCOMPLETE)]

    def summary(self, directory: str | Path = DEFAULT_OUTPUT) -> str:
        """The screen: per model a candidate x reference matrix, timings per source, where the files are."""
        return compare_summary.screen_summary(self.table, self.sources, self.header, self.unavailable,
                                              Path(directory), compare_figures.missing_matplotlib())

    def text(self, directory: str | Path = DEFAULT_OUTPUT) -> str:
        """Every row as a terminal table (times in ms), then the summary."""
        return compare_summary.full_table(self.table) + "\n\n" + self.summary(directory)

    def render(self) -> dict[str, str | bytes]:
        """Every file of the report by name (tables, Markdown, pictures, HTML), rendered in memory."""
        budget = float(self.header["settings"]["budget"])
        pictures = compare_figures.draw(self.table, self.sources, budget)
        files: dict[str, str | bytes] = {
            "compare.csv": self.table.to_csv(index=False),
            "compare.json": table_to_json(self.table),
            "sources.csv": self.sources.to_csv(index=False),
            "sources.json": table_to_json(self.sources),
            "compare.md": compare_summary.markdown_report(self.table, self.sources, self.header, list(pictures)),
            "report.html": compare_html.report_html(self.table, self.sources, self.header, self.unavailable,
                                                    pictures, compare_figures.missing_matplotlib()),
        }
        return {**files, **pictures}

    def write(self, directory: str | Path = DEFAULT_OUTPUT) -> dict[str, Path]:
        """Write every file of :meth:`render` atomically, then provenance.json; return the paths by file name.

        Everything is rendered before the first file is replaced, so a report
        that cannot be rendered changes nothing on disk.
        """
        directory = Path(directory)
        paths = {name: write_bytes_atomically(directory / name, content) if isinstance(content, bytes)
                 else write_text_atomically(directory / name, content) for name, content in self.render().items()}
        paths["provenance.json"] = write_provenance(directory, {**self.header, "unavailable": self.unavailable})
        return paths


def compare_sources(
    cases: list[str] | None = None,
    candidates: list[str] | None = None,
    references: list[str] | None = None,
    *,
    derivatives: str | Sequence[str] | None = None,
    threshold: float | None = None,
    repeats: int = 5,
    budget: float = DEFAULT_BUDGET,
    repeat_seconds: float = REPEAT_SECONDS,
    device: str | None = None,
    threads: int | None = None,
    eps: float | None = None,
    show_progress: bool | None = None,
    models: list[Model] | None = None,
    full: bool = False,
) -> ComparisonReport:
    """Check every candidate against every reference on every case, timing every source within ``budget``.

    ``cases`` None means the representative set, each model's first case (:func:`default_cases`), or with
    ``full`` every case (:func:`every_case`); the other arguments left as None mean "all":
    every registered source of kind hand-written/planted-bug/autograd as a
    candidate and of kind oracle/autograd as a reference (those not
    installed give UNAVAILABLE cells). A pair is left out when a source does
    not handle the case's model (``numpy-buggy`` on the 1-D model) or when
    candidate and reference are the same source. Each cell's verdict and
    difference are ``check(candidate, reference, *case.point(),
    model=case.model, derivative=kind, threshold=threshold, **the options they
    take)``'s, taken on the derivatives timed. ``budget`` is the wall time one
    source may take on one case and kind, its first call and warm repeats
    together, and, apart, the check of one cell (its second look may run an
    oracle again); ``device`` goes to the sources that take one (torch, jax),
    ``threads`` to torch (its intra-op threads during each call; None leaves
    torch's own), ``eps`` to the finite-difference oracles (None: their
    dtype-aware default).

    ``derivatives`` chooses the derivative kinds (:func:`kinds_for`): None
    checks the gradient on every case and, in a run over the default cases
    (``cases`` None), the other kinds the model's hand-written source declares
    on each model's first case; ``"all"`` or a list of kind names checks
    those on every case. A kind is a cell for the candidates and references
    that give it for the case's model.
    """
    if not is_count(repeats):
        raise InputError(f"repeats must be a positive integer, got {repeats!r}.")
    if not is_positive_number(budget):
        raise InputError(f"budget must be a positive number of seconds, got {budget!r}.")
    if threshold is not None:
        validate_threshold(threshold)
    wanted = chosen_derivatives(derivatives)
    started = time.perf_counter()
    record = provenance(cases=cases, candidates=candidates, references=references, derivatives=derivatives,
                        threshold=threshold, repeats=repeats, budget=budget, repeat_seconds=repeat_seconds,
                        device=device, threads=threads, eps=eps, full=full)
    selected_cases = select_cases(cases, models, full)
    choice = choose_sources(candidates, references, full)
    options = {
        key: value for key, value in (("device", device), ("threads", threads), ("eps", eps)) if value is not None
    }
    refuse_unused_options(options, [*choice.candidates, *choice.references])
    checked = {case.name: kinds_for(case, wanted, default_run=cases is None) for case in selected_cases}
    plan = [(case, kind, name) for case in selected_cases for kind in checked[case.name]
            for name in _sources_for(case, kind, choice)]
    planned = {(case.name, kind, name) for case, kind, name in plan}
    cells = [(case, kind, candidate, reference) for case in selected_cases for kind in checked[case.name]
             for candidate in choice.candidates for reference in choice.references
             if candidate != reference and {(case.name, kind, candidate), (case.name, kind, reference)} <= planned]
    prepare_forking(_frameworks({name for _, _, name in plan} - set(choice.unavailable)))
    facts: dict[str, CaseFacts] = {}
    measurements: dict[tuple[str, str, str], Measurement] = {}
    checks: dict[tuple[str, str, str, str], CellRun[dict[str, Any]] | None] = {}
    source_settings: dict[str, dict[str, Any]] = {}
    reached = {"case": "", "source": ""}

    def where() -> str:
        done = (f"{len(measurements)} of {len(plan)} measurements done" if len(measurements) < len(plan) else
                f"every measurement done, {len(checks)} of {len(cells)} cells checked")
        return (f"compare stopped at case {reached['case']!r}, source {reached['source']!r} ({done}); no report "
                "file was written, so the previous ones are intact.")

    with saying_where(where), progress_bar(total=len(plan) + len(cells), description="compare",
                                           show=show_progress) as bar:
        for case, kind, name in plan:
            if case.name not in facts:
                reached.update(case=case.name, source="(its cost)")
                bar.set_postfix_str(f"{case.name}: cost")
                facts[case.name] = _facts_within_budget(case, repeats, repeat_seconds, budget)
            reached.update(case=case.name, source=_with_kind(name, kind))
            bar.set_postfix_str(f"{case.name}: {_with_kind(name, kind)}")
            measurements[case.name, kind, name] = _measure_within_budget(
                case, kind, name, choice, options, repeats, repeat_seconds, budget, source_settings)
            bar.update(1)
        works = [_check_work(*cell, measurements, options, threshold) for cell in cells]
        runs = run_each_within_budget([work for work in works if work is not None], budget,
                                      [f"{case.name}: {_pair(candidate, reference, kind)}"
                                       for (case, kind, candidate, reference), work in zip(cells, works) if work])
        for (case, kind, candidate, reference), work in zip(cells, works):
            pair = _pair(candidate, reference, kind)
            reached.update(case=case.name, source=f"{pair} (the check)")
            bar.set_postfix_str(f"{case.name}: {pair}")
            checks[case.name, kind, candidate, reference] = None if work is None else next(runs)
            bar.update(1)
    rows = [_row(case, kind, candidate, reference, measurements, checks[case.name, kind, candidate, reference],
                 threshold, facts[case.name]) for case, kind, candidate, reference in cells]
    header = {**record, "wall_seconds": time.perf_counter() - started, "source_settings": source_settings,
              "timing": f"median of up to {repeats} warm calls within {repeat_seconds} s, first call and compile "
                        "time apart; "
                        f"at most {budget:g} s per source, case and derivative",
              "derivatives": {case.name: checked[case.name] for case in selected_cases},
              "probes": "tangents, cotangents and vectors drawn from prepare's default seed (check's): the same "
                        "for both sources of a cell, and for check on the same pair"}
    return ComparisonReport(table=_counts_as_integers(pd.DataFrame(rows, columns=COLUMNS)),
                            sources=_counts_as_integers(_sources_table(plan, measurements, facts)),
                            header=header, unavailable=choice.unavailable)


ALL_DERIVATIVES = "all"
"""``derivatives="all"``: every kind, on every case, where the model's hand-written source declares it."""


def chosen_derivatives(derivatives: str | Sequence[str] | None) -> frozenset[str] | None:
    """The kinds asked for by name (``"all"``: every kind); None stays None (the default run's choice)."""
    if derivatives is None:
        return None
    names = [derivatives] if isinstance(derivatives, str) else list(derivatives)
    known = kinds()
    if ALL_DERIVATIVES in names:
        return frozenset(known)
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise InputError(f"unknown derivative(s) {', '.join(map(str, unknown)) or '(none given)'}; choose from "
                         f"{', '.join(known)}, or {ALL_DERIVATIVES}.")
    return frozenset(names)


def declared_kinds(model: Model) -> frozenset[str]:
    """The derivative kinds the model's hand-written source gives (nothing where it has none)."""
    spec = get_spec(BASELINE_SOURCE)
    return spec.derivatives(model) if spec.applies_to(model) else frozenset()


def kinds_for(case: Case, wanted: frozenset[str] | None, default_run: bool) -> list[str]:
    """The kinds a case is checked for, in :func:`~gradcheck_bench.kinds.kinds` order.

    The gradient wherever it is wanted, as before there were kinds; each other
    kind where it is wanted and the model's hand-written source declares it.
    ``wanted`` None (no ``derivatives=``): the gradient, and in a default run
    on the model's first case (the smallest: models declare their cases
    smallest first) every kind, so a default run stays short; a run over
    named cases checks their gradients, as it did.
    """
    if wanted is None:
        first = default_run and case.name == next(iter(case.model.cases), None)
        wanted = frozenset(kinds()) if first else frozenset({GRADIENT})
    declared = declared_kinds(case.model)
    return [kind for kind in kinds() if kind in wanted and (kind == GRADIENT or kind in declared)]


def _with_kind(text: str, kind: str) -> str:
    """``text`` with the derivative kind after it where it is not the gradient (how the screen names a cell)."""
    return text if kind == GRADIENT else f"{text} ({kind})"


def _counts_as_integers(table: pd.DataFrame) -> pd.DataFrame:
    """The counts (``parameters``, ``data_values``, ``examples``) as whole numbers in the files, unless a broken
    case left one unknown."""
    for column in ("parameters", "data_values", "examples"):
        if column in table and table[column].notna().all():
            table[column] = table[column].astype(int)
    return table


def refuse_unused_options(options: dict[str, Any], sources: list[str]) -> None:
    """An option that none of the chosen sources takes would be ignored: say so instead."""
    unused = unused_options(sources, options)
    if unused:
        raise InputError(f"option(s) {', '.join(unused)} are not taken by any of the sources compared "
                         f"({', '.join(sources)}); drop them, or add a source that takes them (device and "
                         "threads: torch, jax; eps: the finite-difference oracles).")


def _sources_for(case: Case, kind: str, choice: SourceChoice) -> list[str]:
    """The run's sources that handle the case's model and give ``kind`` for it (any gives the gradient)."""
    wanted = list(dict.fromkeys([*choice.candidates, *choice.references]))
    specs = {name: get_spec(name) for name in wanted}
    return [name for name, spec in specs.items() if spec.applies_to(case.model)
            and (kind == GRADIENT or kind in spec.derivatives(case.model))]


def _frameworks(names: set[str]) -> list[str]:
    """The optional frameworks the cells may import: the sources' own, and those of fd's automatic engines."""
    declared = [module for name in sorted(names) for module in get_spec(name).requires]
    declared += [module for engine in engines().values() if engine.auto_rank is not None for module in engine.requires]
    return [module for module in dict.fromkeys(declared) if importlib.util.find_spec(module) is not None]


def options_for(names: list[str], options: dict[str, Any]) -> dict[str, Any]:
    """The run's options that at least one of the named sources takes: what ``check`` on them would be given."""
    taken = set().union(*option_owners(names).values())
    return {key: value for key, value in options.items() if key in taken}


def _facts_within_budget(case: Case, repeats: int, repeat_seconds: float, budget: float) -> CaseFacts:
    run = run_within_budget(lambda cell: case_facts(case, repeats, repeat_seconds, cell.deadline), budget,
                            f"{case.name}: cost")
    if run.outcome != OK:
        return CaseFacts(message=f"{run.outcome}: {run.message}")
    assert run.value is not None  # OK carries what case_facts returned
    return run.value


def _measure_within_budget(case: Case, kind: str, name: str, choice: SourceChoice, options: dict[str, Any],
                           repeats: int, repeat_seconds: float, budget: float,
                           source_settings: dict[str, dict[str, Any]]) -> Measurement:
    """One source's ``kind`` on one case: UNAVAILABLE, or built and measured in a budgeted worker.

    The point and the request are ``prepare``'s, as ``check`` builds them
    for this kind, its probe drawn from ``prepare``'s default seed (which is
    ``check``'s), so the two sources of a cell, and ``check`` on the same
    pair, are given the same probe.
    """
    if name in choice.unavailable:
        if get_spec(name).modules_installed():  # installed, but the machine lacks something (a C++ compiler)
            return Measurement(UNAVAILABLE, message=f"unavailable here: {choice.unavailable[name]}")
        return Measurement(UNAVAILABLE, message=f"not installed; install with: {choice.unavailable[name]}")

    def work(cell: Cell) -> tuple[Measurement, dict[str, Any]]:
        params, X, Y = case.point()
        prepared = prepare((name,), params, X, Y, model=case.model, derivative=kind,
                           **options_for([name], options))
        source = prepared.sources[0]
        settings = source.settings()
        # the gradient is measured by the same call as before there were kinds; another kind by its request
        asked = {} if kind == GRADIENT else {"request": prepared.request}
        try:
            return measure(source, name, prepared.point, repeats, repeat_seconds, cell.deadline,
                           keep=lambda so_far: cell.keep((so_far, settings)), **asked), settings
        except NotApplicable as refusal:  # the source cannot serve this model: no error of the run
            return Measurement(UNAVAILABLE, message=f"unavailable for this model: {refusal}"), settings

    run = run_within_budget(work, budget, f"{case.name}: {_with_kind(name, kind)}")
    if run.outcome != OK:
        return Measurement(run.outcome, message=run.message)
    assert run.value is not None  # OK carries what work returned, or the last pair it kept
    measurement, settings = run.value
    if settings:
        source_settings.setdefault(name, settings)
    return measurement


def _check_work(case: Case, kind: str, candidate: str, reference: str,
                measurements: dict[tuple[str, str, str], Measurement], options: dict[str, Any],
                threshold: float | None) -> Callable[[Cell], dict[str, Any]] | None:
    """The verdict on one cell, as ``check(candidate, reference, *case.point(), model=case.model,
    derivative=kind, ...)`` takes it, on the derivatives measured, as work for a budgeted worker (the second
    look, and a failing JVP's one-tensor-at-a-time re-check, run the sources again); None when a source has
    nothing to check."""
    ours, theirs = measurements[case.name, kind, candidate], measurements[case.name, kind, reference]
    if ours.outcome != OK or theirs.outcome != OK:
        return None

    def work(cell: Cell) -> dict[str, Any]:
        params, X, Y = case.point()
        prepared = prepare((candidate, reference), params, X, Y, model=case.model, derivative=kind,
                           **options_for([candidate, reference], options))
        # what check's first look would have cost: the two sources' measured times and counted forward passes
        prepared = prepared.after_first_look(ours.seconds + theirs.seconds,
                                             ours.forward_passes + theirs.forward_passes)
        return _verdict_columns(judged(prepared, (ours.gradient, theirs.gradient), Tolerance.of(threshold)))

    return work


def _pair(candidate: str, reference: str, kind: str) -> str:
    """``numpy vs fd (jvp)``: how the screen names a cell's pair."""
    return _with_kind(f"{candidate} vs {reference}", kind)


def _verdict_columns(result: CheckResult) -> dict[str, Any]:
    """What a row keeps of a check (a few numbers: the worker sends them back, not the gradients)."""
    worst = result.per_parameter["difference"].idxmax()
    mismatch = gradbench_mismatch(result)
    return {
        "gradbench_mismatch": mismatch,
        "gradbench_passes": bool(np.isfinite(mismatch) and mismatch <= gradbench.TOLERANCE),
        "difference": result.difference,
        "threshold": result.threshold,
        "verdict": PASS if result.passed else FAIL,
        "worst_parameter": worst,
        "worst_parameter_difference": float(result.per_parameter.loc[worst, "difference"]),
        "worst_parameter_scale": float(result.per_parameter.loc[worst, "scale"]),
        "culprits": " ".join(result.culprits),
        "exposed_by": " ".join(result.exposed_by),
    }


def gradbench_mismatch(result: CheckResult) -> float:
    """gradbench's validation figure for a cell: the worst ``|x - y| / max(1, |x| + |y|)`` over every number of
    the candidate's derivative ``x`` and the reference's ``y`` (:func:`gradcheck_bench.gradbench.mismatch`; a
    complex number as its real and imaginary parts); NaN where a number is not finite. gradbench passes a tool
    whose figure is at most 1e-4: a looser rule than the threshold's, on other numbers, shown beside it."""
    worst = 0.0
    for name, expected in result.reference_gradient.items():
        x, y = np.asarray(result.candidate_gradient[name]), np.asarray(expected)
        if np.iscomplexobj(x) or np.iscomplexobj(y):
            x, y = np.stack([x.real, x.imag]), np.stack([np.real(y), np.imag(y)])
        numbers = gradbench.mismatch(x, y)
        if numbers.size and not np.all(np.isfinite(numbers)):
            return math.nan
        worst = max(worst, float(numbers.max(initial=0.0)))
    return worst


COLUMNS = [
    "case", "model", "parameters", "examples", "relu_margin", "derivative", "candidate", "reference", "difference",
    "threshold", "verdict", "expected", "as_expected", "gradbench_mismatch", "gradbench_passes", "worst_parameter",
    "worst_parameter_difference", "worst_parameter_scale", "culprits", "exposed_by", "candidate_seconds",
    "candidate_first_call_seconds",
    "candidate_compile_seconds", "reference_seconds", "reference_first_call_seconds",
    "reference_compile_seconds", "reference_forward_passes", "candidate_repeats", "reference_repeats", "message",
]


def _row(case: Case, kind: str, candidate: str, reference: str,
         measurements: dict[tuple[str, str, str], Measurement], checked: CellRun[dict[str, Any]] | None,
         threshold: float | None, facts: CaseFacts) -> dict[str, Any]:
    ours, theirs = measurements[case.name, kind, candidate], measurements[case.name, kind, reference]
    expected = _expected(case, kind, candidate, measurements)
    row: dict[str, Any] = {
        "case": case.name, "model": case.model.name, "parameters": facts.parameters, "examples": facts.examples,
        "relu_margin": facts.relu_margin, "derivative": kind, "candidate": candidate, "reference": reference,
        "difference": math.nan, "threshold": DEFAULT_THRESHOLD if threshold is None else threshold,
        "expected": expected, "gradbench_mismatch": math.nan, "gradbench_passes": None, "worst_parameter": "",
        "worst_parameter_difference": math.nan, "worst_parameter_scale": math.nan, "culprits": "", "exposed_by": "",
        "candidate_seconds": ours.seconds, "candidate_first_call_seconds": ours.first_call_seconds,
        "candidate_compile_seconds": ours.compile_seconds, "reference_seconds": theirs.seconds,
        "reference_first_call_seconds": theirs.first_call_seconds,
        "reference_compile_seconds": theirs.compile_seconds, "reference_forward_passes": theirs.forward_passes,
        "candidate_repeats": ours.repeats, "reference_repeats": theirs.repeats, "message": "",
    }
    problems = {name: m for name, m in ((candidate, ours), (reference, theirs)) if m.outcome != OK}
    if problems:
        outcome = next(o for o in SEVERITY if any(m.outcome == o for m in problems.values()))
        message = "; ".join(f"{name}: {m.message}" for name, m in problems.items())
        return {**row, "verdict": outcome, "as_expected": False, "message": message}
    assert checked is not None
    if checked.outcome != OK or checked.value is None:  # the check raised, or ran out of budget
        return {**row, "verdict": checked.outcome, "as_expected": False,
                "message": compare_summary.CHECK_PREFIX + checked.message}
    unchanged = get_spec(candidate).kind == "planted-bug" and expected == PASS
    said = {"message": UNCHANGED_BY_THE_BUG} if unchanged else {}
    return {**row, **checked.value, **said, "as_expected": checked.value["verdict"] == expected}


UNCHANGED_BY_THE_BUG = ("the planted bug leaves this derivative unchanged at this point (it equals the hand-written "
                        "one), so the expected verdict is PASS")


def _expected(case: Case, kind: str, candidate: str, measurements: dict[tuple[str, str, str], Measurement]) -> str:
    """FAIL for a planted bug, PASS for every other source; but a planted bug whose derivative equals the
    hand-written one at this point (ode's gradient at gradbench's sizes, identically zero) is expected to PASS:
    no check can see a mistake that changes nothing there. Known only where the hand-written source was measured
    on the case too (it is in every default run); otherwise FAIL."""
    if get_spec(candidate).kind != "planted-bug":
        return PASS
    bug, right = measurements.get((case.name, kind, candidate)), measurements.get((case.name, kind, BASELINE_SOURCE))
    if bug is None or right is None or bug.outcome != OK or right.outcome != OK:
        return FAIL
    assert bug.gradient is not None and right.gradient is not None
    same = all(np.array_equal(np.asarray(bug.gradient[name]), np.asarray(right.gradient[name]))
               for name in right.gradient)
    return PASS if same else FAIL


SOURCE_COLUMNS = [
    "case", "model", "parameters", "derivative", "source", "kind", "outcome", "seconds", "repeats",
    "first_call_seconds", "compile_seconds", "forward_passes", "data_values", "cost_seconds", "cost_ratio",
    "baseline_ratio", "message",
]


def _sources_table(plan: list[tuple[Case, str, str]], measurements: dict[tuple[str, str, str], Measurement],
                   facts: dict[str, CaseFacts]) -> pd.DataFrame:
    """One row per (case, derivative, source): outcome, time, passes, and the time over one cost and over the
    baseline's for the same derivative."""
    rows = []
    for case, kind, name in plan:
        measured, fact = measurements[case.name, kind, name], facts[case.name]
        baseline = measurements.get((case.name, kind, BASELINE_SOURCE))
        baseline_seconds = baseline.seconds if baseline is not None else math.nan
        rows.append({
            "case": case.name, "model": case.model.name, "parameters": fact.parameters, "derivative": kind,
            "source": name,
            "kind": get_spec(name).kind, "outcome": measured.outcome, "seconds": measured.seconds,
            "repeats": measured.repeats, "first_call_seconds": measured.first_call_seconds,
            "compile_seconds": measured.compile_seconds, "forward_passes": measured.forward_passes,
            "data_values": fact.data_values,
            "cost_seconds": fact.cost_seconds, "cost_ratio": measured.seconds / fact.cost_seconds,
            "baseline_ratio": measured.seconds / baseline_seconds,
            "message": measured.message or (f"the case: {fact.message}" if fact.message else ""),
        })
    return pd.DataFrame(rows, columns=SOURCE_COLUMNS)

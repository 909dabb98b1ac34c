"""The ``gradcheck-bench`` command: the only place that builds argument parsers.

Exit status works like a test: 0 the check passed, 1 it failed, 2 bad usage
or bad input (with a one-line message, never a traceback); ``gate`` adds 3,
no regression found but a value that looked regressed was not judged. Each subcommand
is a function that adds its arguments and one that runs it; the tools in
:mod:`gradcheck_bench.tools` are imported only by the command that runs them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Sequence

from .errors import GradCheckError, InputError
from .validation import count_from_text, positive_number_from_text
from .models import DEFAULT_MODEL, Model, PointBuilder, PointSetting, get_model, model_names

if TYPE_CHECKING:  # the gate's modules are imported only where a gate command runs
    from .tools.gate import GateOptions, GateRules

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

Subcommand = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
SUBCOMMANDS: dict[str, Subcommand] = {}
"""name -> (one-line help, add its arguments, run it)."""


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one line, as the rest of the CLI does."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def subcommand(name: str, help_text: str, add_arguments: Callable[[argparse.ArgumentParser], None]) -> Callable:
    """Register ``run`` as the subcommand ``name``."""
    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        SUBCOMMANDS[name] = (help_text, add_arguments, run)
        return run
    return register


# --------------------------------------------------------------------------
# Argument types
# --------------------------------------------------------------------------


def argument_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` as an argparse ``type=``: its :class:`InputError` becomes argparse's one-line usage error."""
    def parse_argument(text: str) -> Any:
        try:
            return parse(text)
        except InputError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return parse_argument


positive_float = argument_type(positive_number_from_text)
positive_int = argument_type(count_from_text)


def whole_number(text: str) -> int:
    """Parse a count that may be 0."""
    value = int(text) if text.strip().isdigit() else -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more; got {text!r}")
    return value


def file_to_write(text: str) -> Path:
    """A file path whose folder exists (checked before a long run, not after it)."""
    path = Path(text)
    if path.is_dir() or not path.parent.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text!r} is a folder or in a folder that does not exist; name a file in an existing folder "
            f"(or create it first: mkdir -p {path.parent})")
    return path


def names(text: str) -> list[str]:
    """Parse ``a,b,c`` (at least one name)."""
    parsed = [part.strip() for part in text.split(",") if part.strip()]
    if not parsed:
        raise argparse.ArgumentTypeError(f"expected names separated by commas, got {text!r}")
    return parsed


def load_model(reference: str) -> Model:
    """A model by name, or ``package.module:attribute`` naming a :class:`Model` in an importable module."""
    if ":" not in reference:
        return get_model(reference)
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise InputError(f"cannot import {module_name!r} for --model {reference} ({error}); put its folder on "
                         "PYTHONPATH or install the package that holds it.") from None
    model = getattr(module, attribute, None)
    if not isinstance(model, Model):
        raise InputError(f"--model {reference}: {module_name}.{attribute} is "
                         f"{'missing' if model is None else type(model).__name__}, not a gradcheck_bench.Model.")
    return model


def model_argument(text: str) -> Model:
    try:
        return load_model(text)
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# --------------------------------------------------------------------------
# Where a check happens: --model, --case, and the settings of a built point
# --------------------------------------------------------------------------


def add_point_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--case`` and a flag for each setting the models' point builders declare (``--sizes``, ``--x``)."""
    parser.add_argument("--model", type=model_argument, default=None, metavar="NAME|MODULE:ATTR",
                        help=f"a model ({', '.join(model_names())}) or module:attribute naming your own "
                             f"gradcheck_bench.Model (default: {DEFAULT_MODEL})")
    parser.add_argument("--case", default=None,
                        help="one of the model's cases, or the case its point settings build (default: its first)")
    for name, owners in point_settings().items():
        implied = " or ".join(f"--model {model.name} --case {builder.case}" for model, builder in owners)
        parser.add_argument(f"--{name}", dest=setting_destination(name), default=None, metavar=name.upper(),
                            help=f"{owners[0][1].setting(name).help}; implies {implied}")


SettingOwners = dict[str, list[tuple[Model, PointBuilder]]]
"""A point setting's name -> the models (with their point builders) that declare it."""


def point_settings() -> SettingOwners:
    """Each setting the package's models declare for building a point, with the models that declare it."""
    owners: SettingOwners = {}
    for model in map(get_model, model_names()):
        if model.point_builder is not None:
            for setting in model.point_builder.settings:
                owners.setdefault(setting.name, []).append((model, model.point_builder))
    return owners


def setting_destination(name: str) -> str:
    """Where argparse keeps ``--name`` of a point setting (apart from every other option)."""
    return f"point_setting_{name}"


def point_from_arguments(args: argparse.Namespace) -> tuple[Model, Any]:
    """The model and the point that ``add_point_arguments`` describe; flags never silently ignored.

    A point setting implies the model that declares it and the case its builder makes; one that the model
    does not declare, or with another ``--case``, is refused.
    """
    owners = point_settings()
    given = {name: getattr(args, setting_destination(name)) for name in owners
             if getattr(args, setting_destination(name), None) is not None}
    if not given:
        model = args.model or get_model(DEFAULT_MODEL)
        return model, named_case(model, args.case)
    flags = " and ".join(f"--{name}" for name in given)
    model = args.model or model_taking(given, owners, flags)
    builder = model.point_builder
    if builder is None or not builder.takes(given):
        raise InputError(f"{flags}: settings of another model's point ({declarers(given, owners)}), which cannot "
                         f"go with --model {model.name}.")
    if args.case not in (None, builder.case):
        raise InputError(f"{flags}: settings of case {builder.case!r} of {model.name}, which cannot go with "
                         f"--case {args.case}.")
    return model, builder.build(**{name: parsed(builder.setting(name), text) for name, text in given.items()})


def model_taking(given: dict[str, str], owners: SettingOwners, flags: str) -> Model:
    """The model whose point builder takes every given setting (the default model where several do)."""
    fitting = [model for model, builder in owners[next(iter(given))] if builder.takes(given)]
    if len(fitting) == 1:
        return fitting[0]
    if not fitting:
        raise InputError(f"{flags}: settings of different models' points ({declarers(given, owners)}); "
                         "give the settings of one.")
    default = get_model(DEFAULT_MODEL)
    if default not in fitting:
        raise InputError(f"{flags} are settings of several models ({', '.join(m.name for m in fitting)}); "
                         "choose one with --model.")
    return default


def declarers(given: dict[str, str], owners: SettingOwners) -> str:
    """``--x of linear1d; --sizes of mlp``: which models declare each given setting."""
    return "; ".join(f"--{name} of {', '.join(model.name for model, _ in owners[name])}" for name in given)


def parsed(setting: PointSetting, text: str) -> Any:
    """The value of ``--name TEXT``, or an error naming the flag."""
    try:
        return setting.parse(text)
    except (InputError, ValueError) as error:
        raise InputError(f"--{setting.name}: {error}") from None


def named_case(model: Model, case: str | None) -> Any:
    """The point of one of the model's cases (the first when ``case`` is None), or its builder's with its defaults."""
    built = model.point_builder
    if case is not None and case not in model.cases and built is not None and case == built.case:
        return built.build()
    if not model.cases:
        raise InputError(f"model {model.name!r} declares no cases; give it some: Model(..., cases={{'small': make_point}}).")
    if case is None:
        return next(iter(model.cases.values()))()
    if case not in model.cases:
        choices = dict.fromkeys([*model.cases, *([built.case] if built is not None else [])])
        raise InputError(f"model {model.name!r} has no case {case!r}; choose from {', '.join(choices)}.")
    return model.cases[case]()


# --------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    from .differences.engines import engines

    parser.add_argument("--candidate", default="numpy", help="source to test (default: numpy)")
    parser.add_argument("--reference", default="fd", help="source to trust (default: fd)")
    add_point_arguments(parser)
    parser.add_argument("--eps", type=positive_float, default=None,
                        help="finite-difference step (default: relative to each parameter, 2^-17 |theta| in float64)")
    parser.add_argument("--engine", choices=["auto", *engines()], default=None,
                        help="finite-difference engine of the fd source (default: auto)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="Dask scheduler; implies --engine dask (default: a local cluster, shut down after)")
    parser.add_argument("--threshold", type=positive_float, default=None,
                        help="pass below this relative difference (default: the dtype table's, 2e-7 in float64)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_derivative_arguments(parser)


def add_derivative_arguments(parser: argparse.ArgumentParser) -> None:
    """The derivative a check compares, and the cheap mode (check only)."""
    parser.add_argument("--derivative", choices=["gradient", "jacobian", "jvp", "vjp", "hvp"], default="gradient",
                        help="what to compare (default: gradient); the tangent, cotangent or vector is drawn "
                             "from --seed-probe")
    parser.add_argument("--seed-probe", type=argument_type(lambda text: count_from_text(text, 0)), default=0,
                        metavar="S", help="seed of the tangent, cotangent or vector (default: 0)")
    parser.add_argument("--mode", choices=["full", "fast"], default="full",
                        help="fast: compare a few random projections first, the full derivative only if one "
                             "fails (default: full)")


def fd_options(args: argparse.Namespace) -> dict[str, Any]:
    """``eps``, ``engine`` and the engine's own options, as given (an ignored one is an error)."""
    engine = args.engine
    if args.scheduler is not None:
        if engine not in (None, "dask"):
            raise InputError(f"--scheduler is an option of the dask engine, not of --engine {engine}; "
                             "drop one of them.")
        engine = "dask"
    options: dict[str, Any] = {}
    if args.eps is not None:
        options["eps"] = args.eps
    if engine is not None:
        options["engine"] = engine
    if args.scheduler is not None:
        options["engine_options"] = {"scheduler": args.scheduler}
    return options


@subcommand("check", "compare one source's derivative against another's at one point", add_check_arguments)
def run_check(args: argparse.Namespace) -> int:
    from .check import check

    model, (params, X, Y) = point_from_arguments(args)
    result = check(args.candidate, args.reference, params, X, Y, threshold=args.threshold, model=model,
                   derivative=args.derivative, seed=args.seed_probe, mode=args.mode, **fd_options(args))
    print(result.to_json(indent=2) if args.json else result.summary())
    return EXIT_PASS if result.passed else EXIT_FAIL


# --------------------------------------------------------------------------
# directional
# --------------------------------------------------------------------------


def add_directional_arguments(parser: argparse.ArgumentParser) -> None:
    from .directional import DEFAULT_DIRECTIONS

    parser.add_argument("--candidate", default="numpy", help="source to test (default: numpy)")
    parser.add_argument("--directions", type=positive_int, default=DEFAULT_DIRECTIONS,
                        help=f"number of random directions k (default: {DEFAULT_DIRECTIONS}); about 2k forward passes")
    parser.add_argument("--direction-seed", type=int, default=0, help="seed of the random directions")
    add_point_arguments(parser)
    parser.add_argument("--eps", type=positive_float, default=None, help="step (default: the dtype table's)")
    parser.add_argument("--threshold", type=positive_float, default=None,
                        help="pass below this relative difference (default: the dtype table's, 2e-7 in float64)")
    parser.add_argument("--no-localise", action="store_true", help="on failure, do not localise the culprits")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


@subcommand("directional", "check a gradient along k random directions (about 2k forward passes), localising a "
            "failure", add_directional_arguments)
def run_directional(args: argparse.Namespace) -> int:
    from .directional import check_directional

    model, (params, X, Y) = point_from_arguments(args)
    result = check_directional(args.candidate, params, X, Y, directions=args.directions, seed=args.direction_seed,
                               eps=args.eps, threshold=args.threshold, model=model, localise=not args.no_localise)
    print(result.to_json(indent=2) if args.json else result.summary())
    return EXIT_PASS if result.passed else EXIT_FAIL


# --------------------------------------------------------------------------
# compare (the main job)
# --------------------------------------------------------------------------


COMPARE_OUTPUT = Path("results") / "compare"
QUICK_REPEATS = 3
"""Timed warm calls per source and case in the default run: a first run takes about a minute."""
FULL_REPEATS = 5
"""Timed warm calls per source and case with ``--full``, whose timings the research figure draws."""


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    from .tools.compare_cells import DEFAULT_BUDGET  # light: no pandas at parse time

    parser.add_argument("--cases", type=names, default=None, help="comma-separated cases (default: each model's "
                        "first, smallest case; --full: every case)")
    parser.add_argument("--model", type=model_argument, action="append", default=None, metavar="NAME|MODULE:ATTR",
                        help="compare only this model's cases (repeatable); MODULE:ATTR names your own Model, whose "
                             "cases= give the points")
    parser.add_argument("--candidates", type=names, default=None,
                        help="comma-separated sources to test (default: every hand-written, planted-bug and "
                             "autograd source; those not installed give UNAVAILABLE cells)")
    parser.add_argument("--references", type=names, default=None,
                        help="comma-separated sources to trust (default: every oracle and autograd source)")
    parser.add_argument("--derivatives", type=names, default=None, metavar="KINDS",
                        help="comma-separated derivative kinds to check on every case (gradient, jacobian, jvp, "
                             "vjp, hvp), or all; each kind where the model's hand-written source declares it "
                             "(default: the gradient on every case, and every declared kind on each model's "
                             "first case when no --cases are named)")
    parser.add_argument("--output", type=Path, default=COMPARE_OUTPUT, help=f"folder for the tables, pictures and "
                        f"report.html (default: {COMPARE_OUTPUT})")
    parser.add_argument("--repeats", type=positive_int, default=None, help="timed warm calls per source and case, "
                        f"the median kept (default: {QUICK_REPEATS}, with --full {FULL_REPEATS})")
    parser.add_argument("--budget", type=positive_float, default=DEFAULT_BUDGET, metavar="SECONDS",
                        help="wall time one source may take on one case; past it the cell is TIMEOUT and the run "
                             f"goes on (default: {DEFAULT_BUDGET:g})")
    parser.add_argument("--threshold", type=positive_float, default=None,
                        help="pass below this relative difference (default: the dtype table's, 2e-7 in float64)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when any verdict is not the expected one (planted bugs fail, the rest pass)")
    parser.add_argument("--full", "--large", dest="full", action="store_true",
                        help="run every case of every model, the sizes of the research figure (minutes; default: "
                             "each model's first, smallest case, about a minute)")
    parser.add_argument("--rows", action="store_true", help="print every row, not only the summary")
    parser.add_argument("--device", default=None, help="device for the torch and jax sources, e.g. cpu or cuda")
    parser.add_argument("--eps", type=positive_float, default=None, help="step of the finite-difference oracles "
                        "(default: relative to each parameter)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="intra-op threads torch uses during each gradient (default: torch's own)")


@subcommand("compare", "every candidate against every reference on every case: the comparison report",
            add_compare_arguments)
def run_compare(args: argparse.Namespace) -> int:
    """Write the files, print the summary (``--rows``: every row too).

    Exit 0; with ``--strict`` 1 on an unexpected verdict; otherwise 3
    (``EXIT_INCOMPLETE``) when a cell is ERROR or TIMEOUT.
    """
    from .tools.compare import EXIT_INCOMPLETE, compare_sources

    repeats = args.repeats or (FULL_REPEATS if args.full else QUICK_REPEATS)
    report = compare_sources(args.cases, args.candidates, args.references, derivatives=args.derivatives,
                             threshold=args.threshold, repeats=repeats, budget=args.budget, device=args.device,
                             threads=args.threads, eps=args.eps, models=args.model, full=args.full)
    report.write(args.output)
    print(report.text(args.output) if args.rows else report.summary(args.output))
    if args.strict and not report.unexpected.empty:
        return EXIT_FAIL
    return EXIT_INCOMPLETE if not report.incomplete.empty else EXIT_PASS


# --------------------------------------------------------------------------
# The measurement tools
# --------------------------------------------------------------------------


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("results/study"), help="output folder (default: results/study)")
    parser.add_argument("--nets", type=positive_int, default=10, help="random nets per measurement (default: 10)")
    parser.add_argument("--large", action="store_true",
                        help="also check correct nets up to ~8,000 parameters with every method (several minutes)")


@subcommand("study", "measure oracle accuracy against the step and the detection power of each check method "
            "(writes results/study/)", add_study_arguments)
def run_study(args: argparse.Namespace) -> int:
    from .tools.study import run_study as study

    for path in study(args.out, args.nets, large=args.large):
        print(path)
    return EXIT_PASS


def add_peers_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=positive_int, default=15, help="timed runs per checker (median; default 15)")
    parser.add_argument("--budget-s", type=positive_float, default=20.0,
                        help="stop repeating a checker after this many seconds (at least 3 runs; default 20)")
    parser.add_argument("--out", type=Path, default=Path("results/peers"), help="output folder (default: results/peers)")


@subcommand("peers", "time our check against torch/jax/scipy checkers and the seed-style loop (writes results/peers/)",
            add_peers_arguments)
def run_peers(args: argparse.Namespace) -> int:
    from .tools.peers import run_peers as peers

    table, _, notes = peers(args.out, args.repeats, args.budget_s)
    columns = ["case", "checker", "median_s", "forward_passes", "verdict", "status"]
    print(table[[c for c in columns if c in table]].to_string(index=False))
    print("\n".join(["", *notes, f"(tables in {args.out})"]))
    return EXIT_PASS


def add_engines_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=positive_int, default=5,
                        help="alternating timed rounds of every engine per shape (median; default 5)")
    parser.add_argument("--out", type=Path, default=Path("results/engines"),
                        help="output folder (default: results/engines)")


@subcommand("engines", "time engine='auto' and each fd engine against the loop, in one process, on five costs "
            "written against xp (writes results/engines/)", add_engines_arguments)
def run_engines(args: argparse.Namespace) -> int:
    from .tools.auto_engine import run_auto_engine

    table = run_auto_engine(args.out, args.rounds, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(table.to_string(index=False))
    print(f"(tables in {args.out})")
    return EXIT_PASS


def add_growth_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed runs per engine and net (median; default 5)")
    parser.add_argument("--scale", action="store_true",
                        help="instead: one fd gradient of a 1e6-parameter net, its time and peak memory (results/scale/)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: results/growth or results/scale)")


@subcommand("growth", "time per forward pass of the fd engines as n grows (writes results/growth/)",
            add_growth_arguments)
def run_growth(args: argparse.Namespace) -> int:
    from .tools import growth

    if args.scale:
        table = growth.run_scale(args.out or Path("results/scale"))
    else:
        table = growth.run_growth(args.out or growth.RESULTS, args.repeats)
    print(table.to_string(index=False))
    return EXIT_PASS


def add_derivatives_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=positive_int, default=9,
                        help="alternating rounds of the full Jacobian check and torch gradcheck (median; default 9)")
    parser.add_argument("--fast-rounds", type=positive_int, default=101,
                        help="alternating rounds of the cheap mode and torch's fast_mode (median; default 101)")
    parser.add_argument("--out", type=Path, default=Path("results/derivatives"),
                        help="output folder (default: results/derivatives)")


@subcommand("derivatives", "forward passes of each derivative kind and oracle, counted, and a Jacobian check "
            "timed against torch gradcheck (writes results/derivatives/)", add_derivatives_arguments)
def run_derivatives(args: argparse.Namespace) -> int:
    from .tools.derivatives import run_derivatives as derivatives

    passes, speed = derivatives(args.out, args.rounds, args.fast_rounds)
    print(passes.to_string(index=False))
    print()
    print(speed.to_string(index=False))
    print(f"(tables in {args.out})")
    return EXIT_PASS


def add_dask_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed runs per engine and net (median)")
    parser.add_argument("--out", type=Path, default=Path("results/dask"), help="output folder (default: results/dask)")


@subcommand("dask-bench", "does the Dask engine pay off here? the fd gradient on a local cluster vs in one process "
            "(writes results/dask/)", add_dask_arguments)
def run_dask_bench(args: argparse.Namespace) -> int:
    from .tools.dask_bench import run_dask_bench as dask_bench

    table, extra = dask_bench(args.out, args.repeats)
    print(table[["n", "best_local_engine", "best_local_s", "dask_s", "dask_speedup", "tasks", "overhead_s"]]
          .to_string(index=False))
    return EXIT_PASS


# --------------------------------------------------------------------------
# asv: the regression gate and the dashboard check
# --------------------------------------------------------------------------


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="the commit to compare against (branch, tag or hash), e.g. main")
    parser.add_argument("head", help="the commit under test, e.g. HEAD")
    add_gate_rule_arguments(parser)
    parser.add_argument("--samples", type=file_to_write, default=None, metavar="FILE",
                        help="also write every re-measured value's samples, round by round on each commit, "
                             "with its verdict, as JSON to FILE")


def add_gate_rule_arguments(parser: argparse.ArgumentParser) -> None:
    """The gate's options besides the two commits: where the results are, what to judge, and the rules."""
    from .tools.gate import (CONFIRM_FRESH, CONFIRM_MODES, DEFAULT_ACCURACY_THRESHOLD,
                             DEFAULT_ACCURACY_TOLERANCE, DEFAULT_COST_FACTOR, DEFAULT_ROUNDS,
                             DEFAULT_SCREEN_FACTOR, EXTRA_ROUNDS)
    from .tools.gate_remeasure import CLOCKS, DEFAULT_CLOCK

    parser.add_argument("--config", type=Path, default=Path("asv.conf.json"), help="asv configuration "
                        "(default: ./asv.conf.json)")
    parser.add_argument("--machine", default=None, help="asv machine name (default: the only one with results)")
    parser.add_argument("--bench", default=None, metavar="REGEX",
                        help="judge only the benchmark values whose name(params) matches (as asv's --bench)")
    parser.add_argument("--accuracy-threshold", type=positive_float, default=DEFAULT_ACCURACY_THRESHOLD,
                        help=f"an accuracy value above this may regress (default: {DEFAULT_ACCURACY_THRESHOLD:g})")
    parser.add_argument("--accuracy-tolerance", type=float, default=DEFAULT_ACCURACY_TOLERANCE,
                        help="relative rise of an accuracy value tolerated above the threshold "
                             f"(default: {DEFAULT_ACCURACY_TOLERANCE:g})")
    parser.add_argument("--factor", type=positive_float, default=DEFAULT_COST_FACTOR,
                        help="a time, memory or count regresses when its re-measurement confirms it grew past this "
                             f"factor (default: {DEFAULT_COST_FACTOR:g})")
    parser.add_argument("--screen", type=positive_float, default=DEFAULT_SCREEN_FACTOR,
                        help="a cost value whose HEAD is past this factor times BASE's in the screen (either of the "
                             "first two fresh paired rounds; the saved values with --confirm suspects) is "
                             f"re-measured in every round (default: {DEFAULT_SCREEN_FACTOR:g})")
    parser.add_argument("--confirm", choices=CONFIRM_MODES, default=CONFIRM_FRESH,
                        help="re-measure every cost value in two fresh rounds on both commits and, in every round, "
                             "those past the screen there (fresh, the default); only the cost values past the "
                             "screen in the saved runs (suspects); every cost value in every round (all); or none "
                             "(suspects are then reported NOT JUDGED, exit 3)")
    parser.add_argument("--rounds", type=positive_int, default=DEFAULT_ROUNDS,
                        help=f"interleaved rounds of re-measurement (default: {DEFAULT_ROUNDS}, the fewest "
                             "that let a one-value-a-round track_ benchmark reach significance)")
    parser.add_argument("--clock", choices=CLOCKS, default=DEFAULT_CLOCK,
                        help="how the re-measurement times a value: this process's CPU time, every library on one "
                             "thread (cpu, the default: steady on a loaded host); or wall time with the libraries' "
                             "own threads, as asv run times it (wall: also sees waiting and threading)")
    parser.add_argument("--extra-rounds", type=whole_number, default=EXTRA_ROUNDS,
                        help="rounds more for a value near the line after them: past the factor but not "
                             "significant (p < 0.05), significant but not round after round, or confirmed at a p "
                             f"within twice the threshold; as many again if still near it (default: {EXTRA_ROUNDS}; "
                             "0: none)")


@subcommand("gate", "compare two commits' asv results; re-measure what looks slower on both, interleaved; "
            "exit 1 naming each regression", add_gate_arguments)
def run_gate(args: argparse.Namespace) -> int:
    from .tools.gate import EXIT_CANNOT_COMPARE, run_gate as gate

    report, base_hash, head_hash = gate(args.base, args.head, *gate_rules_and_options(args))
    print(report.summary(base_hash, head_hash))
    if args.samples is not None:
        from .tools.atomic_files import write_text_atomically

        write_text_atomically(args.samples, report.samples_file(base_hash, head_hash))
    if report.exit_status == EXIT_CANNOT_COMPARE:
        print("gradcheck-bench gate: nothing was measured on both commits (all n/a, different benchmarks, "
              "or none matching --bench); that is not a pass", file=sys.stderr)
    return report.exit_status


def gate_rules_and_options(args: argparse.Namespace) -> tuple["GateRules", "GateOptions"]:
    """The :class:`GateRules` and :class:`GateOptions` the gate's command-line options give."""
    from .tools.gate import GateOptions, GateRules

    rules = GateRules(args.accuracy_threshold, args.accuracy_tolerance, args.factor, screen_factor=args.screen,
                      extra_rounds=args.extra_rounds)
    return rules, GateOptions(args.config, args.machine, args.confirm, args.rounds, args.bench, args.clock)


def add_gate_trial_arguments(parser: argparse.ArgumentParser) -> None:
    from .tools.gate_trial import KINDS, PLANT_PATCH

    parser.add_argument("kind", choices=KINDS, help="identical: BASE's tree under a new commit, which must pass; "
                        "plant: BASE with a uniform 1.5x slowdown of the hand-written gradient, which must be "
                        "confirmed on every value it touches and nowhere else")
    parser.add_argument("--base", default="HEAD", help="the commit the trial starts from (default: HEAD)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder (default: results/gate-trial/KIND)")
    parser.add_argument("--patch", type=Path, default=None,
                        help=f"the plant, as a patch against BASE (default: the project's {PLANT_PATCH})")
    add_gate_rule_arguments(parser)


@subcommand("gate-trial", "run the gate on identical code or a planted 1.5x slowdown made from BASE (the work "
            "tree untouched); write its verdicts, samples and provenance to results/", add_gate_trial_arguments)
def run_gate_trial(args: argparse.Namespace) -> int:
    from .tools.gate_trial import run_trial

    out = args.out if args.out is not None else Path("results") / "gate-trial" / args.kind
    trial = run_trial(args.kind, args.base, out, *gate_rules_and_options(args), patch=args.patch)
    print(trial.report.summary(trial.base, trial.head))
    print(trial.tally())
    print(f"results: {out}")
    return trial.report.exit_status


def add_dashboard_arguments(parser: argparse.ArgumentParser) -> None:
    from .tools.dashboard import DEFAULT_GRAPH

    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    localize = verbs.add_parser("localize", help="point the published index.html at local copies of its CDN assets, "
                                                  "and open the accuracy graphs on a log scale")
    localize.add_argument("html_dir", type=Path, help="the published site (asv.conf.json's html_dir)")
    check = verbs.add_parser("check", help="load the site in headless Chromium; require graphs")
    check.add_argument("html_dir", type=Path, help="the published site (asv.conf.json's html_dir)")
    check.add_argument("--out", type=Path, default=Path("results/dashboard-check"), help="where the screenshots go")
    check.add_argument("--benchmark", default=DEFAULT_GRAPH, help="the benchmark whose graph page to load")


@subcommand("dashboard", "make the published asv dashboard self-contained, or check it in headless Chromium",
            add_dashboard_arguments)
def run_dashboard(args: argparse.Namespace) -> int:
    from .tools import dashboard

    if args.verb == "localize":
        return dashboard.run_localize(args.html_dir)
    return dashboard.run_check(args.html_dir, args.out, args.benchmark)


# --------------------------------------------------------------------------
# regenerate: every results folder but asv's, one after another
# --------------------------------------------------------------------------

REGENERATE = {
    "compare": ["compare", "--full"],
    "study": ["study", "--large"],
    "peers": ["peers"],
    "engines": ["engines"],
    "growth": ["growth"],
    "scale": ["growth", "--scale"],
    "dask": ["dask-bench", "--repeats", "5"],
    "derivatives": ["derivatives"],
}
"""results/<folder> -> the command that writes it (each folder records its own command in provenance.json)."""


def add_regenerate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", type=names, default=None,
                        help=f"comma-separated folders to regenerate (default: all of {', '.join(REGENERATE)})")


@subcommand("regenerate", "rerun every measurement whose files are in results/ (all but asv's; tens of minutes)",
            add_regenerate_arguments)
def run_regenerate(args: argparse.Namespace) -> int:
    chosen = args.only or list(REGENERATE)
    unknown = [name for name in chosen if name not in REGENERATE]
    if unknown:
        raise InputError(f"no results folder {', '.join(unknown)}; choose from {', '.join(REGENERATE)}.")
    statuses = {}
    for name in chosen:
        print(f"== results/{name}: gradcheck-bench {' '.join(REGENERATE[name])}", flush=True)
        statuses[name] = main(REGENERATE[name])
    failed = [name for name, status in statuses.items() if status != EXIT_PASS]
    for name in failed:
        print(f"results/{name}: gradcheck-bench {' '.join(REGENERATE[name])} exited {statuses[name]}", file=sys.stderr)
    print("regenerated " + ", ".join(f"results/{name}" for name in chosen if name not in failed))
    return EXIT_USAGE if failed else EXIT_PASS


# --------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gradcheck-bench", description="Check gradients and measure what the check costs.")
    parser.add_argument("--timeout", type=positive_float, default=None, metavar="SECONDS",
                        help="stop with a clear message after this many seconds (default: no limit)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help_text, add_arguments, _) in SUBCOMMANDS.items():
        add_arguments(commands.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .tools.interruption import Terminated, TimeLimitExceeded, stoppable
    from .tools.invocation import running

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2, already explained)
        return int(exit_.code or 0)
    try:
        with stoppable(args.timeout), running("gradcheck-bench", argv):
            return SUBCOMMANDS[args.command][2](args)
    except (GradCheckError, ImportError, MemoryError, TimeLimitExceeded) as error:
        print(f"gradcheck-bench: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as a SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 128 + 13
    except KeyboardInterrupt as interruption:
        terminated = isinstance(interruption, Terminated)
        where = str(interruption) if str(interruption) not in ("", "terminated by SIGTERM") else ""
        print(f"gradcheck-bench: {'terminated (SIGTERM)' if terminated else 'interrupted'}; "
              f"{where or 'files written before this point are intact.'}", file=sys.stderr)
        return 143 if terminated else 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``gradcheck-bench`` command.

Exit status works like a test: 0 the check passed, 1 it failed, 2 bad usage
or bad input (with a one-line message, never a traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Sequence

from .asv_gate import GATE_HELP, add_gate_arguments, run_gate_command
from .check import DEFAULT_THRESHOLD, check
from .compare import add_compare_arguments, run_compare
from .errors import GradCheckError
from .interruption import Terminated, stoppable
from .models import FRAUD_NET_SIZES, linear1d_case, random_case, seed_case
from . import peers
from .sources.finite_difference import DEFAULT_EPS, ENGINES

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

Subcommand = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
SUBCOMMANDS: dict[str, Subcommand] = {}
"""name -> (one-line help, add its arguments, run it)."""


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one line, as the rest of the CLI does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def layer_sizes(text: str) -> tuple[int, ...]:
    """Parse ``4,5,3,1``."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes must be integers separated by commas, like 4,5,3,1; got {text!r}") from None


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def add_point_arguments(parser: argparse.ArgumentParser) -> None:
    """Where an MLP check happens: ``--case``, ``--sizes``, ``--seed``, ``--examples``."""
    parser.add_argument("--case", choices=["seed", "random"], default="seed",
                        help="the exercise's seed case, or a random He-initialised net")
    parser.add_argument("--sizes", type=layer_sizes, default=FRAUD_NET_SIZES,
                        help="layer sizes of a random net (default: 4,5,3,1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of a random case")
    parser.add_argument("--examples", type=int, default=3, help="examples m of a random case")


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--candidate", default="numpy", help="source to test (default: numpy)")
    parser.add_argument("--reference", default="fd", help="source to trust (default: fd)")
    parser.add_argument("--model", choices=["mlp", "linear1d"], default="mlp")
    add_point_arguments(parser)
    parser.add_argument("--x", type=float, default=2.0, help="input x of the 1-D model")
    parser.add_argument("--theta", type=float, default=4.0, help="theta of the 1-D model")
    parser.add_argument("--eps", type=positive_float, default=None,
                        help=f"finite-difference step (default: by dtype, {DEFAULT_EPS:g} in float64)")
    parser.add_argument("--engine", choices=["auto", *ENGINES], default=None,
                        help="finite-difference engine of the fd source (default: auto)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="Dask scheduler for --engine dask (default: a local cluster, shut down after)")
    parser.add_argument("--threshold", type=positive_float, default=DEFAULT_THRESHOLD,
                        help=f"pass below this relative difference (default: {DEFAULT_THRESHOLD:g})")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def point_from_arguments(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The point that ``add_point_arguments`` (and ``--model``) describe."""
    if getattr(args, "model", "mlp") == "linear1d":
        return linear1d_case(args.x, args.theta)
    if args.case == "seed":
        return seed_case()
    return random_case(args.sizes, args.examples, args.seed)


def run_check(args: argparse.Namespace) -> int:
    params, X, Y = point_from_arguments(args)
    given = {"eps": args.eps, "engine": args.engine, "scheduler": args.scheduler}
    options = {name: value for name, value in given.items() if value is not None}
    result = check(args.candidate, args.reference, params, X, Y,
                   threshold=args.threshold, model=args.model, **options)
    print(result.to_json(indent=2) if args.json else result.summary())
    return EXIT_PASS if result.passed else EXIT_FAIL


SUBCOMMANDS["check"] = (
    "compare one gradient source against another at one point", add_check_arguments, run_check
)

SUBCOMMANDS["compare"] = (
    "every candidate against every reference on many cases: the comparison report",
    add_compare_arguments,
    run_compare,
)

from .directional import add_directional_arguments, run_directional  # noqa: E402  (after the helpers it uses)

SUBCOMMANDS["directional"] = (
    "check a gradient along k random directions (2k+1 forward passes), localising a failure",
    add_directional_arguments,
    run_directional,
)

from .study import add_study_arguments, run_study_command  # noqa: E402

SUBCOMMANDS["study"] = (
    "measure oracle accuracy against the step and the detection power of each check method "
    "(writes results/study/)",
    add_study_arguments,
    run_study_command,
)
SUBCOMMANDS["gate"] = (GATE_HELP, add_gate_arguments, run_gate_command)

SUBCOMMANDS["peers"] = (
    "time our fd check against torch/jax/scipy checkers and the seed-style loop", peers.add_arguments, peers.run
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gradcheck-bench", description="Check gradients and measure what the check costs.")
    parser.add_argument("--timeout", type=positive_float, default=None, metavar="SECONDS",
                        help="stop with a clear message after this many seconds (default: no limit)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help_text, add_arguments, _) in SUBCOMMANDS.items():
        add_arguments(commands.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2, already explained)
        return int(exit_.code or 0)
    try:
        with stoppable(args.timeout):
            return SUBCOMMANDS[args.command][2](args)
    except (GradCheckError, ImportError, MemoryError) as error:
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

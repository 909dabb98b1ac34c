"""gradcheck-bench: proof that a gradient is right, and numbers on what the proof costs.

The public API lives here, re-exported from the modules that define it. Importing the
package loads neither pandas nor any framework nor any tool; they load where they are used.
A model's own helpers (the MLP's ``init_params``, ``random_case``, ``numpy_backprop``, ...) stay
in its module, ``gradcheck_bench.models.<name>``, or behind ``get_model(name)``; ``seed_case``,
the exercise's test case, is the one re-exported here.
"""

from .adbench import read_adbench
from .assertions import assert_gradients_close
from .check import check, gradient
from .judge import DEFAULT_THRESHOLD, Tolerance, compare_gradients, judge
from .metrics import RESOLUTION_FACTOR, relative_difference
from .result import CheckResult
from .counting import CountingCost, count_forward_passes
from .directional import check_directional
from .dropout import DropoutNet
from .errors import (
    GradCheckError,
    InputError,
    NondeterministicCostError,
    NonFiniteLossError,
    SaturationWarning,
    SourceError,
)
from .differences import (
    CentralDifference,
    FDEngine,
    KinkCrossing,
    KinkSafeDifference,
    LowPrecisionCostWarning,
    RichardsonDifference,
    fd,
    fd_engines,
    richardson,
)
from .differences.steps import default_steps
from .engine_examples import engine_examples
from .gradient import Gradient
from .models import Model, Params, PlantedBug, get_model, model_names
from .models.mlp import seed_case
from .point import Point, build_point
from .ravel import ravel
from .source import CallableSource, GivenGradient, GradientSource
from .sources import SourceSpec, available_sources, build_source, register_source, source_specs
from .sources.complex_step import ComplexStep, complex_step
from .tolerances import TOLERANCES, LowPrecisionWarning, default_threshold

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_THRESHOLD",
    "RESOLUTION_FACTOR",
    "TOLERANCES",
    "CallableSource",
    "CentralDifference",
    "CheckResult",
    "ComplexStep",
    "CountingCost",
    "DropoutNet",
    "FDEngine",
    "GivenGradient",
    "GradCheckError",
    "Gradient",
    "GradientSource",
    "InputError",
    "KinkCrossing",
    "KinkSafeDifference",
    "LowPrecisionCostWarning",
    "LowPrecisionWarning",
    "Model",
    "NonFiniteLossError",
    "NondeterministicCostError",
    "Params",
    "Point",
    "PlantedBug",
    "RichardsonDifference",
    "SaturationWarning",
    "SourceError",
    "SourceSpec",
    "TaylorResult",
    "Tolerance",
    "assert_gradients_close",
    "available_sources",
    "build_point",
    "build_source",
    "check",
    "check_directional",
    "check_taylor",
    "compare_gradients",
    "complex_step",
    "count_forward_passes",
    "default_steps",
    "default_threshold",
    "fd",
    "engine_examples",
    "fd_engines",
    "get_model",
    "gradient",
    "judge",
    "model_names",
    "ravel",
    "read_adbench",
    "register_source",
    "relative_difference",
    "richardson",
    "seed_case",
    "source_specs",
]


def __getattr__(name: str) -> object:
    """The Taylor test loads on first use (``gb.check_taylor``): most checks never need it."""
    if name in ("check_taylor", "TaylorResult"):
        from . import taylor

        return getattr(taylor, name)
    raise AttributeError(f"module 'gradcheck_bench' has no attribute {name!r}")

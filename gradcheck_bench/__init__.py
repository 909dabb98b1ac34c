"""gradcheck-bench: proof that a gradient is right, and numbers on what the proof costs.

The public API lives here, re-exported from the modules that define it. Importing the
package loads neither pandas nor any framework nor any tool; they load where they are used.
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
from .gradient import Gradient
from .models import Model, Params, PlantedBug, get_model, model_names
from .models.linear1d import linear1d_case, linear1d_cost
from .models.mlp import (
    FRAUD_NET_SIZES,
    exercise_cost,
    init_params,
    mlp_cost,
    numpy_backprop,
    random_case,
    seed_buggy_backprop,
    seed_case,
)
from .point import Point, build_point
from .ravel import ravel
from .source import CallableSource, GivenGradient, GradientSource
from .sources import SourceSpec, available_sources, build_source, register_source, source_specs
from .sources.complex_step import ComplexStep, complex_step
from .tolerances import TOLERANCES, LowPrecisionWarning, default_threshold

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_THRESHOLD",
    "FRAUD_NET_SIZES",
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
    "Tolerance",
    "assert_gradients_close",
    "available_sources",
    "build_point",
    "build_source",
    "check",
    "check_directional",
    "compare_gradients",
    "complex_step",
    "count_forward_passes",
    "default_steps",
    "default_threshold",
    "exercise_cost",
    "fd",
    "fd_engines",
    "get_model",
    "gradient",
    "init_params",
    "judge",
    "linear1d_case",
    "linear1d_cost",
    "mlp_cost",
    "model_names",
    "numpy_backprop",
    "random_case",
    "ravel",
    "read_adbench",
    "register_source",
    "relative_difference",
    "richardson",
    "seed_buggy_backprop",
    "seed_case",
    "source_specs",
]

"""gradcheck-bench: proof that a gradient is right, and numbers on what the proof costs.

The public API lives here; everything else is an implementation module.
"""

from .assertions import assert_gradients_close
from .check import DEFAULT_THRESHOLD, CheckResult, check, compare_gradients, relative_difference
from .compare import ComparisonReport, compare_sources, default_cases
from .errors import (
    GradCheckError,
    InputError,
    NondeterministicCostError,
    NonFiniteLossError,
    SaturationWarning,
    SourceError,
)
from .flatten import ravel
from .models import (
    FRAUD_NET_SIZES,
    Model,
    Params,
    exercise_cost,
    get_model,
    init_params,
    linear1d_case,
    linear1d_cost,
    mlp_cost,
    random_case,
    seed_case,
)
from .steps import TOLERANCES, LowPrecisionWarning, default_step, default_threshold
from .sources import GradientSource, SourceSpec, available_sources, register_source, source_specs
from .sources import build_source
from .fd_engines import FDEngine
from .sources.finite_difference import CentralDifference, central_differences, fd, fd_engines
from .sources.numpy_backprop import numpy_backprop, seed_buggy_backprop
from .sources.complex_step import ComplexStep, complex_step
from .directional import check_directional
from .dropout import DropoutNet
from .kinks import KinkCrossing
from .sources.kink_safe_fd import KinkSafeDifference
from .sources.richardson import RichardsonDifference, richardson

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_THRESHOLD",
    "FRAUD_NET_SIZES",
    "CentralDifference",
    "CheckResult",
    "DropoutNet",
    "ComplexStep",
    "FDEngine",
    "GradCheckError",
    "GradientSource",
    "InputError",
    "KinkCrossing",
    "KinkSafeDifference",
    "LowPrecisionWarning",
    "Model",
    "NonFiniteLossError",
    "NondeterministicCostError",
    "Params",
    "SaturationWarning",
    "SourceError",
    "SourceSpec",
    "ComparisonReport",
    "assert_gradients_close",
    "TOLERANCES",
    "available_sources",
    "build_source",
    "central_differences",
    "check",
    "check_directional",
    "compare_gradients",
    "compare_sources",
    "default_cases",
    "complex_step",
    "default_step",
    "default_threshold",
    "exercise_cost",
    "fd",
    "fd_engines",
    "get_model",
    "init_params",
    "linear1d_case",
    "linear1d_cost",
    "mlp_cost",
    "numpy_backprop",
    "random_case",
    "ravel",
    "register_source",
    "relative_difference",
    "richardson",
    "RichardsonDifference",
    "seed_buggy_backprop",
    "seed_case",
    "source_specs",
]

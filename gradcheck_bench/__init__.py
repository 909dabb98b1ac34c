"""gradcheck-bench: proof that a gradient is right, and numbers on what the proof costs.

The public API lives here; everything else is an implementation module.
"""

from .check import DEFAULT_THRESHOLD, CheckResult, check, compare_gradients, relative_difference
from .errors import GradCheckError, InputError, NonFiniteLossError, SourceError
from .flatten import ravel
from .models import (
    FRAUD_NET_SIZES,
    Model,
    Params,
    exercise_cost,
    init_params,
    linear1d_case,
    linear1d_cost,
    mlp_cost,
    random_case,
    seed_case,
)
from .sources import GradientSource, SourceSpec, available_sources, register_source, source_specs
from .fd_engines import FDEngine
from .sources.finite_difference import CentralDifference, central_differences, fd, fd_engines
from .sources.numpy_backprop import numpy_backprop, seed_buggy_backprop

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_THRESHOLD",
    "FRAUD_NET_SIZES",
    "CentralDifference",
    "CheckResult",
    "FDEngine",
    "GradCheckError",
    "GradientSource",
    "InputError",
    "Model",
    "NonFiniteLossError",
    "Params",
    "SourceError",
    "SourceSpec",
    "available_sources",
    "central_differences",
    "check",
    "compare_gradients",
    "exercise_cost",
    "fd",
    "fd_engines",
    "init_params",
    "linear1d_case",
    "linear1d_cost",
    "mlp_cost",
    "numpy_backprop",
    "random_case",
    "ravel",
    "register_source",
    "relative_difference",
    "seed_buggy_backprop",
    "seed_case",
    "source_specs",
]

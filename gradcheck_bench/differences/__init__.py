"""The finite-difference family in one place: forward passes only, each value with its own error bar.

* :mod:`.steps`: the step of every coordinate (relative to the parameter) and the round-off model;
* :mod:`.driver`: gets the costs ``J(theta +- h_i e_i)`` from an engine, chunked to a memory budget;
* :mod:`.engines`: one file per way of evaluating those passes (loop, batched NumPy, structured, torch, jax, dask);
* :mod:`.central`: the ``fd`` oracle (centered differences, error bars, second look);
* :mod:`.richardson`: Richardson extrapolation over halving steps;
* :mod:`.kinks` and :mod:`.kink_safe`: differences that notice a step across a declared kink and step around it.

Arrows point down only: the oracles import the driver and the engines, never the reverse.
"""

from .central import CentralDifference, LowPrecisionCostWarning, fd
from .driver import central_differences
from .engines import FDEngine, fd_engines
from .kink_safe import KinkSafeDifference
from .kinks import KinkCrossing
from .richardson import RichardsonDifference, richardson

__all__ = [
    "CentralDifference",
    "FDEngine",
    "KinkCrossing",
    "KinkSafeDifference",
    "LowPrecisionCostWarning",
    "RichardsonDifference",
    "central_differences",
    "fd",
    "fd_engines",
    "richardson",
]

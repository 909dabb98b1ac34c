"""PyTorch on both sides: what the ``torch`` source and the torch engine both need.

The namespace a cost written against ``xp`` gets, the model's function as torch
runs it (its native torch version where it declares one), scoped thread
settings, the device check, and one conversion of NumPy data to tensors. PyTorch is imported
inside each function, so importing this module needs no torch.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import InputError
from ..models import Model, cost_with_xp

TORCH_INSTALL_HINT = (
    'pip install "gradcheck-bench[torch]" (on a CPU-only machine install a CPU build of torch '
    "first, e.g. pip install torch --index-url https://download.pytorch.org/whl/cpu, "
    "or a plain pip install torch pulls a multi-GB CUDA build)"
)


def torch_namespace() -> Any:
    """The namespace a cost written against ``xp`` gets for torch tensors (Array API semantics)."""
    try:
        import array_api_compat.torch as namespace
    except ImportError as error:
        raise ImportError(f"the torch sources need array-api-compat as well; install them with: "
                          f"{TORCH_INSTALL_HINT}") from error
    return namespace


def torch_function(model: Model, output: bool = False) -> Callable[[Any, Any, Any], Any]:
    """``(params, X, Y) -> tensor`` on torch tensors: the model's cost (``output=True``: its function), as its
    native torch version where the model declares one (:attr:`Model.framework_functions`), else the xp one."""
    native = model.native_function("torch", output)
    if native is not None:
        return native
    namespace = torch_namespace()
    return lambda params, X, Y: cost_with_xp(model, params, X, Y, namespace, "torch", output=output)


@contextmanager
def limited_threads(torch: Any, threads: int | None) -> Iterator[None]:
    """Use ``threads`` intra-op threads inside the block, then restore torch's setting (None: leave it).

    On a busy machine torch's default (one thread per core) can spend more
    time waiting for cores than computing on small matrices; one thread
    avoids that without changing torch for the rest of the process.
    """
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def torch_device(device: str) -> Any:
    """``torch.device(device)``, after checking that this machine has it.

    Raises :class:`InputError` naming the device and what is available, rather
    than failing later inside a tensor constructor.
    """
    import torch

    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InputError(f"device={device!r} is not a PyTorch device name ({error}); use 'cpu' or 'cuda'.") from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(
            f"device={device!r} was asked for, but PyTorch sees no CUDA device here "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
            "use device='cpu' or run on a machine with a GPU."
        )
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise InputError(
            f"device={device!r} was asked for, but there are only "
            f"{torch.cuda.device_count()} CUDA device(s); use cuda:0 .. cuda:{torch.cuda.device_count() - 1}."
        )
    try:
        torch.empty(0, device=resolved)
    except (RuntimeError, AssertionError) as error:
        raise InputError(f"device={device!r} is not usable by PyTorch here: {error}; use device='cpu'.") from None
    return resolved


def to_torch(value: Any, device: Any = None) -> Any:
    """NumPy leaves as tensors on ``device`` (floats as float64, integers as they are); containers walked;
    anything else (a tensor already, a number, None) kept as it is."""
    import torch

    if isinstance(value, np.ndarray):
        floating = np.issubdtype(value.dtype, np.floating)
        return torch.as_tensor(value, dtype=torch.float64 if floating else None, device=device)
    if isinstance(value, dict):
        return {key: to_torch(item, device) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_torch(item, device) for item in value)
    return value

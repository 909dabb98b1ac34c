"""PyTorch autograd as a gradient source, for any model whose cost is written against ``xp``.

The cost is not rewritten for PyTorch: the model's own cost is called with
``xp`` set to torch's Array API namespace (``array_api_compat.torch``: torch
itself where torch follows the standard, and standard behaviour where it does
not, e.g. ``xp.max(a, axis=0)`` returns values as NumPy's does) on float64
tensors, and ``torch.autograd.grad`` differentiates it. So a model exists once and this file only supplies the namespace, the
tensors and the device. Data is converted leaf by leaf (dicts, lists and
tuples walked): float arrays become float64 tensors, integer arrays keep
their dtype (token ids still index), anything else passes as it is.

Tensors are built as float64 explicitly; the process-wide default dtype
(``torch.set_default_dtype``) is never touched. ``torch`` is imported only
when a source is built, so ``import gradcheck_bench`` works without it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from ..errors import InputError
from ..models import Model, Params, cost_with_xp
from .registry import SourceSpec

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


class TorchAutograd:
    """Gradient of ``model.cost(params, X, Y, xp=<torch's Array API namespace>)`` by ``torch.autograd``, in float64."""

    name = "torch"

    def __init__(self, model: Model, device: str = "cpu", threads: int | None = None) -> None:
        import torch

        if threads is not None and not (isinstance(threads, int) and threads >= 1):
            raise InputError(f"threads must be a positive integer or None (torch's own setting), got {threads!r}.")
        self._torch = torch
        self._xp = torch_namespace()
        self.model = model
        self.device = torch_device(device)
        self.threads = threads

    def _tensor(self, value: Any, requires_grad: bool = False) -> Any:
        tensor = self._torch.tensor(np.asarray(value), dtype=self._torch.float64, device=self.device)
        return tensor.requires_grad_(requires_grad)

    def _data(self, value: Any) -> Any:
        """Data on the device: float arrays as float64 tensors, integer arrays as they are; containers walked."""
        if isinstance(value, np.ndarray):
            floating = np.issubdtype(value.dtype, np.floating)
            return self._torch.as_tensor(value, dtype=self._torch.float64 if floating else None, device=self.device)
        if isinstance(value, dict):
            return {key: self._data(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._data(item) for item in value)
        return value

    def __call__(self, params: Params, X: Any, Y: Any) -> Params:
        with limited_threads(self._torch, self.threads):
            return self._gradient(params, X, Y)

    def _gradient(self, params: Params, X: Any, Y: Any) -> Params:
        leaves = {name: self._tensor(value, requires_grad=True) for name, value in params.items()}
        cost = cost_with_xp(self.model, leaves, self._data(X), self._data(Y), self._xp, "torch")
        if not isinstance(cost, self._torch.Tensor) or not cost.requires_grad:
            raise InputError(
                f"the cost of {self.model.name!r} returned {type(cost).__name__} under xp=torch, not a tensor "
                "that depends on the parameters; write it with the xp functions (xp.exp, xp.sum, ...) and "
                "return the result without .item() or float()."
            )
        if cost.numel() != 1:
            raise InputError(
                f"the {self.model.name} cost returned a tensor of shape {tuple(cost.shape)}; "
                "torch.autograd needs a scalar cost: reduce it inside the cost (e.g. .mean())."
            )
        gradients = self._torch.autograd.grad(cost.reshape(()), list(leaves.values()), allow_unused=True)
        return {
            name: np.zeros(np.shape(params[name])) if gradient is None
            else gradient.detach().cpu().numpy().astype(np.float64, copy=False)
            for name, gradient, in zip(leaves, gradients)
        }


def _torch_for_model(model: Model, device: str = "cpu", threads: int | None = None) -> TorchAutograd:
    return TorchAutograd(model, device=device, threads=threads)


SOURCES = [
    SourceSpec(
        name="torch",
        factory=_torch_for_model,
        description="PyTorch autograd on the same cost definition, float64 (device= option, CPU by default)",
        kind="autograd",
        requires=("torch", "array_api_compat"),
        applies_to=lambda model: model.takes_xp,
        needs="a cost written against xp (cost(params, X, Y, xp=np))",
        install_hint=TORCH_INSTALL_HINT,
    ),
]

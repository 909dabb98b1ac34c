"""The values a caller holds, and the real NumPy arrays a check works on.

A caller's parameter leaf may be a NumPy array, a Python or NumPy scalar, a
torch tensor (an ``nn.Parameter`` too, on any device) or a jax array, of
dtype float16, float32, float64, complex64 or complex128. Inside a check
every leaf is a private real NumPy array:

* a real leaf keeps its precision (float16 and bfloat16 are widened to
  float32, the least precision a check knows steps and tolerances for);
* a complex leaf ``z`` of shape ``S`` becomes a real array of shape
  ``S + (2,)`` holding ``(Re z, Im z)``. A real cost of complex parameters
  is differentiated in torch's convention, ``dL/dRe z + i dL/dIm z``: that
  is exactly the gradient with respect to this real pair, so every oracle
  perturbs the real and imaginary parts separately.

Frameworks are never imported here: a torch tensor or jax array is
recognised by its type's module, and converted with its own methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError, SourceError

NUMPY, SCALAR, TORCH, JAX = "numpy", "scalar", "torch", "jax"
"""The kinds of leaf a caller may hold."""

WIDENED = {np.dtype(np.float16): np.dtype(np.float32)}
"""Real dtypes checked at a wider precision (their values are exact there)."""


def kind_of(value: Any) -> str | None:
    """``numpy``, ``scalar``, ``torch`` or ``jax`` for a leaf a check accepts; None for anything else."""
    if isinstance(value, np.ndarray):
        return NUMPY
    if isinstance(value, (np.generic, float, int, complex)) and not isinstance(value, bool):
        return SCALAR
    module = type(value).__module__
    if module.startswith("torch") and hasattr(value, "detach"):
        return TORCH
    if module.startswith(("jax", "jaxlib")) and hasattr(value, "shape"):
        return JAX
    return None


def to_numpy(value: Any) -> np.ndarray:
    """A leaf's values as a NumPy array (a copy for framework tensors; torch half types widened)."""
    kind = kind_of(value)
    if kind == TORCH:
        tensor = value.detach()
        if str(tensor.dtype) in ("torch.bfloat16", "torch.float16"):
            tensor = tensor.float()
        if tensor.is_conj():
            tensor = tensor.resolve_conj()
        return np.asarray(tensor.cpu().numpy())
    return np.asarray(value)


@dataclass(frozen=True)
class Leaf:
    """What a check remembers of one caller's leaf, to give values back in the caller's kind."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    """The caller's dtype, as NumPy names it (float16 for a torch half tensor)."""
    kind: str
    device: Any = None
    """The torch device of a torch leaf."""

    @property
    def is_complex(self) -> bool:
        return self.dtype.kind == "c"

    @property
    def real_dtype(self) -> np.dtype:
        """The dtype of the check's real array for this leaf."""
        real = np.dtype(np.finfo(self.dtype).dtype) if self.is_complex else self.dtype
        return WIDENED.get(real, real)

    @property
    def plain(self) -> bool:
        """A real float32/float64 NumPy array: the check's array is the caller's, copied."""
        return self.kind == NUMPY and self.dtype in (np.dtype(np.float32), np.dtype(np.float64))


def replace_shape(leaf: Leaf, shape: tuple[int, ...]) -> Leaf:
    """``leaf`` described with another shape (a Jacobian block of it)."""
    return Leaf(leaf.name, tuple(shape), leaf.dtype, leaf.kind, leaf.device)


FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def leaf_of(name: str, value: Any) -> tuple[Leaf, np.ndarray]:
    """The leaf's description and its private real array; a clear error for a value no check can take."""
    if type(value) is np.ndarray and value.dtype in FLOATS:  # the common case, in a few steps
        copied = value.copy()
        if np.isfinite(copied).all():
            return Leaf(name, value.shape, value.dtype, NUMPY), copied
    kind = kind_of(value)
    if kind is None:
        raise InputError(
            f"params[{name!r}] is a {type(value).__module__}.{type(value).__name__}; a parameter must be a NumPy "
            "array, a Python or NumPy number, a torch tensor or a jax array (or a dict, list or tuple of them)."
        )
    array = to_numpy(value)
    torch_dtype = str(getattr(value, "dtype", "")) if kind == TORCH else ""
    dtype = np.dtype(np.float16) if torch_dtype == "torch.bfloat16" else array.dtype
    if torch_dtype == "torch.float16":
        dtype = np.dtype(np.float16)
    if dtype.kind not in "fc":
        raise InputError(
            f"params[{name!r}] has dtype {dtype}, but a gradient needs floating-point (or complex) parameters; "
            f"convert it, e.g. np.asarray(value, dtype=np.float64)" + (" or tensor.double()" if kind == TORCH else "")
            + "."
        )
    device = getattr(value, "device", None) if kind == TORCH else None
    leaf = Leaf(name, tuple(array.shape), np.dtype(dtype), kind, device)
    real = np.stack([array.real, array.imag], axis=-1) if leaf.is_complex else array
    real = np.array(real, dtype=leaf.real_dtype, copy=True)
    if not np.all(np.isfinite(real)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise InputError(
            f"params[{name!r}] contains a non-finite value ({array[where]} at index {list(where)}); "
            "a gradient check needs a finite point."
        )
    return leaf, real


def joined(leaf: Leaf, value: Any) -> Any:
    """The check's real array for ``leaf`` (NumPy, torch or jax) as the caller's complex value, or as it is."""
    if not leaf.is_complex:
        return value
    if kind_of(value) == TORCH:
        import torch

        return torch.complex(value[..., 0], value[..., 1])
    return value[..., 0] + 1j * value[..., 1]


def as_caller_kind(leaf: Leaf, value: np.ndarray) -> Any:
    """A NumPy value of the check as the caller's kind of leaf (a tensor on its device, a jax array)."""
    value = joined(leaf, value)
    if leaf.kind == TORCH:
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(value))
        return tensor.to(leaf.device) if leaf.device is not None and str(leaf.device) != "cpu" else tensor
    if leaf.kind == JAX:
        import jax.numpy as jnp

        return jnp.asarray(value)
    return value


def gradient_leaf(leaf: Leaf, value: Any, source: str) -> tuple[np.ndarray, np.dtype]:
    """A source's gradient for ``leaf`` (any kind, the caller's complex convention) as the check's real array,
    and the dtype it was returned in (NumPy's name for it)."""
    if type(value) is np.ndarray and value.dtype.kind == "f" and value.shape == leaf.shape and not leaf.is_complex \
            and np.isfinite(value).all():  # the common case, in a few steps
        return (value if value.dtype == leaf.real_dtype or value.dtype == np.float64
                else value.astype(np.result_type(value.dtype, leaf.real_dtype))), value.dtype
    kind = kind_of(value)
    if kind is None:
        raise SourceError(
            f"gradient source {source!r} returned {type(value).__module__}.{type(value).__name__} for "
            f"{leaf.name!r}; return a NumPy array (or a torch tensor or jax array) shaped like the parameter."
        )
    array = to_numpy(value)
    returned = np.dtype(np.float16) if kind == TORCH and str(value.dtype) in ("torch.float16", "torch.bfloat16") \
        else array.dtype
    if array.dtype.kind not in "fc" or (array.dtype.kind == "c" and not leaf.is_complex):
        raise SourceError(f"gradient source {source!r} returned {leaf.name!r} with dtype {array.dtype}; "
                          f"return {'real ' if not leaf.is_complex else ''}floating-point arrays shaped like the "
                          "parameter.")
    if tuple(array.shape) != leaf.shape:
        raise SourceError(
            f"gradient source {source!r} returned {leaf.name!r} with shape {tuple(array.shape)}, "
            f"but the parameter has shape {leaf.shape}; a gradient has the shape of its parameter."
        )
    if not np.all(np.isfinite(array)):
        index = [int(i) for i in np.argwhere(~np.isfinite(array))[0]]
        raise SourceError(
            f"gradient source {source!r} returned a non-finite value in {leaf.name!r} at index {index} "
            f"({array[tuple(index)]}); the source is broken at this point."
        )
    if leaf.is_complex:
        array = np.stack([array.real, np.asarray(array.imag)], axis=-1)
    real = np.asarray(array, dtype=np.result_type(array.dtype, leaf.real_dtype) if array.dtype.kind == "f"
                      else leaf.real_dtype)
    return real, returned

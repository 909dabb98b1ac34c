"""JAX on both sides: what the ``jax`` source and the jax engine both need.

A scoped float64 context (the global ``jax_enable_x64`` flag is never set),
the model's function as jax runs it (its native jax version where it declares
one), the device check, and one conversion of NumPy data to JAX arrays. JAX is
imported inside each function, so importing this module needs no JAX.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Callable

import numpy as np

from ..errors import InputError
from ..models import Model, cost_with_xp

JAX_INSTALL_HINT = 'pip install "gradcheck-bench[jax]"'


def x64_scope() -> AbstractContextManager:
    """A context in which JAX uses float64; the global ``jax_enable_x64`` flag is left alone."""
    import jax

    scoped_flag = getattr(jax, "enable_x64", None)
    if scoped_flag is not None:
        return scoped_flag(True)
    import importlib

    return importlib.import_module("jax.experimental").enable_x64()  # JAX releases before the flag moved to jax.*


def jax_function(model: Model, output: bool = False) -> Callable[[Any, Any, Any], Any]:
    """``(params, X, Y) -> array`` on jax arrays: the model's cost (``output=True``: its function), as its native
    jax version where the model declares one (:attr:`Model.framework_functions`: e.g. a recurrence as
    ``lax.scan``, which compiles), else the xp one with ``xp=jax.numpy``."""
    native = model.native_function("jax", output)
    if native is not None:
        return native
    import jax.numpy as jnp

    return lambda params, X, Y: cost_with_xp(model, params, X, Y, jnp, "jax.numpy", output=output)


def jax_device(device: str = "cpu") -> Any:
    """The JAX device named ``device`` (``cpu``, ``cuda``/``gpu``, ``tpu``, optionally ``:index``).

    Raises :class:`InputError` naming what is available when this machine has
    no such device.
    """
    import jax

    platform, _, index_text = str(device).partition(":")
    if not index_text.isdigit() and index_text:
        raise InputError(f"device={device!r} is not a device name; use 'cpu', 'cuda' or 'cuda:0'.")
    try:
        devices = jax.devices(platform)
    except RuntimeError:
        available = sorted({d.platform for d in jax.devices()})
        raise InputError(
            f"device={device!r} was asked for, but JAX has no {platform!r} device here "
            f"(available: {', '.join(available)}); use device='cpu' or install a JAX build "
            "for that accelerator."
        ) from None
    index = int(index_text) if index_text else 0
    if index >= len(devices):
        raise InputError(
            f"device={device!r} was asked for, but JAX sees only {len(devices)} {platform} device(s)."
        )
    return devices[index]


def to_jax(value: Any) -> Any:
    """NumPy leaves as JAX arrays (floats as float64, call inside :func:`x64_scope`); containers walked."""
    import jax
    import jax.numpy as jnp

    return jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf) if isinstance(leaf, np.ndarray) else leaf,
                                  float64_leaves(value))


def float64_leaves(value: Any) -> Any:
    """NumPy float leaves as float64 (others as they are), containers walked: ready for one ``device_put``."""
    if isinstance(value, np.ndarray):
        return value.astype(np.float64, copy=False) if np.issubdtype(value.dtype, np.floating) else value
    if isinstance(value, dict):
        return {key: float64_leaves(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(float64_leaves(item) for item in value)
    return value

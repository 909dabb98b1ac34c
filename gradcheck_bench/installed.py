"""Whether an optional framework is installed: asked once per process and remembered.

Sources and engines that need torch, jax or dask ask this on every check; the
answer never changes while a process runs, and the import system's search
(a few ``stat`` calls per name) is not free.
"""

from __future__ import annotations

import functools
import importlib.util


@functools.lru_cache(maxsize=None)
def module_installed(name: str) -> bool:
    """Whether ``name`` can be imported here (without importing it)."""
    return importlib.util.find_spec(name) is not None

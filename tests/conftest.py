"""Shared fixtures."""

from __future__ import annotations

import importlib.util
from typing import Callable

import pytest

from gradcheck_bench.installed import module_installed


@pytest.fixture
def hide_modules(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``hide_modules("torch", "jax")``: the package sees those frameworks as not installed, for one test."""
    real_find_spec = importlib.util.find_spec

    def hide(*names: str) -> None:
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *args: None if name in names else real_find_spec(name, *args))
        module_installed.cache_clear()  # the package remembers the answer: ask again

    yield hide
    module_installed.cache_clear()

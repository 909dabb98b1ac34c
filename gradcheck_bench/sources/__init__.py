"""Gradient sources: every way of getting a gradient, behind one signature."""

from .registry import (
    GradientSource,
    SourceSpec,
    available_sources,
    build_source,
    register_source,
    source_specs,
)

__all__ = [
    "GradientSource",
    "SourceSpec",
    "available_sources",
    "build_source",
    "register_source",
    "source_specs",
]

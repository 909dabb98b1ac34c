"""The registry of named gradient sources.

A gradient source is any callable ``source(params, X, Y) -> {name: ndarray}``.
Named sources are built by a factory that receives the model and the options
a user passed to ``check`` (``eps=...``, ``device=...``); each factory takes only
the options its signature names.

Each module in ``gradcheck_bench/sources/`` declares its sources in a module
level ``SOURCES`` list; the registry finds them by scanning the package, so a
new framework or oracle is one new file and no edit elsewhere. Modules must
import cleanly without their optional framework: they import it inside the
factory.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import SourceError
from ..installed import module_installed
from ..models import DEFAULT_MODEL, Model, get_model
from ..source import GRADIENT_ONLY, CallableSource, GradientSource


@dataclass(frozen=True)
class SourceSpec:
    """How to build one named source.

    ``requires`` names the optional Python modules it imports;
    ``applies_to(model)`` says whether the model declares what the source
    needs (``needs`` says it in words, for the error when it does not).
    """

    name: str
    factory: Callable[..., Any]
    """``factory(model=..., **options)``: a :class:`GradientSource`, or a function ``(params, X, Y) -> gradient``."""
    description: str
    kind: str  # "hand-written", "oracle", "autograd", "compiled" (autograd through a compiler) or "planted-bug"
    requires: tuple[str, ...] = ()
    applies_to: Callable[[Model], bool] = lambda model: True
    needs: str = ""
    install_hint: str = ""
    derivatives: Callable[[Model], frozenset[str]] = lambda model: GRADIENT_ONLY
    """The derivative kinds the source gives for ``model`` (:mod:`gradcheck_bench.kinds`)."""
    missing: Callable[[], str] = lambda: ""
    """What this machine lacks for the source beyond its modules, with the fix, in words ("" when nothing):
    ``torch-compile``'s C++ compiler."""

    def option_names(self) -> frozenset[str]:
        """The keyword options the factory accepts (everything but ``model``)."""
        return _option_names(self.factory)

    def is_available(self) -> bool:
        return self.modules_installed() and not self.missing()

    def modules_installed(self) -> bool:
        return all(module_installed(module) for module in self.requires)


@functools.lru_cache(maxsize=None)
def _option_names(factory: Callable[..., GradientSource]) -> frozenset[str]:
    """Read once per factory: ``inspect.signature`` costs more than a small check."""
    return frozenset(name for name in inspect.signature(factory).parameters if name != "model")


@dataclass
class _Registry:
    specs: dict[str, SourceSpec] = field(default_factory=dict)
    scanned: bool = False

    def load(self) -> dict[str, SourceSpec]:
        if not self.scanned:
            package = importlib.import_module(__package__)
            for module_info in pkgutil.iter_modules(package.__path__):
                module = importlib.import_module(f"{__package__}.{module_info.name}")
                for spec in getattr(module, "SOURCES", ()):
                    self.add(spec)
            self.scanned = True
        return self.specs

    def add(self, spec: SourceSpec) -> None:
        existing = self.specs.get(spec.name)
        if existing is not None and existing.factory is not spec.factory:
            raise ValueError(f"two gradient sources are named {spec.name!r}.")
        self.specs[spec.name] = spec


_REGISTRY = _Registry()


def register_source(spec: SourceSpec) -> None:
    """Add a named source from outside the package (e.g. a user's own framework)."""
    _REGISTRY.load()
    _REGISTRY.add(spec)


def source_specs() -> dict[str, SourceSpec]:
    """Every registered source by name, available or not."""
    return dict(_REGISTRY.load())


def available_sources(model: str | Model = DEFAULT_MODEL) -> list[str]:
    """Names of the sources whose frameworks are installed and that apply to ``model``."""
    resolved = get_model(model)
    return [name for name, spec in source_specs().items() if spec.is_available() and spec.applies_to(resolved)]


def get_spec(name: str) -> SourceSpec:
    specs = source_specs()
    if name not in specs:
        raise SourceError(
            f"unknown gradient source {name!r}; known sources: {', '.join(sorted(specs))}. "
            "Pass one of these names or a callable (params, X, Y) -> dict."
        )
    return specs[name]


def sources_giving(derivative: str, model: Model) -> list[str]:
    """The names of the installed sources that give ``derivative`` for ``model``."""
    return [name for name, spec in source_specs().items()
            if spec.is_available() and spec.applies_to(model) and derivative in spec.derivatives(model)]


def build_source(name: str, model: Model, derivative: str = "gradient", **options: Any) -> GradientSource:
    """Build the named source for ``model``, handing it the options it accepts; it must give ``derivative``."""
    spec = get_spec(name)
    if not spec.applies_to(model):
        usable = ", ".join(n for n, s in source_specs().items() if s.applies_to(model))
        raise SourceError(
            f"gradient source {name!r} needs {spec.needs or 'something'} that model {model.name!r} "
            f"does not declare; sources for {model.name!r}: {usable}."
        )
    if spec.modules_installed() and spec.missing():
        raise SourceError(f"gradient source {name!r} cannot run on this machine: {spec.missing()}.")
    if not spec.is_available():
        raise ImportError(
            f"gradient source {name!r} needs {', '.join(spec.requires)}, which is not "
            f"installed; install it with: {spec.install_hint or 'pip install ' + ' '.join(spec.requires)}"
        )
    if spec.applies_to(model) and derivative not in spec.derivatives(model):
        raise SourceError(
            f"gradient source {name!r} does not give the {derivative} of model {model.name!r} (it gives "
            f"{', '.join(sorted(spec.derivatives(model))) or 'nothing here'}); sources that do: "
            f"{', '.join(sources_giving(derivative, model)) or 'none installed'}."
        )
    accepted = {key: value for key, value in options.items() if key in spec.option_names()}
    built = spec.factory(model=model, **accepted)
    if isinstance(built, GradientSource):
        return built
    return CallableSource(built, name, check_arrays=True)  # a factory that returns a plain function of the model


def option_owners(names: list[str]) -> dict[str, frozenset[str]]:
    """The options each named source accepts."""
    return {name: get_spec(name).option_names() for name in names}


def unused_options(names: list[str], options: dict[str, Any]) -> list[str]:
    """The options that none of the named sources accepts (so a typo never passes silently)."""
    accepted: set[str] = set()
    for name in names:
        accepted |= get_spec(name).option_names()
    return sorted(set(options) - accepted)

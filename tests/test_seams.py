"""A new engine, model or source is one new file: written here into a folder on the package's path."""

from __future__ import annotations

import importlib
import sys
import textwrap

import numpy as np
import pytest

import gradcheck_bench as gb


@pytest.fixture
def one_new_file(tmp_path, monkeypatch):
    """``add(package, module, code)``: a module file in an extra folder of ``package``, found by its registry."""
    def add(package: str, module: str, code: str) -> None:
        folder = tmp_path / package.replace(".", "_")
        folder.mkdir(exist_ok=True)
        (folder / f"{module}.py").write_text(textwrap.dedent(code))
        loaded = importlib.import_module(package)
        monkeypatch.setattr(loaded, "__path__", [*loaded.__path__, str(folder)])
        monkeypatch.delitem(sys.modules, f"{package}.{module}", raising=False)
    return add


def forget_registries(monkeypatch):
    engines = importlib.import_module("gradcheck_bench.differences.engines")
    models = importlib.import_module("gradcheck_bench.models")
    registry = importlib.import_module("gradcheck_bench.sources.registry")
    monkeypatch.setattr(engines, "_ENGINES", {})
    monkeypatch.setattr(models, "_MODELS", {})
    monkeypatch.setattr(registry, "_REGISTRY", registry._Registry())


def test_a_new_engine_is_one_file(one_new_file, monkeypatch):
    one_new_file("gradcheck_bench.differences.engines", "reversed_loop", '''
        """An engine that runs the coordinates backwards: different code, the same differences."""
        import numpy as np
        from gradcheck_bench.differences.engines import FDEngine
        from gradcheck_bench.differences.engines.loop import prepare as loop_prepare

        def prepare(model, params, X, Y):
            loop = loop_prepare(model, params, X, Y)
            return lambda indices, steps: loop(indices[::-1], steps[::-1])[:, ::-1]

        ENGINE = FDEngine(name="reversed-loop", description="the loop, backwards", prepare=prepare,
                          handles=lambda model, params, X, Y: True, bytes_per_coordinate=lambda *a: 0)
    ''')
    forget_registries(monkeypatch)
    assert "reversed-loop" in gb.fd_engines()
    params, X, Y = gb.seed_case()
    ours = gb.fd(engine="reversed-loop", eps=1e-3)(params, X, Y)
    loop = gb.fd(engine="loop", eps=1e-3)(params, X, Y)
    assert all(np.array_equal(ours[name], loop[name]) for name in params)
    assert gb.check("numpy", "fd", params, X, Y, engine="reversed-loop").passed


def test_a_new_model_is_one_file(one_new_file, monkeypatch):
    one_new_file("gradcheck_bench.models", "quadratic", '''
        """A quadratic form, as a model."""
        import numpy as np
        from gradcheck_bench.models import Model

        def cost(params, X, Y, xp=np):
            return 0.5 * xp.sum(params["x"] * (X @ params["x"]))

        def point():
            rng = np.random.default_rng(0)
            A = rng.normal(size=(5, 5))
            return {"x": rng.normal(size=5)}, A + A.T, None

        MODEL = Model(name="quadratic", cost=cost, gradient=lambda p, X, Y: {"x": X @ p["x"]}, cases={"q": point})
    ''')
    forget_registries(monkeypatch)
    assert "quadratic" in gb.model_names()
    for reference in ("fd", "complex-step", "richardson"):
        assert gb.check("numpy", reference, *gb.get_model("quadratic").cases["q"](), model="quadratic").passed


def test_a_new_models_point_settings_are_cli_flags_with_no_cli_edit(one_new_file, monkeypatch, capsys):
    one_new_file("gradcheck_bench.models", "scaled_sum", '''
        """sum(w * X): a model whose point is built from a width, as a CLI flag."""
        import numpy as np
        from gradcheck_bench.models import Model, PointBuilder, PointSetting

        def point(width=3):
            return {"w": np.linspace(1.0, 2.0, width)}, np.arange(1.0, width + 1.0), None

        MODEL = Model(name="scaled-sum", cost=lambda params, X, Y, xp=np: xp.sum(params["w"] * X),
                      gradient=lambda params, X, Y: {"w": np.array(X, dtype=float)},
                      point_builder=PointBuilder(case="wide", settings=(PointSetting("width", int, "its width"),),
                                                 build=point))
    ''')
    forget_registries(monkeypatch)
    from gradcheck_bench.cli import main

    assert main(["check", "--width", "7", "--json"]) == 0  # --width implies the model that declares it
    assert '"size": 7' in capsys.readouterr().out
    assert main(["check", "--model", "scaled-sum", "--case", "wide"]) == 0  # the builder's defaults
    assert main(["check", "--width", "7", "--sizes", "4,5,1"]) == 2
    assert "settings of different models" in capsys.readouterr().err


def test_a_new_source_is_one_file(one_new_file, monkeypatch):
    one_new_file("gradcheck_bench.sources", "forward_difference", '''
        """One-sided differences, as a (less accurate) oracle."""
        import numpy as np
        from gradcheck_bench.ravel import ravel, unravelled_copy
        from gradcheck_bench.sources.registry import SourceSpec

        def forward_difference(model, h=1e-7):
            def source(params, X, Y):
                flat, unravel = ravel(params)
                base = float(model.cost(unravel(flat), X, Y))
                gradient = np.empty_like(flat)
                for i in range(flat.size):
                    moved = flat.copy()
                    moved[i] += h
                    gradient[i] = (float(model.cost(unravel(moved), X, Y)) - base) / h
                return unravelled_copy(unravel, gradient)
            return source

        SOURCES = [SourceSpec(name="forward-difference", factory=forward_difference, description="one-sided",
                              kind="oracle")]
    ''')
    forget_registries(monkeypatch)
    assert "forward-difference" in gb.available_sources("mlp")
    result = gb.check("numpy", "forward-difference", *gb.seed_case(), threshold=1e-5)
    assert result.passed and result.difference > 1e-9  # a coarser oracle, but a source like any other

"""The Taylor test: order 2 for a correct first derivative, 1 for a wrong one (4 and 2 for a HVP)."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck_bench as gb


def test_the_seed_backprop_converges_at_order_two_and_the_planted_bug_at_order_one():
    correct = gb.check_taylor("numpy", *gb.seed_case())
    wrong = gb.check_taylor("numpy-buggy", *gb.seed_case())
    assert correct.passed and correct.order == pytest.approx(2.0, abs=0.1)
    assert not wrong.passed and wrong.order == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("kind, expected", [("jacobian", 2), ("jvp", 2), ("vjp", 2), ("hvp", 4)])
def test_every_kind_has_its_order(kind, expected):
    params, X, Y = gb.get_model("softmax").cases["softmax-k5-d4-m6"]()
    correct = gb.check_taylor("numpy", params, X, Y, model="softmax", derivative=kind)
    wrong = gb.check_taylor("numpy-buggy", params, X, Y, model="softmax", derivative=kind)
    assert correct.passed and correct.order == pytest.approx(expected, abs=0.15)
    assert not wrong.passed and wrong.order == pytest.approx(expected - (2 if kind == "hvp" else 1), abs=0.15)


def test_the_order_needs_no_step_and_holds_at_any_scale():
    def cost(p, X, Y, xp=np):
        return xp.sum(xp.exp(p["w"] * X))

    for scale in (1e-6, 1.0, 1e3):
        params, X = {"w": scale * np.array([0.3, -0.2, 0.1])}, np.array([1.0, 2.0, 3.0]) / scale
        exact = lambda p, X, Y: {"w": X * np.exp(p["w"] * X)}  # noqa: E731
        model = gb.Model(name="exp", cost=cost)
        assert gb.check_taylor(exact, params, X, None, model=model).passed
        assert not gb.check_taylor(lambda p, X, Y: {"w": 1.01 * exact(p, X, Y)["w"]}, params, X, None,
                                   model=model).passed

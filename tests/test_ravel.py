import numpy as np

import gradcheck_bench as gb


def test_ravel_uses_the_exercise_order_and_c_order():
    params, _, _ = gb.seed_case()
    flat, unravel = gb.ravel(params)
    assert flat.shape == (47,)
    np.testing.assert_array_equal(flat[:20], params["W1"].ravel(order="C"))
    np.testing.assert_array_equal(flat[20:25], params["b1"].ravel())
    np.testing.assert_array_equal(flat[-1:], params["b3"].ravel())
    rebuilt = unravel(flat)
    assert list(rebuilt) == list(params)
    for name in params:
        np.testing.assert_array_equal(rebuilt[name], params[name])


def test_ravel_copies_so_the_params_are_never_aliased():
    params, _, _ = gb.seed_case()
    flat, _ = gb.ravel(params)
    flat[:] = 0.0
    assert np.all(params["W1"] != 0.0)


def test_round_trip_of_scalars_and_odd_shapes():
    params = {"theta": np.array(1.5), "T": np.arange(24.0).reshape(2, 3, 4)}
    flat, unravel = gb.ravel(params)
    back = unravel(flat)
    assert back["theta"].shape == () and back["theta"] == 1.5
    np.testing.assert_array_equal(back["T"], params["T"])

"""The Dask engine: same answer as the loop, on a loopback LocalCluster; worker death; unreachable scheduler.

One small cluster (2 single-threaded worker processes on 127.0.0.1) serves
the whole module; it is shut down at the end. Nothing here contacts an
outside address.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("distributed")

import gradcheck_bench as gb  # noqa: E402
from gradcheck_bench.models.mlp import exercise_cost, random_case  # noqa: E402
from gradcheck_bench.ravel import parameter_count  # noqa: E402
from gradcheck_bench.metrics import relative_difference  # noqa: E402
from gradcheck_bench.cli import main  # noqa: E402
from gradcheck_bench.errors import GradCheckError, InputError  # noqa: E402
from gradcheck_bench.differences.engines import dask_engine  # noqa: E402
from gradcheck_bench.differences.driver import central_differences, chunks_in  # noqa: E402

COMPARISON_EPS = 1e-2
"""As in test_fd_engines.py: at this step the loop's own float64 rounding (~ulp(J)/eps) is far
below 1e-12, so 1e-12 tests the engine, not rounding noise. (At the default 1e-5 the loop itself
carries ~1e-11 of rounding noise; the workers run the same local engines, whose agreement there
is bounded in test_fd_engines.py.)"""

CASES = {
    "seed": gb.seed_case,
    "deep": lambda: random_case((4, 12, 9, 6, 1), 30, seed=2),
    "wide": lambda: random_case((3, 40, 1), 10, seed=4),
}


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client

    local = dask_engine.start_local_cluster(workers=2)
    client = Client(local, set_as_default=False)
    yield local, client
    client.close()
    local.close()


@pytest.fixture
def client(cluster):
    _, client = cluster
    client.wait_for_workers(2, timeout=30)
    return client


def closed_loopback_port() -> int:
    """A loopback port nobody listens on: bound once by us, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


EXERCISE = gb.Model(name="exercise", cost=exercise_cost, takes_xp=False)
"""The exercise's cost as a plain model: no capability a fast engine could use."""


@pytest.mark.parametrize("case", sorted(CASES))
def test_dask_agrees_with_loop_to_1e_12(client, case: str) -> None:
    params, X, Y = CASES[case]()
    reference = central_differences(gb.get_model("mlp"), params, X, Y, COMPARISON_EPS, "loop")
    result = central_differences(gb.get_model("mlp"), params, X, Y, COMPARISON_EPS, "dask",
                                 engine_options={"client": client})
    assert relative_difference(result, reference) <= 1e-12


def test_many_small_tasks_and_per_coordinate_steps_match_the_loop(client) -> None:
    params, X, Y = random_case((4, 6, 3, 1), 8, seed=5)
    steps = np.geomspace(1e-3, 3e-2, 55)
    reference = central_differences(gb.get_model("mlp"), params, X, Y, steps, "loop")
    result = central_differences(gb.get_model("mlp"), params, X, Y, steps, "dask",
                                 engine_options={"client": client, "task_size": 3})
    assert relative_difference(result, reference) <= 1e-12


def test_any_cost_runs_on_the_workers_with_the_loop(client) -> None:
    params, X, Y = gb.seed_case()
    reference = central_differences(EXERCISE, params, X, Y, COMPARISON_EPS, "loop")
    result = central_differences(EXERCISE, params, X, Y, COMPARISON_EPS, "dask",
                                 engine_options={"client": client})
    np.testing.assert_array_equal(result, reference)  # the loop on a worker is the loop


def test_a_check_through_a_scheduler_address_leaves_the_cluster_running(cluster, client) -> None:
    local, _ = cluster
    assert gb.check("numpy", gb.fd(engine="dask", engine_options={"scheduler": local.scheduler_address}), *gb.seed_case()).passed
    assert not gb.check("numpy-buggy", "fd", *gb.seed_case(), engine="dask", engine_options={"client": client}).passed
    assert len(client.scheduler_info()["workers"]) == 2
    assert client.submit(sum, [1, 2]).result() == 3


def test_without_an_address_a_local_cluster_is_started_and_shut_down() -> None:
    before = set(multiprocessing.active_children())
    params, X, Y = gb.seed_case()
    result = gb.fd(engine="dask", eps=COMPARISON_EPS)(params, X, Y)
    reference = gb.fd(engine="loop", eps=COMPARISON_EPS)(params, X, Y)
    assert relative_difference(gb.ravel(result)[0], gb.ravel(reference)[0]) <= 1e-12
    assert set(multiprocessing.active_children()) <= before  # its worker processes are gone


def test_the_cli_runs_dask_on_a_given_scheduler(cluster, client, capsys) -> None:
    local, _ = cluster
    assert main(["check", "--engine", "dask", "--scheduler", local.scheduler_address]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["check", "--candidate", "numpy-buggy", "--engine", "dask",
                 "--scheduler", local.scheduler_address]) == 1


def test_an_unreachable_scheduler_is_a_clear_error_not_a_hang(monkeypatch, capsys) -> None:
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{closed_loopback_port()}"
    outcome: dict[str, BaseException] = {}

    def attempt() -> None:
        try:
            gb.check("numpy", "fd", *gb.seed_case(), engine="dask", engine_options={"scheduler": address})
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = error

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=30)  # a hang, not a slow machine, would outlast this
    assert not worker.is_alive(), "the fd oracle hung on an unreachable scheduler"
    error = outcome.get("error")
    assert isinstance(error, dask_engine.SchedulerUnreachableError) and isinstance(error, GradCheckError)
    assert f"could not reach the Dask scheduler at {address} within 1 s" in str(error)
    assert main(["check", "--engine", "dask", "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gradcheck-bench: error: could not reach the Dask scheduler") and err.count("\n") == 1


def tasks_in_flight(client):
    """An MLP (4, 60, 40, 1)'s fd tasks of 16 coordinates, submitted to ``client``: the loop's gradient, the steps,
    and the (indices, costs) generator."""
    params, X, Y = random_case((4, 60, 40, 1), 50, seed=11)
    n = parameter_count(params)
    reference = central_differences(gb.get_model("mlp"), params, X, Y, COMPARISON_EPS, "loop")
    steps = np.full(n, COMPARISON_EPS)
    ranges = [(start, min(start + 16, n)) for start in range(0, n, 16)]
    return reference, steps, dask_engine.map_chunks(gb.get_model("mlp"), params, X, Y,
                                                    chunks_in(ranges, np.arange(n), steps), client=client, task_size=16)


def test_a_worker_killed_mid_run_does_not_change_the_answer(client) -> None:
    reference, steps, results = tasks_in_flight(client)
    n = steps.size
    gradient = np.full(n, np.nan)
    indices, costs = next(results)  # tasks are in flight now
    gradient[indices] = (costs[0] - costs[1]) / (2 * steps[indices])
    victim = next(address for address, keys in wait_for_processing(client).items() if keys)
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    arrived_after_the_kill = 0
    for indices, costs in results:
        gradient[indices] = (costs[0] - costs[1]) / (2 * steps[indices])
        arrived_after_the_kill += indices.size
    assert arrived_after_the_kill > n // 2  # the kill really landed mid-run
    assert victim not in client.scheduler_info()["workers"]
    assert relative_difference(gradient, reference) <= 1e-12


def wait_for_processing(client, timeout: float = 10.0) -> dict:
    """The scheduler's tasks-in-progress per worker, once some worker has one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processing = client.processing()
        if any(processing.values()):
            return processing
        time.sleep(0.01)
    raise AssertionError("no task was running on any worker")


def test_stopping_early_cancels_the_remaining_tasks(client) -> None:
    params, X, Y = random_case((4, 30, 20, 1), 20, seed=12)
    n = parameter_count(params)
    steps = np.full(n, 1e-3)
    results = dask_engine.map_chunks(gb.get_model("mlp"), params, X, Y, chunks_in([(0, n)], np.arange(n), steps),
                                     client=client, task_size=8)
    next(results)
    results.close()  # what Ctrl-C in the driver does (contextlib.closing)
    deadline = time.monotonic() + 10
    while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) == 0


def test_workers_on_one_machine_share_its_memory_budget(client) -> None:
    assert dask_engine.threads_per_host(client) == 2  # 2 single-threaded workers on 127.0.0.1
    chunk = (np.arange(10, 211), np.full(201, 1e-3))
    pieces = dask_engine.cut([chunk], 2)
    assert [indices.size for indices, _ in pieces] == [101, 100]
    np.testing.assert_array_equal(np.concatenate([indices for indices, _ in pieces]), chunk[0])
    assert len(dask_engine.cut([(np.arange(1), np.ones(1))], 4)) == 1  # no empty pieces


def test_options_are_checked_before_anything_runs(client) -> None:
    with pytest.raises(InputError, match=r"scheduler is not an option of the 'structured' .* pass engine='dask'"):
        gb.fd(engine="structured", engine_options={"scheduler": "tcp://127.0.0.1:8786"})
    with pytest.raises(InputError, match="scheduler= or client=, not both"):
        gb.fd(engine="dask", engine_options={"scheduler": "tcp://127.0.0.1:8786", "client": client})(*gb.seed_case())
    with pytest.raises(InputError, match="client must be a distributed.Client"):
        gb.fd(engine="dask", engine_options={"client": "tcp://127.0.0.1:8786"})(*gb.seed_case())
    with pytest.raises(InputError, match="task_size must be a positive"):
        central_differences(gb.get_model("mlp"), *gb.seed_case(), engine="dask",
                            engine_options={"client": client, "task_size": 0})


def test_without_distributed_the_engine_is_unavailable(hide_modules) -> None:
    hide_modules("distributed")
    assert "dask" not in gb.fd_engines()
    with pytest.raises(ImportError, match="pip install dask distributed"):
        gb.fd(engine="dask")


def test_auto_never_starts_a_cluster() -> None:
    """On this machine dask paid off at no measured size (results/dask/), so auto never picks it."""
    import importlib

    engines = importlib.import_module("gradcheck_bench.differences.engines")
    assert engines.engines()["dask"].auto_rank is None
    for sizes, m in [((4, 5, 3, 1), 3), ((4, 420, 210, 1), 100), ((4, 1000, 996, 1), 20)]:
        params, X, Y = random_case(sizes, m, seed=0)
        assert engines.choose_engine("auto", gb.get_model("mlp"), params, X, Y).name != "dask"
        assert engines.choose_engine("auto", EXERCISE, params, X, Y).name != "dask"


def cancel_pending_tasks(client) -> int:
    """Cancel, on the cluster, every finite-difference task of this client not yet finished."""
    from distributed import Future

    pending = [Future(key, client) for key, state in list(client.futures.items())
               if str(key).startswith("fd-slice-") and state.status == "pending"]
    client.cancel(pending)
    return len(pending)


def test_tasks_the_cluster_cancels_mid_run_are_submitted_again_and_the_answer_is_unchanged(client) -> None:
    reference, steps, results = tasks_in_flight(client)
    n = steps.size
    gradient = np.full(n, np.nan)
    indices, costs = next(results)
    gradient[indices] = (costs[0] - costs[1]) / (2 * steps[indices])
    assert cancel_pending_tasks(client) > 0  # what a lost point does to the tasks that read it
    for indices, costs in results:
        assert np.isnan(gradient[indices]).all()  # each coordinate arrives once
        gradient[indices] = (costs[0] - costs[1]) / (2 * steps[indices])
    assert relative_difference(gradient, reference) <= 1e-12


def test_a_task_cancelled_more_often_than_allowed_is_a_clear_error(client, monkeypatch) -> None:
    monkeypatch.setattr(dask_engine, "RESUBMITS", 0)
    _, _, results = tasks_in_flight(client)
    next(results)
    assert cancel_pending_tasks(client) > 0
    with pytest.raises(dask_engine.LostTaskError, match="cancelled task fd-slice-.* 1 times"):
        for _ in results:
            pass
    assert isinstance(dask_engine.LostTaskError("x"), GradCheckError)

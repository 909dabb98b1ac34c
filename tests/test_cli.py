import json
from pathlib import Path

import pytest

from gradcheck_bench.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_default_check_passes(capsys):
    status, out, _ = run(capsys, "check")
    assert status == 0 and out.startswith("PASS  numpy vs fd")


def test_buggy_check_fails_and_names_the_culprits(capsys):
    status, out, _ = run(capsys, "check", "--candidate", "numpy-buggy", "--reference", "fd")
    assert status == 1
    assert "W2 x2.000" in out and "b1 x4.000" in out


def test_json_output(capsys):
    status, out, _ = run(capsys, "check", "--candidate", "numpy-buggy", "--json")
    data = json.loads(out)
    assert status == 1 and data["passed"] is False and set(data["culprits"]) == {"W2", "b1"}


def test_random_case_and_eps(capsys):
    status, out, _ = run(capsys, "check", "--case", "random", "--sizes", "3,7,2,1", "--examples", "5",
                         "--seed", "4", "--eps", "1e-6", "--json")
    assert status == 0 and json.loads(out)["per_parameter"]["W1"]["size"] == 21


def test_linear1d(capsys):
    status, out, _ = run(capsys, "check", "--model", "linear1d", "--x", "3", "--theta", "2")
    assert status == 0 and "theta" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "--candidate", "nope"], "unknown gradient source 'nope'"),
        (["check", "--eps", "-1"], "--eps: must be a positive finite number"),
        (["check", "--eps", "0"], "--eps: must be a positive finite number"),
        (["check", "--threshold", "0"], "--threshold: must be a positive finite number"),
        (["check", "--case", "random", "--sizes", "4,0,1"], "layer sizes must be"),
        (["check", "--case", "random", "--sizes", "4,x,1"], "sizes must be integers"),
        (["check", "--case", "random", "--examples", "0"], "--examples: must be at least 1"),
        (["check", "--candidate", "numpy-buggy", "--model", "linear1d"], "needs a planted bug"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2_with_a_message_and_no_traceback(capsys, argv, message):
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert message in err and "Traceback" not in err


def test_help_exits_0(capsys):
    status, out, _ = run(capsys, "check", "--help")
    assert status == 0 and "--candidate" in out


@pytest.mark.parametrize(
    "sizes, message",
    [
        ("4," + ",".join(["5"] * 1_000_000) + ",1", "layers is deeper than"),
        ("4,1000000,1000,1", "parameters"),
    ],
)
def test_absurd_nets_are_refused_before_anything_is_allocated(capsys, sizes, message):
    status, _, err = run(capsys, "check", "--case", "random", "--sizes", sizes)
    assert status == 2 and message in err


def test_timeout_stops_a_long_run_with_a_message(capsys):
    status, _, err = run(capsys, "--timeout", "0.2", "check", "--case", "random", "--sizes", "4,1000,1000,1",
                         "--examples", "200")
    assert status == 2
    assert "stopped after the time limit of 0.2 s" in err


def wait_until_it_handles(pid: int, signum: int, timeout: float = 300.0) -> None:
    """Until process ``pid`` has a handler for ``signum`` (Linux's /proc: the caught-signals mask); elsewhere a
    few seconds."""
    import time

    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        time.sleep(4.0)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        caught = next((line.split()[1] for line in status.read_text().splitlines() if line.startswith("SigCgt:")),
                      "0")
        if int(caught, 16) >> (signum - 1) & 1:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not install a handler for signal {signum} within {timeout:g} s")


def test_sigterm_exits_cleanly_without_traceback(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "gradcheck_bench", "check", "--case", "random", "--sizes", "4,1000,1000,1",
         "--examples", "200"],
        stderr=subprocess.PIPE, text=True,
    )
    wait_until_it_handles(process.pid, signal.SIGTERM)  # past start-up (a loaded host takes its time there)
    time.sleep(1.0)  # inside the finite-difference loop
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err[-3000:]  # what the process said, should it end any other way
    assert "terminated (SIGTERM)" in err and "Traceback" not in err

"""Running a command under torchrun (2 processes, one thread each) from a test."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_torchrun(target: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """`torchrun --standalone --nproc_per_node=2 TARGET...` with the repository importable.

    On timeout torchrun gets SIGTERM, on which it stops its workers, and the test fails.
    subprocess.run's own timeout sends SIGKILL instead, which torchrun cannot pass on: its
    workers run in sessions of their own and live on (one left by a hung run was still running
    hours later); no test should leave processes behind."""
    env = {**os.environ, "PYTHONPATH": str(Path.cwd()), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    process = subprocess.Popen(
        [*command, *target],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        pytest.fail(f"torchrun {target} did not finish in {timeout} s: {stderr[-4000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

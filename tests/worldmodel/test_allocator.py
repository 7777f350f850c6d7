"""Freed memory kept in the process: predictions stop faulting fresh pages in (glibc only)."""

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# One fresh process per setting: glibc's defaults cannot be restored once changed.
MEASURE = """
import json
from benchmarks.bench_allocator import measure
print(json.dumps(measure("tiny", kept={kept}, predictions=3, threads=1)))
"""

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the setting is glibc's",
)


def faults_per_prediction(kept: bool) -> float:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE.format(kept=kept)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])["faults"]


@glibc_only
def test_a_prediction_reuses_freed_pages_once_memory_is_kept():
    default, kept = faults_per_prediction(False), faults_per_prediction(True)
    # tiny's 3-camera event: ~2,500 faults a prediction with glibc's defaults, ~15 kept
    assert default > 500
    assert kept < default / 10


@glibc_only
def test_keeping_freed_memory_is_done_once_and_says_so():
    from worldmodel.allocator import keep_freed_memory

    assert keep_freed_memory() is True
    assert keep_freed_memory() is True

"""A small failure-recovery study: a grasp that slips, with recovery on and off, and its report.

    MUJOCO_GL=egl .venv/bin/python examples/recovery_study.py [STUDY_DIR]

The same as `wallwm eval --tasks drawer_green --faults none,grasp_slip --seeds 0 --recovery both
--out STUDY_DIR`: every case is a recorded episode (replay any with `wallwm replay`), results.jsonl
holds one row per case, and report.md the tables and plots. Run it again and the finished cases
are kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent.studies.evaluation import cases, run_study, summarize
from agent.studies.report import write_report


def main(study_dir: Path) -> list[dict]:
    study = cases(["drawer_green"], [None, "grasp_slip"], seeds=[0], recovery=[False, True])
    settings = {"executor": "oracle", "planner": "embedded", "resolution": 64, "max_events": 20}
    rows = []
    for row in run_study(study, study_dir, settings):
        print(f"{row['case']}: {'success' if row['success'] else 'failed'}")
        rows.append(row)
    report = write_report(study_dir, rows, f"Grasp slip, recovery on and off ({len(rows)} cases)")
    summary = summarize(rows)
    for line in summary:
        print(line)
    print(f"report: {report}")
    return summary


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/example-study"))

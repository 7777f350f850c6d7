"""The markdown report of a failure-recovery study, with its PNG plots.

report.md states what ran (executor, checkpoint, calibration, seeds, tasks, the exact command),
then detection and success per fault (the numbers of summary.json: every rate with the cases
behind it and its 95% Wilson interval), the detectors side by side (divergence, action
consistency, combined), outcomes per (fault, recovery), the per-case table,
success and detection plots with n on every bar and, for one episode per fault, the divergence
of every camera over time against its threshold with the event timeline beneath it, and a
predicted | observed video of its events.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from agent.episode import EpisodeStore, EpisodeStoreError
from agent.studies.episode_video import write_video
from agent.studies.evaluation import event_step_ranges, summarize
from agent.studies.summary import fault_summary


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def rate_cell(value: float | None, n: int, interval: list[float] | None) -> str:
    """'0.50 (1/2) [0.09, 0.91]': a rate, the cases behind it and its 95% Wilson interval."""
    if value is None or interval is None:
        return f"n/a (0/{n})"
    return f"{value:.2f} ({round(value * n)}/{n}) [{interval[0]:.2f}, {interval[1]:.2f}]"


def _bars(
    axis: Any, position: float, value: float | None, n: int, interval: list[float] | None, **style
) -> None:
    """One bar with its Wilson interval as an error bar and `n=` above it."""
    height = value or 0.0
    axis.bar(position, height, **style)
    if interval is not None:
        error = [[height - interval[0]], [interval[1] - height]]
        axis.errorbar(position, height, yerr=error, color="black", capsize=2, linewidth=0.8)
    top = interval[1] if interval is not None else height
    axis.text(position, top + 0.02, f"n={n}", ha="center", va="bottom", fontsize=7)


def plot_success(by_fault: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    """Task success per fault, recovery off vs on, 95% Wilson intervals, n above each bar."""
    faults = list(by_fault)
    figure, axis = plt.subplots(figsize=(max(4, 1.2 * len(faults)), 3.2))
    width = 0.38
    for offset, mode, colour in ((-width / 2, "off", "C0"), (width / 2, "on", "C1")):
        for index, fault in enumerate(faults):
            entry = by_fault[fault]
            n = entry["success_n"][mode]
            if n:
                interval = entry["success_ci95"][mode]
                _bars(
                    axis,
                    index + offset,
                    entry["success"][mode],
                    n,
                    interval,
                    width=width,
                    color=colour,
                )
    axis.set_xticks(range(len(faults)), faults, rotation=20, ha="right")
    axis.set_ylabel("task success")
    axis.set_ylim(0, 1.2)
    swatches = [Patch(color=c, label=f"recovery {m}") for m, c in (("off", "C0"), ("on", "C1"))]
    axis.legend(handles=swatches, fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_detection(by_fault: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    """TPR (fault episodes) and FPR (nominal events) per fault, intervals and n on each bar."""
    faults = list(by_fault)
    figure, axis = plt.subplots(figsize=(max(4, 1.2 * len(faults)), 3.2))
    width = 0.38
    for offset, name, colour in ((-width / 2, "tpr", "C2"), (width / 2, "fpr", "C3")):
        for index, fault in enumerate(faults):
            entry = by_fault[fault]
            if entry[f"{name}_n"]:
                _bars(
                    axis,
                    index + offset,
                    entry[name],
                    entry[f"{name}_n"],
                    entry[f"{name}_ci95"],
                    width=width,
                    color=colour,
                )
    axis.set_xticks(range(len(faults)), faults, rotation=20, ha="right")
    axis.set_ylabel("share flagged")
    axis.set_ylim(0, 1.2)
    swatches = [
        Patch(color="C2", label="TPR (fault episodes)"),
        Patch(color="C3", label="FPR (nominal events)"),
    ]
    axis.legend(handles=swatches, fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_divergence(store: EpisodeStore, fault_steps: list[int], path: Path, title: str) -> None:
    """Per-camera divergence over the episode's steps, thresholds dashed, events shaded."""
    figure, (curves, timeline) = plt.subplots(
        2, 1, figsize=(9, 4), sharex=True, gridspec_kw={"height_ratios": [4, 1]}
    )
    for event, (start, _) in zip(store.events, event_step_ranges(store), strict=True):
        verdict = event.record["verdict"]
        for index, report in enumerate(verdict["cameras"]):
            values = verdict["divergence"][report["camera"]]
            colour = f"C{index}"
            label = report["camera"] if event.index == 0 else None
            curves.plot(range(start, start + len(values)), values, color=colour, label=label)
            curves.hlines(
                report["threshold"],
                start,
                start + len(values),
                colors=colour,
                linestyles="dashed",
                linewidth=0.8,
            )
    for event, (start, end) in zip(store.events, event_step_ranges(store), strict=True):
        diverged = event.record["verdict"]["diverged"]
        timeline.axvspan(start, end, color="tab:red" if diverged else "tab:green", alpha=0.5)
        timeline.text(
            (start + end) / 2,
            0.5,
            event.record["plan"]["skill"],
            ha="center",
            va="center",
            fontsize=6,
            rotation=90,
        )
    for step in fault_steps:
        curves.axvline(step, color="black", linewidth=0.6)
    measures = {event.record["verdict"].get("measure", "ssim") for event in store.events}
    names = {"ssim": "1 - SSIM", "latent": "latent squared error"}
    curves.set_ylabel(f"divergence ({', '.join(names.get(m, m) for m in sorted(measures))})")
    curves.set_title(title)
    curves.legend(fontsize=7)
    timeline.set_yticks([])
    timeline.set_xlabel("control step")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def header_lines(header: Mapping[str, Any]) -> list[str]:
    """What the study ran with, as a two-column table."""
    calibration = header["calibration"]
    if calibration["file"] is None:
        calibrated = "none (the uncalibrated default threshold)"
    else:
        alpha = calibration["alpha"]
        calibrated = f"`{calibration['file']}`" + (f" (alpha {alpha})" if alpha is not None else "")
        if calibration.get("detectors"):
            calibrated += f"; action and combined detectors `{calibration['detectors']}`"
    return [
        "| | |",
        "|---|---|",
        f"| executor | {header['executor']} |",
        f"| checkpoint | {header['checkpoint'] or 'none (not a learned executor)'} |",
        f"| calibration | {calibrated} |",
        f"| seeds | {', '.join(map(str, header['seeds']))} |",
        f"| tasks | {', '.join(header['tasks'])} |",
        f"| command | `{header['command']}` |",
    ]


def detection_table(summary: Mapping[str, Any]) -> str:
    rows = []
    for fault, entry in summary["by_fault"].items():
        delay = entry["delay_steps"]
        rows.append(
            {
                "fault": fault,
                "episodes": entry["episodes"],
                "fired": entry["fired"],
                "TPR": rate_cell(entry["tpr"], entry["tpr_n"], entry["tpr_ci95"]),
                "FPR": rate_cell(entry["fpr"], entry["fpr_n"], entry["fpr_ci95"]),
                "delay (median steps, n)": f"{_cell(delay)} (n={entry['delay_n']})",
                **{
                    f"success, recovery {mode}": rate_cell(
                        entry["success"][mode],
                        entry["success_n"][mode],
                        entry["success_ci95"][mode],
                    )
                    for mode in ("on", "off")
                },
            }
        )
    return markdown_table(rows, list(rows[0]) if rows else [])


def detector_table(summary: Mapping[str, Any]) -> str:
    """One row per (fault, detector): the detectors side by side on the same episodes."""
    rows = [
        {
            "fault": fault,
            "detector": name,
            "TPR": rate_cell(scores["tpr"], scores["tpr_n"], scores["tpr_ci95"]),
            "FPR": rate_cell(scores["fpr"], scores["fpr_n"], scores["fpr_ci95"]),
            "delay (median steps, n)": f"{_cell(scores['delay_steps'])} (n={scores['delay_n']})",
            "own failures found": rate_cell(
                scores["own_tpr"], scores["own_tpr_n"], scores["own_tpr_ci95"]
            ),
        }
        for fault, entry in summary["by_fault"].items()
        for name, scores in entry.get("detectors", {}).items()
    ]
    return markdown_table(rows, list(rows[0]) if rows else [])


def write_report(
    study_dir: Path,
    rows: list[dict[str, Any]],
    title: str,
    header: Mapping[str, Any] | None = None,
) -> Path:
    """report.md (+ PNGs) in study_dir; returns the report's path. `header`: what ran
    (agent/studies/summary.py's study_header)."""
    outcomes = summarize(rows)
    for row in outcomes:
        row["success"] = rate_cell(row["success"], row["episodes"], row.pop("success_ci95"))
    detection = fault_summary(rows)
    plot_success(detection["by_fault"], study_dir / "success.png")
    plot_detection(detection["by_fault"], study_dir / "detection.png")
    sections = [f"# {title}", ""]
    if header is not None:
        sections += [*header_lines(header), ""]
    sections += [
        "## Detection and success per fault",
        "",
        f"{len(rows)} episodes. TPR: episodes whose fault fired where a divergence was flagged "
        "from the fault to the end of the event after the one it struck; FPR: events that ended "
        "before any fault acted and before the executor's own first failure that were flagged; "
        "delay: control steps from the fault to that flag. The executor's own failures come from "
        "the simulator's state after each event, replayed (a holding skill that ends holding "
        "nothing, a release that keeps its block or lets it slide off, a block the event left "
        "alone moved > 4 cm). "
        "Detection is counted on the "
        f"{detection['detection_from']} episodes. Every rate: value (cases/n) [95% Wilson "
        "interval].",
        "",
        detection_table(detection),
        "",
        "![success](success.png) ![detection](detection.png)",
        "",
        "## Detectors compared on the same episodes",
        "",
        "frame or latent: predicted against observed (the divergence above); grip: fingers "
        "commanded closed that close on nothing in a skill that holds an object; scene: a block "
        "the event left alone seen to move; agent: divergence, grip or scene, what the agent "
        "acts on; action: the spread of K action sequences sampled from the executor for each "
        "event (FAIL-Detect, FIPER); combined: divergence or action, each at alpha / 2 so the "
        "false-alarm budget stays alpha. own failures found: episodes where the executor "
        "failed on its own before any fault, flagged in that event or the next. Rates as above.",
        "",
        detector_table(detection),
        "",
        "## Outcomes per fault and recovery",
        "",
        markdown_table(
            outcomes,
            [
                "fault",
                "recovery",
                "episodes",
                "success",
                "progress",
                "recoveries_per_episode",
                "wall_time_s",
            ],
        ),
        "",
    ]
    for fault in sorted({row["fault"] or "none" for row in rows}):
        example = next(
            (r for r in rows if (r["fault"] or "none") == fault and r["recovery"]), None
        ) or next(r for r in rows if (r["fault"] or "none") == fault)
        store = EpisodeStore.open_existing(study_dir / example["case"])
        image = f"divergence-{fault}.png"
        plot_divergence(
            store,
            example.get("fault_steps", []),
            study_dir / image,
            f"{example['case']}: {'success' if example['success'] else 'failure'}",
        )
        video = f"video-{fault}.mp4"
        try:
            write_video(store, study_dir / video)
            watch = f"predicted | observed, event by event: [{video}]({video}) (or `wallwm replay"
            watch += f" {example['case']}`)."
        except EpisodeStoreError:  # every event was refused before moving: nothing was filmed
            watch = f"no event was executed (see `wallwm replay {example['case']}`)."
        sections += [
            f"## {fault}",
            "",
            f"![divergence]({image})",
            "",
            f"Episode `{example['case']}/`; {watch}",
            "",
        ]
    sections += [
        "## Every case",
        "",
        markdown_table(
            rows,
            [
                "case",
                "success",
                "progress",
                "events",
                "recoveries",
                "faulty",
                "true_positive",
                "nominal",
                "false_positive",
            ],
        ),
        "",
    ]
    path = study_dir / "report.md"
    path.write_text("\n".join(sections))
    return path

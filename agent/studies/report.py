"""The markdown report of a failure-recovery study, with its PNG plots.

report.md holds the headline table per (fault, recovery), the per-case table, a success plot and,
for one episode per fault, the divergence of every camera over time against its threshold with
the event timeline beneath it, and a predicted | observed video of its events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from agent.episode import EpisodeStore, EpisodeStoreError
from agent.studies.episode_video import write_video
from agent.studies.evaluation import event_step_ranges, summarize


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


def plot_success(summary: list[dict[str, Any]], path: Path) -> None:
    faults = sorted({row["fault"] for row in summary})
    figure, axis = plt.subplots(figsize=(max(4, 1.2 * len(faults)), 3))
    width = 0.38
    success = {(row["fault"], row["recovery"]): row["success"] for row in summary}
    for offset, recovery in ((-width / 2, "off"), (width / 2, "on")):
        values = [success.get((fault, recovery), 0.0) for fault in faults]
        positions = [i + offset for i in range(len(faults))]
        axis.bar(positions, values, width, label=f"recovery {recovery}")
    axis.set_xticks(range(len(faults)), faults, rotation=20, ha="right")
    axis.set_ylabel("task success")
    axis.set_ylim(0, 1.05)
    axis.legend()
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


def write_report(study_dir: Path, rows: list[dict[str, Any]], title: str) -> Path:
    """report.md (+ PNGs) in study_dir; returns the report's path."""
    summary = summarize(rows)
    plot_success(summary, study_dir / "success.png")
    sections = [
        f"# {title}",
        "",
        f"{len(rows)} episodes. TPR/FPR: events with/without an injected fault that the verifier "
        "flagged; delay: control steps from the fault to the detection.",
        "",
        markdown_table(
            summary,
            [
                "fault",
                "recovery",
                "episodes",
                "success",
                "progress",
                "tpr",
                "fpr",
                "delay_steps",
                "recoveries_per_episode",
                "wall_time_s",
            ],
        ),
        "",
        "![success](success.png)",
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

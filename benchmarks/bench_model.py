"""WALL-WM model benchmark: parameter counts, and the time of one Event Mode prediction.

For a preset with random weights, one event (3 cameras, a 32-step segment by default) is predicted
with the asymmetric 1-to-N sampler and with symmetric joint denoising; the table gives the median
time to first action and total time of each and the symmetric / asymmetric ratio.

Usage:
    PYTHONPATH=. python benchmarks/bench_model.py                      # tiny on CPU
    PYTHONPATH=. python benchmarks/bench_model.py --preset wan22-5b --device cuda --steps 50
    PYTHONPATH=. python benchmarks/bench_model.py --checkpoint tiny --camera-size 128 --threads 2
    PYTHONPATH=. python benchmarks/bench_model.py --checkpoint tiny --action-draws 8  # + spread

The umT5-XXL weights are not available offline, so a preset whose text encoder is umT5 gets a
fixed random caption embedding of umT5's shape (1, 512, 4096); captions are encoded once and cached
by the executor, so this leaves the per-event cost unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.record import markdown_table, record
from worldmodel.config import PRESETS, get_config
from worldmodel.data.video import resize_frames
from worldmodel.executor import EventModeExecutor
from worldmodel.locate import checkpoint_folder
from worldmodel.model import WallWM
from worldmodel.types import CameraSpec, EventRequest, Observation


class FixedTextEncoder:
    """A caption embedding of the right shape for presets whose encoder weights are not here."""

    def __init__(self, dim: int, length: int, device: torch.device) -> None:
        self.dim = dim
        generator = torch.Generator().manual_seed(0)
        self.embedding = torch.randn(1, length, dim, generator=generator).to(device)

    def encode(self, captions: list[str]) -> torch.Tensor:
        return self.embedding.expand(len(captions), -1, -1)


def parameter_rows() -> list[list[object]]:
    """Parameter counts of every preset, built on the meta device (no memory)."""
    rows = []
    for name in PRESETS:
        with torch.device("meta"):
            counts = WallWM(get_config(name)).parameter_counts()
        rows.append([name, *(f"{counts[k] / 1e6:.2f} M" for k in counts)])
    return rows


def make_request(config, steps: int, seed: int, size: int | None = None) -> EventRequest:
    """A request with random camera images of `size` pixels (default: the model's resolution)."""
    rng = np.random.default_rng(seed)
    names = ("ego", "left_wrist", "right_wrist", "spare")[: config.cameras]
    height, width = (size, size) if size else (config.image_height, config.image_width)
    specs = tuple(CameraSpec(n, width, height) for n in names)
    shape = (height, width, 3)
    images = {n: rng.integers(0, 256, shape, dtype=np.uint8) for n in names}
    proprio = np.zeros(config.proprio_dim, np.float32)
    observation = Observation(specs, images, proprio, 0.0, 0)
    return EventRequest("pick up the red block and lift it", observation, steps, seed=seed)


def variant(executor: EventModeExecutor, **options: object) -> EventModeExecutor:
    """The same model, statistics, VAE and caption encoder with other executor options."""
    return EventModeExecutor(
        executor.model, executor.stats, executor.vae, executor.text_encoder, **options
    )


def time_mode(
    executor: EventModeExecutor, request: EventRequest, repeats: int
) -> tuple[float, float]:
    """Median (time to first action, total) over `repeats` predictions after one warm-up."""
    executor.predict(request)
    first, total = [], []
    for _ in range(repeats):
        prediction = executor.predict(request)
        first.append(prediction.time_to_first_action_s)
        total.append(prediction.total_s)
    return statistics.median(first), statistics.median(total)


def interleaved_median_ms(parts: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median wall time (ms) of every part, timed in turn in each of `rounds` rounds after one
    warm-up round (CUDA synchronised)."""
    times: dict[str, list[float]] = {name: [] for name in parts}
    for round_index in range(rounds + 1):
        for name, fn in parts.items():
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            if round_index:  # round 0 warms up
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


@torch.no_grad()
def component_rows(executor: EventModeExecutor, request: EventRequest, repeats: int) -> list:
    """Median cost of each part of a prediction: keyframe encoding, one video forward with its
    action keys/values, the action tower's per-event preparation, one action denoising step as
    the sampler runs it (prepared once) and as a full forward would (prepared at every step),
    and the video forward and an action step without the one-key attention shortcuts."""
    model, config = executor.model, executor.model.config
    observation = request.observation
    size = (config.image_height, config.image_width)
    images = np.stack(
        [resize_frames(observation.images[n], *size) for n in observation.camera_names]
    )
    keyframes, _ = executor.encode_keyframes(images)  # (1, V, C, 1, h, w)
    frames = config.latent_frames(request.frames)
    latents = keyframes.expand(-1, -1, -1, frames, -1, -1).contiguous()
    timestep = torch.full((1, frames), 357.0, device=executor.device)
    text = executor.caption_embedding(request.caption)
    _, context = model.encode_video(latents, timestep, text)
    actions = torch.zeros(1, request.frames, config.action_dim, device=executor.device)
    actions = actions.to(executor.dtype)
    state = executor.state(request)
    step_t = torch.full((1,), 500.0, device=executor.device)
    prepared = model.action.prepare(request.frames, state, context)
    # The same arithmetic without the one-key shortcuts: two identical caption tokens, and an
    # all-true state mask, take the full attention path (same numbers, see the tests).
    two_tokens = text.expand(-1, 2, -1) if text.shape[1] == 1 else text  # (umT5: many already)
    every_state = torch.ones(1, 1, request.frames, 1, dtype=torch.bool, device=executor.device)
    unshortcut = dataclasses.replace(
        prepared,
        masks=dataclasses.replace(prepared.masks, state=every_state),
        state_out=[None] * len(prepared.state_out),
    )
    parts = {
        "VAE encode of the keyframes (+ the static guess below anchor sigma 1)": lambda: (
            executor.encode_keyframes(images)
        ),
        "video tower forward + action K/V": lambda: model.encode_video(latents, timestep, text),
        "the same, text attention in full (no one-token shortcut)": lambda: model.encode_video(
            latents, timestep, two_tokens
        ),
        "action tower preparation (once per event)": lambda: model.action.prepare(
            request.frames, state, context
        ),
        "action tower step (prepared event)": lambda: model.action.velocity(
            actions, step_t, prepared
        ),
        "action tower step, preparing at every step": lambda: model.action(
            actions, step_t, state, context
        ),
        "action tower step, state attention in full (no one-token shortcut)": lambda: (
            model.action.velocity(actions, step_t, unshortcut)
        ),
        "VAE decode to frames per camera (after the actions)": lambda: executor.decode_frames(
            latents, request
        ),
    }
    # Parts take turns in every round, so that rows compare side by side (load drifts).
    times = interleaved_median_ms(parts, max(repeats, 20))
    return [[name, f"{times[name]:.1f} ms"] for name in parts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=32, help="event length in control steps")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-record", action="store_true", help="print only")
    parser.add_argument("--checkpoint", default=None, help="a trained checkpoint (name or folder)")
    parser.add_argument("--camera-size", type=int, default=None, help="observation pixels")
    parser.add_argument(
        "--guidance", type=float, default=None, help="also time classifier-free guidance W"
    )
    parser.add_argument(
        "--action-draws",
        type=int,
        default=None,
        help="also time K extra action draws per event (the action-consistency detector's spread)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    header = ["preset", "Wan transformer", "cross-view branches", "action tower", "total"]
    params_table = markdown_table(header, parameter_rows())

    device = torch.device(args.device)
    if args.checkpoint:
        asymmetric = EventModeExecutor.from_checkpoint(
            checkpoint_folder(args.checkpoint), args.device
        )
        config = asymmetric.model.config
        label = f"checkpoint `{args.checkpoint}`"
    else:
        config = get_config(args.preset)
        text = None
        if config.text.kind == "umt5" and config.text.umt5_path is None:
            text = FixedTextEncoder(config.video.text_dim, config.text.max_length, device)
        asymmetric = EventModeExecutor.from_preset(
            args.preset, device=args.device, text_encoder=text
        )
        label = f"preset `{args.preset}` with random weights"
    symmetric = variant(asymmetric, mode="symmetric")
    latents_only = variant(asymmetric, decode=False)
    request = make_request(config, args.steps, seed=0, size=args.camera_size)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    results = {}
    for name, executor in (("asymmetric 1-to-N", asymmetric), ("symmetric", symmetric)):
        results[name] = time_mode(executor, request, args.repeats)
    flow = config.flow
    rows = [
        [name, f"{first * 1e3:.0f} ms", f"{total * 1e3:.0f} ms"]
        for name, (first, total) in results.items()
    ]
    (a_first, a_total), (s_first, s_total) = results.values()
    l_first, l_total = time_mode(latents_only, request, args.repeats)
    rows.append(
        [
            "asymmetric, latents only (no decode)",
            f"{l_first * 1e3:.0f} ms",
            f"{l_total * 1e3:.0f} ms",
        ]
    )
    ratio = ["symmetric / asymmetric", f"{s_first / a_first:.1f}x", f"{s_total / a_total:.1f}x"]
    rows.append(ratio)
    if asymmetric.graphs is not None:
        eager = variant(asymmetric, cuda_graphs=False)
        e_first, e_total = time_mode(eager, request, args.repeats)
        rows.append(
            ["asymmetric, no CUDA graphs", f"{e_first * 1e3:.0f} ms", f"{e_total * 1e3:.0f} ms"]
        )
        rows.append(
            ["no graphs / graphs", f"{e_first / a_first:.1f}x", f"{e_total / a_total:.1f}x"]
        )
    if args.guidance is not None:
        guided = variant(asymmetric, guidance=args.guidance)
        g_first, g_total = time_mode(guided, request, args.repeats)
        rows.append(
            [
                f"asymmetric, guidance {args.guidance:g}",
                f"{g_first * 1e3:.0f} ms",
                f"{g_total * 1e3:.0f} ms",
            ]
        )
        rows.append(
            ["guided / asymmetric", f"{g_first / a_first:.2f}x", f"{g_total / a_total:.2f}x"]
        )
    if args.action_draws:
        drawing = variant(asymmetric, action_draws=args.action_draws)
        d_first, d_total = time_mode(drawing, request, args.repeats)
        rows.append(
            [
                f"asymmetric + {args.action_draws} action draws",
                f"{d_first * 1e3:.0f} ms",
                f"{d_total * 1e3:.0f} ms (+{(d_total - a_total) * 1e3:.0f} ms)",
            ]
        )
    timing_table = markdown_table(["sampler", "time to first action", "total"], rows)
    parts = component_rows(asymmetric, request, args.repeats)
    timing_table += "\n\n" + markdown_table(["part of one prediction", "median"], parts)
    camera = (
        f"{args.camera_size}x{args.camera_size}"
        if args.camera_size
        else f"{config.image_height}x{config.image_width}"
    )
    notes = (
        f"{label} on {args.device} ({asymmetric.dtype}, {torch.get_num_threads()} threads), "
        f"{config.cameras} cameras observed at {camera} (model "
        f"{config.image_height}x{config.image_width}), a {args.steps}-step event; asymmetric = "
        f"1 video forward + {flow.action_steps} action steps, symmetric = "
        f"{flow.symmetric_steps} joint steps; median of {args.repeats} after a warm-up (the "
        f"parts: median of {max(args.repeats, 20)} rounds in which every part runs in turn, "
        "eagerly: no CUDA graphs). "
        "Time to first action: keyframe resize + VAE encode + sampling, taken when the actions "
        "are ready; total adds the VAE decode of the predicted latents to frames per camera at "
        "the camera resolution (the verifier's input), except in the latents-only row."
    )
    if device.type == "cuda":
        notes += f" Peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB."
    if args.no_record:
        print(params_table, timing_table, notes, sep="\n\n")
        return
    record("WALL-WM parameter counts", params_table)
    name = args.checkpoint or args.preset
    record(f"WALL-WM event prediction: {name} on {args.device}", timing_table, notes)


if __name__ == "__main__":
    main()

"""Multi-event sequence packing with a block-diagonal attention mask.

Several events share one row of a training batch, one after the other along time, so no compute
is spent on padding (paper: multi-event packing with block-diagonal attention). Every token
carries the id of the event it belongs to (-1 for padding), and every attention (video
self-attention, text cross-attention, action self-attention, the action tower's state and video
cross-attentions) is masked so that a token only sees tokens of its own event. Positions restart
at 0 in every event, so each event is computed exactly as it would be alone in a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def pack_lengths(lengths: list[int], capacity: int) -> list[list[int]]:
    """Group item indices into bins of total length <= capacity (first-fit decreasing)."""
    too_long = [i for i, length in enumerate(lengths) if length > capacity]
    if too_long:
        raise ValueError(
            f"items {too_long} are longer than the packing capacity {capacity}; crop them first"
        )
    bins: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        for slot, free in enumerate(room):
            if lengths[index] <= free:
                bins[slot].append(index)
                room[slot] -= lengths[index]
                break
        else:
            bins.append([index])
            room.append(capacity - lengths[index])
    return bins


def segment_ids(lengths: list[int], total: int) -> torch.Tensor:
    """(total,) ids: item i's tokens get id i, padding gets -1."""
    ids = torch.full((total,), -1, dtype=torch.long)
    offset = 0
    for item, length in enumerate(lengths):
        ids[offset : offset + length] = item
        offset += length
    return ids


def local_positions(lengths: list[int], total: int) -> torch.Tensor:
    """(total,) position of each token inside its item (0, 1, ... per item; 0 for padding)."""
    positions = torch.zeros(total, dtype=torch.long)
    offset = 0
    for length in lengths:
        positions[offset : offset + length] = torch.arange(length)
        offset += length
    return positions


def steps_to_end(local: torch.Tensor, event_ids: torch.Tensor | None) -> torch.Tensor:
    """(B, T) steps left to the end of each step's event, from (B, T) in-event positions and
    event ids (-1 = padding, which gets 0); ids None: each row is one event of T steps."""
    if event_ids is None:
        return local.max(dim=1, keepdim=True).values - local
    same = event_ids[:, :, None] == event_ids[:, None, :]
    length = same.sum(dim=-1)  # (B, T): the number of steps in each step's event
    return torch.where(event_ids < 0, 0, length - 1 - local)


def segment_mask(query_ids: torch.Tensor, key_ids: torch.Tensor) -> torch.Tensor:
    """(B, 1, Q, K) bool attention mask from (B, Q) and (B, K) event ids, True = may attend.

    A token attends to the tokens of its own event only. A padding query (id -1) attends to
    every key, so no softmax row is empty; padding keys are never seen by a real query, and
    padding outputs are excluded from the loss.
    """
    same = query_ids[:, :, None] == key_ids[:, None, :]
    padding_query = (query_ids < 0)[:, :, None]
    return ((same & ~padding_query) | padding_query).unsqueeze(1)


def block_diagonal_mask(lengths: list[int], total: int) -> torch.Tensor:
    """(total, total) bool mask of one row of items with the given lengths (see segment_mask)."""
    ids = segment_ids(lengths, total)[None]
    return segment_mask(ids, ids)[0, 0]


@dataclass
class PackedLayout:
    """Where each event of a packed batch lies: ids and in-event positions of every token.

    Latent frames (the temporal patch size is 1) and action steps are laid out separately; the
    text and state of event e of a row are that row's e-th entries.
    """

    frame_event: torch.Tensor  # (B, F) long, event id of each latent frame, -1 = padding
    frame_local: torch.Tensor  # (B, F) long, frame index inside its event (0 = keyframe)
    step_event: torch.Tensor  # (B, T) long, event id of each action step, -1 = padding
    step_local: torch.Tensor  # (B, T) long, step index inside its event

    @staticmethod
    def from_lengths(
        frames: list[list[int]], steps: list[list[int]], total_frames: int, total_steps: int
    ) -> PackedLayout:
        """Layout of rows whose events have the given latent-frame and step counts."""
        return PackedLayout(
            frame_event=torch.stack([segment_ids(f, total_frames) for f in frames]),
            frame_local=torch.stack([local_positions(f, total_frames) for f in frames]),
            step_event=torch.stack([segment_ids(s, total_steps) for s in steps]),
            step_local=torch.stack([local_positions(s, total_steps) for s in steps]),
        )

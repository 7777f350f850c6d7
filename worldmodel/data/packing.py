"""Multi-event sequence packing with a block-diagonal attention mask.

Several short events share one sequence so no compute is spent on padding; the mask keeps each
event's tokens attending only to tokens of the same event (paper: multi-event packing with
block-diagonal attention).
"""

from __future__ import annotations

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


def block_diagonal_mask(lengths: list[int], total: int) -> torch.Tensor:
    """(total, total) bool mask, True where attention is allowed.

    Tokens attend within their own item; each padding token attends only to itself, so no
    softmax row is empty.
    """
    ids = segment_ids(lengths, total)
    mask = (ids[:, None] == ids[None, :]) & (ids[:, None] >= 0)
    return mask | torch.eye(total, dtype=torch.bool)

"""An auxiliary localisation loss (training only): read the marks back from the last video block.

A head on the keyframe tokens of the video tower's last block predicts, per view and role, where
the mark lies: a softmax over the view's keyframe tokens weights the token centres (soft-argmax),
and the loss is the squared distance, in normalised image units, to the mark's own centre of
mass. It asks that the mark survive through every block into the features the action tower reads
(../shared/research/reach-diagnosis.md, "What follows", 2). The head is not part of the model:
it lives in the stage's objective and is never exported. Packed batches are not supported.
"""

from __future__ import annotations

import torch
from diffusers.models.normalization import FP32LayerNorm
from torch import nn

from worldmodel.errors import ContractError
from worldmodel.video_tower import VideoOutput


def mark_centres(marks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """((B, V, M, 2) centre of mass (x, y) of each heatmap in normalised image coordinates,
    (B, V, M) whether the heatmap holds a mark) for (B, V, M, h, w) marks."""
    height, width = marks.shape[-2:]
    ys = (torch.arange(height, device=marks.device) + 0.5) / height
    xs = (torch.arange(width, device=marks.device) + 0.5) / width
    mass = marks.sum((-2, -1))  # (B, V, M)
    x = (marks.sum(-2) * xs).sum(-1) / mass.clamp_min(1e-6)
    y = (marks.sum(-1) * ys).sum(-1) / mass.clamp_min(1e-6)
    return torch.stack([x, y], -1), mass > 0.1  # a whole mark of sigma 1 has mass ~6.3


class MarkLocator(nn.Module):
    """Soft-argmax head over a view's keyframe tokens, one per role."""

    def __init__(self, dim: int, roles: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.logits = nn.Linear(dim, roles)

    def forward(self, video: VideoOutput, marks: torch.Tensor) -> torch.Tensor:
        """The loss for (B, V, M, h, w) marks; 0 when the batch holds no mark."""
        if marks.ndim != 5:
            raise ContractError("the localisation loss takes one event per row (no packing)")
        _, rows, columns = video.grid
        tokens = video.features[-1][:, :, : rows * columns]  # (B, V, S, D) keyframe tokens
        weights = self.logits(self.norm(tokens.float())).softmax(2)  # (B, V, S, M)
        ys = (torch.arange(rows, device=marks.device) + 0.5) / rows
        xs = (torch.arange(columns, device=marks.device) + 0.5) / columns
        centres = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).flatten(0, 1)  # (S, 2)
        predicted = torch.einsum("bvsm,sc->bvmc", weights, centres)  # (B, V, M, 2)
        target, present = mark_centres(marks.float())
        error = ((predicted - target) ** 2).sum(-1)  # (B, V, M)
        return (error * present).sum() / present.sum().clamp_min(1)

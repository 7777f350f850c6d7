"""Muon for matrix weights, AdamW for everything else, with warmup then cosine decay.

torch.optim.Muon orthogonalises the update of 2-D weights; embeddings, biases, norms and
convolution kernels (the patch embedding) go to AdamW, as Muon's authors recommend. Muon's
"match_rms_adamw" learning-rate adjustment lets both share one learning rate.

Under FSDP (sharding.py) each process holds only some rows of every matrix, and torch's Muon,
which orthogonalises the whole matrix, fails on those shards (its in-place update cannot change
the DTensor placement): a sharded run must use AdamW, and asking for Muon there is an error
rather than a silent change of optimizer.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributed.tensor import DTensor

from worldmodel.errors import TrainingSetupError


def split_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(matrix parameters for Muon, other parameters for AdamW), trainable ones only."""
    embedding_weights = {
        id(module.weight) for module in model.modules() if isinstance(module, nn.Embedding)
    }
    matrices, others = [], []
    for parameter in model.parameters():
        if not parameter.requires_grad:
            continue
        if parameter.ndim == 2 and id(parameter) not in embedding_weights:
            matrices.append(parameter)
        else:
            others.append(parameter)
    return matrices, others


def build_optimizers(
    model: nn.Module, lr: float, weight_decay: float, muon: bool = True
) -> list[torch.optim.Optimizer]:
    """Muon for matrices and AdamW for the rest; `muon=False` gives AdamW for everything
    (torch's Muon orthogonalises in bfloat16, which CPUs without bf16 units run slowly: on the
    2-core machines it cost 2.5 s per step of the tiny preset, 4x its forward and backward)."""
    matrices, others = split_parameters(model)
    if not muon:
        matrices, others = [], matrices + others
    if any(isinstance(parameter, DTensor) for parameter in matrices):
        raise TrainingSetupError(
            "Muon cannot update FSDP-sharded weights (it orthogonalises whole matrices and each "
            "process holds only some rows): train with AdamW (--optimizer adamw, muon=False) "
            "under --parallel fsdp, or keep Muon with --parallel ddp"
        )
    optimizers: list[torch.optim.Optimizer] = []
    if matrices:
        optimizers.append(
            torch.optim.Muon(
                matrices, lr=lr, weight_decay=weight_decay, adjust_lr_fn="match_rms_adamw"
            )
        )
    if others:
        optimizers.append(
            torch.optim.AdamW(others, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
        )
    if not optimizers:
        raise ValueError("the model has no trainable parameters")
    return optimizers


def learning_rate_factor(
    step: int, total_steps: int, warmup_steps: int, floor: float = 0.1
) -> float:
    """Linear warmup to 1, then cosine decay to `floor`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

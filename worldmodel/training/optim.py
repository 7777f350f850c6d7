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
from collections.abc import Mapping

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
    model: nn.Module,
    lr: float,
    weight_decay: float,
    muon: bool = True,
    lr_scales: Mapping[str, float] | None = None,
) -> list[torch.optim.Optimizer]:
    """Muon for matrices and AdamW for the rest; `muon=False` gives AdamW for everything
    (torch's Muon orthogonalises in bfloat16, which CPUs without bf16 units run slowly: on the
    2-core machines it cost 2.5 s per step of the tiny preset, 4x its forward and backward).

    `lr_scales`: parameter-name prefix -> learning-rate factor; those parameters get AdamW
    groups of their own at lr x factor (each group's "lr_scale" says its factor, which the
    schedule keeps), e.g. a new, zero-initialised input that must catch up with the rest."""
    matrices, others = split_parameters(model)
    if not muon:
        matrices, others = [], matrices + others
    scales = dict(lr_scales or {})
    names = {id(parameter): name for name, parameter in model.named_parameters()}
    scaled: dict[float, list[nn.Parameter]] = {}
    for prefix, scale in scales.items():
        chosen = [p for p in matrices + others if names[id(p)].startswith(prefix)]
        if not chosen:
            raise TrainingSetupError(f"no trainable parameter is named {prefix}*; lr_scales")
        scaled.setdefault(scale, []).extend(chosen)
    taken = {id(p) for group in scaled.values() for p in group}
    matrices = [p for p in matrices if id(p) not in taken]
    others = [p for p in others if id(p) not in taken]
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
    groups = [{"params": others, "lr_scale": 1.0}] if others else []
    groups += [{"params": ps, "lr_scale": s} for s, ps in scaled.items()]
    for group in groups:
        group["lr"] = lr * group["lr_scale"]
    if groups:
        optimizers.append(
            torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
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

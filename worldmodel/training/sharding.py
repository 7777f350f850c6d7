"""FSDP2 under torchrun: each process keeps a shard of the parameters, gradients, optimizer state.

DDP keeps a full replica of all three in every process. FSDP2 (torch.distributed.fsdp.fully_shard)
keeps 1/world of each parameter (a DTensor sharded on dim 0), all-gathers a unit's weights just
before the unit runs and reduce-scatters its gradients after its backward, so that every process
ends a step holding the shard of the same updated model.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard, register_fsdp_forward_method

PARALLEL_MODES = ("ddp", "fsdp")


def device_mesh(device: torch.device) -> DeviceMesh:
    """A 1-D mesh over every torchrun process (the process group must already be joined)."""
    return init_device_mesh(device.type, (dist.get_world_size(),))


def precision_policy(device_type: str) -> MixedPrecisionPolicy:
    """On GPUs the fp32 shards are gathered as bf16 for compute and gradients are reduced in fp32
    (the shards and the optimizer stay fp32); on CPUs fp32 throughout (CPUs without bf16 units
    run it slowly, and the CPU runs are the tests, which compare against fp32)."""
    if device_type == "cuda":
        return MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    return MixedPrecisionPolicy()


def blocks(module: nn.Module) -> list[nn.Module]:
    """The children of every nn.ModuleList that is not inside another block: the transformer
    blocks (a block's own lists, such as an attention's `to_out`, stay part of the block).

    A module with `fsdp_one_unit = True` is not searched: its blocks pass state from call to
    call in mutable arguments (diffusers' Wan VAE keeps its causal cache in lists), and FSDP's
    forward hooks rebuild argument lists, so the state would silently be lost.
    """
    if getattr(module, "fsdp_one_unit", False):
        return []
    found: list[nn.Module] = []
    for child in module.children():
        if isinstance(child, nn.ModuleList):
            found.extend(child)
        else:
            found.extend(blocks(child))
    return found


def shard_model(model: nn.Module, mesh: DeviceMesh) -> None:
    """Shard `model` in place with FSDP2: each block, then the root (everything else).

    Why blocks: they hold nearly all the weights and run one after another, so a process holds
    its shards plus the full weights of a block or two (FSDP2 gathers the next block while the
    current one computes). Finer units (every Linear) would mean many small collectives; the root
    alone would gather every weight at once, so only gradients and optimizer state would stay
    sharded. The rest (embeddings, heads, norms) is small and forms the root's unit. A block that
    reads its weights in methods besides `forward` lists them in `fsdp_forward_methods` so FSDP
    gathers for those too. Frozen parameters (requires_grad False) are sharded like the others
    and get no gradient.
    """
    policy = precision_policy(mesh.device_type)
    for block in blocks(model):
        fully_shard(block, mesh=mesh, mp_policy=policy)
        for name in getattr(block, "fsdp_forward_methods", ()):
            register_fsdp_forward_method(block, name)
    fully_shard(model, mesh=mesh, mp_policy=policy)

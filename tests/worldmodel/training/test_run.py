"""The training command's plan: steps per stage and the optimizer choice."""

from __future__ import annotations

import pytest
import torch

from worldmodel.errors import ContractError
from worldmodel.training.distributed import DistributedContext
from worldmodel.training.run import parse_steps, use_muon


def test_steps_are_one_for_every_stage_or_one_per_stage():
    assert parse_steps("2000", ["video", "action"]) == [2000, 2000]
    assert parse_steps("300,600", ["video", "action"]) == [300, 600]
    with pytest.raises(ContractError, match="one number or one per stage"):
        parse_steps("1,2,3", ["video", "action"])


def test_muon_only_where_asked_or_on_an_unsharded_gpu():
    cpu = DistributedContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    assert not use_muon("auto", cpu, "ddp") and use_muon("muon", cpu, "ddp")
    gpu = DistributedContext(rank=0, world_size=2, local_rank=0, device=torch.device("cuda"))
    assert use_muon("auto", gpu, "ddp") and not use_muon("auto", gpu, "fsdp")

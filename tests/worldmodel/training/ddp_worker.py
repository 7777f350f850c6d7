"""Run under torchrun by test_loop.py: a 2-process DDP training of a small regression model."""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from worldmodel.training.distributed import init_distributed, shutdown
from worldmodel.training.loop import LoopConfig, TrainingLoop


def main(out_dir: str) -> None:
    context = init_distributed("cpu")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 32), nn.GELU(), nn.Linear(32, 1))
    target = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])

    def batch_fn(step, rng):
        x = torch.from_numpy(rng.normal(size=(16, 4)).astype(np.float32))
        return x, x @ target

    def loss_fn(trained, batch, generator):
        x, y = batch
        return nn.functional.mse_loss(trained(x), y), {}

    loop = TrainingLoop(
        model,
        loss_fn,
        batch_fn,
        LoopConfig(steps=60, lr=1e-1, log_every=10),
        Path(out_dir),
        context,
    )
    result = loop.run()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    Path(out_dir, f"rank{context.rank}.json").write_text(
        json.dumps(
            {
                "params": flat.tolist(),
                "losses": result.losses,
                "world": context.world_size,
                # The DDP wrapper must be gone before shutdown (TrainingLoop._data_parallel).
                "wrapper_released": loop.trained is model,
            }
        )
    )
    shutdown(context)


if __name__ == "__main__":
    main(sys.argv[1])

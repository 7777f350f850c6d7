"""Encoded event windows on disk, shared by training commands (`wallwm train --latent-cache`).

The tower stages encode every event window with the VAE the first time they draw it, and the
in-memory cache (`EventBatches.cache`) ends with the command. On tabletop600 (38,317 windows)
encoding took about half of a 3000-step video stage on 2 CPU cores, paid again by every later
command. This store keeps each window's latents in ROOT/<fingerprint>/; the fingerprint covers
everything the latents depend on (the VAE's weights and config, the dataset's episodes, the
loader's settings, the temporal stride), so one ROOT serves several datasets and VAEs without
mixing them up, and a changed dataset or VAE starts a new folder instead of reading stale files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
from pathlib import Path

import torch
from torch import nn

from worldmodel.data.events import EventDataset, EventSample

log = logging.getLogger(__name__)

WindowKey = tuple[int, int, int, int]  # episode index, start, end, action steps


def window_key(sample: EventSample) -> WindowKey:
    """What identifies a sample's encoded clip: its episode, window and (pruned) step count."""
    return (sample.episode_index, sample.start, sample.end, len(sample.actions))


def fingerprint(vae: nn.Module, dataset: EventDataset, temporal_stride: int) -> str:
    """A short digest of what an event window's latents depend on."""
    digest = hashlib.sha256()
    for name, tensor in sorted(vae.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    # diffusers keeps latents_mean/std in the config; its private keys name where the VAE was
    # loaded from, which the latents do not depend on
    config = {k: v for k, v in dict(getattr(vae, "config", {})).items() if not k.startswith("_")}
    described = [config, dataset.reader.episodes, repr(dataset.config), temporal_stride]
    digest.update(json.dumps(described, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


class LatentStore:
    """One float16 file per encoded window, written atomically."""

    def __init__(
        self, root: Path, vae: nn.Module, dataset: EventDataset, temporal_stride: int
    ) -> None:
        self.folder = Path(root) / fingerprint(vae, dataset, temporal_stride)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, key: WindowKey) -> Path:
        return self.folder / ("-".join(str(part) for part in key) + ".pt")

    def load(self, key: WindowKey) -> torch.Tensor | None:
        """The window's latents, or None when they are not stored (or unreadable: a file
        damaged outside this class is encoded again and overwritten)."""
        path = self.path(key)
        try:
            latents = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            return None
        except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
            log.warning("%s cannot be read (%s); encoding that window again", path, error)
            return None
        return latents

    def save(self, key: WindowKey, latents: torch.Tensor) -> None:
        path = self.path(key)
        # A unique partial name, then an atomic rename: a crash leaves no half-written window,
        # and processes of one torchrun writing the same window do not collide.
        partial = path.with_name(f"{path.name}.{os.getpid()}.part")
        # on the CPU, so that any machine can read it; cloned, as a view would save its whole base
        torch.save(latents.detach().cpu().contiguous().clone(), partial)
        os.replace(partial, path)

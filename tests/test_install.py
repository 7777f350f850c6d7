"""The install stays CPU-only: one pinned torch, no CUDA packages, no torchvision/torchaudio."""

from importlib import metadata

import torch

FORBIDDEN_PREFIXES = ("nvidia-", "torchvision", "torchaudio", "lpips", "triton")


def test_torch_is_the_pinned_version():
    assert torch.__version__.split("+")[0] == "2.13.0"


def test_no_forbidden_distribution_is_installed():
    names = {dist.metadata["Name"].lower() for dist in metadata.distributions()}
    assert not sorted(n for n in names if n.startswith(FORBIDDEN_PREFIXES))


def test_bundled_resources_are_found():
    from agent.resources import resource_dir

    assert (resource_dir("skills") / "README.md").is_file()
    assert (resource_dir("prompts") / "README.md").is_file()

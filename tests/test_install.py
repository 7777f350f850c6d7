"""The install keeps to the pins: one torch at the pinned version, never torchvision, torchaudio or
lpips, and CUDA runtime packages only on a machine with a GPU to use them."""

from importlib import metadata

import torch

ALWAYS_FORBIDDEN = ("torchvision", "torchaudio", "lpips")
CUDA_RUNTIME = ("nvidia-", "cuda-", "triton")


def installed() -> set[str]:
    return {dist.metadata["Name"].lower() for dist in metadata.distributions()}


def test_torch_is_the_pinned_version():
    assert torch.__version__.split("+")[0] == "2.13.0"


def test_no_forbidden_distribution_is_installed():
    forbidden = ALWAYS_FORBIDDEN if torch.cuda.is_available() else ALWAYS_FORBIDDEN + CUDA_RUNTIME
    assert not sorted(name for name in installed() if name.startswith(forbidden))


def test_a_machine_without_a_gpu_has_the_cpu_build_of_torch():
    if not torch.cuda.is_available():
        assert torch.version.cuda is None, f"CUDA build {torch.version.cuda} on a CPU machine"


def test_bundled_resources_are_found():
    from agent.resources import resource_dir

    assert (resource_dir("skills") / "README.md").is_file()
    assert (resource_dir("prompts") / "README.md").is_file()

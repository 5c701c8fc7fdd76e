"""Where a neural run computes: the spec's device checked against this machine, and its description
for meta.json. torch is imported inside the functions: the core stays importable without it."""

from __future__ import annotations

from rlrepro.core.config import ConfigError


def torch_device(spec: dict) -> str:
    """The spec's device, checked against this machine; CPU runs are made deterministic."""
    import torch

    device = spec.get("device", "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("spec.device is 'cuda' but torch sees no CUDA device here "
                          "(CPU build of torch, or no GPU on this node)")
    torch.use_deterministic_algorithms(device == "cpu")
    return device


def device_description(device: str) -> str:
    import torch

    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    return f"{device} ({name}, torch {torch.__version__}, torch threads: {torch.get_num_threads()})"

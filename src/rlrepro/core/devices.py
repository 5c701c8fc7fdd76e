"""Where a neural run computes: the spec's device checked against this machine, and its description
for meta.json. torch is imported inside the functions: the core stays importable without it."""

from __future__ import annotations

from contextlib import nullcontext

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


PRECISIONS = ("fp32", "bf16")
"""Precisions of the updates' forward passes: fp32, or bf16 autocast with fp32 master weights and fp32 losses."""


def autocast(device, precision: str, cache: bool = True):
    """The context of a forward pass at ``precision``: nothing for fp32, bf16 autocast for bf16
    (``cache=False`` under CUDA-graph capture, which autocast's weight cache does not survive)."""
    if precision == "fp32":
        return nullcontext()
    import torch

    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, cache_enabled=cache)

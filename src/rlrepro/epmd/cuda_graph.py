"""An agent's ``update`` replayed from CUDA graphs (``ActorCriticConfig.cuda_graph``): fewer kernel launches
for the small networks of :mod:`rlrepro.epmd.continuous`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from rlrepro.epmd.continuous import Agent


class GraphedUpdate:
    """``agent.update`` replayed from CUDA graphs, one captured per branch of its control flow.

    The batch is copied into static tensors before each replay. Capture needs a few warm-up
    updates on a side stream; the networks and optimisers are restored afterwards, so capturing
    leaves the agent as it was. Same maths as the eager update, not bit-identical to it.
    """

    def __init__(self, agent: Agent):
        self.agent = agent
        self.static: dict[str, torch.Tensor] | None = None
        self.graphs: dict[int, tuple[torch.cuda.CUDAGraph, dict[str, torch.Tensor]]] = {}

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.static is None:
            self.static = {k: v.clone() for k, v in batch.items()}
        for k, v in batch.items():
            self.static[k].copy_(v)
        phase = self.agent.update_phase()
        if phase not in self.graphs:
            self.graphs[phase] = self.capture()
        graph, out = self.graphs[phase]
        graph.replay()
        self.agent.updates += 1
        return out

    def capture(self):
        agent, saved = self.agent, self.snapshot()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                agent.updates = saved["updates"]
                agent.update(self.static)
        torch.cuda.current_stream().wait_stream(side)
        self.restore(saved)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = agent.update(self.static)
        agent.updates = saved["updates"]
        return graph, out

    def tensors(self) -> list[torch.Tensor]:
        found = []
        for value in vars(self.agent).values():
            if isinstance(value, nn.Module):
                found += list(value.parameters())
            elif isinstance(value, torch.optim.Optimizer):
                found += [t for state in value.state.values() for t in state.values() if isinstance(t, torch.Tensor)]
            elif isinstance(value, torch.Tensor):
                found.append(value)
        return found

    def snapshot(self) -> dict:
        return {"updates": self.agent.updates, "tensors": {id(t): t.detach().clone() for t in self.tensors()}}

    def restore(self, saved: dict) -> None:
        """Copy the saved values back in place; optimiser state that warm-up created (Adam's
        moments and step count on the first update) goes back to zero, as in a fresh optimiser."""
        with torch.no_grad():
            for t in self.tensors():
                if id(t) in saved["tensors"]:
                    t.copy_(saved["tensors"][id(t)])
                else:
                    t.zero_()
        self.agent.updates = saved["updates"]

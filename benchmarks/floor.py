"""The floor of an update: how long its arithmetic alone takes at this machine's measured throughput.

    python benchmarks/floor.py [--threads 1] [--device cpu] [--compile]

Used by ``bench_continuous.py`` and ``bench_atari.py`` (their last table); run alone it prints the floor
of a SAC update with 2x256 and 2x64 networks (HalfCheetah's dimensions, batch 256) and of a Nature-CNN DQN
update (batch 32), at fp32 and bf16, and with ``--compile`` what ``torch.compile`` of the whole small-network
update (losses, backward, optimiser steps) gives.

How the floor is measured: one update runs under a dispatch mode that records every matmul and convolution
the update calls, forward and backward (``aten.mm/addmm/bmm/baddbmm/convolution/convolution_backward``), with
its arguments, and counts its FLOPs (``torch.utils.flop_counter``'s formulas: 2 per multiply-add). Each
recorded call is then replayed alone on copies of its arguments, in the dtype the update used (bf16 under
autocast), ``--replays`` times back to back; its time is the median. The floor is the sum of these times over
the update's calls: the update's matmuls and convolutions at this machine's throughput for exactly their
shapes and dtypes, with nothing else (no elementwise work, no optimiser, no Python). Throughput figures are
FLOPs / time per op family and dtype. ``update ms / floor`` says how far an update is from the hardware:
near 1 it is arithmetic-bound; far above, bound by per-operation overhead.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import flop_registry

from rlrepro.epmd.continuous import AGENTS as ACTOR_CRITICS
from rlrepro.epmd.continuous import ActorCriticConfig
from rlrepro.mirl.atari import AGENTS as DEEP_Q
from rlrepro.mirl.atari import DeepQConfig

MATMULS = {torch.ops.aten.mm, torch.ops.aten.addmm, torch.ops.aten.bmm, torch.ops.aten.baddbmm}
CONVOLUTIONS = {torch.ops.aten.convolution, torch.ops.aten.convolution_backward}


@dataclass
class Call:
    func: object
    args: tuple
    kwargs: dict
    flops: int
    family: str  # "matmul" or "conv"
    dtype: str


class ArithmeticRecorder(TorchDispatchMode):
    """Records the matmul and convolution calls (with copies of their arguments) made inside it."""

    def __init__(self):
        super().__init__()
        self.calls: list[Call] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func.overloadpacket
        if packet in MATMULS or packet in CONVOLUTIONS:
            flops = int(flop_registry[packet](*args, **kwargs, out_val=out))
            copy = tree_map(lambda x: x.detach().clone() if isinstance(x, torch.Tensor) else x, (args, kwargs))
            dtype = next(str(a.dtype).removeprefix("torch.") for a in args if isinstance(a, torch.Tensor))
            self.calls.append(Call(func, *copy, flops, "matmul" if packet in MATMULS else "conv", dtype))
        return out


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def replay_seconds(call: Call, replays: int, device: torch.device) -> float:
    """Median time of the call alone (after two warm-up calls)."""
    for _ in range(2):
        call.func(*call.args, **call.kwargs)
    times = []
    for _ in range(replays):
        synchronize(device)
        start = time.perf_counter()
        call.func(*call.args, **call.kwargs)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class Floor:
    """An update's FLOPs and the time its matmuls/convolutions take alone, per op family and dtype."""

    flops: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: int = 0

    @property
    def total_ms(self) -> float:
        return 1e3 * sum(self.seconds.values())

    @property
    def total_flops(self) -> int:
        return sum(self.flops.values())

    def throughput(self) -> str:
        """'matmul bf16 310 GFLOP/s, conv bf16 250 GFLOP/s' (measured at the update's shapes)."""
        return ", ".join(f"{key} {self.flops[key] / self.seconds[key] / 1e9:.0f} GFLOP/s" for key in sorted(self.flops))


def measure_floor(update, device: torch.device, replays: int = 20) -> Floor:
    """Run ``update()`` once under the recorder, then replay each recorded call alone."""
    recorder = ArithmeticRecorder()
    with recorder:
        update()
    floor = Floor(calls=len(recorder.calls))
    cache: dict[tuple, float] = {}
    for call in recorder.calls:
        signature = (call.func, call.dtype,
                     tuple(tuple(a.shape) if isinstance(a, torch.Tensor) else repr(a) for a in call.args))
        if signature not in cache:
            cache[signature] = replay_seconds(call, replays, device)
        key = f"{call.family} {call.dtype}"
        floor.flops[key] += call.flops
        floor.seconds[key] += cache[signature]
    return floor


def time_update_ms(update, device: torch.device, repeats: int = 30, warmup: int = 5) -> float:
    """Median wall time of one ``update()`` in ms."""
    for _ in range(warmup):
        update()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        update()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def continuous_update(algo: str, hidden: list[int], precision: str, device: torch.device, obs_dim: int = 17,
                      act_dim: int = 6, batch_size: int = 256):
    """(agent, update()) for one actor-critic agent on a fixed random batch (HalfCheetah's dimensions)."""
    torch.manual_seed(0)
    cfg = ActorCriticConfig(hidden_sizes=list(hidden), batch_size=batch_size, precision=precision)
    agent = ACTOR_CRITICS[algo](obs_dim, act_dim, cfg, device)
    batch = {"obs": torch.randn(batch_size, obs_dim, device=device),
             "action": torch.rand(batch_size, act_dim, device=device) * 2 - 1,
             "reward": torch.randn(batch_size, device=device),
             "next_obs": torch.randn(batch_size, obs_dim, device=device),
             "terminated": torch.zeros(batch_size, device=device)}
    return agent, lambda: agent.update(batch)


def atari_update(agent_name: str, precision: str, device: torch.device, n_actions: int = 6, batch_size: int = 32,
                 fused_adam: bool = False):
    """(agent, update()) for one Atari agent on a fixed random batch of frame stacks."""
    torch.manual_seed(0)
    cfg = DeepQConfig(batch_size=batch_size, loss="huber", precision=precision, fused_adam=fused_adam)
    agent = DEEP_Q[agent_name](n_actions, cfg, device)
    rng = np.random.default_rng(0)
    batch = {"obs": rng.integers(0, 255, (batch_size, 4, 84, 84), dtype=np.uint8),
             "action": rng.integers(0, n_actions, batch_size),
             "reward": rng.choice([-1.0, 0.0, 1.0], batch_size).astype(np.float32),
             "next_obs": rng.integers(0, 255, (batch_size, 4, 84, 84), dtype=np.uint8),
             "terminated": np.zeros(batch_size, dtype=np.float32)}
    return agent, lambda: agent.update(batch, step=1)


FLOOR_HEADER = f"{'update':<26}{'precision':>10}{'GFLOP':>8}{'update ms':>11}{'floor ms':>10}{'update/floor':>14}" \
               "   measured throughput at its shapes"


def floor_line(name: str, precision: str, update, device: torch.device, repeats: int = 30, replays: int = 20) -> str:
    """One row of the floor table: the update timed alone (median), its floor, their ratio."""
    ms = time_update_ms(update, device, repeats)
    floor = measure_floor(update, device, replays)
    return (f"{name:<26}{precision:>10}{floor.total_flops / 1e9:8.3f}{ms:11.2f}{floor.total_ms:10.2f}"
            f"{ms / floor.total_ms:14.1f}   {floor.throughput()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=30, help="timed updates per row (median)")
    parser.add_argument("--replays", type=int, default=20, help="replays per recorded matmul/convolution (median)")
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile of the whole SAC update with 2x64 networks")
    parser.add_argument("--no-atari", action="store_true", help="skip the Nature-CNN update")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {args.device}, torch {torch.__version__}, torch threads {args.threads}")
    print(FLOOR_HEADER)
    for hidden in ([256, 256], [64, 64]):
        for precision in ("fp32", "bf16"):
            _, update = continuous_update("SAC", hidden, precision, device)
            print(floor_line(f"SAC {'x'.join(map(str, hidden))} batch 256", precision, update, device, args.repeats,
                             args.replays), flush=True)
    if not args.no_atari:
        for precision in ("fp32", "bf16"):
            _, update = atari_update("DQN", precision, device)
            print(floor_line("DQN Nature CNN batch 32", precision, update, device, max(5, args.repeats // 3),
                             max(5, args.replays // 2)), flush=True)
    if args.compile:
        print("\ntorch.compile of the whole SAC update, 2x64 networks, batch 256 (ms per update, median):")
        for precision in ("fp32", "bf16"):
            _, eager = continuous_update("SAC", [64, 64], precision, device)
            _, update = continuous_update("SAC", [64, 64], precision, device)
            start = time.perf_counter()
            compiled = torch.compile(update)  # losses, backward and optimiser steps in one compiled function
            compiled()
            compile_s = time.perf_counter() - start
            eager_ms, compiled_ms = time_update_ms(eager, device, args.repeats), time_update_ms(compiled, device,
                                                                                                args.repeats)
            print(f"  {precision}: eager {eager_ms:.2f}, compiled {compiled_ms:.2f} (eager / compiled = "
                  f"{eager_ms / compiled_ms:.2f}x; first call with compilation {compile_s:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

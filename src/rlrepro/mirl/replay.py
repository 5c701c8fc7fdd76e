"""Replay buffer for Atari DQN that stores each frame once, as uint8.

The agent sees a stack of the last ``stack`` frames, but the buffer keeps only single frames in a ring
of ``capacity`` slots (1M slots of 84x84 are ~7.1 GB) and rebuilds the stacks when it samples.

Slot ``i`` holds one frame and the transition leaving it: ``action[i]``, ``reward[i]``,
``terminated[i]``, and ``has_next[i]`` (the frame in slot ``i + 1`` is the next frame of the same
episode). ``pos[i]`` is the frame's position in its episode, so the stack ending at slot ``i`` is::

    slot(i, k) = (i - min(k, pos[i])) % capacity      for k = stack-1, ..., 1, 0

which repeats the episode's first frame before the episode starts (like gymnasium's
``FrameStackObservation(padding_type="reset")``) and never reaches into the previous episode.

Slot ``i`` is a valid sample when ``has_next[i]`` and every frame its stack needs is still held:
``age(i) + min(stack - 1, pos[i]) < size``, where ``age`` counts slots back from the latest frame.
The next stack needs nothing older, and the next frame is newer than frame ``i``. Invalid slots are
few (one per episode, plus at most ``stack - 1`` of the oldest), so sampling draws slots uniformly
and rejects the invalid ones.
"""

from __future__ import annotations

import numpy as np


class FrameReplay:
    """Ring buffer of uint8 frames; samples DQN transitions with stacked observations."""

    def __init__(self, capacity: int, frame_shape: tuple[int, int] = (84, 84), stack: int = 4):
        if int(stack) < 1:
            raise ValueError(f"stack must be >= 1, got {stack}")
        if int(capacity) < int(stack) + 1:
            raise ValueError(f"capacity must be an integer >= stack + 1 = {int(stack) + 1}, got {capacity}")
        self.capacity, self.stack = int(capacity), int(stack)
        self.frame_shape = tuple(int(n) for n in frame_shape)
        self.frames = np.zeros((self.capacity, *self.frame_shape), dtype=np.uint8)
        self.action = np.zeros(self.capacity, dtype=np.int64)
        self.reward = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=bool)
        self.has_next = np.zeros(self.capacity, dtype=bool)
        self.pos = np.zeros(self.capacity, dtype=np.int64)
        self._back = np.arange(self.stack - 1, -1, -1)  # k for each stack entry, oldest first
        self._t = 0  # frames written so far; the latest frame is in slot (t - 1) % capacity
        self._n_next = 0  # number of slots with has_next

    # -- writing ------------------------------------------------------------------------------------

    def _check_frame(self, frame) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.shape != self.frame_shape or frame.dtype != np.uint8:
            raise ValueError(f"frame must be a uint8 array of shape {self.frame_shape}, "
                             f"got {frame.dtype} of shape {frame.shape}")
        return frame

    def _write(self, frame: np.ndarray, pos: int) -> None:
        """Write a frame into the next slot, dropping the transition the slot held."""
        slot = self._t % self.capacity
        self._n_next -= int(self.has_next[slot])
        self.frames[slot] = frame
        self.has_next[slot] = False
        self.pos[slot] = pos
        self._t += 1

    def start_episode(self, frame: np.ndarray) -> None:
        """Record the first frame of a new episode (after env.reset())."""
        frame = self._check_frame(frame)
        if self._t and self.pos[self._latest] == 0:  # the previous episode has no transition: reuse its slot
            self.frames[self._latest] = frame
        else:
            self._write(frame, 0)

    def add(self, action: int, reward: float, terminated: bool, next_frame: np.ndarray) -> None:
        """Record ``action`` taken on the latest frame, its (clipped) ``reward`` and ``next_frame``.

        ``terminated``: the TD target must not bootstrap from ``next_frame``. The episode goes on (and
        stacks keep growing) until the next :meth:`start_episode`, so a life loss is just ``terminated``.
        """
        if not self._t:
            raise RuntimeError("FrameReplay.add() called before start_episode(): record the reset frame first")
        next_frame = self._check_frame(next_frame)
        last = self._latest
        self.action[last], self.reward[last], self.terminated[last] = action, reward, bool(terminated)
        self._write(next_frame, self.pos[last] + 1)
        self.has_next[last] = True
        self._n_next += 1

    # -- reading ------------------------------------------------------------------------------------

    @property
    def _latest(self) -> int:
        return (self._t - 1) % self.capacity

    @property
    def _size(self) -> int:
        return min(self._t, self.capacity)

    def _stack_slots(self, slots: np.ndarray) -> np.ndarray:
        """Slots of the stacks ending at ``slots``: shape (len(slots), stack), oldest first."""
        back = np.minimum(self._back, self.pos[slots][:, None])
        return (slots[:, None] - back) % self.capacity

    def _valid(self, slots: np.ndarray) -> np.ndarray:
        age = (self._latest - slots) % self.capacity
        reach = np.minimum(self.stack - 1, self.pos[slots])
        return self.has_next[slots] & (age + reach < self._size)

    def stacked(self, last: int | None = None) -> np.ndarray:
        """The observation stack (stack, H, W) uint8 ending at slot ``last`` (default: the latest frame).

        Frames before the episode's first frame repeat that first frame (gymnasium's padding_type='reset').
        """
        if not self._t:
            raise RuntimeError("FrameReplay.stacked() called before start_episode()")
        slot = self._latest if last is None else int(last)
        if not 0 <= slot < self._size:
            raise ValueError(f"last must be a written slot in [0, {self._size}), got {last}")
        age = (self._latest - slot) % self.capacity
        if age + min(self.stack - 1, int(self.pos[slot])) >= self._size:
            raise ValueError(f"the stack ending at slot {slot} needs frames that were overwritten")
        return self.frames[self._stack_slots(np.array([slot]))[0]]

    def __len__(self) -> int:
        """Number of transitions that can be sampled now."""
        # Only the stack - 1 oldest slots can have a transition whose stack reaches past the oldest frame.
        oldest = (self._latest - np.arange(max(self._size - self.stack + 1, 0), self._size)) % self.capacity
        return self._n_next - int(np.count_nonzero(self.has_next[oldest] & ~self._valid(oldest)))

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Transitions drawn uniformly (with replacement) among the valid ones.

        Returns {'obs': uint8 (B, stack, H, W), 'action': int64 (B,), 'reward': float32 (B,),
        'next_obs': uint8 (B, stack, H, W), 'terminated': float32 (B,)}.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(self) < 1:
            raise ValueError("FrameReplay.sample(): no transition to sample yet")
        # Rejection sampling: the accepted draws of an i.i.d. uniform sequence are uniform over valid slots.
        idx = np.empty(0, dtype=np.int64)
        while idx.size < batch_size:
            draws = rng.integers(0, self._size, size=2 * (batch_size - idx.size) + 8)
            idx = np.concatenate([idx, draws[self._valid(draws)]])
        idx = idx[:batch_size]
        nxt = (idx + 1) % self.capacity
        return {
            "obs": self.frames[self._stack_slots(idx)],
            "action": self.action[idx],
            "reward": self.reward[idx],
            "next_obs": self.frames[self._stack_slots(nxt)],
            "terminated": self.terminated[idx].astype(np.float32),
        }

    # -- checkpoints --------------------------------------------------------------------------------

    _ARRAYS = ("frames", "action", "reward", "terminated", "has_next", "pos")

    def state_dict(self) -> dict:
        """Everything needed to restore the buffer exactly (numpy arrays and ints; picklable).

        The arrays are views of the buffer's written slots, not copies: pickle (or copy) the dict before
        adding more data.
        """
        size = self._size
        return {"capacity": self.capacity, "frame_shape": self.frame_shape, "stack": self.stack, "t": self._t,
                **{name: getattr(self, name)[:size] for name in self._ARRAYS}}

    def load_state_dict(self, state: dict) -> None:
        """Restore from :meth:`state_dict` into a buffer of the same capacity, frame shape and stack."""
        mine = (self.capacity, self.frame_shape, self.stack)
        theirs = (int(state["capacity"]), tuple(state["frame_shape"]), int(state["stack"]))
        if theirs != mine:
            raise ValueError(f"state is for (capacity, frame_shape, stack) = {theirs}, this buffer is {mine}")
        t = int(state["t"])
        size = min(t, self.capacity)
        for name in self._ARRAYS:
            array = getattr(self, name)
            array[:size] = state[name]
            array[size:] = 0
        self._t = t
        self._n_next = int(np.count_nonzero(self.has_next))

    @property
    def nbytes(self) -> int:
        """Memory held by the buffer's arrays, in bytes."""
        return sum(getattr(self, name).nbytes for name in self._ARRAYS)

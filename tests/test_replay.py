"""FrameReplay: frame stacks, episode boundaries, ring wrap-around, determinism, checkpoints, memory.

Frames are (2, 2) uint8 arrays that encode their global write index ``g`` (high byte, low byte), so a
sampled stack decodes to the list of frames it was built from. A small reference model (a list of
every frame written, with its episode and position) decides independently what should be sampled.
"""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest

from rlrepro.mirl.replay import FrameReplay

SHAPE = (2, 2)


def enc(g: int) -> np.ndarray:
    return np.array([[g // 256, g % 256], [g % 7, 0]], dtype=np.uint8)


def dec(frames: np.ndarray) -> np.ndarray:
    """Global frame indices of an array (..., 2, 2) of encoded frames."""
    return frames[..., 0, 0].astype(np.int64) * 256 + frames[..., 0, 1]


class Model:
    """Reference: every frame written, in order, with its episode and position, and the transitions."""

    def __init__(self, buf: FrameReplay):
        self.buf, self.ep, self.pos, self.trans = buf, [], [], {}

    def start(self) -> None:
        g = len(self.ep)
        self.ep.append(self.ep[-1] + 1 if self.ep else 0)
        self.pos.append(0)
        self.buf.start_episode(enc(g))

    def step(self, rng: np.random.Generator, terminated: bool = False) -> None:
        g = len(self.ep)
        action, reward = int(rng.integers(6)), float(rng.integers(-1, 2))
        self.trans[g - 1] = (action, reward, terminated)
        self.ep.append(self.ep[-1])
        self.pos.append(self.pos[-1] + 1)
        self.buf.add(action, reward, terminated, enc(g))

    def stack(self, g: int) -> list[int]:
        """Frames of the stack ending at frame g, scanning back within the episode (padding: its first)."""
        out = [g]
        while len(out) < self.buf.stack:
            prev = out[0] - 1
            out.insert(0, prev if prev >= 0 and self.ep[prev] == self.ep[g] else out[0])
        return out

    def valid(self) -> set[int]:
        """Frames g with a transition g -> g+1 whose frames are all still held (newest `capacity` frames)."""
        oldest = len(self.ep) - self.buf.capacity
        return {g for g in self.trans
                if g + 1 < len(self.ep) and min(self.stack(g) + self.stack(g + 1)) >= oldest}


def play(buf: FrameReplay, episodes: list[int], rng: np.random.Generator, life_loss_every: int = 0) -> Model:
    model = Model(buf)
    for length in episodes:
        model.start()
        for t in range(length):
            model.step(rng, terminated=(t == length - 1 and length % 2 == 0)
                       or bool(life_loss_every and t % life_loss_every == life_loss_every - 1))
    return model


def check_batch(model: Model, batch: dict) -> np.ndarray:
    """Assert every sampled transition matches the reference model; return the sampled frames g."""
    obs, nxt = dec(batch["obs"]), dec(batch["next_obs"])
    assert batch["obs"].dtype == batch["next_obs"].dtype == np.uint8
    assert batch["action"].dtype == np.int64
    assert batch["reward"].dtype == batch["terminated"].dtype == np.float32
    valid = model.valid()
    for b in range(len(obs)):
        g = int(obs[b, -1])
        assert g in valid
        assert obs[b].tolist() == model.stack(g)
        assert nxt[b].tolist() == model.stack(g + 1)
        assert (batch["action"][b], batch["reward"][b], bool(batch["terminated"][b])) == model.trans[g]
    return obs[:, -1]


def test_padding_at_episode_start_repeats_first_frame():
    buf = FrameReplay(capacity=20, frame_shape=SHAPE, stack=4)
    buf.start_episode(enc(5))
    np.testing.assert_array_equal(dec(buf.stacked()), [5, 5, 5, 5])
    for g in (6, 7, 8, 9):
        buf.add(1, 0.0, False, enc(g))
    np.testing.assert_array_equal(dec(buf.stacked()), [6, 7, 8, 9])
    batch = buf.sample(400, np.random.default_rng(0))
    pairs = {(tuple(o), tuple(n))
             for o, n in zip(dec(batch["obs"]).tolist(), dec(batch["next_obs"]).tolist(), strict=True)}
    assert pairs == {((5, 5, 5, 5), (5, 5, 5, 6)), ((5, 5, 5, 6), (5, 5, 6, 7)),
                     ((5, 5, 6, 7), (5, 6, 7, 8)), ((5, 6, 7, 8), (6, 7, 8, 9))}
    assert len(buf) == 4


def test_stacks_never_cross_episodes():
    rng = np.random.default_rng(1)
    buf = FrameReplay(capacity=100, frame_shape=SHAPE, stack=4)
    model = play(buf, [1, 2, 3, 1, 3, 2, 1], rng)
    assert len(buf) == len(model.valid()) == 13
    sampled = check_batch(model, buf.sample(2000, rng))
    assert set(sampled.tolist()) == model.valid()
    for g in sampled:  # every frame in obs and next_obs is from g's episode, in order
        frames = model.stack(int(g)) + model.stack(int(g) + 1)
        assert {model.ep[f] for f in frames} == {model.ep[int(g)]}


def test_truncated_terminated_and_life_loss():
    buf = FrameReplay(capacity=50, frame_shape=SHAPE, stack=4)
    buf.start_episode(enc(0))
    buf.add(0, 1.0, False, enc(1))
    buf.add(1, 0.0, False, enc(2))  # truncated here: no terminated flag
    buf.start_episode(enc(3))
    buf.add(2, -1.0, True, enc(4))  # terminated
    buf.start_episode(enc(5))
    buf.add(3, 0.0, False, enc(6))
    buf.add(4, 0.0, True, enc(7))  # life loss: the caller keeps adding
    buf.add(5, 1.0, False, enc(8))
    buf.add(0, 0.0, False, enc(9))
    batch = buf.sample(1000, np.random.default_rng(2))
    got = {int(o[-1]): (n.tolist(), int(a), float(r), float(d)) for o, n, a, r, d in
           zip(dec(batch["obs"]), dec(batch["next_obs"]), batch["action"], batch["reward"], batch["terminated"],
               strict=True)}
    assert got == {0: ([0, 0, 0, 1], 0, 1.0, 0.0), 1: ([0, 0, 1, 2], 1, 0.0, 0.0),
                   3: ([3, 3, 3, 4], 2, -1.0, 1.0),
                   5: ([5, 5, 5, 6], 3, 0.0, 0.0), 6: ([5, 5, 6, 7], 4, 0.0, 1.0),
                   7: ([5, 6, 7, 8], 5, 1.0, 0.0), 8: ([6, 7, 8, 9], 0, 0.0, 0.0)}
    assert len(buf) == 7
    np.testing.assert_array_equal(dec(buf.stacked()), [6, 7, 8, 9])
    np.testing.assert_array_equal(dec(buf.stacked(last=2)), [0, 0, 1, 2])


@pytest.mark.parametrize("capacity,stack", [(5, 4), (7, 4), (13, 4), (31, 4), (9, 1), (10, 3)])
def test_wrap_around_matches_brute_force(capacity, stack):
    rng = np.random.default_rng(capacity * 10 + stack)
    buf = FrameReplay(capacity=capacity, frame_shape=SHAPE, stack=stack)
    model = Model(buf)
    n_checks = 0
    for _ in range(60):  # ~6 * capacity frames: the ring wraps many times
        model.start()
        for t in range(int(rng.integers(1, 9))):
            model.step(rng, terminated=bool(rng.random() < 0.2))
            assert len(buf) == len(model.valid())
            if len(buf) and t % 2 == 0:
                sampled = check_batch(model, buf.sample(64, rng))
                assert sampled.min() >= len(model.ep) - capacity  # never an overwritten frame
                n_checks += 1
        g = len(model.ep) - 1
        np.testing.assert_array_equal(dec(buf.stacked()), model.stack(g))
    assert len(model.ep) > 4 * capacity and n_checks > 20


def test_sampling_is_uniform_over_valid_transitions():
    rng = np.random.default_rng(3)
    buf = FrameReplay(capacity=30, frame_shape=SHAPE, stack=4)
    model = play(buf, [7, 1, 5, 9, 2, 6, 4], rng)
    valid = sorted(model.valid())
    counts = np.bincount(dec(buf.sample(40_000, rng)["obs"])[:, -1], minlength=len(model.ep))[valid]
    expected = 40_000 / len(valid)
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))


def test_restarting_an_empty_episode_reuses_its_slot():
    buf = FrameReplay(capacity=10, frame_shape=SHAPE, stack=4)
    buf.start_episode(enc(0))
    buf.add(0, 0.0, False, enc(1))
    buf.start_episode(enc(2))
    buf.start_episode(enc(3))  # reset again without a step: frame 2 had no transition
    buf.add(0, 0.0, False, enc(4))
    np.testing.assert_array_equal(dec(buf.frames[:4]), [0, 1, 3, 4])
    assert len(buf) == 2


def test_determinism_and_checkpoint_round_trip():
    rng = np.random.default_rng(4)
    buf = FrameReplay(capacity=23, frame_shape=SHAPE, stack=4)
    play(buf, [5, 8, 3, 9, 6], rng)
    b1 = buf.sample(32, np.random.default_rng(7))
    b2 = buf.sample(32, np.random.default_rng(7))
    for key in b1:
        np.testing.assert_array_equal(b1[key], b2[key])

    restored = FrameReplay(capacity=23, frame_shape=SHAPE, stack=4)
    restored.load_state_dict(pickle.loads(pickle.dumps(buf.state_dict())))
    assert len(restored) == len(buf) and restored.nbytes == buf.nbytes
    np.testing.assert_array_equal(restored.stacked(), buf.stacked())
    for b in (buf, restored):  # the same further data into both
        b.add(2, 1.0, False, enc(900))
        b.start_episode(enc(901))
    ra, rb = np.random.default_rng(8), np.random.default_rng(8)
    for _ in range(5):
        x, y = buf.sample(16, ra), restored.sample(16, rb)
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    np.testing.assert_array_equal(restored.stacked(), buf.stacked())

    partial = FrameReplay(capacity=23, frame_shape=SHAPE, stack=4)  # a checkpoint before the ring is full
    small = FrameReplay(capacity=23, frame_shape=SHAPE, stack=4)
    play(small, [3, 2], rng)
    partial.load_state_dict(small.state_dict())
    assert len(partial) == len(small) == 5
    buf.load_state_dict(small.state_dict())  # into a used buffer: nothing of its old data survives
    assert len(buf) == 5
    x, y = buf.sample(64, np.random.default_rng(9)), small.sample(64, np.random.default_rng(9))
    for key in x:
        np.testing.assert_array_equal(x[key], y[key])
    with pytest.raises(ValueError, match="capacity"):
        FrameReplay(capacity=24, frame_shape=SHAPE, stack=4).load_state_dict(buf.state_dict())


class FrameEnv(gym.Env):
    """Emits frame t (encoded) at step t of an episode of 10 steps, starting at `start`."""

    observation_space = gym.spaces.Box(0, 255, SHAPE, np.uint8)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, start: int):
        self.start, self.t = start, 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return enc(self.start), {}

    def step(self, action):
        self.t += 1
        return enc(self.start + self.t), 0.0, self.t == 10, False, {}


def test_stacked_matches_gymnasium_frame_stack():
    buf = FrameReplay(capacity=12, frame_shape=SHAPE, stack=4)  # small: the ring wraps during episode 2
    for start in (0, 100):
        env = gym.wrappers.FrameStackObservation(FrameEnv(start), stack_size=4, padding_type="reset")
        obs, _ = env.reset()
        buf.start_episode(enc(start))
        np.testing.assert_array_equal(buf.stacked(), obs)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(0)
            buf.add(0, reward, terminated, enc(start + env.unwrapped.t))
            np.testing.assert_array_equal(buf.stacked(), obs)
            done = terminated or truncated


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"capacity must be .*>= stack \+ 1 = 5, got 4"):
        FrameReplay(capacity=4, stack=4)
    buf = FrameReplay(capacity=10, frame_shape=SHAPE)
    with pytest.raises(RuntimeError, match="before start_episode"):
        buf.add(0, 0.0, False, enc(1))
    with pytest.raises(RuntimeError, match="before start_episode"):
        buf.stacked()
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        buf.start_episode(np.zeros((3, 2), np.uint8))
    with pytest.raises(ValueError, match=r"uint8 array of shape \(2, 2\)"):
        buf.start_episode(np.zeros(SHAPE, np.float32))
    buf.start_episode(enc(0))
    with pytest.raises(ValueError, match="no transition"):
        buf.sample(1, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        buf.add(0, 0.0, False, enc(1)[None])
    assert len(buf) == 0  # the rejected frame left nothing behind
    buf.add(0, 0.0, False, enc(1))
    with pytest.raises(ValueError, match="batch_size"):
        buf.sample(0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="last"):
        buf.stacked(last=5)


def test_memory_is_one_uint8_frame_per_slot():
    small, large = FrameReplay(1000), FrameReplay(2000)
    per_slot = (large.nbytes - small.nbytes) / 1000
    assert 84 * 84 <= per_slot <= 84 * 84 + 64
    assert small.nbytes == 1000 * per_slot
    assert 7.0e9 <= 1_000_000 * per_slot <= 7.3e9

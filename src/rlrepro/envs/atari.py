"""Atari 2600 games through ale-py, with the Nature-DQN preprocessing of Gymnasium's wrappers.

Environment ids are the ``<Game>NoFrameskip-v4`` ids that ale-py registers: every frame is
emitted (the wrapper does the frame skip), no sticky actions, the game's minimal action set.
The wheel ships the ROMs, so nothing is downloaded at run time.

    python -m rlrepro.envs.atari          # list the valid ids

Training and evaluation use the same wrapper stack (Mnih et al. 2015): up to ``noop_max`` no-op
actions after reset, the action repeated for 4 frames with the max of the last two frames,
84x84 grayscale. The agent stacks 4 frames itself (in its replay buffer); reward clipping and
loss-of-life-as-terminal are training-loop matters (see :mod:`rlrepro.mirl.atari`), so the
environment always reports raw rewards and ends only when the game is over.
"""

from __future__ import annotations

import sys
from functools import cache

import gymnasium as gym

ID_SUFFIX = "NoFrameskip-v4"


@cache
def game_ids() -> tuple[str, ...]:
    """Every ``<Game>NoFrameskip-v4`` id ale-py registers, sorted."""
    import ale_py

    gym.register_envs(ale_py)
    return tuple(sorted(k for k in gym.registry if k.endswith(ID_SUFFIX) and "/" not in k))


def check_game(env_id: str) -> None:
    if env_id not in game_ids():
        raise ValueError(f"unknown Atari game id {env_id!r}; the valid ids are <Game>{ID_SUFFIX} "
                         f"(e.g. PongNoFrameskip-v4); list them with `python -m rlrepro.envs.atari`")


def make_atari_env(env_id: str, noop_max: int = 30, frame_skip: int = 4, screen_size: int = 84,
                   max_episode_frames: int = 108_000) -> gym.Env:
    """The game with Nature-DQN preprocessing; observations are single (84, 84) uint8 frames."""
    check_game(env_id)
    # The wrapper reads the grayscale screen from the emulator itself; a grayscale inner env spares the
    # RGB copy that every emulator frame would otherwise make and the wrapper would throw away.
    env = gym.make(env_id, max_episode_steps=max_episode_frames, obs_type="grayscale")
    return gym.wrappers.AtariPreprocessing(env, noop_max=noop_max, frame_skip=frame_skip, screen_size=screen_size,
                                           terminal_on_life_loss=False, grayscale_obs=True, scale_obs=False)


def main() -> int:
    print("\n".join(game_ids()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

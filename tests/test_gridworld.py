from collections import deque

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rlrepro.envs.gridworld import DOWN, GOAL_REWARD, LEFT, RIGHT, UP, GridWorld


def shortest_distances(env: GridWorld) -> np.ndarray:
    """Steps to the goal from every state, by breadth-first search over the transition table."""
    dist = np.full(env.n_states, np.inf)
    goal = int(env.goal_states[0])
    dist[goal] = 0
    queue = deque([goal])
    while queue:
        t = queue.popleft()
        for s in range(env.n_states):
            for a in range(env.n_actions):
                if env.next_state[s, a] == t and s != t and dist[s] == np.inf:
                    dist[s] = dist[t] + 1
                    queue.append(s)
    return dist


@pytest.mark.parametrize("layout, expected", [("corridor", 1.00), ("left_once", 3.83)])
def test_optimal_expected_return_under_uniform_start(layout, expected):
    env = GridWorld(layout)
    d = shortest_distances(env)[env.start_states]
    assert np.all(np.isfinite(d))
    returns = -(d - 1) + GOAL_REWARD  # -1 per step, +9 on the step that enters the goal
    assert round(float(returns.mean()), 2) == expected


def test_corridor_layout():
    env = GridWorld("corridor")
    assert env.grid.shape == (3, 20)
    assert len(env.start_states) == 17
    assert env.cell(env.goal_states[0]) == (1, 18)
    assert (env.grid[0] == 1).all() and (env.grid[2] == 1).all()


def test_left_once_goal_only_entered_by_left_from_3_6():
    env = GridWorld("left_once")
    assert env.grid.shape == (8, 8)
    assert len(env.start_states) == 30
    goal = int(env.goal_states[0])
    assert env.cell(goal) == (3, 5)
    for r, c in [(2, 4), (2, 5), (3, 4), (4, 4), (4, 5)]:
        assert env.grid[r, c] == 1
    entries = {(env.cell(s), a) for s in env.start_states for a in range(4) if env.next_state[s, a] == goal}
    assert entries == {((3, 6), LEFT)}


def test_walls_block_and_rewards():
    env = GridWorld("corridor")
    env.reset(seed=0)
    env.state = 1 * 20 + 1  # (1, 1)
    for a in (UP, DOWN, LEFT):
        s, r, term, trunc, _ = env.step(a)
        assert env.cell(s) == (1, 1) and r == -1.0 and not term and not trunc
    env.state = 1 * 20 + 17
    s, r, term, _, _ = env.step(RIGHT)
    assert env.cell(s) == (1, 18) and r == GOAL_REWARD and term


def test_uniform_random_starts_cover_free_cells():
    env = GridWorld("left_once")
    starts = {env.reset(seed=i)[0] for i in range(500)}
    assert starts == set(env.start_states.tolist())


def test_gymnasium_api_and_registration():
    check_env(GridWorld("left_once"), skip_render_check=True)
    env = gym.make("rlrepro/GridWorld-corridor-v0")
    obs, _ = env.reset(seed=1)
    assert env.observation_space.contains(obs)


def test_invalid_action_is_a_clear_error():
    env = GridWorld("corridor")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="invalid action 7; allowed: 0..3"):
        env.step(7)


def test_unknown_layout():
    with pytest.raises(ValueError, match="allowed: \\['corridor', 'left_once'\\]"):
        GridWorld("maze")

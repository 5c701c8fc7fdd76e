import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlrepro.envs  # noqa: F401  (registers the environments)
from rlrepro.envs.algorithmic import (
    DOWN,
    ENV_CLASSES,
    ENV_IDS,
    LEFT,
    RIGHT,
    TASKS,
    UP,
    CopyEnv,
    DuplicatedInputEnv,
    ReversedAddition3Env,
    ReverseEnv,
)

# Scripted policies that act from the task's rules and their own observations only. Each is a
# generator: send it an observation, get back an action.


def copy_policy(env):
    obs = yield
    while True:
        obs = yield (RIGHT, 1, obs)


def duplicated_input_policy(env):
    obs = yield
    position = 0
    while True:
        first_of_group = position % env.duplication == 0
        obs = yield (RIGHT, int(first_of_group), obs if first_of_group else 0)
        position += 1


def repeat_copy_policy(env):
    blank = env.base
    obs = yield
    while obs != blank:
        obs = yield (RIGHT, 1, obs)
    obs = yield (LEFT, 0, 0)
    while obs != blank:
        obs = yield (LEFT, 1, obs)
    obs = yield (RIGHT, 0, 0)
    while True:
        obs = yield (RIGHT, 1, obs)


def reverse_policy(env):
    blank = env.base
    obs = yield
    while obs != blank:
        obs = yield (RIGHT, 0, 0)
    obs = yield (LEFT, 0, 0)
    while True:
        obs = yield (LEFT, 1, obs)


def addition_policy(env):
    """Snake down one column and up the next, writing each sum digit while stepping right."""
    obs = yield
    carry, column_sum, n_read, down = 0, 0, 0, True
    while True:
        if obs == env.base:  # past the last column: only the final carry is left to write
            carry, digit = divmod(carry, env.base)
            obs = yield (RIGHT, 1, digit)
            continue
        column_sum += obs
        n_read += 1
        if n_read < env.n_rows:
            obs = yield (DOWN if down else UP, 0, 0)
        else:
            carry, digit = divmod(column_sum + carry, env.base)
            column_sum, n_read, down = 0, 0, not down
            obs = yield (RIGHT, 1, digit)


POLICIES = {
    "Copy": copy_policy,
    "DuplicatedInput": duplicated_input_policy,
    "RepeatCopy": repeat_copy_policy,
    "Reverse": reverse_policy,
    "ReversedAddition": addition_policy,
    "ReversedAddition3": addition_policy,
}


def run_episode(env, policy_factory, seed=None, options=None):
    """Play one episode; returns (rewards, terminated, truncated, final info)."""
    obs, info = env.reset(seed=seed, options=options)
    policy = policy_factory(env)
    next(policy)
    rewards = []
    while True:
        obs, reward, terminated, truncated, info = env.step(policy.send(obs))
        rewards.append(reward)
        if terminated or truncated:
            return rewards, terminated, truncated, info


def fail_episode(env, seed=None):
    env.reset(seed=seed)
    return env.step((RIGHT, 1, (int(env.target[0]) + 1) % env.base))


def test_registry_lists_all_tasks():
    assert TASKS == tuple(ENV_CLASSES) == tuple(ENV_IDS)
    for task in TASKS:
        env = gym.make(ENV_IDS[task])
        assert env.spec.max_episode_steps is None
        assert isinstance(env.unwrapped, ENV_CLASSES[task])
        env.reset(seed=0)
        env.step(env.action_space.sample())


@pytest.mark.parametrize("task", TASKS)
def test_spaces(task):
    env = ENV_CLASSES[task]()
    expected_base = {"Reverse": 2, "ReversedAddition": 3, "ReversedAddition3": 3}.get(task, 5)
    n_moves = 4 if task.startswith("ReversedAddition") else 2
    assert env.base == expected_base
    assert env.observation_space == gym.spaces.Discrete(expected_base + 1)
    assert env.action_space == gym.spaces.Tuple(
        (gym.spaces.Discrete(n_moves), gym.spaces.Discrete(2), gym.spaces.Discrete(expected_base))
    )


@pytest.mark.parametrize("task", TASKS)
def test_scripted_policy_earns_maximum_return(task):
    env = ENV_CLASSES[task](curriculum_window=1000)
    for seed in range(10):
        rewards, terminated, truncated, info = run_episode(env, POLICIES[task], seed=seed)
        assert terminated and not truncated
        assert sum(rewards) == len(env.target) == info["max_return"] == info["n_written"]
        assert set(rewards) <= {0.0, 1.0}


@pytest.mark.parametrize("task", TASKS)
def test_scripted_policy_on_longer_inputs(task):
    env = ENV_CLASSES[task](curriculum_window=1000)
    longest = 4 if task == "ReversedAddition3" else 12  # 3 reads per column: see ReversedAddition3Env
    for length in range(1, longest + 1):
        rewards, terminated, truncated, _ = run_episode(env, POLICIES[task], seed=length,
                                                        options={"input_length": length})
        assert terminated and not truncated and sum(rewards) == len(env.target)


def test_targets_follow_the_task_rules():
    tape = np.array([[0, 1, 2, 3]])
    assert ENV_CLASSES["Copy"]()._target_from_input(tape).tolist() == [0, 1, 2, 3]
    assert ENV_CLASSES["Reverse"]()._target_from_input(tape % 2).tolist() == [1, 0, 1, 0]
    assert ENV_CLASSES["RepeatCopy"]()._target_from_input(tape).tolist() == [0, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 3]
    assert ENV_CLASSES["DuplicatedInput"]()._target_from_input(np.array([[4, 4, 1, 1]])).tolist() == [4, 1]
    # Base 3, least significant digit first: 21 (=7) + 22 (=8) = 15 = 0 2 1; 12 (=5) + 10 (=1) = 6 = 0 2.
    addition = ENV_CLASSES["ReversedAddition"]()
    assert addition._target_from_input(np.array([[1, 2], [2, 2]])).tolist() == [0, 2, 1]
    assert addition._target_from_input(np.array([[2, 1], [1, 0]])).tolist() == [0, 2]
    # 2 + 2 + 2 = 6 = 0 2 (base 3)
    assert ReversedAddition3Env()._target_from_input(np.array([[2], [2], [2]])).tolist() == [0, 2]


def test_duplicated_input_is_made_of_groups():
    env = DuplicatedInputEnv()
    for seed in range(10):
        env.reset(seed=seed, options={"input_length": 5})
        tape = env.input_data
        assert len(tape) == 4 and (tape[::2] == tape[1::2]).all()
        assert (env.target == tape[::2]).all()


@pytest.mark.parametrize("task", TASKS)
def test_wrong_write_ends_episode_with_penalty(task):
    env = ENV_CLASSES[task]()
    for seed in range(3):
        _, reward, terminated, truncated, info = fail_episode(env, seed)
        assert reward == -0.5 and terminated and not truncated
        assert info["n_written"] == 0
        with pytest.raises(RuntimeError, match="reset"):
            env.step((RIGHT, 0, 0))


@pytest.mark.parametrize("task", TASKS)
def test_doing_nothing_times_out_at_the_limit(task):
    """The -1 comes on step number n_cols + target_length + 4, with truncated=True."""
    env = ENV_CLASSES[task]()
    for seed in range(3):
        _, info = env.reset(seed=seed)
        limit = env.input_grid.shape[1] + len(env.target) + 4
        assert info["time_limit"] == limit
        for step in range(1, limit + 1):
            _, reward, terminated, truncated, info = env.step((RIGHT, 0, 0))
            assert not terminated
            if step < limit:
                assert reward == 0.0 and not truncated
        assert reward == -1.0 and truncated and info["time"] == limit
        with pytest.raises(RuntimeError):
            env.step((RIGHT, 0, 0))


def test_last_correct_write_on_the_final_step_still_succeeds():
    env = ReverseEnv(curriculum_window=1000)
    env.reset(seed=0, options={"input_length": 3})
    for _ in range(env.time_limit - len(env.target)):  # waste every step the writes do not need
        env.step((LEFT, 0, 0))
    for symbol in env.target[:-1]:
        assert env.step((LEFT, 1, int(symbol)))[1:4] == (1.0, False, False)
    assert env.step((LEFT, 1, int(env.target[-1])))[1:4] == (1.0, True, False)


def test_head_reads_blank_one_cell_off_the_input_and_stops_there():
    env = CopyEnv()
    env.reset(seed=0, options={"input_length": 3})
    assert env.step((LEFT, 0, 0))[0] == env.base and env.head_col == -1
    assert env.step((LEFT, 0, 0))[0] == env.base and env.head_col == -1
    assert env.step((RIGHT, 0, 0))[0] == env.input_data[0]
    grid = ReversedAddition3Env()
    grid.reset(seed=0, options={"input_length": 2})
    for _ in range(5):
        obs = grid.step((DOWN, 0, 0))[0]
    assert grid.head_row == 3 and obs == grid.base
    assert grid.step((UP, 0, 0))[0] == grid.input_data[2, 0]


def test_curriculum_promotes_after_a_window_of_perfect_episodes():
    env = CopyEnv(curriculum_window=3)
    for episode in range(3):
        assert env.min_length == 2
        run_episode(env, copy_policy, seed=episode)
    assert env.min_length == 3 and env.curriculum_state()["shortfalls"] == []
    _, info = env.reset(seed=0)
    assert info["min_length"] == 3 and 3 <= info["input_length"] <= 5


def test_curriculum_holds_while_the_window_has_a_failure():
    env = CopyEnv(curriculum_window=3)
    run_episode(env, copy_policy, seed=0)
    run_episode(env, copy_policy, seed=1)
    fail_episode(env, seed=2)
    assert env.min_length == 2  # full window, but one failure
    run_episode(env, copy_policy, seed=3)
    run_episode(env, copy_policy, seed=4)
    assert env.min_length == 2  # the failure is still in the sliding window
    run_episode(env, copy_policy, seed=5)
    assert env.min_length == 3


def test_curriculum_respects_max_length_and_is_per_instance():
    env, other = CopyEnv(curriculum_window=1, max_length=4), CopyEnv(curriculum_window=1)
    for seed in range(10):
        run_episode(env, copy_policy, seed=seed)
        assert env.n_cols <= 4
    assert env.min_length == 4 and other.min_length == 2


def test_curriculum_state_round_trip():
    env = CopyEnv(curriculum_window=4)
    for seed in range(5):
        run_episode(env, copy_policy, seed=seed)
    fail_episode(env, seed=5)
    state = json.loads(json.dumps(env.curriculum_state()))
    assert state == {"min_length": 3, "shortfalls": [0.0, -0.5 - len(env.target)]}

    restored = CopyEnv(curriculum_window=4)
    restored.load_curriculum_state(state)
    assert restored.curriculum_state() == state
    for seed in range(6, 10):
        assert run_episode(env, copy_policy, seed=seed) == run_episode(restored, copy_policy, seed=seed)
        assert restored.curriculum_state() == env.curriculum_state()
    with pytest.raises(ValueError):
        restored.load_curriculum_state({"min_length": 0, "shortfalls": []})


@pytest.mark.parametrize("task", TASKS)
def test_invalid_actions_raise(task):
    env = ENV_CLASSES[task]()
    env.reset(seed=0)
    n_moves, base = env.action_space[0].n, env.base
    bad_actions = [(0, 1, base), (n_moves, 0, 0), (0, 2, 0), (-1, 0, 0), (0, 0), (0, 0, 0, 0), 1, None,
                   np.array([[0, 0, 0]]), np.array([0.0, 1.0, 0.0]), np.array(1), (0, 0, 2**70)]
    for action in bad_actions:
        with pytest.raises(ValueError, match="invalid action") as error:
            env.step(action)
        assert str(env.action_space) in str(error.value)
    # Lists, arrays and numpy integers are accepted.
    for action in ([0, 0, 0], np.array([1, 0, 0]), (np.int64(0), np.int64(0), np.int64(base - 1))):
        env.step(action)


@pytest.mark.parametrize("task", TASKS)
def test_seeding_reproduces_episodes(task):
    first, second = ENV_CLASSES[task](), ENV_CLASSES[task]()
    inputs = []
    for seed in range(5):
        first.reset(seed=seed)
        second.reset(seed=seed)
        assert (first.input_grid == second.input_grid).all() and (first.target == second.target).all()
        first.reset()
        second.reset()  # unseeded resets continue the same random stream
        assert (first.input_grid == second.input_grid).all()
        inputs.append(first.input_grid.tolist())
    assert len({json.dumps(i) for i in inputs}) > 1


@pytest.mark.parametrize("task", TASKS)
def test_check_env_passes(task):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Through gym.make so the env has a spec (check_env then also tries the other render modes).
        check_env(gym.make(ENV_IDS[task]).unwrapped)
        check_env(gym.make(ENV_IDS[task], render_mode="ansi").unwrapped)


def test_ansi_render_marks_the_head():
    env = ENV_CLASSES["ReversedAddition"](render_mode="ansi")
    env.reset(seed=0, options={"input_length": 3})
    text = env.render()
    assert text.count("[") == 1 and "target: " in text and "output: " in text
    assert CopyEnv().render() is None


@pytest.mark.parametrize("task", TASKS)
def test_repeat_input_replays_the_previous_input_without_drawing(task):
    env, twin = ENV_CLASSES[task](curriculum_window=1000), ENV_CLASSES[task](curriculum_window=1000)
    first = run_episode(env, POLICIES[task], seed=3)
    twin.reset(seed=3)
    grid, target = env.input_grid.copy(), env.target.copy()
    rng_state = env.np_random.bit_generator.state
    obs, info = env.reset(options={"repeat_input": True})
    assert (env.input_grid == grid).all() and (env.target == target).all()
    assert env.np_random.bit_generator.state == rng_state  # nothing drawn
    assert obs == env.input_grid[0, 0] and info["time"] == 0 and info["n_written"] == 0 and not env.episode_over
    env.reset(options={"repeat_input": True})  # also after an episode cut short
    assert run_episode(env, POLICIES[task], options={"repeat_input": True}) == first
    assert env.curriculum_state()["shortfalls"] == [0.0, 0.0]  # repeats count like any episode
    env.reset()
    twin.reset()
    assert (env.input_grid == twin.input_grid).all()  # the random stream went on as if nothing was repeated


def test_repeat_input_needs_a_previous_episode_and_excludes_input_length():
    env = CopyEnv()
    with pytest.raises(ValueError, match="previous episode"):
        env.reset(seed=0, options={"repeat_input": True})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="exclude"):
        env.reset(options={"repeat_input": True, "input_length": 3})
    env.reset(options={"repeat_input": False, "input_length": 3})
    assert env.n_cols == 3

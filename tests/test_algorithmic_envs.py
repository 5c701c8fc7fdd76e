import copy
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
    RepeatCopyEnv,
    ReversedAddition3Env,
    ReversedAdditionEnv,
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
        if task == "ReversedAddition3" and 3 * env.n_cols + len(env.target) - env.n_cols > env.time_limit:
            assert truncated and not info["solved"]  # 4 columns and a carry: see the test below
            continue
        assert terminated and not truncated and info["solved"]
        assert sum(rewards) == len(env.target) == info["max_return"] == info["n_written"]
        assert set(rewards) <= {0.0, 1.0}


@pytest.mark.parametrize("task", TASKS)
def test_scripted_policy_on_longer_inputs(task):
    env = ENV_CLASSES[task](curriculum_window=1000)
    longest = 3 if task == "ReversedAddition3" else 12  # 3 reads per column: see ReversedAddition3Env
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


def test_addition_reaches_a_final_carry_within_its_own_time_limit():
    """3 reads per column: 4 columns fit the limit 2 * 4 + 4 = 12 only without a final carry."""
    env = ReversedAddition3Env(curriculum_window=1000)
    outcomes = set()
    for seed in range(30):
        rewards, terminated, truncated, info = run_episode(env, addition_policy, seed=seed, options={"input_length": 4})
        carry = len(env.target) > env.n_cols
        assert info["time_limit"] == 12 and info["solved"] == (not carry) == terminated == (not truncated)
        outcomes.add(carry)
    assert outcomes == {True, False}


@pytest.mark.parametrize("task", TASKS)
def test_doing_nothing_times_out_on_the_step_after_the_limit(task):
    """Classic time-out (``time > time_limit``): steps 1..limit pass, the -1 comes on step limit + 1,
    with truncated=True; the addition tasks' limit is 2 n_cols + 4, the others' n_cols + target + 4."""
    env = ENV_CLASSES[task]()
    for seed in range(3):
        _, info = env.reset(seed=seed)
        n_cols = env.input_grid.shape[1]
        limit = 2 * n_cols + 4 if task.startswith("ReversedAddition") else n_cols + len(env.target) + 4
        assert info["time_limit"] == limit == env.max_episode_steps - 1
        for step in range(1, limit + 1):
            _, reward, terminated, truncated, info = env.step((RIGHT, 0, 0))
            assert reward == 0.0 and not terminated and not truncated
        _, reward, terminated, truncated, info = env.step((RIGHT, 0, 0))
        assert reward == -1.0 and truncated and not terminated and info["time"] == limit + 1
        with pytest.raises(RuntimeError):
            env.step((RIGHT, 0, 0))


def test_addition_time_limit_ignores_the_final_carry():
    env = ReversedAdditionEnv()
    for seed in range(20):
        _, info = env.reset(seed=seed, options={"input_length": 3})
        assert info["time_limit"] == 10  # 2 * 3 + 4, with or without a fourth (carry) target digit


def test_last_correct_write_on_the_final_step_still_succeeds():
    env = ReverseEnv(curriculum_window=1000)
    env.reset(seed=0, options={"input_length": 3})
    for _ in range(env.time_limit - len(env.target)):  # waste every step the writes do not need
        env.step((LEFT, 0, 0))
    for symbol in env.target[:-1]:
        assert env.step((LEFT, 1, int(symbol)))[1:4] == (1.0, False, False)
    _, reward, terminated, truncated, info = env.step((LEFT, 1, int(env.target[-1])))
    assert (reward, terminated, truncated, info["solved"], info["time"]) == (1.0, True, False, True, env.time_limit)


def test_the_time_out_step_overrides_what_it_writes():
    """As in the classic suite, whose time-out check follows the write: -1 even for the last correct symbol."""
    env = ReverseEnv(curriculum_window=1000)
    for last_symbol_right in (True, False):
        env.reset(seed=0, options={"input_length": 3})
        for _ in range(env.time_limit + 1 - len(env.target)):
            env.step((LEFT, 0, 0))
        for symbol in env.target[:-1]:
            assert env.step((LEFT, 1, int(symbol)))[1:4] == (1.0, False, False)
        last = int(env.target[-1]) if last_symbol_right else 1 - int(env.target[-1])
        _, reward, terminated, truncated, info = env.step((LEFT, 1, last))
        assert (reward, terminated, truncated, info["solved"]) == (-1.0, False, True, False)
        assert env.curriculum_state()["shortfalls"][-1] == len(env.target) - 1 - 1.0 - len(env.target)


def test_head_is_unbounded_and_reads_blank_off_the_input():
    """As the classic read head: it can wander any distance off the input and must walk back."""
    env = CopyEnv()
    env.reset(seed=0, options={"input_length": 3})
    assert env.step((LEFT, 0, 0))[0] == env.base and env.head_col == -1
    assert env.step((LEFT, 0, 0))[0] == env.base and env.head_col == -2
    assert env.step((RIGHT, 0, 0))[0] == env.base and env.head_col == -1
    assert env.step((RIGHT, 0, 0))[0] == env.input_data[0]
    grid = ReversedAddition3Env(render_mode="ansi")
    grid.reset(seed=0, options={"input_length": 2})
    for _ in range(5):
        obs = grid.step((DOWN, 0, 0))[0]
    assert grid.head_row == 5 and obs == grid.base
    assert "[" in grid.render()  # the rendering widens to show the head
    for _ in range(2):
        assert grid.step((UP, 0, 0))[0] == grid.base
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


def test_curriculum_respects_the_length_cap_and_is_per_instance():
    env, other = CopyEnv(curriculum_window=1, length_cap=4), CopyEnv(curriculum_window=1)
    for seed in range(10):
        run_episode(env, copy_policy, seed=seed)
        assert env.n_cols <= 4 + env.length_spread
    assert env.min_length == 4 and other.min_length == 2
    with pytest.raises(ValueError, match="length_cap"):
        env.load_curriculum_state({"min_length": 5, "shortfalls": []})
    with pytest.raises(ValueError, match="length_cap 1 is below min_length 2"):
        CopyEnv(length_cap=1)


@pytest.mark.parametrize("task", TASKS)
def test_curriculum_defaults_are_the_classic_suites(task):
    """Window 50 and threshold -0.1 on Reverse and RepeatCopy, 10 and -1 elsewhere; min_length stops at 30."""
    env = ENV_CLASSES[task]()
    strict = task in ("Reverse", "RepeatCopy")
    assert (env.curriculum_window, env.promotion_shortfall) == ((50, -0.1) if strict else (10, -1.0))
    assert env.length_cap == 30
    env.load_curriculum_state({"min_length": 29, "shortfalls": []})
    for _ in range(3 * env.curriculum_window):
        env.record_shortfall(0.0)
    assert env.min_length == 30


def test_promotion_threshold_is_inclusive():
    """The classic rule promotes when the worst shortfall is >= the threshold."""
    for env, at, below in ((CopyEnv(curriculum_window=1), -1.0, -1.01),
                           (ReverseEnv(curriculum_window=1), -0.1, -0.11),
                           (RepeatCopyEnv(curriculum_window=1), -0.1, -0.11)):
        start = env.min_length
        env.record_shortfall(below)
        assert env.min_length == start
        env.record_shortfall(at)
        assert env.min_length == start + 1


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
def test_step_accepts_exactly_the_actions_of_the_action_space(task):
    """The quick check of plain int triples refuses and accepts what gym's full check does."""
    env = ENV_CLASSES[task]()
    n_moves, base = env.action_space[0].n, env.base
    candidates = [[move, write, symbol] for move in (-1, 0, n_moves - 1, n_moves) for write in (-1, 0, 1, 2)
                  for symbol in (-1, 0, base - 1, base)]
    candidates += [(True, False, 0), [0, True, 1], (0, 1, np.int64(base - 1)), (np.uint64(0), 0, 0), (0.0, 0, 0),
                   (0, 0, 2**63), [0, 0, "1"]]
    for action in candidates:
        env.reset(seed=0)
        if env.action_space.contains(action):
            env.step(action)
        else:
            with pytest.raises(ValueError, match="invalid action"):
                env.step(action)


@pytest.mark.parametrize("task", TASKS)
def test_a_replica_plays_on_like_a_deep_copy_and_leaves_the_original_alone(task):
    env = ENV_CLASSES[task](curriculum_window=3)
    fail_episode(env, seed=0)  # one shortfall in the window
    env.reset(seed=1)
    env.step((0, 0, 0))
    before = (env.curriculum_state(), env.time, list(env.output), env.np_random.bit_generator.state)
    twin, replica = copy.deepcopy(env), env.replica()
    rng = np.random.default_rng(0)
    for _ in range(3 * env.max_episode_steps):
        action = [int(rng.integers(space.n)) for space in env.action_space]
        assert replica.step(action) == twin.step(action)
        if replica.episode_over:
            assert replica.reset(options={"repeat_input": True}) == twin.reset(options={"repeat_input": True})
    assert replica.curriculum_state() == twin.curriculum_state() != before[0]
    assert (env.curriculum_state(), env.time, env.output, env.np_random.bit_generator.state) == before


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


@pytest.mark.parametrize("task", TASKS)
def test_an_episode_is_perfect_or_falls_short_by_at_least_one_and_a_half(task):
    """What the curriculum's thresholds rest on (and rlrepro.epmd.algorithmic's reading of them over K samples)."""
    env = ENV_CLASSES[task](curriculum_window=10_000)
    env.reset(seed=0)
    env.action_space.seed(0)
    for episode in range(300):
        env.reset(options={"input_length": 1 + episode % 3})
        # Mostly moves and correct writes, so that some episodes succeed and some time out.
        while True:
            move, write, symbol = env.action_space.sample()
            if env.np_random.random() < 0.7 and env.n_written < len(env.target):
                symbol = int(env.target[env.n_written])
            _, _, terminated, truncated, info = env.step((move, write, symbol))
            if terminated or truncated:
                break
    shortfalls = env.curriculum_state()["shortfalls"]
    assert all(s == 0.0 or s <= -1.5 for s in shortfalls)
    assert 0.0 in shortfalls and min(shortfalls) < -1.5

"""The classic algorithmic tasks as Gymnasium environments.

Copy, DuplicatedInput, RepeatCopy, Reverse, ReversedAddition and ReversedAddition3 left gym in
0.20 without a maintained Gymnasium port; they are rewritten here from their described behaviour,
checked against gym 0.19's ``gym/envs/algorithmic/algorithmic_env.py`` and the task files
(``copy_.py``, ``duplicated_input.py``, ``repeat_copy.py``, ``reverse.py``, ``reversed_addition.py``;
the "classic suite" below). Each task has an input written on a tape (a one-row grid) or on a grid of
several rows, a read head on it, and a target sequence that the agent must write one symbol at a time.

Conventions shared by every task (each point as in the classic suite unless it says otherwise):

* Observation: the symbol under the read head, or the blank symbol ``base`` when the head is off
  the input, so ``observation_space = Discrete(base + 1)``.
* Action: ``(move, write, symbol)`` in ``Tuple(Discrete(n_moves), Discrete(2), Discrete(base))``.
  Moves are ``LEFT, RIGHT`` on tapes and ``LEFT, RIGHT, UP, DOWN`` on grids. Within a step the
  symbol is written first (when ``write == 1``), then the head moves. Lists and 1-D integer arrays
  of three entries are accepted too; anything outside the space raises ``ValueError``.
* Head: starts on the first input cell (row 0, column 0) and is unbounded: it may move any number of
  cells off the input, in every direction, and reads blank there (the classic ``_move`` never clips
  the position; ``_get_obs`` returns blank out of range).
* Reward: +1 for writing the next target symbol (the episode terminates once the whole target is
  written), -0.5 for a wrong symbol (terminates), 0 for writing nothing.
* Time limit: ``time_limit`` is ``n_cols + target_length + 4`` steps (``n_cols`` is the tape length,
  or the number of grid columns), and ``2 n_cols + 4`` on the addition tasks (the classic
  ``ReversedAdditionEnv.time_limit``, kept there as a quirk: the input's length rather than the
  target's). The time-out comes at the first step whose count is *above* the limit (the classic check
  ``time > time_limit``), so the agent has ``time_limit`` steps to finish and an episode lasts at most
  ``time_limit + 1`` steps (``max_episode_steps``). The time-out step's reward is -1 whatever it
  wrote (the classic check comes after the write and overrides its reward); it returns
  ``terminated=False, truncated=True``: the step count is not observed, so by Gymnasium's convention
  the cut is a truncation, and an episode that writes its last symbol on the time-out step is not solved.
* Lengths: each ``reset`` draws ``n_cols`` uniformly from ``[min_length, min_length +
  length_spread]``; ``options={"input_length": n}`` fixes it instead.
* Repeats: ``options={"repeat_input": True}`` starts the new episode on the previous episode's input
  and target, drawing nothing (no random numbers, no length); such episodes count in the curriculum
  like any other. It lets a learner sample several attempts at one input. (Not in the classic suite.)
* Curriculum: when an episode ends (terminated or truncated), its shortfall ``return -
  target_length`` (0 when perfect) joins a window of the last ``curriculum_window`` shortfalls.
  Once the window is full and every entry is at least ``promotion_shortfall``, ``min_length`` grows
  by one (never above ``length_cap``) and the window is emptied. Window and threshold are per task as
  in the classic suite: 10 and -1 by default, 50 and -0.1 on Reverse and RepeatCopy; the cap is 30, so
  inputs are at most 32 long. With these rewards a single episode's shortfall is 0 (perfect) or at
  most -1.5, so either threshold asks for perfect episodes. A learner may instead report its own
  entries (``record_shortfall``): :mod:`rlrepro.epmd.algorithmic` enters one per input, the mean over its K
  samples, and there the threshold matters (see that module). Episodes cut short by an early
  ``reset`` are not counted. The state belongs to the instance (as ``reward_shortfalls`` and
  ``min_length`` do in the classic suite); ``curriculum_state`` / ``load_curriculum_state`` checkpoint it.
"""

from __future__ import annotations

import copy
from collections import deque
from typing import ClassVar

import gymnasium as gym
import numpy as np

LEFT, RIGHT, UP, DOWN = 0, 1, 2, 3
MOVE_NAMES = ("left", "right", "up", "down")
MOVE_DELTAS = ((0, -1), (0, 1), (-1, 0), (1, 0))  # (row, column) change of each move

CORRECT_REWARD = 1.0
WRONG_REWARD = -0.5
TIMEOUT_REWARD = -1.0
EXTRA_STEPS = 4
"""Steps allowed beyond ``n_cols + target_length`` (beyond ``2 n_cols`` on the addition tasks)."""
CLASSIC_LENGTH_CAP = 30
"""The classic suite promotes ``min_length`` only while it is below 30."""


class AlgorithmicEnv(gym.Env):
    """Tape or grid, read head, rewards, time limit and length curriculum shared by the tasks.

    Subclasses set ``default_base``, ``n_rows``, ``n_moves``, the curriculum's defaults
    (``default_curriculum_window``, ``default_promotion_shortfall``) and implement
    ``_target_from_input`` (and ``_generate_input`` when the input is not uniformly random,
    ``_time_limit`` when the limit differs).
    """

    metadata: ClassVar[dict] = {"render_modes": ["ansi"], "render_fps": 4}
    default_base = 5
    default_min_length = 2
    default_curriculum_window = 10
    """The classic ``self.last``: episodes judged for promotion."""
    default_promotion_shortfall = -1.0
    """The classic ``MIN_REWARD_SHORTFALL_FOR_PROMOTION``."""
    n_rows = 1
    n_moves = 2
    render_as_letters = True

    def __init__(
        self,
        min_length: int | None = None,
        length_cap: int | None = CLASSIC_LENGTH_CAP,
        length_spread: int = 2,
        curriculum_window: int | None = None,
        promotion_shortfall: float | None = None,
        base: int | None = None,
        render_mode: str | None = None,
    ):
        """
        Args:
            min_length: starting minimum input length (default 2; 1 for Reverse).
            length_cap: the curriculum never raises ``min_length`` above this (classic: 30); None for no cap.
            length_spread: input lengths are drawn from ``[min_length, min_length + length_spread]``.
            curriculum_window: number of recent episodes judged for promotion (default: the task's,
                10, or 50 on Reverse and RepeatCopy).
            promotion_shortfall: promote when every shortfall in a full window is at least this
                (default: the task's, -1, or -0.1 on Reverse and RepeatCopy).
            base: number of symbols (default 5 for the tape tasks, 2 for Reverse, 3 for addition).
            render_mode: None or "ansi".
        """
        self.base = self.default_base if base is None else base
        self.min_length = self.default_min_length if min_length is None else min_length
        self.length_cap = length_cap
        self.length_spread = length_spread
        self.curriculum_window = self.default_curriculum_window if curriculum_window is None else curriculum_window
        self.promotion_shortfall = float(
            self.default_promotion_shortfall if promotion_shortfall is None else promotion_shortfall)
        self.render_mode = render_mode
        if self.base < 2:
            raise ValueError(f"base must be at least 2, got {self.base}")
        if self.min_length < 1 or length_spread < 0 or self.curriculum_window < 1:
            raise ValueError("need min_length >= 1, length_spread >= 0 and curriculum_window >= 1")
        if length_cap is not None and length_cap < self.min_length:
            raise ValueError(f"length_cap {length_cap} is below min_length {self.min_length}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"unknown render_mode {render_mode!r}; allowed: {self.metadata['render_modes']}")

        self.observation_space = gym.spaces.Discrete(self.base + 1)
        self.action_space = gym.spaces.Tuple(
            (gym.spaces.Discrete(self.n_moves), gym.spaces.Discrete(2), gym.spaces.Discrete(self.base))
        )
        self._shortfalls: deque[float] = deque(maxlen=self.curriculum_window)

        self.input_grid = np.zeros((self.n_rows, 0), dtype=np.int64)
        self.target = np.zeros(0, dtype=np.int64)
        self._cache_episode_data()
        self.output: list[int] = []
        self.head_row = self.head_col = 0
        self.n_written = 0
        self.time = 0
        self.time_limit = 0
        self.episode_return = 0.0
        self.episode_over = True

    # --- task definition -------------------------------------------------------------------

    def _generate_input(self, length: int) -> np.ndarray:
        """A ``(n_rows, length)`` grid of uniformly random symbols."""
        return self.np_random.integers(self.base, size=(self.n_rows, length), dtype=np.int64)

    def _target_from_input(self, input_grid: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _time_limit(self) -> int:
        """Steps the agent has on the current input (the time-out comes on the step after)."""
        return self.n_cols + len(self.target) + EXTRA_STEPS

    # --- episode ---------------------------------------------------------------------------

    @property
    def n_cols(self) -> int:
        return self.input_grid.shape[1]

    @property
    def max_episode_steps(self) -> int:
        """The longest the current episode can last: ``time_limit`` steps, then the time-out step."""
        return self.time_limit + 1

    @property
    def input_data(self) -> np.ndarray:
        """The current input: 1-D for tape tasks, ``(n_rows, n_cols)`` for grid tasks."""
        return self.input_grid[0] if self.n_rows == 1 else self.input_grid

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options and options.get("repeat_input"):
            if "input_length" in options:
                raise ValueError("options 'repeat_input' and 'input_length' exclude each other")
            if self.n_cols == 0:
                raise ValueError("options['repeat_input'] needs a previous episode; call reset() first")
        else:
            self.input_grid = self._generate_input(self._draw_length(options))
            self.target = self._target_from_input(self.input_grid)
            self._cache_episode_data()
        self.time_limit = self._time_limit()
        self.head_row = self.head_col = 0
        self.output = []
        self.n_written = 0
        self.time = 0
        self.episode_return = 0.0
        self.episode_over = False
        return self._read(self.head_row, self.head_col), self._info()

    def replica(self) -> AlgorithmicEnv:
        """A copy that plays on from the current state by itself, at a fraction of ``copy.deepcopy``'s cost.

        It has its own episode state, output and curriculum window; it shares what neither side changes in
        place: the input, target and spaces, and the random generator, so it must only be reset with
        ``options={"repeat_input": True}`` (which draws nothing), as the learner's sampling copies are.
        """
        twin = copy.copy(self)
        twin.output = list(self.output)
        twin._shortfalls = deque(self._shortfalls, maxlen=self.curriculum_window)
        return twin

    def _cache_episode_data(self) -> None:
        """Python copies of the input and target, which ``step`` reads (a numpy scalar costs more)."""
        self._rows = self.input_grid.tolist()
        self._target = self.target.tolist()
        self._n_cols = self.input_grid.shape[1]

    def _draw_length(self, options: dict | None) -> int:
        if options and "input_length" in options:
            length = options["input_length"]
            if not isinstance(length, (int, np.integer)) or length < 1:
                raise ValueError(f"options['input_length'] must be a positive int, got {length!r}")
            return int(length)
        return int(self.np_random.integers(self.min_length, self.min_length + self.length_spread + 1))

    def step(self, action):
        move, write, symbol = self._validate_action(action)
        if self.episode_over:
            raise RuntimeError("the episode has ended (or never started); call reset() before step()")
        self.time += 1
        reward, terminated = 0.0, False
        if write:
            self.output.append(symbol)
            if symbol == self._target[self.n_written]:
                reward = CORRECT_REWARD
                self.n_written += 1
                terminated = self.n_written == len(self._target)
            else:
                reward, terminated = WRONG_REWARD, True
        self._move(move)
        truncated = self.time > self.time_limit
        if truncated:  # the time-out overrides whatever this step wrote
            reward, terminated = TIMEOUT_REWARD, False
        self.episode_return += reward
        if terminated or truncated:
            self.episode_over = True
            self.record_shortfall(self.episode_return - len(self._target))
        return self._read(self.head_row, self.head_col), reward, terminated, truncated, self._info()

    def _validate_action(self, action) -> tuple[int, int, int]:
        # The common case, three Python ints in range (what the sampling loop passes), is checked here
        # directly; gym's Tuple.contains costs ~10x the rest of the step. Anything else takes the full check.
        if type(action) in (list, tuple) and len(action) == 3:
            move, write, symbol = action
            if (type(move) is int and type(write) is int and type(symbol) is int
                    and 0 <= move < self.n_moves and 0 <= write <= 1 and 0 <= symbol < self.base):
                return move, write, symbol
        try:
            valid = self.action_space.contains(action)
        except (TypeError, OverflowError):  # e.g. a 0-d array, or an int too large for int64
            valid = False
        if not valid:
            moves = ", ".join(f"{i}={name}" for i, name in enumerate(MOVE_NAMES[: self.n_moves]))
            raise ValueError(
                f"invalid action {action!r}: expected (move, write, symbol) in {self.action_space} "
                f"(moves {moves}; write 0 or 1; symbol 0..{self.base - 1})"
            )
        return tuple(int(part) for part in action)

    def _move(self, move: int) -> None:
        d_row, d_col = MOVE_DELTAS[move]
        self.head_row += d_row
        self.head_col += d_col

    def _read(self, row: int, col: int) -> int:
        if 0 <= row < self.n_rows and 0 <= col < self._n_cols:
            return self._rows[row][col]
        return self.base

    def _info(self) -> dict:
        return {
            "min_length": self.min_length,
            "input_length": self._n_cols,
            "target_length": len(self._target),
            "n_written": self.n_written,
            "solved": self.n_written == len(self._target) and self.time <= self.time_limit,
            "max_return": float(len(self._target)),
            "time": self.time,
            "time_limit": self.time_limit,
        }

    # --- curriculum ------------------------------------------------------------------------

    def record_shortfall(self, shortfall: float) -> None:
        """Enter one episode's shortfall (return - target length) into the curriculum; a training loop
        that plays copies of this env reports their episodes here."""
        self._shortfalls.append(float(shortfall))
        window_full = len(self._shortfalls) == self.curriculum_window
        below_cap = self.length_cap is None or self.min_length < self.length_cap
        if window_full and below_cap and min(self._shortfalls) >= self.promotion_shortfall:
            self.min_length += 1
            self._shortfalls.clear()

    def curriculum_state(self) -> dict:
        """The curriculum's progress, as plain JSON-friendly values."""
        return {"min_length": self.min_length, "shortfalls": list(self._shortfalls)}

    def load_curriculum_state(self, state: dict) -> None:
        """Restore what ``curriculum_state`` returned (only the newest ``curriculum_window`` shortfalls are kept)."""
        min_length = state["min_length"]
        if not isinstance(min_length, (int, np.integer)) or min_length < 1:
            raise ValueError(f"curriculum min_length must be a positive int, got {min_length!r}")
        if self.length_cap is not None and min_length > self.length_cap:
            raise ValueError(f"curriculum min_length {min_length} is above length_cap {self.length_cap}")
        self.min_length = int(min_length)
        self._shortfalls = deque((float(s) for s in state["shortfalls"]), maxlen=self.curriculum_window)

    # --- rendering -------------------------------------------------------------------------

    def _char(self, symbol: int) -> str:
        if symbol == self.base:
            return " "
        return chr(ord("A") + symbol) if self.render_as_letters else str(symbol)

    def render(self):
        """The input with the head in brackets (a blank border, widened to the head), then target and output."""
        if self.render_mode != "ansi":
            return None
        if self.n_moves == 4:
            rows = range(min(-1, self.head_row), max(self.n_rows, self.head_row) + 1)
        else:
            rows = range(self.n_rows)
        lines = []
        for row in rows:
            cells = []
            for col in range(min(-1, self.head_col), max(self.n_cols, self.head_col) + 1):
                char = self._char(self._read(row, col))
                cells.append(f"[{char}]" if (row, col) == (self.head_row, self.head_col) else f" {char} ")
            lines.append("".join(cells))
        lines.append("target: " + "".join(self._char(s) for s in self.target))
        lines.append("output: " + "".join(self._char(s) for s in self.output))
        lines.append(f"step {self.time}/{self.time_limit}, min_length {self.min_length}")
        return "\n".join(lines)


class CopyEnv(AlgorithmicEnv):
    """Copy the input tape: target = input (base 5)."""

    def _target_from_input(self, input_grid):
        return input_grid[0].copy()


class DuplicatedInputEnv(AlgorithmicEnv):
    """Each target symbol appears ``duplication`` times in a row on the input; write it once (base 5).

    The drawn length is rounded down to a multiple of ``duplication`` (at least one group).
    """

    def __init__(self, duplication: int = 2, **kwargs):
        if duplication < 1:
            raise ValueError(f"duplication must be at least 1, got {duplication}")
        self.duplication = duplication
        super().__init__(**kwargs)

    def _generate_input(self, length):
        n_groups = max(1, length // self.duplication)
        symbols = self.np_random.integers(self.base, size=n_groups, dtype=np.int64)
        return np.repeat(symbols, self.duplication)[None, :]

    def _target_from_input(self, input_grid):
        return input_grid[0, :: self.duplication].copy()


class RepeatCopyEnv(AlgorithmicEnv):
    """Write the input, then the input reversed, then the input again (base 5).

    As in the classic ``repeat_copy.py``: a curriculum window of 50 episodes and threshold -0.1.
    """

    default_curriculum_window = 50
    default_promotion_shortfall = -0.1

    def _target_from_input(self, input_grid):
        tape = input_grid[0]
        return np.concatenate([tape, tape[::-1], tape])


class ReverseEnv(AlgorithmicEnv):
    """Write the input reversed (base 2).

    As in the classic ``reverse.py``: lengths start at 1, a curriculum window of 50 episodes and
    threshold -0.1.
    """

    default_base = 2
    default_min_length = 1
    default_curriculum_window = 50
    default_promotion_shortfall = -0.1

    def _target_from_input(self, input_grid):
        return input_grid[0, ::-1].copy()


class ReversedAdditionEnv(AlgorithmicEnv):
    """Each row holds a number, least significant digit first; write their sum the same way (base 3).

    The target has one digit per column plus the final carry's digits, if any. The time limit is
    ``2 n_cols + 4`` whatever the target's length (the classic ``reversed_addition.py`` keeps this
    quirk: one step fewer than the shared rule when there is a final carry).
    """

    default_base = 3
    n_rows = 2
    n_moves = 4
    render_as_letters = False

    def _time_limit(self):
        return 2 * self.n_cols + EXTRA_STEPS

    def _target_from_input(self, input_grid):
        digits, carry = [], 0
        for column in input_grid.T:
            carry, digit = divmod(int(column.sum()) + carry, self.base)
            digits.append(digit)
        while carry:
            carry, digit = divmod(carry, self.base)
            digits.append(digit)
        return np.array(digits, dtype=np.int64)


class ReversedAddition3Env(ReversedAdditionEnv):
    """ReversedAddition with three numbers.

    Reading a column takes three steps, so as in the classic suite (whose code notes it) inputs of
    more than 4 columns, or of 4 columns with a final carry, cannot be solved within the time limit
    ``2 n_cols + 4``: 3 n_cols steps plus one per carry digit are needed.
    """

    n_rows = 3


TASKS = ("Copy", "DuplicatedInput", "RepeatCopy", "Reverse", "ReversedAddition", "ReversedAddition3")
"""Short task names accepted in configs."""
ENV_CLASSES = {
    "Copy": CopyEnv,
    "DuplicatedInput": DuplicatedInputEnv,
    "RepeatCopy": RepeatCopyEnv,
    "Reverse": ReverseEnv,
    "ReversedAddition": ReversedAdditionEnv,
    "ReversedAddition3": ReversedAddition3Env,
}
ENV_IDS = {task: f"rlrepro/{task}-v0" for task in TASKS}
"""Short task name -> Gymnasium id."""

for _task, _env_id in ENV_IDS.items():
    # The environments enforce their own time limit, so no TimeLimit wrapper.
    gym.register(id=_env_id, entry_point=ENV_CLASSES[_task], max_episode_steps=None)

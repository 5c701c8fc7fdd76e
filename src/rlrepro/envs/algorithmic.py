"""The classic algorithmic tasks as Gymnasium environments.

Copy, DuplicatedInput, RepeatCopy, Reverse, ReversedAddition and ReversedAddition3 left gym in
0.20 without a maintained Gymnasium port; they are rewritten here from their described behaviour.
Each task has an input written on a tape (a one-row grid) or on a grid of several rows, a read
head on it, and a target sequence that the agent must write one symbol at a time.

Conventions shared by every task:

* Observation: the symbol under the read head, or the blank symbol ``base`` when the head is off
  the input, so ``observation_space = Discrete(base + 1)``.
* Action: ``(move, write, symbol)`` in ``Tuple(Discrete(n_moves), Discrete(2), Discrete(base))``.
  Moves are ``LEFT, RIGHT`` on tapes and ``LEFT, RIGHT, UP, DOWN`` on grids. Within a step the
  symbol is written first (when ``write == 1``), then the head moves. Lists and 1-D integer arrays
  of three entries are accepted too; anything outside the space raises ``ValueError``.
* Head: starts on the first input cell (row 0, column 0) and may stand one cell beyond the input
  on every side (columns -1..n_cols, and rows -1..n_rows on grids), where it reads blank; a move
  further out leaves it where it is.
* Reward: +1 for writing the next target symbol (the episode terminates once the whole target is
  written), -0.5 for a wrong symbol (terminates), 0 for writing nothing.
* Time limit: ``n_cols + target_length + 4`` steps (``n_cols`` is the tape length, or the number of
  grid columns). The step that reaches the limit without otherwise ending the episode gets reward
  -1 (in place of that step's reward) and returns ``terminated=False, truncated=True``: the step
  count is not observed, so by Gymnasium's convention the cut is a truncation.
* Lengths: each ``reset`` draws ``n_cols`` uniformly from ``[min_length, min_length +
  length_spread]`` (never above ``max_length``); ``options={"input_length": n}`` fixes it instead.
* Repeats: ``options={"repeat_input": True}`` starts the new episode on the previous episode's input
  and target, drawing nothing (no random numbers, no length); such episodes count in the curriculum
  like any other. It lets a learner sample several attempts at one input.
* Curriculum: when an episode ends (terminated or truncated), its shortfall ``return -
  target_length`` (0 when perfect) joins a window of the last ``curriculum_window`` shortfalls.
  Once the window is full and every entry is above ``promotion_shortfall``, ``min_length`` grows by
  one (never above ``max_length``) and the window is emptied. With these rewards any shortfall
  above -1 means a perfect episode. Episodes cut short by an early ``reset`` are not counted.
  The state belongs to the instance; ``curriculum_state`` / ``load_curriculum_state`` checkpoint it.
"""

from __future__ import annotations

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
"""Steps allowed beyond ``n_cols + target_length``."""


class AlgorithmicEnv(gym.Env):
    """Tape or grid, read head, rewards, time limit and length curriculum shared by the tasks.

    Subclasses set ``default_base``, ``n_rows``, ``n_moves`` and implement ``_target_from_input``
    (and ``_generate_input`` when the input is not uniformly random).
    """

    metadata: ClassVar[dict] = {"render_modes": ["ansi"], "render_fps": 4}
    default_base = 5
    default_min_length = 2
    n_rows = 1
    n_moves = 2
    render_as_letters = True

    def __init__(
        self,
        min_length: int | None = None,
        max_length: int | None = None,
        length_spread: int = 2,
        curriculum_window: int = 10,
        promotion_shortfall: float = -1.0,
        base: int | None = None,
        render_mode: str | None = None,
    ):
        """
        Args:
            min_length: starting minimum input length (default 2; 1 for Reverse).
            max_length: ceiling on every input length and on ``min_length``; None for no ceiling.
            length_spread: input lengths are drawn from ``[min_length, min_length + length_spread]``.
            curriculum_window: number of recent episodes judged for promotion.
            promotion_shortfall: promote when every shortfall in a full window is above this.
            base: number of symbols (default 5 for the tape tasks, 2 for Reverse, 3 for addition).
            render_mode: None or "ansi".
        """
        self.base = self.default_base if base is None else base
        self.min_length = self.default_min_length if min_length is None else min_length
        self.max_length = max_length
        self.length_spread = length_spread
        self.curriculum_window = curriculum_window
        self.promotion_shortfall = float(promotion_shortfall)
        self.render_mode = render_mode
        if self.base < 2:
            raise ValueError(f"base must be at least 2, got {self.base}")
        if self.min_length < 1 or length_spread < 0 or curriculum_window < 1:
            raise ValueError("need min_length >= 1, length_spread >= 0 and curriculum_window >= 1")
        if max_length is not None and max_length < self.min_length:
            raise ValueError(f"max_length {max_length} is below min_length {self.min_length}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"unknown render_mode {render_mode!r}; allowed: {self.metadata['render_modes']}")

        self.observation_space = gym.spaces.Discrete(self.base + 1)
        self.action_space = gym.spaces.Tuple(
            (gym.spaces.Discrete(self.n_moves), gym.spaces.Discrete(2), gym.spaces.Discrete(self.base))
        )
        self._shortfalls: deque[float] = deque(maxlen=curriculum_window)

        self.input_grid = np.zeros((self.n_rows, 0), dtype=np.int64)
        self.target = np.zeros(0, dtype=np.int64)
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

    # --- episode ---------------------------------------------------------------------------

    @property
    def n_cols(self) -> int:
        return self.input_grid.shape[1]

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
        self.time_limit = self.n_cols + len(self.target) + EXTRA_STEPS
        self.head_row = self.head_col = 0
        self.output = []
        self.n_written = 0
        self.time = 0
        self.episode_return = 0.0
        self.episode_over = False
        return self._read(self.head_row, self.head_col), self._info()

    def _draw_length(self, options: dict | None) -> int:
        if options and "input_length" in options:
            length = options["input_length"]
            if not isinstance(length, (int, np.integer)) or length < 1:
                raise ValueError(f"options['input_length'] must be a positive int, got {length!r}")
            return int(length)
        longest = self.min_length + self.length_spread
        if self.max_length is not None:
            longest = min(longest, self.max_length)
        return int(self.np_random.integers(self.min_length, longest + 1))

    def step(self, action):
        move, write, symbol = self._validate_action(action)
        if self.episode_over:
            raise RuntimeError("the episode has ended (or never started); call reset() before step()")
        self.time += 1
        reward, terminated = 0.0, False
        if write:
            self.output.append(symbol)
            if symbol == self.target[self.n_written]:
                reward = CORRECT_REWARD
                self.n_written += 1
                terminated = self.n_written == len(self.target)
            else:
                reward, terminated = WRONG_REWARD, True
        self._move(move)
        truncated = not terminated and self.time >= self.time_limit
        if truncated:
            reward = TIMEOUT_REWARD
        self.episode_return += reward
        if terminated or truncated:
            self.episode_over = True
            self.record_shortfall(self.episode_return - len(self.target))
        return self._read(self.head_row, self.head_col), reward, terminated, truncated, self._info()

    def _validate_action(self, action) -> tuple[int, int, int]:
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
        self.head_row = int(np.clip(self.head_row + d_row, -1, self.n_rows))
        self.head_col = int(np.clip(self.head_col + d_col, -1, self.n_cols))

    def _read(self, row: int, col: int) -> int:
        if 0 <= row < self.n_rows and 0 <= col < self.n_cols:
            return int(self.input_grid[row, col])
        return self.base

    def _info(self) -> dict:
        return {
            "min_length": self.min_length,
            "input_length": self.n_cols,
            "target_length": len(self.target),
            "n_written": self.n_written,
            "max_return": float(len(self.target)),
            "time": self.time,
            "time_limit": self.time_limit,
        }

    # --- curriculum ------------------------------------------------------------------------

    def record_shortfall(self, shortfall: float) -> None:
        """Enter one episode's shortfall (return - target length) into the curriculum; a training loop
        that plays copies of this env reports their episodes here."""
        self._shortfalls.append(float(shortfall))
        window_full = len(self._shortfalls) == self.curriculum_window
        below_ceiling = self.max_length is None or self.min_length < self.max_length
        if window_full and below_ceiling and min(self._shortfalls) > self.promotion_shortfall:
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
        if self.max_length is not None and min_length > self.max_length:
            raise ValueError(f"curriculum min_length {min_length} is above max_length {self.max_length}")
        self.min_length = int(min_length)
        self._shortfalls = deque((float(s) for s in state["shortfalls"]), maxlen=self.curriculum_window)

    # --- rendering -------------------------------------------------------------------------

    def _char(self, symbol: int) -> str:
        if symbol == self.base:
            return " "
        return chr(ord("A") + symbol) if self.render_as_letters else str(symbol)

    def render(self):
        """The input with the head in brackets (blank border included), then target and output."""
        if self.render_mode != "ansi":
            return None
        rows = range(-1, self.n_rows + 1) if self.n_moves == 4 else range(self.n_rows)
        lines = []
        for row in rows:
            cells = []
            for col in range(-1, self.n_cols + 1):
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
    """Write the input, then the input reversed, then the input again (base 5)."""

    def _target_from_input(self, input_grid):
        tape = input_grid[0]
        return np.concatenate([tape, tape[::-1], tape])


class ReverseEnv(AlgorithmicEnv):
    """Write the input reversed (base 2; as in the classic suite, lengths start at 1)."""

    default_base = 2
    default_min_length = 1

    def _target_from_input(self, input_grid):
        return input_grid[0, ::-1].copy()


class ReversedAdditionEnv(AlgorithmicEnv):
    """Each row holds a number, least significant digit first; write their sum the same way (base 3).

    The target has one digit per column plus the final carry's digits, if any.
    """

    default_base = 3
    n_rows = 2
    n_moves = 4
    render_as_letters = False

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

    Reading a column takes three steps, so as in the classic suite inputs of more than 4 columns
    cannot be solved within the time limit.
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

"""The two gridworlds of MIRL's tabular experiments (Paper A, Figure 1) as Gymnasium environments.

Layouts include the border walls and use (row, col) coordinates; 0 is free, 1 a wall, 2 the goal.
Every reset starts the agent on a free non-goal cell drawn uniformly (the authors confirmed random
starts). Reward is -1 per step and +9 on entering the goal, which ends the episode. Moving into a
wall leaves the agent in place. Training episodes have no step cap; evaluation caps them itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
ACTION_NAMES = ("up", "right", "down", "left")
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))
STEP_REWARD = -1.0
GOAL_REWARD = 9.0


@dataclass(frozen=True)
class Layout:
    """A gridworld map and what counts as the 'correct action' for the paper's third column."""

    name: str
    grid: tuple[tuple[int, ...], ...]
    correct_actions: dict[tuple[int, int], int] | None
    """Cells whose action is scored, and the correct action there; None scores every cell."""
    correct_action_default: int | None = None
    """The correct action in every cell when ``correct_actions`` is None."""


def _corridor() -> Layout:
    rows, cols = 3, 20
    grid = np.ones((rows, cols), dtype=int)
    grid[1, 1:cols - 1] = 0
    grid[1, 18] = 2
    return Layout("corridor", tuple(map(tuple, grid.tolist())), None, RIGHT)


def _left_once() -> Layout:
    grid = np.ones((8, 8), dtype=int)
    grid[1:7, 1:7] = 0
    for cell in [(2, 4), (2, 5), (3, 4), (4, 4), (4, 5)]:
        grid[cell] = 1
    grid[3, 5] = 2
    return Layout("left_once", tuple(map(tuple, grid.tolist())), {(3, 6): LEFT})


LAYOUTS = {"corridor": _corridor(), "left_once": _left_once()}
"""Environment names accepted in configs: the 3x20 corridor and the 8x8 'left exactly once' grid."""


class GridWorld(gym.Env):
    """A deterministic gridworld; observations are flat cell indices ``row * ncols + col``."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, layout: str = "corridor", render_mode: str | None = None):
        if layout not in LAYOUTS:
            raise ValueError(f"unknown gridworld layout {layout!r}; allowed: {sorted(LAYOUTS)}")
        self.layout = LAYOUTS[layout]
        self.grid = np.array(self.layout.grid, dtype=int)
        self.n_rows, self.n_cols = self.grid.shape
        self.n_states = self.grid.size
        self.n_actions = len(MOVES)
        self.observation_space = gym.spaces.Discrete(self.n_states)
        self.action_space = gym.spaces.Discrete(self.n_actions)
        self.render_mode = render_mode
        self.start_states = np.flatnonzero(self.grid.ravel() == 0)
        self.goal_states = np.flatnonzero(self.grid.ravel() == 2)
        self.next_state, self.reward, self.terminal = self._transition_tables()
        self.scored_action = self._scored_actions()
        self.state = int(self.start_states[0])

    def _transition_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        next_state = np.zeros((self.n_states, self.n_actions), dtype=np.int64)
        reward = np.full((self.n_states, self.n_actions), STEP_REWARD)
        for s in range(self.n_states):
            r, c = divmod(s, self.n_cols)
            for a, (dr, dc) in enumerate(MOVES):
                nr, nc = r + dr, c + dc
                # Walls are never occupied; their rows only keep the tables rectangular.
                if self.grid[r, c] == 1 or self.grid[nr, nc] == 1:
                    nr, nc = r, c
                next_state[s, a] = nr * self.n_cols + nc
                if self.grid[nr, nc] == 2:
                    reward[s, a] = GOAL_REWARD
        terminal = self.grid.ravel() == 2
        return next_state, reward, terminal

    def _scored_actions(self) -> np.ndarray:
        """Per state, the correct action (or -1 where the state is not scored)."""
        scored = np.full(self.n_states, -1, dtype=np.int64)
        if self.layout.correct_actions is None:
            scored[self.start_states] = self.layout.correct_action_default
        else:
            for (r, c), a in self.layout.correct_actions.items():
                scored[r * self.n_cols + c] = a
        return scored

    def cell(self, state: int) -> tuple[int, int]:
        return divmod(int(state), self.n_cols)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state = int(self.np_random.choice(self.start_states))
        return self.state, {}

    def step(self, action):
        if not (isinstance(action, (int, np.integer)) and 0 <= action < self.n_actions):
            raise ValueError(f"invalid action {action!r}; allowed: 0..{self.n_actions - 1} {ACTION_NAMES}")
        s = self.state
        self.state = int(self.next_state[s, action])
        return self.state, float(self.reward[s, action]), bool(self.terminal[self.state]), False, {}

    def render(self):
        chars = {0: ".", 1: "#", 2: "G"}
        rows = [[chars[v] for v in row] for row in self.grid]
        r, c = self.cell(self.state)
        rows[r][c] = "A"
        return "\n".join("".join(row) for row in rows)

    def get_state(self) -> dict:
        """Everything needed to resume the environment exactly (position and RNG)."""
        return {"state": self.state, "rng": self.np_random.bit_generator.state}

    def set_state(self, saved: dict) -> None:
        self.state = int(saved["state"])
        self.np_random.bit_generator.state = saved["rng"]


for _name in LAYOUTS:
    gym.register(id=f"rlrepro/GridWorld-{_name}-v0", entry_point=GridWorld, kwargs={"layout": _name})

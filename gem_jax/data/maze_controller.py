"""The D4RL maze2d / Minari pointmaze data-collection controller.

Value iteration on the maze's cell grid gives, for every goal cell, the next cell to
visit from every free cell; a PD controller `a = 10 (target - pos) - 1 * vel` follows
those waypoints, switching to the next one within 0.1 of the current one. Intermediate
waypoints are cell centres minus a uniform jitter `U[0, 1)^2 * 0.2` (the published
controllers, D4RL `waypoint_controller.py` and Minari's `controller.py`, both subtract
it); the first waypoint after a new goal is the bare cell centre and the last one is the
goal itself. Used on the maze's own `Maze` object from gymnasium-robotics.

The same planner drives the AntMaze data (Minari `scripts/antmaze/controller.py`): there the
waypoint threshold is 0.45 and the waypoint is fed to a goal-reaching ant policy instead of
the PD law, so `WaypointController.target` exposes the waypoint on its own.
"""

from __future__ import annotations

import numpy as np

MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)])  # up, down, left, right in (row, col)
P_GAIN = 10.0
D_GAIN = -1.0
WAYPOINT_THRESHOLD = 0.1
JITTER = 0.2
DISCOUNT = 0.99


def free_cells(maze_map: list[list]) -> np.ndarray:
    """[H, W] bool: cells that are not walls (walls are the integer 1)."""
    return np.array([[cell != 1 for cell in row] for row in maze_map], bool)


def next_cell_table(free: np.ndarray, discount: float = DISCOUNT) -> np.ndarray:
    """Value iteration toward each goal cell: table[gr, gc, r, c] = next (row, col).

    V(goal) = 1 and V(s) = discount * max_a V(s + move_a) (a move into a wall stays put),
    iterated to convergence; the greedy move breaks ties in `MOVES` order.
    Returns int [H, W, H, W, 2] (entries for wall cells are meaningless).
    """
    height, width = free.shape
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    targets = []
    for dr, dc in MOVES:  # successor of every cell under each move: [4, H, W]
        r, c = np.clip(rows + dr, 0, height - 1), np.clip(cols + dc, 0, width - 1)
        blocked = ~free[r, c]
        targets.append((np.where(blocked, rows, r), np.where(blocked, cols, c)))
    succ_r = np.stack([t[0] for t in targets])  # [4, H, W]
    succ_c = np.stack([t[1] for t in targets])
    table = np.zeros((height, width, height, width, 2), np.int64)
    for gr, gc in zip(*np.nonzero(free), strict=True):
        value = np.zeros((height, width))
        value[gr, gc] = 1.0
        for _ in range(height * width):
            new = discount * value[succ_r, succ_c].max(axis=0)  # [H, W]
            new[gr, gc] = 1.0
            new[~free] = 0.0
            if np.array_equal(new, value):
                break
            value = new
        best = value[succ_r, succ_c].argmax(axis=0)  # [H, W]
        table[gr, gc, ..., 0] = np.take_along_axis(succ_r, best[None], 0)[0]
        table[gr, gc, ..., 1] = np.take_along_axis(succ_c, best[None], 0)[0]
    return table


class WaypointController:
    """Stateful waypoint follower over a gymnasium-robotics `Maze` (host-side, per step)."""

    def __init__(
        self, maze, rng: np.random.Generator, waypoint_threshold: float = WAYPOINT_THRESHOLD
    ):
        self.maze = maze
        self.rng = rng
        self.waypoint_threshold = float(waypoint_threshold)
        self.table = next_cell_table(free_cells(maze.maze_map))
        self.goal_xy: np.ndarray | None = None
        self.goal_cell = (0, 0)
        self.target_cell = (0, 0)
        self.target_xy = np.zeros(2)

    def _cell(self, xy: np.ndarray) -> tuple[int, int]:
        row, col = self.maze.cell_xy_to_rowcol(xy)
        return int(row), int(col)

    def _new_goal(self, achieved: np.ndarray, desired: np.ndarray) -> None:
        self.goal_xy = desired.copy()
        self.goal_cell = self._cell(desired)
        start = self._cell(achieved)
        if start == self.goal_cell:
            self.target_cell, self.target_xy = self.goal_cell, self.goal_xy
        else:
            nxt = self.table[self.goal_cell][start]
            self.target_cell = (int(nxt[0]), int(nxt[1]))
            self.target_xy = self.maze.cell_rowcol_to_xy(np.array(self.target_cell))

    def reset(self) -> None:
        """Forget the current goal: the next call plans from the agent's cell again."""
        self.goal_xy = None

    def target(self, obs: dict) -> np.ndarray:
        """The current waypoint [2] for a maze dict observation, advancing it when reached."""
        achieved, desired = obs["achieved_goal"], obs["desired_goal"]
        if self.goal_xy is None or np.linalg.norm(self.goal_xy - desired) > 1e-3:
            self._new_goal(achieved, desired)
        at_target = np.linalg.norm(self.target_xy - achieved) <= self.waypoint_threshold
        if at_target and self.target_cell != self.goal_cell:
            nxt = self.table[self.goal_cell][self.target_cell]
            self.target_cell = (int(nxt[0]), int(nxt[1]))
            if self.target_cell == self.goal_cell:
                self.target_xy = self.goal_xy
            else:
                centre = self.maze.cell_rowcol_to_xy(np.array(self.target_cell))
                self.target_xy = centre - self.rng.uniform(size=(2,)) * JITTER
        return self.target_xy

    def __call__(self, obs: dict) -> np.ndarray:
        """PD action (before noise and clipping) for a PointMaze dict observation."""
        target = self.target(obs)
        return P_GAIN * (target - obs["achieved_goal"]) + D_GAIN * obs["observation"][2:]

"""Where maze policies go: per-episode paths from a host rollout's records, whether each
reached the goal, and the paths drawn over the maze (behind experiments/probes/maze_trace.py)."""

from __future__ import annotations

import pathlib
import textwrap

import numpy as np

from gem_jax.data.conventions import MAZE_SPARSE_RADIUS as GOAL_RADIUS  # the success radius


def split_paths(step_info: list, step_obs: list, num_episodes: int) -> list[np.ndarray]:
    """Per-episode xy paths `[T_e, 2]` from `rollout_gym`'s records: at step t,
    `step_obs[t]` holds the observations `[E_alive, O]` of the envs alive in
    `step_info[t]["alive"]` `[E]`, in order."""
    paths = [[] for _ in range(num_episodes)]
    for info, obs in zip(step_info, step_obs, strict=True):
        for row, episode in enumerate(np.flatnonzero(info["alive"])):
            paths[episode].append(obs[row, :2])
    return [np.asarray(p, np.float64).reshape(-1, 2) for p in paths]


def reached_goal(path: np.ndarray, length: int, limit: int, goal: np.ndarray) -> bool:
    """Whether an episode reached the goal: a recorded position within the success radius,
    or an end before `limit` steps (AntMaze ends on success, and its last position, after
    the final step, is not in `path`)."""
    near = len(path) > 0 and bool(np.min(np.hypot(*(path - goal).T)) <= GOAL_RADIUS)
    return near or length < limit


def maze_walls(env) -> list[tuple[float, float, float]]:
    """`(x, y, size)` of each wall block of a gymnasium-robotics maze (centre, side)."""
    maze = env.unwrapped.maze
    return [(*map(float, maze.cell_rowcol_to_xy(np.array([i, j]))), float(maze.maze_size_scaling))
            for i, row in enumerate(maze.maze_map) for j, cell in enumerate(row) if cell == 1]


def plot(panels: dict, walls: list, goal: np.ndarray, path: pathlib.Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4), squeeze=False)
    colors = plt.get_cmap("tab10").colors
    for ax, (variant, seeds) in zip(axes[0], panels.items(), strict=True):
        for x, y, size in walls:
            ax.add_patch(plt.Rectangle((x - size / 2, y - size / 2), size, size, color="0.8"))
        ax.add_patch(plt.Circle(goal, GOAL_RADIUS, color="green", alpha=0.4))
        reached = total = 0
        for i, episodes in enumerate(seeds):
            for e in episodes:
                xy = np.asarray(e["path"])
                ax.plot(xy[:, 0], xy[:, 1], color=colors[i % 10], lw=0.8, alpha=0.8,
                        label=f"seed {i}" if e is episodes[0] else None)
                ax.plot(*xy[0], "s", color=colors[i % 10], ms=3)
                ax.plot(*xy[-1], "o" if e["success"] else "x", color=colors[i % 10], ms=6)
                reached, total = reached + e["success"], total + 1
        ax.set_title(f"{variant}: {reached}/{total} reach the goal")
        ax.set_aspect("equal")
        ax.autoscale_view()
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(loc="best", fontsize=7)
    fig.suptitle(textwrap.fill(title, 44 * len(panels)))  # one narrow panel: two lines
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

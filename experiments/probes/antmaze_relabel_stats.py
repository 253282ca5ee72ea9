"""What relabelling antmaze rewards to the one evaluation goal does to a build (the antmaze
results README): the share of steps rewarded before and after, and of episodes that pass
the goal.

    python experiments/probes/antmaze_relabel_stats.py \
        > experiments/results/antmaze/relabel_stats.json
"""

from __future__ import annotations

import json
import sys

import minari
import numpy as np

from gem_jax.data import load_dataset
from gem_jax.data.envs import antmaze_goal


def stats(name: str) -> dict:
    ds = load_dataset(name, progress=False)
    episodes = minari.load_dataset(ds.dataset_id).iterate_episodes()
    raw = np.concatenate([e.rewards for e in episodes])  # toward each episode's own goal
    relabelled = ds.batch.rewards + 1.0  # the loader's, toward the eval goal (minus IQL's -1)
    reach = np.zeros(ds.num_episodes, bool)
    reach[ds.episode_ids[relabelled > 0]] = True
    return {"eval_goal": antmaze_goal(ds.dataset_id).tolist(), "steps": int(raw.size),
            "episodes": int(ds.num_episodes), "rewarded_raw": float(raw.mean()),
            "rewarded_relabelled": float(relabelled.mean()),
            "episodes_reaching_eval_goal": float(reach.mean())}


if __name__ == "__main__":
    names = sys.argv[1:] or ["antmaze-umaze", "antmaze-umaze-diverse"]
    json.dump({name: stats(name) for name in names}, sys.stdout, indent=2)

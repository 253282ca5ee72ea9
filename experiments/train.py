"""Placeholder demo until the data/CLI layer lands: trains GEM on the two-mode toy."""

import json
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gem_jax import GEMConfig, SelectKnobs, audits, init_state, make_policy, policy_params  # noqa: E402
from gem_jax.toy import two_mode_bandit  # noqa: E402
from gem_jax.train import make_fused_train_step  # noqa: E402


def main():
    workdir = "runs/demo"
    os.makedirs(workdir, exist_ok=True)
    cfg = GEMConfig(hidden_dims=(64, 64), num_components=2, behavior_num_components=2,
                    steps_per_call=500, num_candidates=64)
    data = two_mode_bandit(jax.random.PRNGKey(0), 8192)
    state = init_state(jax.random.PRNGKey(cfg.seed), cfg, 2, 1)
    loop = make_fused_train_step(cfg)
    for _ in range(6):
        state, metrics = loop(state, data)
    policy = make_policy(cfg)
    obs = jax.random.uniform(jax.random.PRNGKey(1), (256, 2), minval=-1, maxval=1)
    actions, info = policy(policy_params(state), obs, jax.random.PRNGKey(2), 0,
                           SelectKnobs.from_config(cfg))
    summary = {"dataset": "two-mode toy (synthetic)", "steps": int(state.step),
               "mean_abs_action": float(np.abs(np.asarray(actions)).mean()),
               **audits.summarize(info, cfg.z_thresh)}
    with open(os.path.join(workdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

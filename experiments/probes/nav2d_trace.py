"""Where a trained nav2d policy goes, and what selection sees where it stops.

    python experiments/probes/nav2d_trace.py --workdir=runs/demo
    python experiments/probes/nav2d_trace.py --workdir=runs/nav2d --step=20000 --num_candidates=64

Rolls out one episode per seed of the run (same start and keys for every seed) with the
run's selection (method §3; `--num_candidates`, `--lcb_lambda`, `--beta_start` override it),
and draws the paths over the map with the two behavior routes (the EMPO paper, App. A). At each
path's last position it evaluates eight unit directions (plus "stay"): the critic
ensemble's mean and std and the behavior log-likelihood log mu(a|s), i.e. the two terms
of the score. A path that ends far from the goal with flat Q and two likely opposite
directions is a policy dithering where the behaviors cross. Writes `trace.png` and
`trace.json` to `--out` (default `<workdir>/trace`).
"""

from __future__ import annotations

from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A nav2d run directory written by experiments/train.py.")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
flags.DEFINE_integer("num_candidates", None, "N (default: the run's).")
flags.DEFINE_float("lcb_lambda", None, "LCB lambda (default: the run's).")
flags.DEFINE_float("beta_start", None, "beta_0 of the support schedule (default: the run's).")
flags.DEFINE_integer("seed", 0, "Seed of the start state and the selection keys.")
flags.DEFINE_string("out", None, "Output directory (default: <workdir>/trace).")

# Eight unit directions and "stay", in normalised action units ([-1, 1]^2). [9, 2]
DIRECTIONS = {
    "E": (1.0, 0.0), "NE": (0.7071, 0.7071), "N": (0.0, 1.0), "NW": (-0.7071, 0.7071),
    "W": (-1.0, 0.0), "SW": (-0.7071, -0.7071), "S": (0.0, -1.0), "SE": (0.7071, -0.7071),
    "stay": (0.0, 0.0),
}


def trace(policy, params, knobs, key, scale):
    """One nav2d episode: positions [T, 2] and alive mask [T] (pure, jittable)."""
    import jax
    import jax.numpy as jnp

    from gem_jax.envs import nav2d

    reset_key, act_key = jax.random.split(key)
    state, obs = nav2d.reset(reset_key)

    def body(carry, t):
        state, obs, alive, key = carry
        key, step_key = jax.random.split(key)
        action, _ = policy(params, obs[None], step_key, t, knobs)  # [1, A]
        state, obs, _, term, trunc = nav2d.step(state, action[0] * scale)
        carry = (state, obs, alive & ~(term | trunc), key)
        return carry, (obs, alive)

    carry = (state, obs, jnp.array(True), act_key)
    _, (positions, alive) = jax.lax.scan(body, carry, jnp.arange(nav2d.MAX_EPISODE_STEPS))
    return positions, alive  # [T, 2], [T]


def score_terms(nets, params, position):
    """Critic mean/std and behavior log-lik of each direction at one raw position."""
    import jax.numpy as jnp

    from gem_jax.method import gmm

    obs = (jnp.asarray(position) - params.obs_norm.mean) / params.obs_norm.std  # [2]
    actions = jnp.asarray(list(DIRECTIONS.values()), jnp.float32)  # [9, 2]
    q = nets.critic_apply(params.critic, jnp.broadcast_to(obs, actions.shape), actions)  # [E, 9]
    log_mu = gmm.log_prob(nets.behavior_apply(params.behavior, obs), actions)  # [9]
    return {name: {"q_mean": float(q[:, i].mean()), "q_std": float(q[:, i].std()),
                   "log_mu": float(log_mu[i])} for i, name in enumerate(DIRECTIONS)}


def plot(paths: list, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from gem_jax.envs import nav2d

    fig, ax = plt.subplots(figsize=(5, 5))
    low, high = nav2d.PENALTY_LOW, nav2d.PENALTY_HIGH
    ax.add_patch(plt.Rectangle(low, high[0] - low[0], high[1] - low[1], color="red",
                               alpha=0.12, label="penalty area"))
    for b, route in enumerate(nav2d.SUBGOALS):
        xy = np.concatenate([[[0.0, 0.0]], route])
        ax.plot(xy[:, 0], xy[:, 1], "--", lw=1, color="grey" if b else "black",
                label=f"behavior {b} route")
    for i, p in enumerate(paths):
        ax.plot(p[:, 0], p[:, 1], lw=1.5, label=f"seed {i}")
        ax.plot(*p[-1], "o", ms=6)
    ax.plot(*nav2d.GOAL, "*", ms=14, color="gold", label="goal")
    ax.set(xlim=(-1, 31), ylim=(-1, 31), aspect="equal", title=title)
    ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def body() -> int:
    import pathlib

    import jax
    import numpy as np

    from gem_jax.envs import nav2d
    from gem_jax.harness import checkpoint as ckpt
    from gem_jax.harness.runlog import write_json
    from gem_jax.harness.runner import check_workdir
    from gem_jax.method.networks import make_networks
    from gem_jax.method.select import SelectKnobs, make_policy, policy_params, seed_params
    from gem_jax.presets import from_config_dict

    if not FLAGS.workdir:
        raise ValueError("--workdir is required: a nav2d run directory.")
    step, meta = ckpt.read_meta(FLAGS.workdir, FLAGS.step)
    if meta.get("suite") != "nav2d":
        raise ValueError(f"{FLAGS.workdir} is a {meta.get('env')} run; this trace is for nav2d.")
    state, meta = ckpt.restore(FLAGS.workdir, step)
    config = from_config_dict(meta["config"])
    knobs = SelectKnobs.from_config(config, lcb_lambda=FLAGS.lcb_lambda,
                                    beta_start=FLAGS.beta_start)
    policy = make_policy(config, FLAGS.num_candidates)
    nets = make_networks(config, nav2d.ACTION_DIM)
    scale = np.asarray(meta["action_scale"], np.float32)
    run = jax.jit(lambda p: trace(policy, p, knobs, jax.random.PRNGKey(FLAGS.seed), scale))
    params = policy_params(state)
    paths, rows = [], []
    for i, seed in enumerate(meta["seeds"]):  # a handful of seeds, at the edge
        p_i = seed_params(params, i)
        positions, alive = map(np.asarray, run(p_i))
        steps = int(alive.sum())
        path = positions[:steps]
        end = path[-1]
        reached = bool(np.linalg.norm(end - np.asarray(nav2d.GOAL)) < nav2d.GOAL_RADIUS)
        paths.append(path)
        rows.append({"seed": seed, "steps": steps, "reached_goal": reached,
                     "end": end.round(3).tolist(),
                     "last_200_steps_span": float(np.ptp(path[-200:], axis=0).max()),
                     "at_end": score_terms(nets, p_i, end)})
        terms = rows[-1]["at_end"]
        print(f"seed {seed}: {steps} steps, reached goal {reached}, ends at {end.round(2)}, "
              f"last 200 steps within {rows[-1]['last_200_steps_span']:.2f}")
        print("  dir    Q mean ± std      log mu")
        for name, t in terms.items():
            print(f"  {name:5s} {t['q_mean']:9.3f} ± {t['q_std']:.3f} {t['log_mu']:8.2f}")
    out = check_workdir(FLAGS.out or pathlib.Path(FLAGS.workdir) / "trace")
    plot(paths, str(out / "trace.png"), f"{meta.get('algo', 'gem')} on nav2d, step {step}")
    write_json(out / "trace.json", {"workdir": str(FLAGS.workdir), "step": step, "rows": rows})
    print(f"-> {out}")
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)

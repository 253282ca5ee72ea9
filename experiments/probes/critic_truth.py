"""Is the critic right about which action is better? Ground truth by one-step deviations.

For maze2d / pointmaze runs (the PointMaze simulator can be put at any state). On
`--num_states` states of every seed, three first actions are compared:

* `a_0`: the run's anchor (N = 0, method §3);
* `a*`: the LCB's argmax over the anchor + `--num_candidates` actor samples (beta = 0,
  what selection does when the critic alone decides);
* `a_data`: the dataset's own action at that state (`--states=dataset` only).

`--states=dataset` (default) samples the dataset's states, where the critic was trained;
`--states=anchor` samples the states the run's anchor visits in `--episodes` evaluation
episodes (env seeds from `--env_seed`), where selection acts.

The run's critic predicts each one's gain over `a_0` (`LCB_lambda`); the truth is the
discounted return of taking it and then following `--follow_workdir`'s anchor (default:
the run's own) for `--horizon` steps (`gem_jax.harness.evaluation.returns_from_states`), minus the
same for `a_0`. `gem_jax.analysis.diagnostics.deviation_report` gives the mean gains, how often the
truth says better / worse, how often the critic's sign is right and the correlation of
predicted and true gains. A critic whose preferences do not show in the truth cannot make
selection over more candidates pay. Writes `<workdir>/critic_truth.{json,md}` (or `--out`).

    python experiments/probes/critic_truth.py --workdir=runs/maze2d_gem --step=100000
"""

from __future__ import annotations

import pathlib

from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run directory of a maze2d / pointmaze run.")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
flags.DEFINE_string("follow_workdir", None, "Run whose anchor acts after the first step "
                    "(default: --workdir); seed i follows seed i.")
flags.DEFINE_string("out", None, "Output path without suffix (default: <workdir>/critic_truth).")
flags.DEFINE_integer("num_states", 64, "Dataset states per seed.")
flags.DEFINE_integer("num_candidates", 64, "Actor samples the LCB's argmax is taken over.")
flags.DEFINE_integer("horizon", 400, "Steps of each Monte-Carlo return.")
flags.DEFINE_float("lcb_lambda", None, "lambda (default: the run's config).")
flags.DEFINE_integer("seed", 0, "Seed of the state sample and the candidate draws.")
flags.DEFINE_enum("states", "dataset", ["dataset", "anchor"], "Where the states come from: "
                  "the dataset, or the run's anchor's own evaluation episodes.")
flags.DEFINE_integer("episodes", 4, "--states=anchor: anchor episodes per seed.")
flags.DEFINE_integer("env_seed", 700_000, "--states=anchor: env seed of the first episode.")
flags.DEFINE_bool("progress", True, "Show a progress bar over seeds.")

ARMS = ("lcb_argmax", "data")


def anchor_states(dataset, policy, params, knobs, key, scale, num_states, rng):
    """`num_states` observations [B, O] drawn from the anchor's own evaluation episodes."""
    import numpy as np

    from gem_jax.harness.evaluation import rollout_gym

    visited: list = []
    rollout_gym(dataset.make_env, policy, params, knobs, key, FLAGS.episodes, scale,
                FLAGS.env_seed, dataset.max_episode_steps, step_obs=visited)
    visited = np.concatenate(visited)  # [steps, O]
    return visited[rng.choice(len(visited), num_states, replace=len(visited) < num_states)]


def body() -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from tqdm.auto import tqdm

    from gem_jax.analysis.diagnostics import deviation_report
    from gem_jax.data.envs import maze2d_set_state
    from gem_jax.harness import checkpoint
    from gem_jax.harness.evaluation import action_scale, returns_from_states
    from gem_jax.harness.runlog import write_report
    from gem_jax.harness.runner import open_dataset
    from gem_jax.method.networks import make_networks
    from gem_jax.method.select import SelectKnobs, lcb, make_policy, policy_params, seed_params
    from gem_jax.presets import from_config_dict

    if not FLAGS.workdir:
        raise ValueError("--workdir is required: a maze2d / pointmaze run written by train.py.")
    state, meta = checkpoint.restore(FLAGS.workdir, FLAGS.step)
    config = from_config_dict(meta["config"])
    follow_dir = FLAGS.follow_workdir or FLAGS.workdir
    follow_state, follow_meta = checkpoint.restore(follow_dir, None if FLAGS.follow_workdir
                                                   else FLAGS.step)
    follow_config = from_config_dict(follow_meta["config"])
    dataset = open_dataset(meta["env"], normalize_observations=config.normalize_observations,
                           progress=False)
    if dataset.suite != "maze2d":
        raise ValueError(f"critic_truth needs a maze run; {FLAGS.workdir} trained on "
                         f"{meta['env']} (only the PointMaze simulator can be set to a state).")
    lam = config.lcb_lambda if FLAGS.lcb_lambda is None else FLAGS.lcb_lambda
    greedy_knobs = SelectKnobs.create(lcb_lambda=lam, beta_start=0.0, beta_end=0.0, horizon=1)
    env = dataset.make_env()
    scale = action_scale(env)
    env.close()
    rng = np.random.default_rng(FLAGS.seed)
    idx = rng.choice(dataset.batch.rewards.shape[0], FLAGS.num_states, replace=False)
    dataset_raw = (dataset.batch.observations[idx] * dataset.obs_std
                   + dataset.obs_mean).astype(np.float32)  # [B, O]
    data_actions = np.clip(dataset.batch.actions[idx] / scale, -1.0, 1.0)  # [B, A]
    arms = ARMS if FLAGS.states == "dataset" else ARMS[:1]
    anchor_policy = make_policy(config, num_candidates=0)
    greedy_policy = make_policy(config, num_candidates=FLAGS.num_candidates)
    follow_policy = make_policy(follow_config, num_candidates=0)
    nets = make_networks(config, dataset.action_dim)
    params, follow_params = policy_params(state), policy_params(follow_state)
    num_seeds = min(len(meta["seeds"]), len(follow_meta["seeds"]))
    per_seed = []
    for i in tqdm(range(num_seeds), desc="seeds", disable=not FLAGS.progress):
        p, pf = seed_params(params, i), seed_params(follow_params, i)
        key = jax.random.PRNGKey(FLAGS.seed + i)
        raw = dataset_raw if FLAGS.states == "dataset" else anchor_states(
            dataset, anchor_policy, p, SelectKnobs.from_config(config),
            jax.random.fold_in(key, 2), scale, FLAGS.num_states, rng)
        obs = jnp.asarray(raw)
        a0 = np.asarray(anchor_policy(p, obs, key, 0, greedy_knobs)[0])  # [B, A]
        star = np.asarray(greedy_policy(p, obs, key, 0, greedy_knobs)[0])  # [B, A]
        firsts = np.concatenate([a0, star, data_actions][: 1 + len(arms)])  # [(1+arms) B, A]
        starts = np.concatenate([raw] * (1 + len(arms)))  # [(1+arms) B, O]
        norm = (jnp.asarray(starts) - p.obs_norm.mean) / p.obs_norm.std
        q = nets.critic_apply(p.critic, norm, jnp.asarray(firsts))  # [E, (1+arms) B]
        value = np.asarray(lcb(q, lam, axis=0)).reshape(1 + len(arms), -1)  # [1+arms, B]
        truth = returns_from_states(
            dataset.make_env, maze2d_set_state, starts, firsts,
            follow_policy, pf, SelectKnobs.from_config(follow_config),
            jax.random.fold_in(key, 1), scale, FLAGS.horizon, config.discount,
        ).reshape(1 + len(arms), -1)  # [1+arms, B]
        row = {arm: deviation_report(value[j + 1] - value[0], truth[j + 1] - truth[0])
               for j, arm in enumerate(arms)}
        row["pooled"] = deviation_report((value[1:] - value[0]).ravel(),
                                         (truth[1:] - truth[0]).ravel())
        row["anchor_return"] = float(truth[0].mean())
        row["anchor_lcb"] = float(value[0].mean())
        row["lcb_argmax_dist"] = float(np.linalg.norm(star - a0, axis=-1).mean())
        per_seed.append(row)

    report = {"workdir": str(FLAGS.workdir), "follow_workdir": str(follow_dir),
              "env": meta["env"], "step": int(np.asarray(state.step).reshape(-1)[0]),
              "seeds": meta["seeds"][:num_seeds], "num_states": FLAGS.num_states,
              "num_candidates": FLAGS.num_candidates, "horizon": FLAGS.horizon,
              "states": FLAGS.states,
              "lcb_lambda": lam, "discount": config.discount, "per_seed": per_seed}
    fmt = lambda vals: f"{np.mean(vals):+.3f} ± {np.std(vals):.3f} (" + ", ".join(
        f"{v:+.3f}" for v in vals) + ")"
    lines = [f"# Critic against the truth: {FLAGS.workdir} at step {report['step']} "
             f"({meta['env']})", "",
             f"{FLAGS.num_states} {FLAGS.states} states per seed; first action, then "
             f"{follow_dir}'s anchor for {FLAGS.horizon} steps (discount "
             f"{config.discount:g}); gains over the anchor; lcb_argmax = the LCB's "
             f"(lambda = {lam:g}) argmax over the anchor + "
             f"{FLAGS.num_candidates} actor samples. Mean ± std over seeds (per seed).", "",
             f"Anchor: return {fmt([r['anchor_return'] for r in per_seed])}, LCB "
             f"{fmt([r['anchor_lcb'] for r in per_seed])}; |lcb_argmax - anchor| "
             f"{fmt([r['lcb_argmax_dist'] for r in per_seed])}.", "",
             "| first action | critic's gain | true gain | truth: better | truth: worse "
             "| critic's sign right | corr(critic, truth) |", "|---|---|---|---|---|---|---|"]
    for arm in (*arms, "pooled"):
        cells = [fmt([r[arm][k] for r in per_seed]) for k in (
            "critic_gain", "true_gain", "true_better", "true_worse", "sign_right", "corr")]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    out = (pathlib.Path(FLAGS.out) if FLAGS.out
           else pathlib.Path(FLAGS.workdir) / "critic_truth")
    print(write_report(out, report, lines))
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)

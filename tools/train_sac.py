"""Train a SAC behavior policy online on a gymnasium MuJoCo env, resumably.

    python tools/train_sac.py --env=Hopper-v5 --steps=1000000 --workdir=runs/sac/hopper
    python tools/train_sac.py --env=Hopper-v5 --steps=1000000 --workdir=runs/sac/hopper \
        --resume

The ant (the AntMaze behavior policy) trains as

    python tools/train_sac.py --env=gem_jax/AntDirection-v0 --workdir=~/gem-runs/ant \
        --num_envs=16 --utd=0.125 --target_entropy_scale=0.5 --steps=4000000 \
        --compact=~/gem-runs/ant.msgpack --resume

then fine-tunes in stages (--max_speed, --action_noise, --lr, --lateral_penalty; each from
the last stage's compact snapshot in a new workdir): gem_jax/data/policies/README.md.

The loop, its workdir files and its resume rules: `gem_jax/data/behavior/sac_loop.py`.
"""

from __future__ import annotations

from absl import app, flags

from gem_jax.data.behavior import sac
from gem_jax.data.behavior.sac_loop import load_meta, train  # noqa: F401  (tests use both)

FLAGS = flags.FLAGS
flags.DEFINE_string("env", "Hopper-v5",
                    "gymnasium env id, e.g. Hopper-v5, Walker2d-v5, gem_jax/AntDirection-v0.")
flags.DEFINE_integer("steps", 1_000_000, "Total env steps to reach (counting resumed ones).")
flags.DEFINE_integer("seed", 0, "Seed for the networks, the env and the exploration noise.")
flags.DEFINE_string("workdir", None, "Where checkpoints, snapshots and curves go.")
flags.DEFINE_bool("resume", False, "Continue from <workdir>/checkpoint.")
flags.DEFINE_integer("save_every", 20_000, "Env steps between checkpoints.")
flags.DEFINE_integer("snapshot_every", 10_000, "Env steps between actor snapshots.")
flags.DEFINE_integer("update_every", 10,
                     "Vector steps (num_envs env steps each) per jitted call of fused updates.")
flags.DEFINE_integer("num_envs", 1, "Envs stepped together, the policy batched over them.")
flags.DEFINE_float("utd", 1.0, "Gradient steps per env step (update-to-data ratio).")
flags.DEFINE_float("lr", 3e-4, "Adam learning rate of actor, critics and temperature.")
flags.DEFINE_float("target_entropy_scale", 1.0, "H_target = -scale * |A| (OGBench's ant: 0.5).")
flags.DEFINE_string("compact", None, "Compact snapshot path (no buffer): written every "
                    "--compact_every_s and at the end; resumes a run whose workdir is gone.")
flags.DEFINE_float("compact_every_s", 1800.0, "Seconds between compact snapshots.")
flags.DEFINE_float("action_noise", 0.0, "Gaussian noise the env adds to every action "
                   "(gem_jax ant envs only; the AntMaze recipe's is 0.2). 0 = none.")
flags.DEFINE_float("max_speed", None, "Pay the commanded speed only up to this many m/s "
                   "(gem_jax ant envs only; ours, for a steadier gait). Unset = no cap.")
flags.DEFINE_float("lateral_penalty", 0.0, "Charge this times the reward scale per m/s of "
                   "speed across the command (gem_jax ant envs only; ours). 0 = none.")
flags.DEFINE_integer("buffer_size", 1_000_000, "Replay buffer capacity (transitions).")
flags.mark_flag_as_required("workdir")


def main(_):
    config = sac.SACConfig(target_entropy_scale=FLAGS.target_entropy_scale,
                           actor_lr=FLAGS.lr, critic_lr=FLAGS.lr, alpha_lr=FLAGS.lr)
    train(FLAGS.env, FLAGS.steps, FLAGS.seed, FLAGS.workdir, FLAGS.resume, FLAGS.save_every,
          FLAGS.snapshot_every, FLAGS.update_every, FLAGS.buffer_size, config,
          FLAGS.num_envs, FLAGS.utd, FLAGS.compact, FLAGS.compact_every_s,
          env_kwargs())


def env_kwargs() -> dict | None:
    """The gem_jax ant env options set on the command line (None when none is)."""
    kwargs = {"action_noise": FLAGS.action_noise} if FLAGS.action_noise else {}
    if FLAGS.max_speed is not None:
        kwargs["max_speed"] = FLAGS.max_speed
    if FLAGS.lateral_penalty:
        kwargs["lateral_penalty"] = FLAGS.lateral_penalty
    return kwargs or None


if __name__ == "__main__":
    app.run(main)

"""Train GEM on an offline dataset, evaluate it, and write a run directory.

    python experiments/train.py --env=antmaze-umaze-v2 --workdir=runs/antmaze
    python experiments/train.py                       # embedded default: nav2d (built locally)
    python experiments/train.py --config.num_critics=10 --config.lcb_lambda=2.0
    python experiments/train.py --num_seeds=8            # 8 seeds in one program

The suite preset (locomotion / maze2d / antmaze / nav2d) follows the dataset family;
`--config.<field>=` overrides any `GEMConfig` field after it. Writes `metrics.{jsonl,csv}`,
`eval.{jsonl,csv}`, `checkpoints/`, `summary.json` and `learning_curve.png`;
`--log_to=csv,tensorboard,wandb` also sends the metrics to TensorBoard and / or W&B.
"""

from __future__ import annotations

import sys

from absl import app, flags

from gem_jax.harness.cli import ALGOS, define_config_flag, exit_now, guard, quiet_logs, run_cli
from gem_jax.presets import build_config

FLAGS = flags.FLAGS
flags.DEFINE_string("env", "nav2d", "Dataset: a D4RL name, a Minari id, or a local build (nav2d).")
flags.DEFINE_enum("algo", "gem", ALGOS, "Algorithm to train.")
flags.DEFINE_integer("steps", None, "Gradient steps (default: config.num_steps).")
flags.DEFINE_integer("seed", None, "First seed (default: config.seed).")
flags.DEFINE_integer("num_seeds", 1, "Seeds trained side by side in one program.")
flags.DEFINE_string("workdir", "runs/default", "Run directory (created).")
flags.DEFINE_integer("eval_every", None, "Evaluate every this many steps.")
flags.DEFINE_integer("eval_episodes", None, "Episodes per evaluation.")
flags.DEFINE_integer("checkpoint_every", None, "Checkpoint every this many steps.")
flags.DEFINE_float("checkpoint_minutes", 10.0, "Also checkpoint once this many minutes of "
                   "wall time have passed since the last checkpoint (0: by steps only).")
flags.DEFINE_bool("resume", False, "Continue the run in --workdir from its last checkpoint.")
flags.DEFINE_bool("download", False, "Allow downloading a missing Minari dataset (needs network).")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.DEFINE_list("log_to", ["csv"], "Where metrics go: a comma list of csv (always written), "
                 "tensorboard (<workdir>/tensorboard, needs the [tensorboard] extra), wandb "
                 "(offline unless WANDB_MODE is set, needs the [wandb] extra).")
flags.DEFINE_bool("multihost", False, "Start with jax.distributed.initialize(): one process per "
                  "host, all with the same flags and a shared --workdir (docs/multihost.md).")
flags.DEFINE_string("coordinator_address", None, "Multihost: host:port of process 0 (default: "
                    "auto-detected (SLURM, Open MPI, TPU, k8s) or $JAX_COORDINATOR_ADDRESS).")
flags.DEFINE_integer("num_processes", None, "Multihost: number of processes (default: detected).")
flags.DEFINE_integer("process_id", None, "Multihost: this process's index (default: detected).")
define_config_flag()


def main(argv):
    del argv
    quiet_logs()

    def body() -> int:
        if FLAGS.multihost:  # before any JAX computation; seeds then span every host's devices
            import jax

            jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes,
                                       FLAGS.process_id)
        config = build_config(
            FLAGS.env, FLAGS.config, sys.argv, algo=FLAGS.algo,
            num_steps=FLAGS.steps, seed=FLAGS.seed, eval_every=FLAGS.eval_every,
            eval_episodes=FLAGS.eval_episodes, checkpoint_every=FLAGS.checkpoint_every,
        )
        return run_cli(
            FLAGS.algo, FLAGS.env, config, FLAGS.workdir, num_seeds=FLAGS.num_seeds,
            resume=FLAGS.resume, download=FLAGS.download, progress=FLAGS.progress,
            log_to=FLAGS.log_to, checkpoint_minutes=FLAGS.checkpoint_minutes,
        )

    return exit_now(guard(body))


if __name__ == "__main__":
    app.run(main)

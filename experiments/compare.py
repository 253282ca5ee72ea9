"""Baselines side by side: train BC, IQL and GEM on one dataset with the same seeds.

    python experiments/compare.py --env=nav2d --algos=bc,iql,gem --seeds=3 --steps=20000 \
        --eval_episodes=10 --out=runs/compare_nav2d

Every algorithm is a preset of the same framework (`gem_jax.method.config.ALGORITHMS`): same
networks, losses, data, evaluation and checkpoints. Seeds run side by side in one program.
Writes `compare.csv`, `compare.md` (normalised score mean +- std over seeds, SupportZ,
Violation, CollapseDist, train steps/s, select latency; the settings used) and
`compare.png`, plus one run directory per algorithm under `--out`. With
`--log_to=tensorboard` each run directory has its event files (`tensorboard --logdir=<out>`
shows the algorithms side by side); with `--log_to=wandb` the runs form one W&B group.
"""

from __future__ import annotations

import sys

from absl import app, flags

from gem_jax.harness.cli import ALGOS, absl_main, define_config_flag
from gem_jax.presets import build_config

FLAGS = flags.FLAGS
flags.DEFINE_string("env", "nav2d", "Dataset name.")
flags.DEFINE_list("algos", ["bc", "iql", "gem"], f"Algorithms, from {ALGOS}.")
flags.DEFINE_integer("seeds", 3, "Seeds per algorithm (trained side by side).")
flags.DEFINE_integer("seed", 0, "First seed.")
flags.DEFINE_integer("steps", 20000, "Gradient steps per algorithm.")
flags.DEFINE_integer("eval_episodes", 10, "Evaluation episodes per seed.")
flags.DEFINE_string("out", "runs/compare", "Output directory.")
flags.DEFINE_bool("progress", True, "Show progress bars.")
flags.DEFINE_list("log_to", ["csv"], "Where metrics go: a comma list of csv (always written), "
                 "tensorboard (<out>/<algo>/tensorboard, needs the [tensorboard] extra), wandb "
                 "(offline unless WANDB_MODE is set, needs the [wandb] extra).")
define_config_flag()


def body() -> int:
    from gem_jax.analysis.side_by_side import compare

    unknown = sorted(set(FLAGS.algos) - set(ALGOS))
    if unknown:
        raise ValueError(f"unknown algorithm(s) {unknown}; choose from {ALGOS}.")
    configs = {
        algo: build_config(FLAGS.env, FLAGS.config, sys.argv, algo=algo, num_steps=FLAGS.steps,
                           seed=FLAGS.seed, eval_episodes=FLAGS.eval_episodes,
                           eval_every=FLAGS.steps, checkpoint_every=FLAGS.steps)
        for algo in FLAGS.algos
    }
    print(compare(FLAGS.env, configs, FLAGS.out, FLAGS.seeds, progress=FLAGS.progress,
                  log_to=FLAGS.log_to))
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)

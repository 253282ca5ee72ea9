"""Env steps per second of the vectorised SAC loop on the directional ant (the AntMaze issue).

For each (num_envs, utd) it runs `gem_jax.data.behavior.sac_loop.train` (what
`tools/train_sac.py` runs) in a scratch folder: the
uniform-random warm-up (`--start_steps`), then `--timed_steps` env steps of learning. The rate
is timed from the end of the first update call (compiled and run once) to the end, as
`train()` records in `throughput.json`; repeats give the median and spread.

    python -m benchmarks.ant_sac_throughput --num_envs=1,8,16,32 --utd=1,0.25,0.0625 \
        --json=benchmarks/results/ant_sac_throughput_cpu.json
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile

from absl import app, flags

from benchmarks import common
from gem_jax.data.behavior import sac, sac_loop

FLAGS = flags.FLAGS
flags.DEFINE_list("num_envs", ["1", "8", "16", "32"], "Envs stepped together.")
flags.DEFINE_list("utd", ["1", "0.25", "0.0625"], "Gradient steps per env step.")
flags.DEFINE_string("env", "gem_jax/AntDirection-v0", "gymnasium env id.")
flags.DEFINE_integer("start_steps", 2000, "Uniform-random env steps before learning.")
flags.DEFINE_integer("timed_steps", 8000, "Env steps of learning timed per run.")
flags.DEFINE_integer("update_every", 4, "Vector steps per fused update call.")
flags.DEFINE_integer("repeats", 1, "Runs per setting (median reported).")
flags.DEFINE_string("json", None, "Write results here (plus a .md table beside it).")


def measure(num_envs: int, utd: float) -> dict:
    config = sac.SACConfig(start_steps=FLAGS.start_steps)
    rates = []
    for _ in range(FLAGS.repeats):
        with tempfile.TemporaryDirectory() as workdir:
            sac_loop.train(FLAGS.env, FLAGS.start_steps + FLAGS.timed_steps, 0, workdir,
                            save_every=10**9, snapshot_every=10**9,
                            update_every=FLAGS.update_every, buffer_size=10**5, config=config,
                            num_envs=num_envs, utd=utd)
            with open(os.path.join(workdir, "throughput.json")) as f:
                rates.append(json.load(f)["env_steps_per_s"])
    return {"num_envs": num_envs, "utd": utd, "env_steps_per_s": statistics.median(rates),
            "spread": max(rates) - min(rates), "runs": rates,
            "updates_per_s": statistics.median(rates) * utd}


def main(_):
    rows = [measure(int(n), float(u))
            for n in FLAGS.num_envs for u in FLAGS.utd]
    table = common.markdown_table(
        ["num_envs", "UTD", "env steps/s", "gradient steps/s", "runs"],
        [[r["num_envs"], f"{r['utd']:g}", f"{r['env_steps_per_s']:.0f}",
          f"{r['updates_per_s']:.0f}", len(r["runs"])] for r in rows])
    command = " ".join(["python -m benchmarks.ant_sac_throughput", *sys.argv[1:]])
    result = {**common.machine_info(), "command": command, "rows": rows}
    common.write_outputs(FLAGS.json, result, table)


if __name__ == "__main__":
    app.run(main)

"""The NLL-gap diagnostic of a dataset (method §4; paper App. F).

    python experiments/probes/nll_gap.py --env=nav2d --num_components=1,2,5 --seeds=3 --steps=20000
    python experiments/probes/nll_gap.py --env=antmaze-medium-diverse-v2 --out=runs/nll_gap_antmaze

For each K, fits a K-component GMM behavior model `mu_phi(a|s)` by maximum likelihood
(seeds vmapped, observations standardised, actions mapped to [-1, 1] as in training) and
reports `gap = NLL_top1 - NLL_mix` on up to `--eval_pairs` dataset pairs: mean and std over
seeds. gap > 0 means the mixture explains the actions better than its top component
alone; K = 1 gives 0 by construction. Writes `nll_gap.{csv,md,json}` to `--out`.
"""

from __future__ import annotations

import os

from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string("env", "nav2d", "Dataset: a D4RL name, a Minari id, or a local build.")
flags.DEFINE_list("num_components", ["5"], "K values of the fitted GMM (comma-separated).")
flags.DEFINE_integer("steps", 20_000, "Gradient steps per fit.")
flags.DEFINE_integer("seeds", 3, "Seeds per K (fitted side by side).")
flags.DEFINE_integer("seed", 0, "First seed.")
flags.DEFINE_integer("batch_size", 256, "Minibatch size.")
flags.DEFINE_list("hidden_dims", ["256", "256"], "MLP trunk sizes.")
flags.DEFINE_float("lr", 3e-4, "Adam learning rate.")
flags.DEFINE_integer("eval_pairs", 100_000, "Dataset pairs the gap is measured on (random).")
flags.DEFINE_string("out", None, "Output directory (default: runs/nll_gap/<env>).")
flags.DEFINE_bool("download", False, "Allow downloading a missing Minari dataset.")
flags.DEFINE_bool("progress", True, "Show progress bars.")


def positive_ints(name: str, values) -> list[int]:
    try:
        ints = [int(v) for v in values]
    except ValueError:
        raise ValueError(
            f"--{name}={','.join(values)}: expected comma-separated integers."
        ) from None
    if not ints or min(ints) < 1:
        raise ValueError(f"--{name} must list integers >= 1, got {','.join(values) or 'nothing'}.")
    return ints


def body() -> int:
    import jax
    import numpy as np

    from gem_jax.analysis.behavior_fit import fit_behavior, nll_gaps
    from gem_jax.analysis.sweep_report import write_csv
    from gem_jax.data import resolve_name
    from gem_jax.harness.evaluation import action_scale
    from gem_jax.harness.runlog import write_json
    from gem_jax.harness.runner import check_workdir, device_dataset, open_dataset
    from gem_jax.method.config import GEMConfig

    ks = positive_ints("num_components", FLAGS.num_components)
    hidden = tuple(positive_ints("hidden_dims", FLAGS.hidden_dims))
    for name in ("steps", "seeds", "batch_size", "eval_pairs"):
        if getattr(FLAGS, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(FLAGS, name)}.")
    if not FLAGS.lr > 0:
        raise ValueError(f"--lr must be > 0, got {FLAGS.lr}.")
    resolve_name(FLAGS.env)  # unknown names fail here, before any work
    out = check_workdir(FLAGS.out or os.path.join("runs", "nll_gap", FLAGS.env.replace("/", "_")))

    dataset = open_dataset(FLAGS.env, download=FLAGS.download, normalize_observations=True,
                           progress=FLAGS.progress)
    env = dataset.make_env()
    data = device_dataset(dataset, action_scale(env))
    env.close()
    num_pairs = data.actions.shape[0]
    pick = np.random.default_rng(FLAGS.seed).permutation(num_pairs)[:FLAGS.eval_pairs]
    eval_obs, eval_act = data.observations[pick], data.actions[pick]  # [M', obs], [M', A]

    seeds = [FLAGS.seed + i for i in range(FLAGS.seeds)]
    rows = []
    for k in ks:
        config = GEMConfig(hidden_dims=hidden, behavior_num_components=k,
                           behavior_lr=FLAGS.lr, batch_size=FLAGS.batch_size)
        state, _ = fit_behavior(config, data.observations, data.actions, seeds, FLAGS.steps,
                                progress=FLAGS.progress)
        gaps = jax.device_get(nll_gaps(config, state.params, eval_obs, eval_act))  # [S] each
        rows.append({
            "num_components": k, "seeds": len(seeds), "steps": FLAGS.steps,
            "eval_pairs": int(eval_act.shape[0]),
            "nll_mix": float(np.mean(gaps["nll_mix"])),
            "nll_top1": float(np.mean(gaps["nll_top1"])),
            "gap_mean": float(np.mean(gaps["gap"])), "gap_std": float(np.std(gaps["gap"])),
            "gap_per_seed": [float(g) for g in gaps["gap"]],
        })

    lines = [f"# NLL gap on {dataset.dataset_id} ({num_pairs} pairs)", "",
             "| K | seeds | NLL_mix | NLL_top1 | gap (mean ± std) | per seed |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        per_seed = ", ".join(f"{g:.3f}" for g in r["gap_per_seed"])
        lines.append(f"| {r['num_components']} | {r['seeds']} | {r['nll_mix']:.3f} | "
                     f"{r['nll_top1']:.3f} | {r['gap_mean']:.3f} ± {r['gap_std']:.3f} | "
                     f"{per_seed} |")
    table = "\n".join(lines) + "\n"
    write_csv(rows, out / "nll_gap.csv")
    (out / "nll_gap.md").write_text(table)
    write_json(out / "nll_gap.json", {"env": FLAGS.env, "dataset_id": dataset.dataset_id,
                                      "rows": rows})
    print(table)
    print(f"-> {out}")
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)

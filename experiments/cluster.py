"""Cluster an offline dataset into behavior policies with EMPO (method §7).

    python experiments/cluster.py --env=nav2d --num_clusters=2 --json=runs/cluster_nav2d.json
    python experiments/cluster.py --env=nav2d --max_trajectories=300 --ablation_seeds=3

Fits Alg. 1 of the EMPO paper (heuristics I+II+III) with `--seed`, scores the per-transition
assignment against the dataset's known behavior labels (Rand index, adjusted Rand
index), then runs the heuristic ablation of the EMPO paper Table 3 (none / I / I+II /
I+II+III) over `--ablation_seeds` seeds (the full-method run at `--seed` is reused).
`--max_trajectories` clusters a random subset of whole trajectories (faster on CPU).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time

import jax
import numpy as np
from absl import app, flags

from gem_jax.data import load_dataset
from gem_jax.empo.clustering import EMPOConfig, fit_empo, heuristic_ablation
from gem_jax.empo.metrics import adjusted_rand_index, rand_index

_DEFAULTS = EMPOConfig()
FLAGS = flags.FLAGS
flags.DEFINE_string("env", "nav2d", "Dataset name for gem_jax.data.load_dataset (needs labels).")
flags.DEFINE_integer("num_clusters", _DEFAULTS.num_clusters, "K, the number of behaviors.")
flags.DEFINE_string("json", None, "Write the results as JSON to this path.")
flags.DEFINE_integer("seed", 0, "Seed of the main (full-method) run; ablation seeds follow it.")
flags.DEFINE_integer("ablation_seeds", 3, "Seeds per ablation column; 0 skips the ablation.")
flags.DEFINE_integer("max_trajectories", 0, "Cluster a random subset of this many whole "
                     "trajectories (0 = all).")  # fmt: skip
flags.DEFINE_integer("em_epochs", _DEFAULTS.em_epochs, "N_E, EM rounds (one epoch each).")
flags.DEFINE_integer("pretrain_epochs", _DEFAULTS.pretrain_epochs, "N_p (heuristic II).")
flags.DEFINE_integer("bias_epochs", _DEFAULTS.bias_epochs, "N_b (heuristic III).")
flags.DEFINE_float("momentum", _DEFAULTS.momentum, "mu (heuristic I).")
flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "M-step minibatch size.")
flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Adam learning rate.")
flags.DEFINE_boolean("progress", True, "Show tqdm progress bars.")


def subset_trajectories(episode_ids: np.ndarray, max_trajectories: int, seed: int) -> np.ndarray:
    """Boolean mask [M] keeping `max_trajectories` whole trajectories drawn at random."""
    unique = np.unique(episode_ids)
    if max_trajectories <= 0 or max_trajectories >= unique.size:
        return np.ones(episode_ids.shape, bool)
    keep = np.random.default_rng(seed).choice(unique, max_trajectories, replace=False)
    return np.isin(episode_ids, keep)


def score(labels: np.ndarray, assignments: np.ndarray, num_clusters: int) -> dict:
    return {
        "rand_index": rand_index(labels, assignments),
        "adjusted_rand_index": adjusted_rand_index(labels, assignments),
        "cluster_sizes": np.bincount(assignments, minlength=num_clusters).tolist(),
    }


def ablation_table(ablation: dict) -> str:
    """Markdown table in the layout of the EMPO paper Table 3 (Rand index x 100, mean +- std)."""
    header = "| | " + " | ".join(ablation) + " |\n|---|" + "---|" * len(ablation)
    cell = lambda runs, key: (
        f"{100 * np.mean([r[key] for r in runs]):.2f} ± "
        + (f"{100 * np.std([r[key] for r in runs]):.2f}")
    )
    rows = [
        f"| {name} | " + " | ".join(cell(runs, key) for runs in ablation.values()) + " |"
        for name, key in (("Rand index", "rand_index"), ("ARI", "adjusted_rand_index"))
    ]
    return "\n".join([header, *rows])


def main(argv: list[str]) -> None:
    del argv
    start = time.time()
    dataset = load_dataset(FLAGS.env, progress=FLAGS.progress)
    if dataset.labels is None:
        raise ValueError(
            f"Dataset {FLAGS.env!r} has no behavior labels, so the clustering cannot be "
            "scored; use nav2d or a D4RL medium-expert union (medium = 0, expert = 1)."
        )
    mask = subset_trajectories(dataset.episode_ids, FLAGS.max_trajectories, FLAGS.seed)
    obs, act = dataset.batch.observations[mask], dataset.batch.actions[mask]
    ids, labels = dataset.episode_ids[mask], dataset.labels[mask]
    config = EMPOConfig(
        num_clusters=FLAGS.num_clusters,
        momentum=FLAGS.momentum,
        pretrain_epochs=FLAGS.pretrain_epochs,
        bias_epochs=FLAGS.bias_epochs,
        em_epochs=FLAGS.em_epochs,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        train_classifier=False,  # clustering only; the support model needs it
    ).validate()
    columns = heuristic_ablation(config)
    print(f"{FLAGS.env}: {len(ids)} transitions in {np.unique(ids).size} trajectories")

    def run(column: str, seed: int) -> dict:
        tick = time.time()
        result = fit_empo(
            obs, act, ids, columns[column], jax.random.PRNGKey(seed), progress=FLAGS.progress
        )
        out = {"seed": seed, **score(labels, result.assignments, config.num_clusters)}
        out["wall_s"] = time.time() - tick
        print(f"[{column} seed={seed}] RI={out['rand_index']:.4f} "
              f"ARI={out['adjusted_rand_index']:.4f} sizes={out['cluster_sizes']}")  # fmt: skip
        return out

    main_run = run("I+II+III", FLAGS.seed)
    ablation = {}
    if FLAGS.ablation_seeds > 0:
        seeds = [FLAGS.seed + i for i in range(FLAGS.ablation_seeds)]
        for column in columns:
            ablation[column] = [
                main_run if (column, s) == ("I+II+III", FLAGS.seed) else run(column, s)
                for s in seeds
            ]
        print(ablation_table(ablation))

    results = {
        "env": FLAGS.env,
        "num_transitions": int(len(ids)),
        "num_trajectories": int(np.unique(ids).size),
        "max_trajectories": FLAGS.max_trajectories,
        "label_sizes": np.bincount(labels).tolist(),
        **{k: main_run[k] for k in ("rand_index", "adjusted_rand_index", "cluster_sizes")},
        "seed": FLAGS.seed,
        "config": dataclasses.asdict(config),
        "ablation": ablation,
        "ablation_table": ablation_table(ablation) if ablation else None,
        "wall_s": time.time() - start,
        "backend": jax.default_backend(),
    }
    if FLAGS.json:
        path = pathlib.Path(FLAGS.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)

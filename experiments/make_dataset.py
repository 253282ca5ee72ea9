"""Build a local offline dataset (a real Minari dataset under the `gem/` namespace).

    python experiments/make_dataset.py --dataset=nav2d
    python experiments/make_dataset.py --dataset=pointmaze-umaze --num_steps=1000000 --seed=0
    python experiments/make_dataset.py --dataset=antmaze-umaze-fixture --force
    python experiments/make_dataset.py --dataset=antmaze-medium-play  # needs the ant policy
    python experiments/make_dataset.py --list

Datasets go to Minari's datasets directory ($MINARI_DATASETS_PATH, else
~/.minari/datasets); load them with `gem_jax.data.load_dataset(<short name>)` or
`minari.load_dataset(<id>)`. Official names (e.g. maze2d-umaze-v1) are never rebuilt:
the script points at their local counterpart instead. With --download it fetches an
official dataset instead (needs network; bounded by --download_timeout).
"""

from __future__ import annotations

import time

from absl import app, flags

from gem_jax import data
from gem_jax.data import load, storage
from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "dataset", None, "Short name of a local build, or an official name with --download. See --list."
)
flags.DEFINE_integer(
    "num_steps",
    None,
    "Transitions to build (default: the recipe's, 10^6; 5000 for the antmaze fixture).",
)
flags.DEFINE_integer("seed", 0, "Seed; builds are deterministic given it.")
flags.DEFINE_boolean("force", False, "Rebuild even if the dataset exists.")
flags.DEFINE_boolean("download", False, "Download an official dataset instead of building.")
flags.DEFINE_float("download_timeout", 900.0, "Seconds before a download is abandoned.")
flags.DEFINE_integer("reference_episodes", 100, "Episodes per reference policy.")
flags.DEFINE_boolean("list", False, "List accepted dataset names and exit.")
flags.DEFINE_boolean("progress", True, "Show progress bars.")


def body() -> None:
    if FLAGS.list:
        from gem_jax.data.antmaze_sac_build import policy_shipped
        from gem_jax.data.locomotion import LOCOMOTION_LOCAL_NAMES

        for name in data.list_datasets():
            spec = data.resolve_name(name)
            kind = "local build" if spec.local else "official"
            if spec.local and spec.suite == "locomotion" and name not in LOCOMOTION_LOCAL_NAMES:
                kind = "local build, behavior policy not shipped yet"
            ant_recipe = spec.suite == "antmaze" and name != "antmaze-umaze-fixture"
            if spec.local and ant_recipe and not policy_shipped():
                kind = "local build, needs the shipped ant policy (not shipped yet)"
            print(f"{name:28s} {spec.dataset_id:60s} {spec.suite:10s} {kind}")
        return
    if not FLAGS.dataset:
        raise ValueError("--dataset is required (see --list).")
    spec = data.resolve_name(FLAGS.dataset)
    start = time.time()
    if FLAGS.download:
        if spec.local:
            raise ValueError(f"{FLAGS.dataset} is a local build; run without --download.")
        for dataset_id in spec.dataset_ids:
            if FLAGS.force or not storage.is_on_disk(dataset_id):
                load.download_minari(dataset_id, FLAGS.download_timeout)
        print(f"{spec.dataset_id} is in {storage.datasets_root()}")
        return
    if not FLAGS.force and data.resolve_name(FLAGS.dataset).local:
        done = already_built(spec)
        if done:
            print(done)
            return
    dataset_id = data.build_dataset(
        FLAGS.dataset,
        num_steps=FLAGS.num_steps,
        seed=FLAGS.seed,
        progress=FLAGS.progress,
        force=FLAGS.force,
        reference_episodes=FLAGS.reference_episodes,
    )
    dataset = data.load_dataset(FLAGS.dataset, progress=FLAGS.progress)
    print(f"built {dataset_id} in {time.time() - start:.1f} s at "
          f"{storage.dataset_dir(dataset_id)}: {describe(dataset, dataset_id)}")


def describe(dataset, dataset_id: str) -> str:
    return (f"{len(dataset.batch)} transitions, {dataset.num_episodes} episodes, "
            f"ref scores {dataset.ref_min_score:.2f} / {dataset.ref_max_score:.2f}"
            + (" (PIPELINE FIXTURE, NOT A BENCHMARK)" if "fixture" in dataset_id else ""))


def already_built(spec) -> str | None:
    """The line to print when the local build `spec` is on disk and reads in full (a
    success: nothing to do), None when it is not on disk. A build on disk that does not
    read is an error that asks for --force."""
    dataset_id = spec.dataset_ids[0]
    if not storage.is_on_disk(dataset_id):
        return None
    where = storage.dataset_dir(dataset_id)
    try:
        dataset = data.load_dataset(FLAGS.dataset, progress=FLAGS.progress)
    except Exception as err:  # noqa: BLE001 - any failure to read means a damaged build
        detail = " ".join(str(err).split())[:200]
        raise ValueError(f"{dataset_id} at {where} is damaged ({type(err).__name__}: {detail}); "
                         "rebuild it with --force.") from None
    return (f"{dataset_id} already built at {where}: {describe(dataset, dataset_id)} "
            "(--force rebuilds it)")


main = absl_main(body)

if __name__ == "__main__":
    app.run(main)

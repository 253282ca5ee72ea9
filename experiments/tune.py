"""Choose the selection knobs on validation episodes, report them on disjoint test ones.

    python experiments/tune.py --workdir=runs/pointmaze_gem
    python experiments/tune.py --workdir=RUN --lcb_lambda=0,1,2 --beta_start=0.1,0.3,1 \
        --beta_end=0,0.1 --source=actor,behavior --num_candidates=1024 --eval_episodes=10

The paper picks its knobs by a sweep on a held-out validation protocol and reports them
on test (method §5). This script sweeps the grid on validation episodes (env seeds from
`--val_seed`), picks the setting with the best mean normalised score over seeds, and
scores on test episodes, with env seeds from `--test_seed` (disjoint: the two ranges may not
overlap), the chosen setting and those that differ from it only in N or the top-k rule:
the N curves the tables draw (`--test_rows=all`: every setting, at about twice the cost of
the default grid; `--test_rows=none`: no test episodes, for a comparison on validation
episodes alone). Only the validation score chooses. Writes `<workdir>/tune.json`
(per setting: validation score, and test score where measured, else null; the seeds; the
chosen setting) and
`<workdir>/tuned_knobs.json`, which `load_policy`, `export_policy` and `evaluate.py` use
as the run's selection defaults from then on.

`--choose_with=A/tune.json,B/tune.json`: this run is one seed of several trained apart
(`suite.py --seed_shards`) and the others are tuned (`--test_rows=all`, same grid): choose on
the validation scores pooled over all of them (`seed_pool.pooled_choice`, the rule the pool
applies) and score on test the N curves of that choice, as `pool_seeds.py` will need them.
"""

from __future__ import annotations

import pathlib
import sys

from absl import app, flags

from gem_jax import presets
from gem_jax.harness.cli import absl_main, bool_list

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run directory written by experiments/train.py.")
flags.DEFINE_integer("step", None, "Checkpoint step to tune (default: the newest).")
flags.DEFINE_integer("eval_episodes", 10, "Episodes per seed, setting and split.")
flags.DEFINE_list("num_candidates", ["1024"], "Candidate budgets N.")
flags.DEFINE_list("lcb_lambda", ["0", "1", "2"], "LCB lambda values.")
flags.DEFINE_list("beta_start", ["0.1", "0.3", "1"], "beta_0 values (default grid: ours; "
                  "beta_0 = 0 lost 7-11 points to 0.3-1 on pointmaze-umaze validation).")
flags.DEFINE_list("beta_end", ["0.1"], "beta_end values.")
flags.DEFINE_list("source", ["actor"], "Candidate sources: actor and/or behavior.")
flags.DEFINE_list("top_k", ["1"], "Top-k smoothing sizes (1 = argmax).")
flags.DEFINE_list("anchor_bonus", ["0"], "Anchor bonus delta values (>= 0; 0 = the paper).")
flags.DEFINE_list("candidate_means", None, "true and/or false: all K actor means in the "
                  "candidate set (ours) or only the top one (the paper); default: the run's.")
flags.DEFINE_list("top_k_pick", ["mean"], "mean, sample and/or softmax: a_out = mean of the "
                  "top-k (the paper), one of them drawn uniformly (ours), or the mean of k "
                  "draws from softmax(alpha * score) over the set (SfBC).")
flags.DEFINE_list("top_k_frac", ["0"], "Shares of the candidate set as k (ours; > 0: k = "
                  "round(share * (N + 1)) at every N, top_k ignored; 0 = the fixed top_k).")
flags.DEFINE_integer("val_seed", 0, "First validation evaluation seed.")
flags.DEFINE_integer("test_seed", 500_000, "First test evaluation seed (disjoint range).")
flags.DEFINE_enum("test_rows", "curves", ["curves", "all", "none"], "Settings scored on "
                  "test episodes: the chosen one and its N curves (ours: the rows the tables "
                  "use), all (the former form), or none (a comparison on validation episodes "
                  "alone, e.g. suite.py's variant runs: about half the tune's time).")
flags.DEFINE_list("choose_with", None, "tune.json files of the other one-seed runs of the "
                  "same pair (tuned with --test_rows=all): choose on the validation scores "
                  "pooled with theirs.")
flags.DEFINE_bool("progress", True, "Show progress bars.")

def env_seed_range(seed: int, num_seeds: int, episodes: int) -> tuple[int, int]:
    """The env reset seeds `[lo, hi)` an evaluation with `seed` uses (`sweep.evaluate_setting`:
    seed index i resets episode j with `10_000 + seed + i + j`)."""
    lo = 10_000 + seed
    return lo, lo + num_seeds + episodes - 1


def read_others(paths, env: str, step: int) -> list[dict]:
    """The other shards' tune.json (`--choose_with`), checked against this run."""
    import json

    others = []
    for path in paths or []:
        try:
            other = json.loads(pathlib.Path(path).expanduser().read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"--choose_with: cannot read {path} ({e}); name the other shards' "
                             "tune.json files.") from None
        if (other.get("env"), other.get("step")) != (env, step):
            raise ValueError(f"--choose_with: {path} tunes {other.get('env')} at step "
                             f"{other.get('step')}, this run is {env} at step {step}.")
        others.append(other)
    return others


def pooled_best(others: list[dict], val_rows: list[dict]) -> int:
    """The pooled choice (`seed_pool.pooled_choice`) over this run's validation rows and the
    other shards' tune.json."""
    from gem_jax.analysis import seed_pool

    own = {"env": others[0]["env"], "step": others[0]["step"],
           "episodes_per_seed": FLAGS.eval_episodes,
           "rows": [{**{k: v[k] for k in presets.TUNED_KEYS}, "validation": v}
                    for v in val_rows]}
    try:
        seed_pool.check_tunes([*others, own], presets.TUNED_KEYS)
    except seed_pool.PoolError as e:
        raise ValueError(f"--choose_with: {e}") from None
    return seed_pool.pooled_choice([*others, own])


def body() -> int:
    from gem_jax.analysis import sweep
    from gem_jax.harness import checkpoint as ckpt
    from gem_jax.harness.runlog import write_json
    from gem_jax.harness.runner import open_dataset
    from gem_jax.method.select import policy_params
    from gem_jax.presets import from_config_dict

    if not FLAGS.workdir:
        raise ValueError("--workdir is required: the run directory to tune.")
    if FLAGS.eval_episodes < 1:
        raise ValueError(f"--eval_episodes must be >= 1, got {FLAGS.eval_episodes}.")
    step, meta = ckpt.read_meta(FLAGS.workdir, FLAGS.step)
    config = from_config_dict(meta["config"])
    num_seeds = len(meta["seeds"])
    val = env_seed_range(FLAGS.val_seed, num_seeds, FLAGS.eval_episodes)
    test = env_seed_range(FLAGS.test_seed, num_seeds, FLAGS.eval_episodes)
    if val[0] < test[1] and test[0] < val[1]:
        raise ValueError(
            f"Validation env seeds {val} and test env seeds {test} overlap; move --test_seed "
            f"to at least {FLAGS.val_seed + num_seeds + FLAGS.eval_episodes}."
        )
    floats = lambda name: [float(v) for v in FLAGS[name].value]
    settings, skipped = sweep.make_grid(
        config, num_candidates=[int(v) for v in FLAGS.num_candidates],
        top_k=[int(v) for v in FLAGS.top_k], source=FLAGS.source,
        lcb_lambda=floats("lcb_lambda"), beta_start=floats("beta_start"),
        beta_end=floats("beta_end"), anchor_bonus=floats("anchor_bonus"),
        candidate_means=bool_list("candidate_means", FLAGS.candidate_means),
        top_k_pick=FLAGS.top_k_pick, top_k_frac=floats("top_k_frac"),
    )
    for note in skipped:
        print(f"skipped: {note}", file=sys.stderr)
    dataset = open_dataset(meta["env"], normalize_observations=config.normalize_observations,
                           progress=FLAGS.progress)
    state, meta = ckpt.restore(FLAGS.workdir, step)
    params = policy_params(state, ckpt.load_support(FLAGS.workdir, meta))
    out = pathlib.Path(FLAGS.workdir)
    journal = out / "tune.journal.jsonl"  # finished rows; a rerun after a kill goes on from them
    run = lambda grid, seed: sweep.run_sweep(dataset, config, params, grid, FLAGS.eval_episodes,
                                             seed, FLAGS.progress, journal, {"step": step})
    others = read_others(FLAGS.choose_with, meta["env"], step)  # before the long sweep
    val_rows = run(settings, FLAGS.val_seed)
    best = pooled_best(others, val_rows) if others else max(
        range(len(settings)), key=lambda i: val_rows[i]["normalized_score"])
    tested = [] if FLAGS.test_rows == "none" else [
        i for i, s in enumerate(settings)
        if FLAGS.test_rows == "all" or sweep.on_curves_of(s, settings[best])]
    test_rows = dict(zip(tested, run([settings[i] for i in tested], FLAGS.test_seed)))
    keep = ("normalized_score", "normalized_score_seed_std", "seed_scores", "support_z",
            "violation", "collapse_dist", "behavior_z", "behavior_violation")
    pick = lambda row: None if row is None else {k: row[k] for k in keep if k in row}
    rows = [{**{k: v[k] for k in presets.TUNED_KEYS},
             "validation": pick(v), "test": pick(test_rows.get(i))}
            for i, v in enumerate(val_rows)]
    chosen = {k: val_rows[best][k] for k in presets.TUNED_KEYS}
    report = {
        "workdir": str(FLAGS.workdir), "env": meta["env"], "step": step,
        "episodes_per_seed": FLAGS.eval_episodes, "num_seeds": num_seeds,
        "validation_env_seeds": list(val), "test_env_seeds": list(test),
        "validation_eval_seed": FLAGS.val_seed, "test_eval_seed": FLAGS.test_seed,
        **({"chosen_with": [str(p) for p in FLAGS.choose_with]} if others else {}),
        "chosen": chosen, "chosen_validation": rows[best]["validation"],
        "chosen_test": rows[best]["test"], "test_rows": FLAGS.test_rows, "rows": rows,
        "skipped": skipped,
    }
    write_json(out / "tune.json", report)
    basis = "best mean validation score" + (", pooled with --choose_with's" if others else "")
    write_json(out / presets.TUNED_FILE, {**chosen, "chosen_by": f"experiments/tune.py ({basis})",
                                       "step": step})
    journal.unlink(missing_ok=True)
    print(f"chosen on validation: {chosen}")
    chosen_test = rows[best]["test"]
    print(f"validation {rows[best]['validation']['normalized_score']:.1f}, " + (
        "no test episodes (--test_rows=none)" if chosen_test is None else
        f"test {chosen_test['normalized_score']:.1f} "
        f"(± {chosen_test['normalized_score_seed_std']:.1f} over seeds)"))
    print(f"-> {out / 'tune.json'}")
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)

"""Pooling one-seed runs (gem_jax/analysis/seed_pool.py, experiments/pool_seeds.py): hand-made
rows whose pooled numbers are computed here by hand / NumPy."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from gem_jax import presets
from gem_jax.analysis import seed_pool

ROOT = pathlib.Path(__file__).resolve().parent.parent


def row(scores, episodes=None, **extra):
    """A sweep row of len(scores) seeds; `episodes`: each seed's episode scores."""
    out = {"variant": "gem", "num_candidates": 16, "top_k": 1, "source": "actor",
           "mode": "zscore", "lcb_lambda": 1.0, "beta_start": 0.0, "beta_end": 0.1,
           "horizon": 1000, "mass_scale": 1.0, "candidate_means": False,
           "normalized_score": float(np.mean(scores)), "seed_scores": list(scores),
           "normalized_score_seed_std": float(np.std(scores)), "num_seeds": len(scores),
           "episodes": 2, **extra}
    if episodes is not None:
        out["normalized_score_episode_std"] = float(np.std(np.concatenate(episodes)))
    return out


def test_pool_metrics_concatenates_seeds_and_pools_the_episode_std_exactly():
    eps = [np.array([10.0, 30.0]), np.array([50.0, 70.0]), np.array([0.0, 100.0])]
    a = row([20.0, 60.0], eps[:2], violation=0.1, support_z=1.0)  # a 2-seed row
    b = row([50.0], eps[2:], violation=0.4, support_z=-2.0)  # a 1-seed row
    pooled = seed_pool.pool_metrics([a, b])
    assert pooled["seed_scores"] == [20.0, 60.0, 50.0]
    assert pooled["normalized_score"] == pytest.approx(130 / 3)
    assert pooled["normalized_score_seed_std"] == pytest.approx(np.std([20, 60, 50]))
    assert pooled["normalized_score_episode_std"] == pytest.approx(np.std(np.concatenate(eps)))
    assert pooled["violation"] == pytest.approx((2 * 0.1 + 0.4) / 3)  # weighted by seeds
    assert pooled["support_z"] == pytest.approx((2 * 1.0 - 2.0) / 3)
    assert pooled["num_seeds"] == 3 and pooled["episodes"] == 2
    assert pooled["lcb_lambda"] == 1.0 and pooled["candidate_means"] is False


def test_pool_rows_match_settings_and_ignore_moot_knobs_at_n0():
    s0 = [row([10.0], num_candidates=0, lcb_lambda=1.0), row([40.0])]
    s1 = [row([30.0], num_candidates=0, lcb_lambda=2.0, top_k=4), row([0.0], lcb_lambda=2.0)]
    pooled, missing = seed_pool.pool_rows([s0, s1])
    assert len(pooled) == 1 and pooled[0]["num_candidates"] == 0  # one action: knobs moot
    assert pooled[0]["seed_scores"] == [10.0, 30.0]
    assert len(missing) == 2  # N = 16 at λ = 1 and at λ = 2: each measured by one shard only
    means = dict(row([10.0], num_candidates=0), candidate_means=True)  # K means: knobs matter
    other = dict(means, lcb_lambda=2.0)
    assert seed_pool.pool_rows([[means], [other]])[0] == []


def tune(val, test, step=300):
    """A tune.json of one seed over two settings (N = 1, 16)."""
    rows = [{**{k: None for k in presets.TUNED_KEYS}, "num_candidates": n,
             "validation": row([v]), "test": row([t])}
            for n, v, t in zip((1, 16), val, test)]
    return {"env": "hopper-medium", "step": step, "episodes_per_seed": 10, "num_seeds": 1,
            "test_env_seeds": [510000, 510010], "rows": rows}


def test_pool_tunes_chooses_on_the_pooled_validation_scores():
    # seed 0 prefers N = 1 (60 > 50), seed 1 prefers N = 16 by more: the pool picks N = 16
    shards = [tune(val=(60, 50), test=(40, 45)), tune(val=(10, 40), test=(30, 35))]
    pooled = seed_pool.pool_tunes(shards, presets.TUNED_KEYS)
    assert pooled["chosen"]["num_candidates"] == 16
    assert pooled["chosen_validation"]["seed_scores"] == [50.0, 40.0]
    assert pooled["chosen_test"]["seed_scores"] == [45.0, 35.0]
    assert pooled["chosen_test"]["normalized_score"] == pytest.approx(40.0)
    assert pooled["num_seeds"] == 2 and pooled["seed_shards"] == 2


def test_the_shard_tuned_last_needs_test_scores_only_at_the_pooled_choice():
    # tune.py --choose_with: the last shard has test rows only on the pooled choice's curve
    last = tune(val=(10, 40), test=(30, 35))
    last["rows"][0]["test"] = None
    pooled = seed_pool.pool_tunes([tune(val=(60, 50), test=(40, 45)), last], presets.TUNED_KEYS)
    assert pooled["chosen"]["num_candidates"] == 16
    assert pooled["chosen_test"]["seed_scores"] == [45.0, 35.0]
    assert pooled["rows"][0]["test"] is None and pooled["test_rows"] == "curves"
    # a tie (the same three scores per row) goes to the first row whatever the shards' order;
    # summed in seed order, row 1 would come out 1 ulp above row 0 (a + b + c < c + a + b)
    a, b, c = 100 / 3, 200 / 3, 10 / 3
    assert (a + b) + c < (c + a) + b
    shards = [tune(val=(a, c), test=(0, 0)), tune(val=(b, a), test=(0, 0)),
              tune(val=(c, b), test=(0, 0))]
    for order in ((0, 1, 2), (2, 1, 0), (1, 2, 0)):
        assert seed_pool.pooled_choice([shards[i] for i in order]) == 0


def test_pool_tunes_refuses_shards_it_cannot_pool():
    partial = tune(val=(60, 50), test=(40, 45))
    partial["rows"][0]["test"] = None  # tune.py's default: test rows on its own choice only
    with pytest.raises(seed_pool.PoolError, match="no test score for the pooled choice"):
        seed_pool.pool_tunes([tune((1, 2), (3, 4)), partial], presets.TUNED_KEYS)
    with pytest.raises(seed_pool.PoolError, match="differ in step"):
        seed_pool.pool_tunes([tune((1, 2), (3, 4)), tune((1, 2), (3, 4), step=200)],
                             presets.TUNED_KEYS)
    other_grid = tune((1, 2), (3, 4))
    other_grid["rows"][1]["num_candidates"] = 64
    with pytest.raises(seed_pool.PoolError, match="same tune.py grid"):
        seed_pool.pool_tunes([tune((1, 2), (3, 4)), other_grid], presets.TUNED_KEYS)


def summary(seed, score, episodes):
    return {"env": "hopper-medium", "algo": "lom", "steps": 300, "num_seeds": 1, "seeds": [seed],
            "normalized_score": {"mean": score}, "steps_per_s": 10.0 + seed,
            "per_seed": [{"normalized_score": score, "episode_scores": episodes,
                          "violation": 0.1 * seed}]}


def test_pool_summaries_and_the_cli(tmp_path):
    runs = []
    for seed, score, eps in ((0, 20.0, [10.0, 30.0]), (1, 50.0, [40.0, 60.0])):
        run = tmp_path / f"seed{seed}"
        (run / "sweep_test_n").mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps(summary(seed, score, eps)))
        sweep = {"env": "hopper-medium", "step": 300, "rows": [row([score], num_candidates=0)]}
        (run / "sweep_test_n" / "sweep.json").write_text(json.dumps(sweep))
        runs.append(run)
    pooled = seed_pool.pool_summaries([json.loads((r / "summary.json").read_text())
                                       for r in runs])
    assert pooled["seeds"] == [0, 1] and pooled["num_seeds"] == 2
    assert pooled["normalized_score"]["mean"] == pytest.approx(35.0)
    assert pooled["normalized_score"]["seed_std"] == pytest.approx(15.0)
    assert pooled["normalized_score"]["std"] == pytest.approx(np.std([10, 30, 40, 60]))
    assert pooled["violation"] == pytest.approx(0.05) and pooled["steps_per_s"] == 10.5
    out = tmp_path / "pooled"
    cli = [sys.executable, str(ROOT / "experiments" / "pool_seeds.py"), f"--out={out}"]
    done = subprocess.run([*cli, f"--runs={runs[0]},{runs[1]}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((out / "pool.json").read_text())
    assert manifest["seeds"] == [0, 1] and manifest["step"] == 300
    assert manifest["files"] == ["summary.json", "sweep_test_n/sweep.json"]  # no tune: baseline
    n_rows = json.loads((out / "sweep_test_n" / "sweep.json").read_text())["rows"]
    assert n_rows[0]["seed_scores"] == [20.0, 50.0]
    bad = subprocess.run([*cli, f"--runs={runs[0]},{runs[0]}"], capture_output=True, text=True)
    assert bad.returncode == 2 and "repeat a seed" in bad.stderr.strip().splitlines()[-1]
    bad = subprocess.run([*cli, f"--runs={runs[0]},{tmp_path / 'nope'}"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "finish that shard" in bad.stderr.strip().splitlines()[-1]


def test_a_one_seed_run_trains_as_that_seed_of_a_vmapped_run(tiny_nav2d, tmp_path):
    """`train.py --seed=1 --num_seeds=1` (a shard) == seed index 1 of `--num_seeds=2`."""
    import jax

    from gem_jax.harness import checkpoint as ckpt
    from gem_jax.harness import runner
    from gem_jax.method.config import GEMConfig

    config = GEMConfig(hidden_dims=(16,), num_components=2, behavior_num_components=2,
                       num_critics=2, batch_size=16, num_candidates=8, num_steps=40,
                       steps_per_call=20, eval_every=0, eval_episodes=1, checkpoint_every=40,
                       log_every=20)
    runner.run_training("nav2d", config, tmp_path / "both", num_seeds=2, progress=False)
    runner.run_training("nav2d", config.replace(seed=1), tmp_path / "one", progress=False)
    both, _ = ckpt.restore(tmp_path / "both", 40)
    one, meta = ckpt.restore(tmp_path / "one", 40)
    assert meta["seeds"] == [1]
    pairs = list(zip(jax.tree.leaves(both), jax.tree.leaves(one)))  # every field, key too
    assert len(pairs) > 4
    for vmapped, alone in pairs:  # [2, ...] and [1, ...]
        np.testing.assert_allclose(np.asarray(vmapped)[1], np.asarray(alone)[0], rtol=1e-4,
                                   atol=1e-5)
    assert not np.allclose(np.asarray(pairs[0][0])[0], np.asarray(pairs[0][1])[0])  # seed 0 differs


def test_evaluation_takes_the_pooled_knobs_when_named(tmp_path):
    from gem_jax.method.config import GEMConfig

    run = tmp_path / "seed0"
    run.mkdir()
    (run / presets.TUNED_FILE).write_text(json.dumps({"num_candidates": 16, "lcb_lambda": 2.0}))
    pooled = tmp_path / presets.TUNED_FILE
    pooled.write_text(json.dumps({"num_candidates": 64, "lcb_lambda": 0.0}))
    config = GEMConfig()
    own = presets.with_tuned_knobs(config, run)
    assert (own.num_candidates, own.lcb_lambda) == (16, 2.0)
    chosen = presets.with_tuned_knobs(config, run, pooled)
    assert (chosen.num_candidates, chosen.lcb_lambda) == (64, 0.0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        presets.with_tuned_knobs(config, run, tmp_path / "nope.json")


def test_shards_tuned_on_validation_alone_pool_to_a_choice_without_a_test_row():
    """tune.py --test_rows=none on every shard (suite.py's variant runs): the pooled choice
    stands without test rows; one shard with them and one without still refuses."""
    blind = lambda val: {**tune(val, (0, 0)), "test_rows": "none",
                         "rows": [dict(r, test=None) for r in tune(val, (0, 0))["rows"]]}
    pooled = seed_pool.pool_tunes([blind((60, 50)), blind((10, 40))], presets.TUNED_KEYS)
    assert pooled["chosen"]["num_candidates"] == 16
    assert pooled["chosen_validation"]["seed_scores"] == [50.0, 40.0]
    assert pooled["chosen_test"] is None and pooled["test_rows"] == "none"
    with pytest.raises(seed_pool.PoolError, match="no test score for the pooled choice"):
        seed_pool.pool_tunes([tune((60, 50), (1, 2)), blind((10, 40))], presets.TUNED_KEYS)

"""A tiny BC / IQL / GEM comparison on nav2d writes one table row per algorithm."""

import csv
import os

from gem_jax.cli import build_config
from gem_jax.compare import compare
from gem_jax.config import to_config_dict


def test_baseline_presets_keep_their_definition():
    # Even with N overridden on the command line, IQL and BC act with their Gaussian mean.
    argv = ["--config.num_candidates=16", "--config.num_critics=3"]
    cfg = build_config(
        "nav2d",
        to_config_dict(__import__("gem_jax").GEMConfig(num_candidates=16, num_critics=3)),
        argv,
        algo="iql",
    )
    assert (cfg.num_components, cfg.num_candidates, cfg.num_critics) == (1, 0, 3)
    assert cfg.adv_temperature == 3.0 and cfg.entropy_coef == 0.0
    bc = build_config("nav2d", to_config_dict(cfg), [], algo="bc")
    assert bc.adv_temperature == 0.0  # every weight exp(0 * A) = 1: plain likelihood


def test_schedule_horizon_follows_the_dataset_episode_length_unless_given():
    empty = to_config_dict(__import__("gem_jax").GEMConfig())
    assert build_config("pointmaze-umaze", empty, []).horizon == 300
    assert build_config("maze2d-large-v1", empty, []).horizon == 800
    assert build_config("antmaze-umaze-v2", empty, []).horizon == 700
    given = to_config_dict(__import__("gem_jax").GEMConfig(horizon=500))
    assert build_config("pointmaze-umaze", given, ["--config.horizon=500"]).horizon == 500


def test_tiny_compare_writes_one_row_per_algorithm(tiny_nav2d, tmp_path):
    from gem_jax import GEMConfig

    base = GEMConfig(
        hidden_dims=(8,),
        num_critics=2,
        num_components=2,
        behavior_num_components=2,
        num_candidates=4,
        num_steps=20,
        steps_per_call=10,
        eval_episodes=1,
        eval_every=20,
        checkpoint_every=20,
        log_every=10,
    )
    configs = {
        a: build_config(
            "nav2d",
            to_config_dict(base),
            [],
            algo=a,
            **{f: getattr(base, f) for f in ("num_steps", "eval_episodes")},
        )
        for a in ("bc", "iql")  # GEM through compare: test_logwriters
    }
    configs = {
        a: c.replace(
            hidden_dims=(8,),
            steps_per_call=10,
            eval_every=20,
            checkpoint_every=20,
            log_every=10,
            num_critics=2,
        )
        for a, c in configs.items()
    }
    table = compare("nav2d", configs, tmp_path / "cmp", num_seeds=2, progress=False)
    with open(tmp_path / "cmp" / "compare.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["algo"] for r in rows] == ["bc", "iql"]
    for r in rows:
        assert float(r["train_steps_per_s"]) > 0 and float(r["select_latency_ms"]) > 0
        assert -1000 < float(r["score_mean"]) < 1000
    assert "20 steps, 2 seeds, 1 episodes per seed" in table
    assert table.count("\n| ") == 3  # header + 2 rows
    assert os.path.getsize(tmp_path / "cmp" / "compare.png") > 1000

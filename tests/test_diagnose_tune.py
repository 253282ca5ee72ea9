"""experiments/diagnose.py and experiments/tune.py on a tiny nav2d run, plus the pure
diagnostics against hand-computed values."""

import json
import os
import pathlib
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from gem_jax import presets
from gem_jax.analysis import diagnostics as diag

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = [
    "--steps=100", "--eval_episodes=0", "--checkpoint_every=100",
    "--config.steps_per_call=50", "--config.log_every=50", "--config.hidden_dims=(16,16)",
    "--config.num_critics=2", "--config.num_components=2", "--config.behavior_num_components=2",
    "--config.num_candidates=4", "--config.batch_size=64", "--noprogress", "--num_seeds=2",
]


def run(script, *args):
    return subprocess.run([sys.executable, str(ROOT / "experiments" / f"{script}.py"), *args],
                          cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def tiny_run(tiny_nav2d, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("diag") / "run"
    done = run("train", f"--workdir={workdir}", *TINY)
    assert done.returncode == 0, done.stderr
    return workdir


def test_goal_report_by_hand():
    rewards = np.array([[0, 0, 1, 1, 0, 1], [0, 0, 0, 0, 0, 0]], float)  # [E=2, T=6]
    out = diag.goal_report(rewards, np.array([6, 6]))
    assert out["entered_frac"] == 0.5
    assert out["first_entry_step"] == (2 + 6) / 2  # never entering counts as the horizon
    assert out["inside_after_entry_frac"] == pytest.approx(3 / 4)  # steps 2..5: 1, 1, 0, 1


def test_distinct_and_edge_fraction_by_hand():
    cands = jnp.array([[0.0, 0.0], [0.005, 0.0], [0.5, 0.5], [0.5, 0.5], [1.0, -1.0]])
    assert int(diag.distinct_count(cands)) == 3  # the near pair and the equal pair merge
    assert diag.edge_fraction(np.asarray(cands)) == pytest.approx(2 / 10)


def test_weight_stats_by_hand():
    w = np.array([100.0, 100.0, 1.0, 1.0])  # two pairs at the cap of 100
    out = diag.weight_stats(w, cap=100.0)
    assert out["weight_mean"] == 50.5 and out["weight_at_cap_frac"] == 0.5
    assert out["weight_mass_at_cap_frac"] == pytest.approx(200 / 202)
    assert out["effective_sample_frac"] == pytest.approx(202**2 / (4 * 20002))
    assert diag.weight_stats(np.full(7, 3.0), 100.0)["effective_sample_frac"] == pytest.approx(1)


def test_per_state_chunks_equal_one_vmap():
    import jax

    one = lambda x, k: {"s": jnp.sum(x) + jax.random.uniform(k)}  # noqa: E731
    x = jnp.arange(3 * (diag.STATE_CHUNK + 5), dtype=jnp.float32).reshape(-1, 3)  # [B, 3]
    keys = jax.random.split(jax.random.PRNGKey(0), x.shape[0])
    np.testing.assert_allclose(diag.per_state(one, x, keys)["s"], jax.vmap(one)(x, keys)["s"],
                               rtol=1e-6)


def test_diagnose_reports_every_seed(tiny_run):
    done = run("diagnose", f"--workdir={tiny_run}", "--num_states=32", "--noprogress",
               f"--iql_workdir={tiny_run}")  # against itself: the anchors coincide
    assert done.returncode == 0, done.stderr
    report = json.loads((tiny_run / "diagnose.json").read_text())
    assert report["step"] == 100 and len(report["seeds"]) == 2
    assert 0.0 <= report["dataset_edge_frac"] <= 1.0
    for row in report["seeds"]:
        for model in ("actor", "behavior"):
            sigma = np.asarray(row[model]["sigma"])
            assert sigma.shape == (2, 2) and np.all(sigma > 0)  # [K, A]
            assert 0 <= row[model]["sigma_at_floor"] <= 4
            assert 0.0 <= row[model]["gating_entropy"] <= np.log(2) + 1e-6
        assert 1 <= row["candidates"]["distinct"] <= 5  # N + 1 = 5
        assert 0.0 <= row["weights"]["weight_at_cap_frac"] <= 1.0
        for key in ("top1_on_edge_frac", "lcb_top1_on_edge_frac"):
            assert 0.0 <= row["candidates"][key] <= 1.0
        assert row["candidates"]["lcb_top1_dist_to_anchor"] >= 0.0
        vs = row["vs_iql"]
        assert vs["dist"] == 0.0 and vs["lcb_gain"] == 0.0 and vs["far_frac"] == 0.0
        assert vs["lcb_prefers_anchor"] == 0.0 and vs["anchor_norm"] == vs["other_norm"] > 0
    text = (tiny_run / "diagnose.md").read_text()
    assert "log_std_min floor" in text and "vs_iql/lcb_gain" in text
    assert "weights/effective_sample_frac" in text


def test_tune_picks_on_validation_and_reports_test(tiny_run):
    from gem_jax.harness import checkpoint as ckpt
    from gem_jax.presets import from_config_dict

    grid = ["--eval_episodes=2", "--num_candidates=2,4", "--lcb_lambda=0,1", "--beta_start=0,2",
            "--beta_end=0", "--noprogress"]
    done = run("tune", f"--workdir={tiny_run}", "--test_rows=all", *grid)
    assert done.returncode == 0, done.stderr
    every = json.loads((tiny_run / "tune.json").read_text())
    assert all(r["test"] is not None for r in every["rows"])
    done = run("tune", f"--workdir={tiny_run}", *grid)  # the default: test rows on the N curve
    assert done.returncode == 0, done.stderr
    report = json.loads((tiny_run / "tune.json").read_text())
    rows = report["rows"]
    assert len(rows) == 8  # 2 N x 2 lambda x 2 beta_0
    assert not (tiny_run / "tune.journal.jsonl").exists()  # kept only while the sweep runs
    best = max(rows, key=lambda r: r["validation"]["normalized_score"])
    assert report["chosen"] == {k: best[k] for k in presets.TUNED_KEYS}
    assert report["chosen_test"] == best["test"]
    on_curve = [(r["lcb_lambda"], r["beta_start"]) == (best["lcb_lambda"], best["beta_start"])
                for r in rows]
    assert [r["test"] is not None for r in rows] == on_curve and sum(on_curve) == 2
    for row, full in zip(rows, every["rows"]):  # the same episodes give the same rows
        assert row["validation"] == full["validation"]
        assert row["test"] in (None, full["test"])
    (v_lo, v_hi), (t_lo, t_hi) = report["validation_env_seeds"], report["test_env_seeds"]
    assert v_hi <= t_lo or t_hi <= v_lo  # disjoint env seeds
    _, meta = ckpt.read_meta(tiny_run)
    tuned = presets.with_tuned_knobs(from_config_dict(meta["config"]), tiny_run)
    assert (tuned.lcb_lambda, tuned.beta_start) == (best["lcb_lambda"], best["beta_start"])

    overlap = run("tune", f"--workdir={tiny_run}", "--eval_episodes=2", "--test_seed=1")
    assert overlap.returncode == 2 and "overlap" in overlap.stderr
    assert len(overlap.stderr.strip().splitlines()) == 1


def test_tune_chooses_with_the_other_shards(tiny_run, tmp_path):
    """--choose_with: the choice is the pooled validation's (the rule pool_seeds.py applies),
    and only that choice's N curve is scored on test."""
    import shutil

    from gem_jax.analysis import seed_pool

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    grid = ["--eval_episodes=2", "--num_candidates=2,4", "--lcb_lambda=0,1", "--beta_start=0,2",
            "--beta_end=0", "--noprogress"]
    done = run("tune", f"--workdir={run_dir}", "--test_rows=all", *grid)
    assert done.returncode == 0, done.stderr
    other = json.loads((run_dir / "tune.json").read_text())
    rows = other["rows"]
    # another shard that scores the setting this run likes least (the last of its worst: never
    # this run's own choice, the first of its best) far above the rest
    target = min(range(len(rows)), key=lambda i: (rows[i]["validation"]["normalized_score"], -i))
    assert target != max(range(len(rows)), key=lambda i: rows[i]["validation"]["normalized_score"])
    for i, r in enumerate(rows):
        r["validation"]["seed_scores"] = [1000.0 if i == target else 0.0]
    path = tmp_path / "seed1" / "tune.json"
    path.parent.mkdir()
    path.write_text(json.dumps(other))
    done = run("tune", f"--workdir={run_dir}", f"--choose_with={path}", *grid)
    assert done.returncode == 0, done.stderr
    report = json.loads((run_dir / "tune.json").read_text())
    assert report["chosen"] == {k: rows[target][k] for k in presets.TUNED_KEYS}
    assert report["chosen_with"] == [str(path)] and report["chosen_test"] is not None
    curve = [(r["lcb_lambda"], r["beta_start"]) == (rows[target]["lcb_lambda"],
                                                    rows[target]["beta_start"])
             for r in report["rows"]]
    assert [r["test"] is not None for r in report["rows"]] == curve
    assert seed_pool.pool_tunes([other, report], presets.TUNED_KEYS)["chosen"] == \
        report["chosen"]
    path.write_text(json.dumps({**other, "step": other["step"] + 1}))
    done = run("tune", f"--workdir={run_dir}", f"--choose_with={path}", *grid)
    assert done.returncode == 2 and "--choose_with" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_tune_on_validation_alone_scores_no_test_episodes(tiny_run, tmp_path):
    """--test_rows=none (suite.py's variant runs): the same validation rows and choice as
    --test_rows=all, no test row anywhere, and shards tuned so pool to that choice."""
    import shutil

    from gem_jax.analysis import seed_pool

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    grid = ["--eval_episodes=2", "--num_candidates=2,4", "--lcb_lambda=0,1", "--beta_end=0",
            "--beta_start=0", "--noprogress"]
    assert run("tune", f"--workdir={run_dir}", "--test_rows=all", *grid).returncode == 0
    every = json.loads((run_dir / "tune.json").read_text())
    done = run("tune", f"--workdir={run_dir}", "--test_rows=none", *grid)
    assert done.returncode == 0, done.stderr
    assert "no test episodes" in done.stdout
    report = json.loads((run_dir / "tune.json").read_text())
    assert [r["validation"] for r in report["rows"]] == [r["validation"] for r in every["rows"]]
    assert report["chosen"] == every["chosen"] and report["test_rows"] == "none"
    assert report["chosen_test"] is None and all(r["test"] is None for r in report["rows"])
    pooled = seed_pool.pool_tunes([report, report], presets.TUNED_KEYS)
    assert pooled["chosen"] == report["chosen"] and pooled["chosen_test"] is None
    assert pooled["test_rows"] == "none"


def test_fidelity_table_collects_tuned_test_results(tiny_run, tmp_path):
    import shutil

    if not (tiny_run / "tune.json").is_file():
        test_tune_picks_on_validation_and_reports_test(tiny_run)
    tune = json.loads((tiny_run / "tune.json").read_text())
    seed = str(tune["test_eval_seed"])
    common = ["--eval_episodes=2", f"--seed={seed}", "--noprogress"]
    for sub, extra in (("sweep_test_n", "--num_candidates=0,4"),
                       ("sweep_test_ablations", "--variants=gem,no_pw")):
        done = run("evaluate", f"--workdir={tiny_run}", f"--out={tiny_run / sub}", extra, *common)
        assert done.returncode == 0, done.stderr
    out = tmp_path / "fidelity"
    done = run("fidelity_table", f"--run=nav2d:gem:{tiny_run}", f"--run=nav2d:iql:{tiny_run}",
               f"--out={out}")
    assert done.returncode == 0, done.stderr
    table = json.loads(out.with_suffix(".json").read_text())
    gem, base = table["rows"]
    assert gem["normalized_score"] == pytest.approx(tune["chosen_test"]["normalized_score"])
    assert gem["knobs"] == tune["chosen"] and gem["steps"] == 100
    assert base["knobs"] == {"num_candidates": 0} and len(base["seed_scores"]) == 2
    assert [r["num_candidates"] for r in table["n_sweep"]] == [0, 2, 4]  # N = 2: tune's row
    (ablation,) = table["ablations"]
    assert ablation["variant"] == "no_pw"
    gem_ab = json.loads((tiny_run / "sweep_test_ablations" / "sweep.json").read_text())["rows"][0]
    assert ablation["delta_score"] == pytest.approx(
        ablation["normalized_score"] - gem_ab["normalized_score"])
    assert (tmp_path / "fidelity_vs_n.png").stat().st_size > 1000
    md = out.with_suffix(".md").read_text()
    assert "| nav2d | gem | 100 |" in md
    verdict = "ahead" if gem["normalized_score"] - base["normalized_score"] > max(
        gem["normalized_score_std"], base["normalized_score_std"]) else None
    assert "* nav2d: GEM − iql " in md and (verdict is None or f"**{verdict}**" in md)
    assert f"* nav2d, {gem['curve']} over N = [" in md  # the chosen rule's N curve is checked
    (gap,) = table["gaps"]
    assert gap["baseline"] == "iql" and gap["mean"] == pytest.approx(
        gem["normalized_score"] - base["normalized_score"])
    assert table["missing"] == []

    # Only the JSON files are needed (a folder of committed results), and a run without an
    # ablation sweep is listed as missing instead of failing.
    results = tmp_path / "results"
    (results / "sweep_test_n").mkdir(parents=True)
    (results / "tune.json").write_text((tiny_run / "tune.json").read_text())
    n_file = json.loads((tiny_run / "sweep_test_n" / "sweep.json").read_text())
    n_file["rows"] = [r for r in n_file["rows"] if r["num_candidates"] == 0]
    (results / "sweep_test_n" / "sweep.json").write_text(json.dumps(n_file))
    out2 = tmp_path / "partial"
    done = run("fidelity_table", f"--run=nav2d:gem:{results}", f"--out={out2}")
    assert done.returncode == 0, done.stderr
    partial = json.loads(out2.with_suffix(".json").read_text())
    assert partial["rows"][0]["steps"] == 100 and partial["ablations"] == []
    # The sweep file lacks N = 2, 4: the curve takes them from tune.json's test rows.
    assert [(r["num_candidates"], r["curve"]) for r in partial["n_sweep"]] == [
        (0, "argmax"), (2, "argmax"), (4, "argmax")]
    (at_chosen,) = [r for r in partial["n_sweep"]
                    if r["num_candidates"] == tune["chosen"]["num_candidates"]]
    assert at_chosen["seed_scores"] == tune["chosen_test"]["seed_scores"]
    assert [m["missing"] for m in partial["missing"]] == ["ablations"]
    assert "Not measured: nav2d gem ablations." in out2.with_suffix(".md").read_text()

    # A variant tuned on validation episodes alone (suite.py: tune.py --test_rows=none): its row
    # is its chosen setting's validation score, marked so, never set against a test row.
    variant = tmp_path / "variant"
    shutil.copytree(results, variant)
    tune_v = dict(tune, chosen_test=None, test_rows="none",
                  rows=[dict(r, test=None) for r in tune["rows"]])
    (variant / "tune.json").write_text(json.dumps(tune_v))
    out3 = tmp_path / "ours_vs_paper"
    done = run("fidelity_table", f"--run=nav2d:gem:{results}", f"--run=nav2d:gem-e2=gem:{variant}",
               f"--run=nav2d:iql:{tiny_run}", f"--out={out3}")
    assert done.returncode == 0, done.stderr
    table = json.loads(out3.with_suffix(".json").read_text())
    gem_row, e2_row, _ = table["rows"]
    assert (gem_row["split"], e2_row["split"]) == ("test", "validation")
    assert e2_row["seed_scores"] == tune["chosen_validation"]["seed_scores"]
    assert gem_row["validation"]["seed_scores"] == tune["chosen_validation"]["seed_scores"]
    assert {r["algo"] for r in table["n_sweep"]} == {"gem"}  # no curve drawn from validation
    md = out3.with_suffix(".md").read_text()
    assert "| nav2d | gem-e2 | 100 |" in md and " (validation) |" in md
    assert "On validation episodes, at each run's chosen setting" in md
    assert "GEM − gem-e2" not in md and "GEM − iql" in md


def test_extra_candidate_scorer_against_plain_selection():
    """Without the extra action it is plain GEM selection (same action as `make_policy`);
    with it, the ranks agree with a direct scoring of the same candidates."""
    import jax

    from gem_jax import GEMConfig, SelectKnobs, init_state, make_policy, policy_params
    from gem_jax.method.networks import make_networks
    from gem_jax.method.select import candidate_set, score_candidates

    cfg = GEMConfig(hidden_dims=(16, 16), num_critics=3, num_components=2,
                    behavior_num_components=2, candidate_means=True)
    params = policy_params(init_state(jax.random.PRNGKey(0), cfg, obs_dim=3, action_dim=2))
    obs = jax.random.normal(jax.random.PRNGKey(1), (5, 3))  # [B, O]
    extra = jnp.full((5, 2), 0.25)  # [B, A]
    keys = jax.random.split(jax.random.PRNGKey(2), 5)
    knobs = SelectKnobs.create(lcb_lambda=1.0, beta_start=0.5, beta_end=0.5, horizon=10)
    scorer = diag.extra_candidate_scorer(cfg, num_candidates=8)

    plain, info = scorer(params, obs, extra, keys, 0, knobs, False)
    assert not np.any(np.asarray(info["extra_won"]))
    policy = make_policy(cfg, num_candidates=8, state_chunk=0)
    # make_policy splits its key per state the same way: feed it the keys' parent.
    ref, _ = policy(params, obs, jax.random.PRNGKey(2), 0, knobs)
    np.testing.assert_allclose(np.asarray(plain), np.asarray(ref), atol=1e-6)

    chosen, info = scorer(params, obs, extra, keys, 0, knobs, True)
    nets = make_networks(cfg, 2)
    actor = nets.actor_apply(params.actor, obs[0])
    behavior = nets.behavior_apply(params.behavior, obs[0])
    # the set as configured: both component means (candidate_means), 8 samples, the extra one
    cands = jnp.concatenate([candidate_set(actor, behavior, keys[0], 8, "actor", "gem", True),
                             extra[:1]])  # [11, A]
    scores, parts = score_candidates(nets, params, obs[0], cands, behavior, 0, knobs, anchors=2)
    scores, lcbs = np.asarray(scores), np.asarray(parts["lcb"])
    assert float(info["extra_score_rank"][0]) == pytest.approx(np.mean(scores[:-1] > scores[-1]))
    assert float(info["extra_lcb_rank"][0]) == pytest.approx(np.mean(lcbs[:-1] > lcbs[-1]))
    np.testing.assert_allclose(np.asarray(chosen[0]), np.asarray(cands[np.argmax(scores)]),
                               atol=1e-6)
    assert bool(info["extra_won"][0]) == (int(np.argmax(scores)) == 10)


def test_q_landscape_grid_and_controller_value():
    """experiments/probes/q_landscape.py: a 9 x 9 grid over the box, the PD controller's action
    toward the goal, and LCBs equal to a direct ensemble evaluation."""
    import jax

    from gem_jax import GEMConfig, init_state, policy_params
    from gem_jax.method.networks import make_networks
    from gem_jax.method.select import lcb

    module = diag  # the pure functions behind experiments/probes/q_landscape.py
    cfg = GEMConfig(hidden_dims=(8, 8), num_critics=3, num_components=2, behavior_num_components=2)
    params = policy_params(init_state(jax.random.PRNGKey(0), cfg, obs_dim=4, action_dim=2))
    nets = make_networks(cfg, 2)
    goal = np.array([1.0, 2.0], np.float32)
    states = module.probe_states(goal, np.array([3.0, 3.0]))
    np.testing.assert_allclose(states["0.3 right of goal, at rest"], [1.3, 2.0, 0.0, 0.0])
    obs = states["0.3 right of goal, at rest"]
    grid, values, ctrl, ctrl_value = module.landscape(nets, params, obs, 0.5, goal)
    assert grid.shape == (81, 2) and values.shape == (81,)
    assert grid.min() == -1.0 and grid.max() == 1.0
    np.testing.assert_allclose(ctrl, [-1.0, 0.0])  # 10 * (-0.3) clipped; at rest
    q = nets.critic_apply(params.critic, jnp.asarray(obs), jnp.asarray(ctrl, jnp.float32))  # [E]
    assert ctrl_value == pytest.approx(float(lcb(q, 0.5)), rel=1e-5)


def test_actor_modes_by_hand():
    """q_landscape's mode table: softmax gating weights, means clipped to the box, and the
    LCB of each clipped mean equal to a direct ensemble evaluation."""
    import jax

    from gem_jax import GEMConfig, init_state, policy_params
    from gem_jax.method.networks import make_networks

    cfg = GEMConfig(hidden_dims=(8, 8), num_critics=3, num_components=3, behavior_num_components=2)
    params = policy_params(init_state(jax.random.PRNGKey(4), cfg, obs_dim=4, action_dim=2))
    nets = make_networks(cfg, 2)
    obs = np.array([0.5, -1.0, 2.0, 0.0], np.float32)
    weights, means, values = diag.actor_modes(nets, params, obs, 2.0)
    actor = nets.actor_apply(params.actor, jnp.asarray(obs))
    logits = np.asarray(actor.logits, np.float64)
    np.testing.assert_allclose(weights, np.exp(logits) / np.exp(logits).sum(), rtol=1e-5)
    np.testing.assert_allclose(means, np.clip(np.asarray(actor.means), -1, 1), atol=1e-6)
    for k in range(3):
        q = np.asarray(nets.critic_apply(params.critic, jnp.asarray(obs), jnp.asarray(means[k])))
        assert values[k] == pytest.approx(q.mean() - 2.0 * q.std(), rel=1e-5)


def test_candidate_report_by_hand():
    """One state by brute force (the LCB's argmax, its distance from the anchor and its edge
    share); with beta = 0 the score's top-1 is the LCB's."""
    import jax

    from gem_jax import GEMConfig, SelectKnobs, init_state, policy_params
    from gem_jax.method.networks import make_networks
    from gem_jax.method.select import candidate_set

    cfg = GEMConfig(hidden_dims=(16, 16), num_critics=3, num_components=2,
                    behavior_num_components=2)
    params = policy_params(init_state(jax.random.PRNGKey(0), cfg, obs_dim=3, action_dim=2))
    params = params.replace(actor=jax.tree.map(lambda x: 2.0 * x, params.actor))  # some on the edge
    obs = 2.0 * np.asarray(jax.random.normal(jax.random.PRNGKey(1), (5, 3)))  # [B, O]
    key = jax.random.PRNGKey(2)
    knobs = SelectKnobs.create(lcb_lambda=1.0, beta_start=0.7, beta_end=0.7, horizon=10)
    out = diag.candidate_report(cfg, params, obs[:1], key, 8, knobs)

    nets = make_networks(cfg, 2)
    actor = nets.actor_apply(params.actor, jnp.asarray(obs[0]))
    behavior = nets.behavior_apply(params.behavior, jnp.asarray(obs[0]))
    cands = np.asarray(candidate_set(actor, behavior, jax.random.split(key, 1)[0], 8, "actor",
                                     "gem", False))  # [9, A], the anchor first
    q = np.stack([np.asarray(nets.critic_apply(params.critic, jnp.asarray(obs[0]), a))
                  for a in cands])  # [9, E]
    greedy = int(np.argmax(q.mean(1) - q.std(1)))
    assert out["lcb_top1_dist_to_anchor"] == pytest.approx(
        np.linalg.norm(cands[greedy] - cands[0]), rel=1e-5, abs=1e-6)
    assert out["lcb_top1_on_edge_frac"] == np.mean(np.abs(cands[greedy]) >= 1 - 1e-6)
    assert out["candidates_on_edge_frac"] == pytest.approx(np.mean(np.abs(cands) >= 1 - 1e-6))
    assert 0 < out["candidates_on_edge_frac"] < 1 and out["top1_is_lcb_top1"] == 0.0  # not trivial

    no_support = SelectKnobs.create(lcb_lambda=1.0, beta_start=0.0, beta_end=0.0, horizon=10)
    out = diag.candidate_report(cfg, params, obs, key, 8, no_support)
    assert out["top1_is_lcb_top1"] == 1.0
    assert out["top1_dist_to_anchor"] == out["lcb_top1_dist_to_anchor"]
    assert out["top1_on_edge_frac"] == out["lcb_top1_on_edge_frac"]


def test_anchor_vs_mean_by_hand():
    """A K = 3 run's anchor against a K = 1 run's mean, each under its own obs
    normalisation, scored by the first run's critic: against a direct computation."""
    import jax

    from gem_jax import GEMConfig, init_state, policy_params
    from gem_jax.method.networks import make_networks

    cfg = GEMConfig(hidden_dims=(8, 8), num_critics=2, num_components=3)
    one = cfg.replace(num_components=1)
    p = policy_params(init_state(jax.random.PRNGKey(0), cfg, obs_dim=3, action_dim=2))
    q = policy_params(init_state(jax.random.PRNGKey(1), one, obs_dim=3, action_dim=2))
    q = q.replace(obs_norm=q.obs_norm.replace(mean=q.obs_norm.mean + 0.5))
    raw = 3.0 * np.asarray(jax.random.normal(jax.random.PRNGKey(2), (64, 3)))  # [B, O]
    out = diag.anchor_vs_mean(cfg, p, one, q, raw, lcb_lambda=2.0, far=0.5)

    nets, nets1 = make_networks(cfg, 2), make_networks(one, 2)
    a_act = nets.actor_apply(p.actor, jnp.asarray(raw))  # GMM [B, K, A]
    w = np.asarray(jax.nn.softmax(a_act.logits))  # [B, K]
    means = np.clip(np.asarray(a_act.means), -1, 1)  # [B, K, A]
    a0 = means[np.arange(64), w.argmax(-1)]  # [B, A]
    b0 = np.clip(np.asarray(nets1.actor_apply(q.actor, jnp.asarray(raw - 0.5)).means[:, 0]), -1, 1)
    lcb_of = lambda a: np.stack([  # [B]
        (lambda v: v.mean() - 2.0 * v.std())(np.asarray(nets.critic_apply(
            p.critic, jnp.asarray(raw[i]), jnp.asarray(a[i])))) for i in range(64)])
    dist = np.linalg.norm(a0 - b0, axis=-1)
    gain = lcb_of(a0) - lcb_of(b0)
    np.testing.assert_allclose(out["dist"], dist.mean(), rtol=1e-5)
    np.testing.assert_allclose(out["lcb_gain"], gain.mean(), rtol=1e-4, atol=1e-6)
    assert out["lcb_prefers_anchor"] == pytest.approx(np.mean(gain > 0))
    assert out["far_frac"] == pytest.approx(np.mean(dist > 0.5))
    assert 0 < out["far_frac"] < 1  # the case exercises both branches
    far = dist > 0.5
    assert out["far_top_weight"] == pytest.approx(w.max(-1)[far].mean(), rel=1e-5)
    near = np.linalg.norm(means - b0[:, None], axis=-1).min(-1) < 0.25
    assert out["far_near_mode"] == pytest.approx(near[far].mean())


def test_heldout_gain_by_hand_and_invariants():
    """Brute force for one state; identical held-out critics agree with the choosing ones;
    with lambda = beta = 0 the choosing critics' gain is >= 0 and grows over nested sets."""
    import jax

    from gem_jax import GEMConfig, SelectKnobs, init_state, policy_params
    from gem_jax.method import gmm as gmm_lib
    from gem_jax.method.networks import make_networks
    from gem_jax.method.select import candidate_set

    cfg = GEMConfig(hidden_dims=(16, 16), num_critics=3, num_components=2,
                    behavior_num_components=2, candidate_means=True)
    params = policy_params(init_state(jax.random.PRNGKey(0), cfg, obs_dim=3, action_dim=2))
    obs = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (6, 3)))  # [B, O]
    knobs = SelectKnobs.create(lcb_lambda=1.0, beta_start=0.5, beta_end=0.5, horizon=10)
    key = jax.random.PRNGKey(2)
    out = diag.heldout_gain(cfg, params, obs[:1], key, (2, 8), knobs, num_select=2)

    nets = make_networks(cfg, 2)
    actor = nets.actor_apply(params.actor, jnp.asarray(obs[0]))
    behavior = nets.behavior_apply(params.behavior, jnp.asarray(obs[0]))
    # candidate_means (set above): both component means first, then the 8 samples
    cands = np.asarray(candidate_set(actor, behavior, jax.random.split(key, 1)[0], 8, "actor",
                                     "gem", True))  # [10, A]
    q = np.stack([np.asarray(nets.critic_apply(params.critic, jnp.asarray(obs[0]), a))
                  for a in cands])  # [10, 3]
    log_mu = np.array([float(gmm_lib.log_prob(behavior, jnp.asarray(a))) for a in cands])
    for n in (2, 8):
        qs, lm = q[: n + 2, :2], log_mu[: n + 2]
        score = qs.mean(1) - qs.std(1) + 0.5 * (lm - lm.mean()) / lm.std()
        best = int(np.argmax(score))
        np.testing.assert_allclose(out[n]["gain_select"], (qs[best] - qs[0]).mean(), atol=1e-4)
        np.testing.assert_allclose(out[n]["gain_heldout"], q[best, 2] - q[0, 2], atol=1e-4)
        assert out[n]["chose_anchor"] == float(best == 0)

    same = jax.tree.map(lambda x: x[None], params.critic)  # [1, E, ...]: judges = choosers
    out = diag.heldout_gain(cfg, params, obs, key, (1, 4, 16), knobs, heldout_critics=same)
    for row in out.values():
        np.testing.assert_allclose(row["gain_heldout"], row["gain_select"], atol=1e-5)
    greedy = SelectKnobs.create(lcb_lambda=0.0, beta_start=0.0, beta_end=0.0, horizon=10)
    out = diag.heldout_gain(cfg, params, obs, key, (1, 4, 16), greedy, num_select=2)
    gains = [out[n]["gain_select"] for n in (1, 4, 16)]
    assert gains[0] >= 0 and gains[0] <= gains[1] <= gains[2] and gains[2] > 0
    with pytest.raises(ValueError, match="num_select=3 must lie in"):
        diag.heldout_gain(cfg, params, obs, key, (1,), knobs, num_select=3)


def test_value_audit_by_hand():
    """G_t by hand for gamma = 0.5; dead steps count neither as reward nor in the means."""
    rewards = np.array([[1.0, 0.0, 2.0, 4.0], [0.0, 1.0, 9.0, 9.0]])  # [E=2, T=4]
    alive = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
    predicted = np.array([[3.0, 2.0, 9.0, 9.0], [1.0, 1.0, 9.0, 9.0]])
    out = diag.value_audit(rewards, predicted, alive, discount=0.5, first_steps=3)
    # episode 0: G_0 = 1 + 0.25 * 2 + 0.125 * 4 = 2, G_1 = 0.5 * 2 + 0.25 * 4 = 2, G_2 = 4;
    # episode 1 (dead after t = 1, its later rewards are ignored): G_0 = 0.5, G_1 = 1
    g = [1 + 0.25 * 2 + 0.125 * 4, 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 0.5, 1.0]
    pred = [3.0, 2.0, 9.0, 1.0, 1.0]
    np.testing.assert_allclose(out["realized"], np.mean(g))
    np.testing.assert_allclose(out["predicted"], np.mean(pred))
    np.testing.assert_allclose(out["gap"], np.mean(pred) - np.mean(g))
    np.testing.assert_allclose(out["realized_by_step"], [(g[0] + g[3]) / 2, (g[1] + g[4]) / 2,
                                                         g[2]])


def test_selection_curve_reads_sweeps_by_folder_or_file(tmp_path):
    """experiments/probes/selection_curve.py: a folder and a sweep.json, out of step order."""
    row = {"variant": "gem", "num_candidates": 64, "top_k": 1, "source": "actor",
           "mode": "zscore", "lcb_lambda": 1.0, "beta_start": 1.0, "beta_end": 0.1,
           "horizon": 1000.0, "mass_scale": 1.0, "support_model": "gmm",
           "normalized_score": 0.0, "normalized_score_seed_std": 0.0, "support_z": 1.0,
           "violation": 0.0, "collapse_dist": 0.2, "seed_scores": [0.0, 0.0]}
    for step, score in ((60000, 250.0), (20000, 0.0)):
        folder = tmp_path / f"s{step}"
        folder.mkdir()
        rows = [{**row, "normalized_score": score, "seed_scores": [score - 1, score + 1]}]
        (folder / "sweep.json").write_text(json.dumps({"env": "nav2d", "step": step, "rows": rows}))
    out = tmp_path / "curve"
    sweeps = f"{tmp_path / 's60000'},{tmp_path / 's20000' / 'sweep.json'}"
    proc = run("probes/selection_curve", f"--sweeps={sweeps}", f"--out={out}")
    assert proc.returncode == 0, proc.stderr
    lines = (out / "curve.md").read_text().splitlines()
    assert lines[2] == "| setting | 20000 | 60000 |"
    assert lines[4] == "| run config | 0.0 ± 0.0 (-1, 1) | 250.0 ± 0.0 (249, 251) |"
    record = json.loads((out / "curve.json").read_text())
    assert [r["step"] for r in record["settings"][0]["rows"]] == [20000, 60000]
    assert (out / "curve.png").stat().st_size > 1000
    bad = run("probes/selection_curve", f"--sweeps={tmp_path / 'missing'}", f"--out={out}")
    assert bad.returncode != 0 and "not found" in bad.stderr


def test_fidelity_rules_keep_a_softmax_draw_of_one_apart_from_the_argmax():
    """k = 1 is the argmax whatever rule gave it (mean, uniform draw, a share), but SfBC's
    softmax draw of one is a draw over the whole set: its own N curve."""
    import importlib.util

    path = pathlib.Path(__file__).parents[1] / "experiments" / "fidelity_table.py"
    spec = importlib.util.spec_from_file_location("fidelity_table_rules", path)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    row = lambda k, pick, frac=0.0: {"top_k": k, "top_k_pick": pick, "top_k_frac": frac}
    assert table.rule_of(row(1, "sample", 0.25)) == (1, "mean", 0.0)
    assert table.rule_of(row(1, "softmax")) == (1, "softmax", 0.0)
    assert table.curve_of(*table.rule_of(row(1, "sample"))) == "argmax"
    assert table.curve_of(*table.rule_of(row(1, "softmax"))) == "softmax, 1 averaged"
    assert table.curve_of(4, "softmax") == "softmax, 4 averaged"
    assert table.curve_of(256, "sample") == "top-256 sample"

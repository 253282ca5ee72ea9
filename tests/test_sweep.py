"""gem_jax/analysis/sweep.py and sweep_report.py: the grid, mass scaling, the table and plots."""

import dataclasses
import json

import gymnasium as gym
import jax
import numpy as np
import pytest

from gem_jax.analysis import sweep, sweep_report
from gem_jax.method.config import GEMConfig
from gem_jax.method.learner import init_state
from gem_jax.method.select import policy_params

CFG = GEMConfig(num_candidates=16, top_k=2, lcb_lambda=0.5, beta_start=2.0, beta_end=0.2,
                horizon=500, hidden_dims=(16,), num_critics=2, num_components=2,
                behavior_num_components=2)


def test_unset_knobs_take_the_run_config():
    settings, skipped = sweep.make_grid(CFG)
    assert skipped == [] and settings == [sweep.Setting(
        "gem", 16, 2, "actor", "zscore", 0.5, 2.0, 0.2, 500, 1.0)]
    knobs = settings[0].knobs()
    assert float(knobs.lcb_lambda) == 0.5 and float(knobs.horizon) == 500.0


def test_grid_is_the_cartesian_product():
    settings, _ = sweep.make_grid(CFG, num_candidates=[1, 8, 64], lcb_lambda=[0.0, 1.0],
                                  beta_start=[0.0, 1.0, 4.0], top_k=[1])
    assert len(settings) == 3 * 2 * 3
    assert {(s.num_candidates, s.lcb_lambda, s.beta_start) for s in settings} == {
        (n, lam, b) for n in (1, 8, 64) for lam in (0.0, 1.0) for b in (0.0, 1.0, 4.0)}
    assert len({s.static_key for s in settings}) == 3  # one compile per N, not per lambda/beta


def test_variants_force_their_factor_and_duplicates_drop():
    settings, _ = sweep.make_grid(CFG, variants=["behavior_only_cands", "raw"],
                                  source=["actor", "behavior"], mode=["zscore", "raw"])
    # behavior_only_cands: source forced -> 2 modes; raw: mode forced -> 2 sources
    assert sorted((s.variant, s.source, s.mode) for s in settings) == [
        ("behavior_only_cands", "behavior", "raw"), ("behavior_only_cands", "behavior", "zscore"),
        ("raw", "actor", "raw"), ("raw", "behavior", "raw")]


def test_anchor_bonus_settings_it_cannot_change_drop():
    """At N = 0 (the anchor alone) and for no_anchor the bonus acts on nothing."""
    settings, _ = sweep.make_grid(CFG, variants=["gem", "no_anchor"], num_candidates=[0, 4],
                                  anchor_bonus=[0.0, 3.0], top_k=[1])
    got = sorted((s.variant, s.num_candidates, s.anchor_bonus) for s in settings)
    assert got == [("gem", 0, 0.0), ("gem", 4, 0.0), ("gem", 4, 3.0), ("no_anchor", 4, 0.0)]
    with pytest.raises(ValueError, match="anchor_bonus=-1.0.*must be >= 0"):
        sweep.make_grid(CFG, anchor_bonus=[-1.0])


def test_candidate_means_is_a_static_axis_that_drops_where_it_cannot_act():
    """anchor_bary (one barycentre) and no_anchor (no modes) have no component means to add."""
    settings, _ = sweep.make_grid(CFG, variants=["gem", "anchor_bary", "no_anchor"],
                                  num_candidates=[4], candidate_means=[True, False], top_k=[1])
    got = sorted((s.variant, s.candidate_means) for s in settings)
    assert got == [("anchor_bary", False), ("gem", False), ("gem", True), ("no_anchor", False)]
    assert len({s.static_key for s in settings}) == 4  # one compiled policy each
    with pytest.raises(ValueError, match="candidate_means=.*true or false"):
        sweep.make_grid(CFG, candidate_means=["yes"])


def test_top_k_pick_is_a_static_axis_that_collapses_at_k_one():
    """Drawing one of the top 1 is taking it: k = 1 keeps one setting, k = 4 two."""
    settings, _ = sweep.make_grid(CFG, num_candidates=[8], top_k=[1, 4],
                                  top_k_pick=["mean", "sample"])
    got = sorted((s.top_k, s.top_k_pick) for s in settings)
    assert got == [(1, "mean"), (4, "mean"), (4, "sample")]
    assert len({s.static_key for s in settings}) == 3
    with pytest.raises(ValueError, match="top_k_pick=.*choose from"):
        sweep.make_grid(CFG, top_k_pick=["median"])


def test_a_softmax_draw_of_one_stays_its_own_setting():
    """SfBC's softmax pick with k = 1 draws one candidate over the whole set, not the argmax:
    the grid keeps it beside the argmax (k = 4 gives a third setting)."""
    settings, _ = sweep.make_grid(CFG, num_candidates=[8], top_k=[1, 4],
                                  top_k_pick=["mean", "softmax"])
    got = sorted((s.top_k, s.top_k_pick) for s in settings)
    assert got == [(1, "mean"), (1, "softmax"), (4, "mean"), (4, "softmax")]


def test_a_top_k_larger_than_a_budget_is_skipped_where_a_smaller_one_runs():
    settings, skipped = sweep.make_grid(CFG, num_candidates=[1, 16, 1024], top_k=[1, 256],
                                        top_k_pick=["mean", "sample"])
    got = sorted((s.num_candidates, s.top_k, s.top_k_pick) for s in settings)
    assert got == [(1, 1, "mean"), (16, 1, "mean"), (1024, 1, "mean"), (1024, 256, "mean"),
                   (1024, 256, "sample")]
    assert skipped == ["top_k=256 at N=1 (set of 2)", "top_k=256 at N=16 (set of 17)"]
    with pytest.raises(ValueError, match="top_k=256 must lie in"):  # one k alone still raises
        sweep.make_grid(CFG, num_candidates=[16, 1024], top_k=[256])


def test_a_top_k_share_resolves_to_each_budgets_k():
    settings, skipped = sweep.make_grid(CFG, num_candidates=[0, 1, 64, 1024, 2048], top_k=[1, 7],
                                        top_k_frac=[0, 0.25], top_k_pick=["sample"])
    # round(0.25 * (N + 1)): 0.25 -> 1, 0.5 -> 1 (at least one), 16.25, 256.25, 512.25;
    # the fixed top_k values are ignored (one setting per N), k = 1 is the argmax
    got = sorted((s.num_candidates, s.top_k, s.top_k_pick, s.top_k_frac) for s in settings
                 if s.top_k_frac > 0 or s.top_k == 1)
    assert got == [(0, 1, "mean", 0.0), (1, 1, "mean", 0.0), (64, 1, "mean", 0.0),
                   (64, 16, "sample", 0.25), (1024, 1, "mean", 0.0), (1024, 256, "sample", 0.25),
                   (2048, 1, "mean", 0.0), (2048, 512, "sample", 0.25)]
    # the fixed k = 7 does not fit N <= 1 (skipped); the share's k = 1 there dedupes
    assert skipped == ["top_k=7 at N=0 (set of 1)", "top_k=7 at N=1 (set of 2)"]
    (s,) = sweep.make_grid(CFG, num_candidates=[64], variants=["no_anchor"], top_k_frac=[0.25],
                           top_k_pick=["sample"])[0]
    assert s.top_k == 16 and s.top_k_frac == 0.25  # round(0.25 * 64): the set has no anchor
    share = CFG.replace(top_k_frac=0.25, top_k_pick="sample")
    (own,) = sweep.make_grid(share, num_candidates=[64])[0]  # the run's own rule
    (named,) = sweep.make_grid(share, num_candidates=[64], top_k=[2])[0]  # a fixed k
    assert (own.top_k, own.top_k_frac, named.top_k, named.top_k_frac) == (16, 0.25, 2, 0.0)
    with pytest.raises(ValueError, match="--top_k_frac=1.5 is invalid"):
        sweep.make_grid(CFG, top_k_frac=[1.5])


def test_no_anchor_at_zero_candidates_is_skipped():
    settings, skipped = sweep.make_grid(CFG, variants=["gem", "no_anchor"], num_candidates=[0, 4],
                                        top_k=[1])
    assert [(s.variant, s.num_candidates) for s in settings] == [
        ("gem", 0), ("gem", 4), ("no_anchor", 4)]
    assert skipped == ["no_anchor at N=0 (empty candidate set)"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_candidates=[4, -1]), "--num_candidates=-1 is invalid"),
    (dict(top_k=[0]), "--top_k=0 is invalid"),
    (dict(horizon=[0.0]), "--horizon=0.0 is invalid: horizon T must be > 0"),
    (dict(variants=["gem", "no_such"]), "--variants='no_such' is invalid"),
    (dict(mode=["softmax"]), "--mode='softmax' is invalid"),
    (dict(source=["critic"]), "--source='critic' is invalid"),
    (dict(lcb_lambda=[float("nan")]), "--lcb_lambda=nan is invalid"),
    (dict(mass_scale=[0.0]), "--mass_scale=0.0 is invalid"),
    (dict(support_model=["knn"]), "--support_model='knn' is invalid"),
    (dict(num_candidates=[0, 4], top_k=[3]), "top_k=3 must lie in [1, 1]"),
])
def test_invalid_knobs_name_the_flag(kwargs, message):
    with pytest.raises(ValueError) as err:
        sweep.make_grid(CFG, **kwargs)
    assert message in str(err.value)


def test_mass_scale_multiplies_every_body_mass():
    base = gym.make("Hopper-v5")
    scaled = sweep.mass_scaled(lambda: gym.make("Hopper-v5"), 1.5)()
    want = 1.5 * np.asarray(sweep.mujoco_model(base).body_mass)
    np.testing.assert_allclose(sweep.mujoco_model(scaled).body_mass, want, rtol=1e-12)
    assert want.sum() > 0
    base.close(), scaled.close()


def test_mass_scale_needs_mujoco_bodies():
    from gem_jax.envs import NAV2D_ID

    with pytest.raises(ValueError, match="no MuJoCo body masses"):
        sweep.mujoco_model(gym.make(NAV2D_ID))
    with pytest.raises(ValueError, match="point mass"):
        sweep.check_mass_scale("nav2d", [1.0, 0.5])
    sweep.check_mass_scale("nav2d", [1.0])  # the identity scale is always fine
    sweep.check_mass_scale("locomotion", [0.5, 1.5])


@dataclasses.dataclass
class FakeHopperData:
    """Just what `evaluation.evaluate` reads from a `Dataset`, over Hopper-v5."""

    suite: str = "locomotion"
    max_episode_steps: int = 25

    def make_env(self, **kwargs):
        return gym.make("Hopper-v5", **kwargs)

    def normalized_score(self, returns):
        return np.asarray(returns, np.float64)


def test_heavier_bodies_change_the_rollout_same_settings_repeat():
    """Mass scaling reaches the simulator; the same setting twice gives the same row."""
    cfg = CFG.replace(num_candidates=4, top_k=1)
    keys = jax.random.split(jax.random.PRNGKey(0), 1)
    state = jax.vmap(lambda k: init_state(k, cfg, 11, 3))(keys)  # one seed: [1, ...]
    settings, _ = sweep.make_grid(cfg, mass_scale=[1.0, 3.0])
    rows = sweep.run_sweep(FakeHopperData(), cfg, policy_params(state), settings + settings[:1],
                           num_episodes=2, progress=False)
    assert [r["mass_scale"] for r in rows] == [1.0, 3.0, 1.0]
    assert rows[0]["return_mean"] != rows[1]["return_mean"]
    assert rows[0]["return_mean"] == rows[2]["return_mean"]  # common random numbers
    assert rows[0]["num_seeds"] == 1 and len(rows[0]["seed_scores"]) == 1


def test_a_killed_sweep_goes_on_from_its_journal_and_equals_an_uninterrupted_one(
        tmp_path, monkeypatch):
    """Finished rows are read back, not re-evaluated; a torn last line and a row of another
    checkpoint (context) are evaluated afresh; the rows equal a sweep without a journal."""
    cfg = CFG.replace(num_candidates=4, top_k=1)
    keys = jax.random.split(jax.random.PRNGKey(0), 1)
    params = policy_params(jax.vmap(lambda k: init_state(k, cfg, 11, 3))(keys))
    settings, _ = sweep.make_grid(cfg, mass_scale=[1.0, 3.0, 0.5])
    run = lambda **kw: sweep.run_sweep(FakeHopperData(), cfg, params, settings, num_episodes=2,
                                       progress=False, **kw)
    plain = run()
    journal = tmp_path / "sweep.journal.jsonl"
    full = run(journal=journal, context={"step": 7})
    assert full == json.loads(json.dumps(plain, default=float))
    lines = journal.read_text().splitlines()
    assert len(lines) == 3

    # killed while writing the third row; the first row is of an older checkpoint
    old = lines[0].replace('\\"step\\": 7', '\\"step\\": 6')
    assert old != lines[0]
    journal.write_text("\n".join([old, lines[1], lines[2][: len(lines[2]) // 2]]))
    calls = []
    evaluate_setting = sweep.evaluate_setting
    monkeypatch.setattr(sweep, "evaluate_setting",
                        lambda *a, **k: calls.append(a[3].mass_scale) or evaluate_setting(*a, **k))
    resumed = run(journal=journal, context={"step": 7})
    assert calls == [1.0, 0.5]  # the mass-3 row came from the journal
    assert resumed == full
    assert len(sweep.runlog.read_jsonl(journal)) == 4  # old row, row 2, rows 1 and 3 again


def test_support_model_is_a_static_axis_and_empo_needs_a_fitted_support():
    """gmm vs empo (method §7) compile apart; empo scores with params.support, so CollapseDist
    (distance to the nearest *support* component mean) changes; without one: a clear error."""
    from gem_jax.empo.clustering import EMPOConfig
    from gem_jax.empo.support import fit_empo_support
    from gem_jax.method.types import Batch

    cfg = CFG.replace(num_candidates=8, top_k=1)
    settings, _ = sweep.make_grid(cfg, support_model=["gmm", "empo"])
    assert [s.support_model for s in settings] == ["gmm", "empo"]
    assert len({s.static_key for s in settings}) == 2
    keys = jax.random.split(jax.random.PRNGKey(0), 1)
    state = jax.vmap(lambda k: init_state(k, cfg, 11, 3))(keys)  # one seed: [1, ...]
    with pytest.raises(ValueError, match="fitted EMPO support"):
        sweep.run_sweep(FakeHopperData(), cfg, policy_params(state), settings, 1, progress=False)

    rng = np.random.default_rng(0)
    obs, act = rng.normal(size=(512, 11)).astype(np.float32), rng.uniform(-1, 1, (512, 3))
    batch = Batch(obs, act.astype(np.float32), np.zeros(512, np.float32), obs,
                  np.zeros(512, np.float32))
    support = fit_empo_support(batch, np.arange(512) // 16, progress=False,
                               config=EMPOConfig(em_epochs=1, pretrain_epochs=1, bias_epochs=0,
                                                 hidden_dims=(8,)))
    rows = sweep.run_sweep(FakeHopperData(), cfg, policy_params(state, support), settings, 1,
                           progress=False)
    assert [r["support_model"] for r in rows] == ["gmm", "empo"]
    assert all(np.isfinite(r["collapse_dist"]) for r in rows)
    assert rows[0]["collapse_dist"] != rows[1]["collapse_dist"]


ROWS = [
    dict(variant="gem", num_candidates=0, top_k=1, source="actor", mode="zscore",
         lcb_lambda=1.0, beta_start=1.0, beta_end=0.1, horizon=1000.0, mass_scale=1.0,
         support_model="gmm", normalized_score=12.5, normalized_score_seed_std=1.5,
         support_z=0.0, violation=0.0,
         collapse_dist=0.125, seed_scores=[11.25, 13.75]),
    dict(variant="gem", num_candidates=64, top_k=1, source="actor", mode="zscore",
         lcb_lambda=1.0, beta_start=1.0, beta_end=0.1, horizon=1000.0, mass_scale=1.0,
         support_model="gmm", normalized_score=40.0, normalized_score_seed_std=2.0,
         support_z=-0.5, violation=0.25,
         collapse_dist=0.5, seed_scores=[38.0, 42.0]),
]


def test_markdown_table_by_hand():
    lines = sweep_report.to_markdown(ROWS).splitlines()
    assert lines[0].startswith("| variant | N | k |") and lines[0].endswith("| CollapseDist |")
    assert len(lines) == 4 and lines[1] == "|" + "---|" * 19
    # the anchor bonus delta (column 11), the candidate means (13), the top-k pick (14) and
    # the k share (15) are newer than these rows: they show the paper's values
    assert lines[0].startswith("| variant | N | k | source | mode | support | λ | β₀ | β_end | "
                               "T | δ | mass | means | pick | k share | score |")
    assert lines[2] == ("| gem | 0 | 1 | actor | zscore | gmm | 1 | 1 | 0.1 | 1000 | 0 | 1 | "
                        "False | mean | 0 | 12.5 ± 1.5 | 0.00 | 0.000 | 0.125 |")
    assert lines[3] == ("| gem | 64 | 1 | actor | zscore | gmm | 1 | 1 | 0.1 | 1000 | 0 | 1 | "
                        "False | mean | 0 | 40.0 ± 2.0 | -0.50 | 0.250 | 0.500 |")


def test_csv_and_plots(tmp_path):
    sweep_report.write_csv(ROWS, tmp_path / "s.csv")
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert len(lines) == 3 and "seed_scores" not in lines[0] and lines[2].startswith("gem,64,")
    sweep_report.plot_budget(ROWS, tmp_path / "n.png")
    sweep_report.plot_frontier(ROWS, tmp_path / "f.png")
    assert (tmp_path / "n.png").stat().st_size > 1000 and (tmp_path / "f.png").stat().st_size > 1000
    # the budget plot has one line (only N varies), the frontier two (N varies there)
    assert list(sweep_report._groups(ROWS, ("num_candidates",))) == ["run config"]
    assert list(sweep_report._groups(ROWS, ("beta_start", "beta_end"))) == ["N=0", "N=64"]


def many_settings():
    """N x λ x β₀: 12 settings per budget, the case whose legend used to cover the data."""
    rows = []
    for n in (0, 1, 64, 1024):
        for lam in (0.0, 1.0, 2.0):
            for beta in (0.0, 0.5, 1.0, 2.0):
                rows.append({**ROWS[1], "num_candidates": n, "lcb_lambda": lam,
                             "beta_start": beta, "normalized_score": 10 + n / 100 + lam + beta,
                             "violation": beta / 10 + n / 1e4})
    return rows


def test_budget_plot_legend_sits_outside_and_ticks_are_the_budgets(tmp_path):
    rows = many_settings()
    fig = sweep_report.budget_figure(rows, "gem on nav2d")
    fig.canvas.draw()
    score_ax, violation_ax = fig.axes
    legend = violation_ax.get_legend()
    assert len(legend.get_texts()) == 12 and legend.get_title().get_text() == "λ, β₀"
    renderer = fig.canvas.get_renderer()
    right_edge = max(ax.get_window_extent(renderer).x1 for ax in fig.axes)
    assert legend.get_window_extent(renderer).x0 >= right_edge  # beside the data, not on it
    assert score_ax.get_legend() is None
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "64", "1024"]
        assert len({tuple(ln.get_color()) for ln in ax.get_lines() if len(ln.get_xdata()) == 4}
                   ) == 12  # 12 distinct colours (more than the default cycle's 10)
    assert legend.get_window_extent(renderer).x1 <= fig.bbox.x1  # inside the figure, uncut
    sweep_report.plot_budget(rows, tmp_path / "n.png")
    assert (tmp_path / "n.png").stat().st_size > 10_000


def test_frontier_legend_sits_outside_and_each_point_names_its_beta():
    rows = many_settings()
    chosen = {"variant": "gem", "num_candidates": 64, "lcb_lambda": 1.0, "beta_start": 0.5,
              "beta_end": 0.1, "horizon": 1000.0}
    fig = sweep_report.frontier_figure(rows, chosen=chosen)
    fig.canvas.draw()
    (ax,) = fig.axes
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "N, λ"
    texts = [t.get_text() for t in legend.get_texts()]
    assert len(texts) == 12 + 1 and texts[-1] == "the run's setting"
    assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1
    assert legend.get_window_extent(renderer).x1 <= fig.bbox.x1
    # every point labelled with its beta (β_end is one value here: β₀ alone)
    labels = [t.get_text() for t in ax.texts]
    assert len(labels) == len(rows) == 48
    assert labels[:4] == ["β₀ 0", "β₀ 0.5", "β₀ 1", "β₀ 2"]
    # the run's setting: one star, at that row's (Violation, score)
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    assert len(stars) == 1
    (row,) = [r for r in rows if (r["num_candidates"], r["lcb_lambda"], r["beta_start"])
              == (64, 1.0, 0.5)]
    assert (stars[0].get_xdata()[0], stars[0].get_ydata()[0]) == (row["violation"],
                                                                    row["normalized_score"])


def test_frontier_names_each_schedule_when_beta_end_varies():
    rows = [{**ROWS[1], "beta_start": float(b), "beta_end": e, "normalized_score": float(b)}
            for b in range(3) for e in (0.1, 3.0)]
    fig = sweep_report.frontier_figure(rows)
    assert [t.get_text() for t in fig.axes[0].texts][:2] == ["β 0→0.1", "β 0→3"]
    assert fig.axes[0].get_legend() is None  # one setting, no run's setting given: no legend


def ablation_rows():
    out = []
    for variant, score, viol in (("no_lcb", 30.0, 0.01), ("gem", 40.0, 0.0),
                                 ("no_pw", 10.0, 0.4), ("anchor_bary", 45.0, 0.0)):
        out.append({**ROWS[1], "variant": variant, "normalized_score": score,
                    "violation": viol, "seed_scores": [score - 2, score + 2]})
    return out


def test_ablation_is_a_bar_per_variant_ordered_by_delta_vs_gem(tmp_path):
    fig = sweep_report.ablation_figure(ablation_rows(), "gem on nav2d")
    score_ax, viol_ax = fig.axes
    ticks = [t.get_text() for t in score_ax.get_xticklabels()]
    assert ticks == ["gem", "anchor_bary\nΔ +5.0", "no_lcb\nΔ -10.0", "no_pw\nΔ -30.0"]
    assert [b.get_height() for b in score_ax.patches] == [40.0, 45.0, 30.0, 10.0]
    assert [b.get_height() for b in viol_ax.patches] == [0.0, 0.0, 0.01, 0.4]
    assert [t.get_text() for t in viol_ax.get_xticklabels()] == [
        "gem", "anchor_bary", "no_lcb", "no_pw"]
    seeds = [ln for ln in score_ax.get_lines() if ln.get_marker() == "o"]
    assert [list(ln.get_ydata()) for ln in seeds] == [[38.0, 42.0], [43.0, 47.0],
                                                      [28.0, 32.0], [8.0, 12.0]]
    sweep_report.plot_ablation(ablation_rows(), tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 10_000


def test_a_baseline_row_names_its_algorithm_and_only_the_columns_that_apply():
    rows = [{**ROWS[0], "normalized_score": 70.2, "normalized_score_seed_std": 30.4}]
    lines = sweep_report.to_markdown(rows, "iql").splitlines()
    assert lines[0] == "| variant | N | mass | score | SupportZ | Violation | CollapseDist |"
    assert lines[2] == "| iql | 0 | 1 | 70.2 ± 30.4 | 0.00 | 0.000 | 0.125 |"
    assert sweep_report.to_markdown(rows, "bc").splitlines()[2].startswith("| bc | 0 | 1 |")
    # GEM's table keeps every column; a baseline swept with candidates gets them too
    assert sweep_report.to_markdown(rows).splitlines()[0].count("|") == 20
    both = sweep_report.to_markdown([rows[0], ROWS[1]], "iql").splitlines()
    assert both[0].count("|") == 20 and both[3].startswith("| iql | 64 | 1 | actor |")


def test_scores_over_checkpoints_by_hand(tmp_path):
    later = [{**ROWS[0], "normalized_score": 20.0, "seed_scores": [19.0, 21.0]}]  # N=0 only
    sweeps = [{"step": 20000, "rows": later}, {"step": 5000, "rows": ROWS}]
    groups = sweep_report.over_steps(sweeps)
    assert list(groups) == ["N=0", "N=64"]
    assert [r["step"] for r in groups["N=0"]] == [5000, 20000]
    assert [r["normalized_score"] for r in groups["N=0"]] == [12.5, 20.0]
    lines = sweep_report.over_steps_markdown(groups).splitlines()
    assert lines[0] == "| setting | 5000 | 20000 |"
    assert lines[2] == "| N=0 | 12.5 ± 1.5 (11, 14) | 20.0 ± 1.5 (19, 21) |"
    assert lines[3] == "| N=64 | 40.0 ± 2.0 (38, 42) |  |"  # not evaluated at 20000
    fig = sweep_report.steps_figure(groups, "t")
    assert [len(line.get_xdata()) for line in fig.axes[1].lines] == [2, 1]
    sweep_report._save(fig, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="same checkpoint step"):
        sweep_report.over_steps([{"step": 5000, "rows": ROWS}, {"step": 5000, "rows": later}])

"""experiments/probes/lom_modes.py (gem_jax/analysis/lom_modes.py): the mode-mean policies
by hand, and a tiny nav2d LOM run whose `policy` row reproduces evaluate.py's score on the
same episodes."""

import json
import os
import pathlib
import subprocess
import sys
from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np

from gem_jax.analysis import lom_modes
from gem_jax.method import gmm as G
from gem_jax.method.learner import ObsNorm
from gem_jax.method.select import PolicyParams

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Three components per state; the third mean lies outside the box (clipped to (1, -1)).
MEANS = jnp.array([[[0.5, 0.5], [-0.5, 0.0], [2.0, -3.0]]])  # [B=1, K=3, A=2]


def fake_nets(target, logits=(0.0, 0.0, 0.0)):
    """Behavior GMM with MEANS and `logits`; two critics -|a - target|^2 and
    -|a - target|^2 - 0.1 (the min is the second)."""
    def behavior_apply(params, obs):
        means = jnp.broadcast_to(MEANS, (obs.shape[0], *MEANS.shape[1:]))
        weights = jnp.broadcast_to(jnp.asarray(logits), means.shape[:-1])
        return G.GMM(weights, means, jnp.zeros_like(means))

    def critic_apply(params, obs, actions):
        q = -jnp.sum((actions - jnp.asarray(target)) ** 2, -1)
        return jnp.stack([q, q - 0.1])  # [E=2, ...]

    return SimpleNamespace(behavior_apply=behavior_apply, critic_apply=critic_apply)


def params():
    return PolicyParams(actor=None, behavior=jnp.zeros(()), critic=jnp.zeros(()),
                        obs_norm=ObsNorm(jnp.zeros(3), jnp.ones(3)))


def test_hyper_acts_with_the_mean_of_the_hyper_qs_argmax():
    hyper_q = SimpleNamespace(apply=lambda h, obs: jnp.broadcast_to(h, (obs.shape[0], 3)))
    policy = lom_modes.mode_policy(fake_nets([0.5, 0.5]), hyper_q, "hyper")
    obs = jnp.zeros((2, 3))
    for scores, want in (([0.0, 1.0, -1.0], [-0.5, 0.0]), ([0.0, 0.0, 5.0], [1.0, -1.0])):
        actions, info = policy((params(), jnp.asarray(scores)), obs, None, 0, None)
        np.testing.assert_allclose(actions, [want, want])  # the third mean clipped to the box
        np.testing.assert_array_equal(info["support_z"], [0.0, 0.0])


def test_best_mode_acts_with_the_mean_the_critic_prefers():
    hyper_q = SimpleNamespace(apply=lambda h, obs: jnp.zeros((obs.shape[0], 3)))
    for target, want in (([0.6, 0.4], [0.5, 0.5]), ([-0.4, 0.1], [-0.5, 0.0]),
                         ([0.9, -2.0], [1.0, -1.0])):
        policy = lom_modes.mode_policy(fake_nets(target), hyper_q, "best_mode")
        actions, _ = policy((params(), None), jnp.zeros((1, 3)), None, 0, None)
        np.testing.assert_allclose(actions, [want])


def test_behavior_mode_acts_with_the_heaviest_components_mean_whatever_the_critic():
    hyper_q = SimpleNamespace(apply=lambda h, obs: jnp.array([[9.0, 0.0, 0.0]]))
    for logits, want in (((0.0, 2.0, 1.0), [-0.5, 0.0]), ((-1.0, -3.0, 0.5), [1.0, -1.0])):
        # the critic and the hyper-Q both prefer the first mean; the weights decide alone
        policy = lom_modes.mode_policy(fake_nets([0.5, 0.5], logits), hyper_q, "behavior_mode")
        actions, _ = policy((params(), None), jnp.zeros((1, 3)), None, 0, None)
        np.testing.assert_allclose(actions, [want])


def test_min_q_takes_the_ensemble_minimum_for_any_action_shape():
    nets = fake_nets([0.0, 0.0])
    obs = jnp.zeros((2, 3))
    actions = jnp.array([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 2.0], [1.0, 1.0]]])  # [B, 2, A]
    np.testing.assert_allclose(lom_modes.min_q(nets, None, obs, actions),
                               [[-1.1, -0.1], [-4.1, -2.1]], rtol=1e-6)
    np.testing.assert_allclose(lom_modes.min_q(nets, None, obs, actions[:, 0]), [-1.1, -4.1],
                               rtol=1e-6)


def test_imitation_target_is_the_clipped_weighted_mean_of_the_draws():
    """β = 1, Q(π) = 0: draws with Q 0, ln 2 and 10 weigh 1, 2 and the clip C = 3."""
    draws = jnp.array([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])  # [B=1, S=3, A=2]
    q = jnp.array([[0.0, np.log(2.0), 10.0]])  # [B, S]
    target = lom_modes.imitation_target(lambda a: q, draws, jnp.zeros(1), 1.0, 3.0)
    np.testing.assert_allclose(target, [[2 / 6, 3 / 6]], rtol=1e-6)
    # 5 lower: weights e^-5, 2 e^-5 and still the clip 3 (exp 5 > 3), which now dominates
    e = np.exp(-5.0)
    shifted = lom_modes.imitation_target(lambda a: q - 5.0, draws, jnp.zeros(1), 1.0, 3.0)
    np.testing.assert_allclose(shifted, [[2 * e / (3 * e + 3), 3 / (3 * e + 3)]], rtol=1e-5)


def run(script, *args):
    return subprocess.run([sys.executable, str(ROOT / "experiments" / f"{script}.py"), *args],
                          cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                          timeout=600)


def test_probe_on_a_tiny_nav2d_lom_run(tiny_nav2d, tmp_path):
    workdir = tmp_path / "lom"
    trained = run("train", "--algo=lom", f"--workdir={workdir}", "--steps=60",
                  "--eval_episodes=0", "--checkpoint_every=60", "--config.steps_per_call=30",
                  "--config.hidden_dims=(16,16)", "--config.behavior_num_components=3",
                  "--config.batch_size=64", "--num_seeds=2", "--noprogress")
    assert trained.returncode == 0, trained.stderr[-2000:]
    probed = run("probes/lom_modes", f"--workdir={workdir}", "--seed=7", "--eval_episodes=2",
                 "--num_candidates=8", "--num_states=32", "--noprogress")
    assert probed.returncode == 0, probed.stderr[-2000:]
    report = json.loads((workdir / "lom_modes" / "lom_modes.json").read_text())
    assert list(report["rollouts"]) == ["policy", "hyper", "best_mode", "samples",
                                        "behavior_mode"]
    assert all(len(r["seed_scores"]) == 2 for r in report["rollouts"].values())
    s = report["stats_mean"]
    assert 0.0 <= s["hyper_agrees_with_critic"] <= 1.0 and s["mode_sigma"] > 0.0
    assert s["policy_to_nearest_mode"] <= s["policy_to_hyper_mode"] + 1e-6
    assert s["q"]["behavior_mode"] <= s["q"]["best_mode"] + 1e-6  # best_mode: the max over means
    # `policy` is LOM as evaluate.py scores it (N = 0): the same episodes, the same scores.
    evaluated = run("evaluate", f"--workdir={workdir}", "--seed=7", "--eval_episodes=2",
                    "--num_candidates=0", f"--out={tmp_path / 'sweep'}", "--noprogress")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    rows = json.loads((tmp_path / "sweep" / "sweep.json").read_text())["rows"]
    np.testing.assert_allclose(report["rollouts"]["policy"]["seed_scores"],
                               rows[0]["seed_scores"], rtol=1e-6)
    assert "| hyper |" in (workdir / "lom_modes" / "lom_modes.md").read_text()


def test_probe_refuses_a_run_that_is_not_lom(tmp_path):
    done = run("probes/lom_modes", f"--workdir={tmp_path / 'none'}", "--noprogress")
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr

"""gem_jax/related/sfbc.py: Monte-Carlo returns, the planning value, one in-sample planning
update and the softmax selection against hand-computed numbers (method §9)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gem_jax.related import sfbc


def test_mc_returns_on_two_episodes_by_hand():
    # episode A: 3 steps ending in a terminal; episode B: 2 steps, truncated (not terminal)
    rewards = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
    dones = jnp.array([0, 0, 1, 0, 0])
    ends = jnp.array([False, False, True, False, True])
    g = sfbc.mc_returns(rewards, dones, ends, discount=0.5)
    # A: G2 = 3, G1 = 2 + 0.5 * 3 = 3.5, G0 = 1 + 0.5 * 3.5 = 2.75
    # B: G4 = 5 (cut, no bootstrap), G3 = 4 + 0.5 * 5 = 6.5; nothing leaks from B into A
    np.testing.assert_allclose(g, [2.75, 3.5, 3.0, 6.5, 5.0], rtol=1e-6)
    # a truncation that is not at the array's end also cuts the sum
    ends_mid = jnp.array([False, True, False, False, True])
    g = sfbc.mc_returns(rewards, jnp.zeros(5), ends_mid, discount=0.5)
    np.testing.assert_allclose(g, [2.0, 2.0, 3.0 + 0.5 * 6.5, 6.5, 5.0], rtol=1e-6)
    # the array's last step ends its episode even when unmarked; jit gives the same numbers
    jitted = jax.jit(sfbc.mc_returns, static_argnames="discount")
    np.testing.assert_allclose(jitted(rewards, dones, ends.at[-1].set(False), discount=0.5),
                               [2.75, 3.5, 3.0, 6.5, 5.0], rtol=1e-6)
    with pytest.raises(ValueError, match="one length"):
        sfbc.mc_returns(rewards, dones[:4], ends, 0.5)


def test_planning_value_by_hand_and_its_limits():
    q = jnp.array([[0.0, np.log(3.0)], [1.0, 1.0]])  # [M=2, S=2]
    # alpha = 1: weights (1, 3) / 4 on state 0, so V = 0.75 * log 3; equal q give q
    np.testing.assert_allclose(sfbc.planning_value(q, 1.0), [0.75 * np.log(3.0), 1.0],
                               rtol=1e-6)
    np.testing.assert_allclose(sfbc.softmax_weights(q, 1.0), [[0.25, 0.75], [0.5, 0.5]],
                               rtol=1e-6)
    q = jnp.array([[1.0, -2.0, 4.0, 0.5], [3.0, 2.0, 1.0, 0.0]])  # [M=2, S=4]
    np.testing.assert_allclose(sfbc.planning_value(q, 0.0), [0.875, 1.5], rtol=1e-6)  # mean
    np.testing.assert_allclose(sfbc.planning_value(q, 1e3), [4.0, 3.0], rtol=1e-6)  # max
    # between them it grows with alpha
    vs = [float(sfbc.planning_value(q, a)[0]) for a in (0.0, 0.5, 2.0, 10.0)]
    assert vs == sorted(vs) and 0.875 < vs[1] < vs[2] < 4.0
    with pytest.raises(ValueError, match="alpha"):
        sfbc.planning_value(q, -1.0)


def test_planned_returns_on_a_three_step_chain_by_hand():
    # One episode s0 -> s1 -> s2 -> s3, gamma = 0.5.
    #   r = (1, 0, 2); next_values V(s1) = 5, V(s2) = 1, V(s3) = 4.
    # Truncated at step 2 (not terminal): R2 = r2 + 0.5 * V(s3) = 2 + 2 = 4.
    #   R1 = r1 + 0.5 * max(R2, V(s2)) = 0 + 0.5 * max(4, 1) = 2     (dataset path is better)
    #   R0 = r0 + 0.5 * max(R1, V(s1)) = 1 + 0.5 * max(2, 5) = 3.5   (switching is better)
    r = jnp.array([1.0, 0.0, 2.0])
    v_next = jnp.array([5.0, 1.0, 4.0])
    ends = jnp.array([False, False, True])
    out = sfbc.planned_returns(r, jnp.zeros(3), ends, v_next, discount=0.5)
    np.testing.assert_allclose(out, [3.5, 2.0, 4.0], rtol=1e-6)
    # Terminal at step 2: R2 = r2 = 2 (V(s3) ignored), R1 = 0.5 * max(2, 1) = 1,
    #   R0 = 1 + 0.5 * max(1, 5) = 3.5
    out = sfbc.planned_returns(r, jnp.array([0, 0, 1]), ends, v_next, discount=0.5)
    np.testing.assert_allclose(out, [3.5, 1.0, 2.0], rtol=1e-6)
    # with values below every return, planning changes nothing: it is mc_returns on a terminal
    low = jnp.full(3, -100.0)
    np.testing.assert_allclose(sfbc.planned_returns(r, jnp.array([0, 0, 1]), ends, low, 0.5),
                               sfbc.mc_returns(r, jnp.array([0, 0, 1]), ends, 0.5), rtol=1e-6)
    # two such episodes in one array do not mix: V(s3) of the first is not the second's R0
    r2, v2 = jnp.concatenate([r, r]), jnp.concatenate([v_next, v_next])
    ends2, dones2 = jnp.concatenate([ends, ends]), jnp.array([0, 0, 1, 0, 0, 0])
    np.testing.assert_allclose(sfbc.planned_returns(r2, dones2, ends2, v2, 0.5),
                               [3.5, 1.0, 2.0, 3.5, 2.0, 4.0], rtol=1e-6)
    with pytest.raises(ValueError, match="next_values"):
        sfbc.planned_returns(r, jnp.zeros(3), ends, v_next[:2], 0.5)


def test_planned_returns_of_sfbcs_code_on_a_three_step_chain_by_hand():
    # U_i = max(r_i + g (1 - end_i) U_{i+1}, V(s_i)), gamma = 0.5, r = (1, 0, 2),
    # V(s0) = 3, V(s1) = 1, V(s2) = 4, the episode ends at step 2 (terminal or cut alike):
    #   U2 = max(2, 4) = 4; U1 = max(0 + 0.5 * 4, 1) = 2; U0 = max(1 + 0.5 * 2, 3) = 3
    r, v = jnp.array([1.0, 0.0, 2.0]), jnp.array([3.0, 1.0, 4.0])
    ends = jnp.array([False, False, True])
    np.testing.assert_allclose(sfbc.planned_returns_code(r, ends, v, 0.5), [3.0, 2.0, 4.0])
    # values below every return change nothing: the Monte-Carlo returns
    np.testing.assert_allclose(sfbc.planned_returns_code(r, ends, jnp.full(3, -9.0), 0.5),
                               sfbc.mc_returns(r, jnp.zeros(3), ends, 0.5))
    # two episodes do not mix: the second's U0 does not flow into the first's last step
    np.testing.assert_allclose(
        sfbc.planned_returns_code(jnp.tile(r, 2), jnp.tile(ends, 2), jnp.tile(v, 2), 0.5),
        [3.0, 2.0, 4.0, 3.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="values"):
        sfbc.planned_returns_code(r, ends, v[:2], 0.5)


def test_softmax_select_tends_to_the_argmax_and_is_uniform_at_zero():
    q = jnp.array([0.1, 0.3, 0.2, 0.25])
    keys = jax.random.split(jax.random.PRNGKey(0), 1000)
    q_many = jnp.broadcast_to(q, (1000, 4))  # [draws, M]
    greedy = sfbc.softmax_select(q_many, 1e4, keys[0])
    assert greedy.shape == (1000,) and np.all(np.asarray(greedy) == 1)
    uniform = np.asarray(sfbc.softmax_select(q_many, 0.0, keys[1]))
    freqs = np.bincount(uniform, minlength=4) / 1000
    np.testing.assert_allclose(freqs, 0.25, atol=0.05)  # binomial std 0.014
    # alpha = 10: frequencies follow softmax(10 q) = (0.064, 0.474, 0.174, 0.287)
    w = np.asarray(sfbc.softmax_weights(q, 10.0))
    np.testing.assert_allclose(w, np.exp(10 * np.asarray(q)) / np.exp(10 * np.asarray(q)).sum(),
                               rtol=1e-5)
    freqs = np.bincount(np.asarray(sfbc.softmax_select(q_many, 10.0, keys[2])), minlength=4)
    np.testing.assert_allclose(freqs / 1000, w, atol=0.05)
    # batched states pick per row
    rows = jnp.array([[0.0, 1.0, 0.5], [2.0, -1.0, 0.0]])
    np.testing.assert_array_equal(sfbc.softmax_select(rows, 1e4, keys[3]), [1, 0])

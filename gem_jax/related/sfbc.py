"""SfBC's pieces as pure functions (method §9): Monte-Carlo returns, in-sample planning and
the softmax selection among behavior samples.

SfBC ("Offline Reinforcement Learning via High-Fidelity Generative Behavior Modeling", Chen,
Lu, Wang, Su and Zhu) fits a diffusion model of the behavior policy
(`gem_jax.method.diffusion`), regresses a critic on returns, and acts by drawing M candidate
actions and picking one with probability `softmax(alpha Q)`. Its critic's targets start as the
dataset's discounted Monte-Carlo returns (`mc_returns`) and are improved by *in-sample
planning*: each state's value under the selection is estimated from S behavior samples
(`planning_value`), and the returns are recomputed backwards taking, at every next state, the
better of the dataset's continuation and that value (`planned_returns`).

Transitions are a flat array of several episodes in order: `rewards [M]`, `dones [M]` (the
episode ended in a terminal state at this step), `episode_ends [M]` (the episode stops at this
step: terminal or truncated). The array's last step always ends an episode.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gem_jax.method.learner import init_state, return_stats


def _check_transitions(name: str, **arrays: jax.Array) -> None:
    shapes = {k: jnp.shape(v) for k, v in arrays.items()}
    first = next(iter(shapes.values()))
    if len(first) != 1 or first[0] < 1 or any(s != first for s in shapes.values()):
        listed = ", ".join(f"{k} {s}" for k, s in shapes.items())
        raise ValueError(f"{name} needs 1-D arrays of one length M >= 1, one entry per "
                         f"transition (got {listed}).")


def _reverse_scan(step, init, xs):
    return jax.lax.scan(step, init, xs, reverse=True)[1]


def mc_returns(rewards: jax.Array, dones: jax.Array, episode_ends: jax.Array,
               discount: float) -> jax.Array:
    """Discounted Monte-Carlo returns within each episode, computed backwards: `[M] -> [M]`.

        G_i = r_i + γ (1 - d_i) (1 - e_i) G_{i+1},

    so the sum stops at an episode's end, terminal (`d_i`) or merely truncated (`e_i`): a
    truncated episode's tail is not bootstrapped (SfBC's initial targets, `R^(0)`)."""
    _check_transitions("mc_returns", rewards=rewards, dones=dones, episode_ends=episode_ends)
    rewards = jnp.asarray(rewards, jnp.float32)
    cont = (1.0 - jnp.asarray(dones, jnp.float32)) * (1.0 - _ends(episode_ends))  # [M]

    def step(g_next, x):
        r, c = x
        g = r + discount * c * g_next
        return g, g

    return _reverse_scan(step, jnp.zeros((), jnp.float32), (rewards, cont))


def _ends(episode_ends: jax.Array) -> jax.Array:
    """`episode_ends` as floats with the array's last step marked as an end."""
    return jnp.asarray(episode_ends, jnp.float32).at[-1].set(1.0)


def softmax_weights(q: jax.Array, alpha: float) -> jax.Array:
    """`softmax(alpha q)` over the last axis (the candidates): `[..., M] -> [..., M]`."""
    _check_alpha(alpha)
    return jax.nn.softmax(alpha * q, axis=-1)


def planning_value(q: jax.Array, alpha: float) -> jax.Array:
    """The value of a state under SfBC's selection among S behavior samples:
    `V = sum_j softmax(alpha q)_j q_j` over the last axis, `q [..., S] -> [...]` (e.g.
    `[M, S] -> [M]`). alpha -> 0 gives the mean of q, alpha -> inf its max."""
    return jnp.sum(softmax_weights(q, alpha) * q, axis=-1)


def planned_returns(rewards: jax.Array, dones: jax.Array, episode_ends: jax.Array,
                    next_values: jax.Array, discount: float) -> jax.Array:
    """One iteration of SfBC's in-sample planning, computed backwards: `[M] -> [M]`.

    `next_values[i] = V^(k-1)(s_{i+1})`, the planning value (`planning_value`) of transition
    i's next state. Within an episode this is the paper's recursion

        R^(k)_i = r_i + γ max(R^(k)_{i+1}, V^(k-1)_{i+1}):

    after step i, either follow the dataset's trajectory on (worth `R_{i+1}`) or switch to the
    selection policy at `s_{i+1}` (worth `V_{i+1}`). At an episode's last step there is no
    `R_{i+1}`: a terminal step gives `R_i = r_i`, a truncated one `R_i = r_i + γ V_{i+1}`
    (the value of the final next state), i.e.

        R_i = r_i + γ (1 - d_i) · (V_{i+1} if e_i else max(R_{i+1}, V_{i+1})).

    The paraphrase `U_i = max(r_i + γ U_{i+1}, V_i)` is the same recursion seen one step
    later: with `U_i = max(R_i, V_i)`, the paper's `R_i = r_i + γ U_{i+1}`. The paper's `R_i`
    is the target for `Q(s_i, a_i)` (it always credits the dataset action `a_i`), `U_i` a
    state value; we return `R`."""
    _check_transitions("planned_returns", rewards=rewards, dones=dones,
                       episode_ends=episode_ends, next_values=next_values)
    rewards = jnp.asarray(rewards, jnp.float32)
    alive = 1.0 - jnp.asarray(dones, jnp.float32)  # [M]
    ends = _ends(episode_ends) > 0  # [M]
    next_values = jnp.asarray(next_values, jnp.float32)

    def step(r_next, x):
        r, a, e, v = x
        r_i = r + discount * a * jnp.where(e, v, jnp.maximum(r_next, v))
        return r_i, r_i

    return _reverse_scan(step, jnp.zeros((), jnp.float32), (rewards, alive, ends, next_values))


def planned_returns_code(rewards: jax.Array, episode_ends: jax.Array, values: jax.Array,
                         discount: float) -> jax.Array:
    """One iteration of in-sample planning as SfBC's released code computes it
    (`dataset.update_returns`), backwards: `[M] -> [M]`.

        U_i = max(r_i + γ (1 - end_i) U_{i+1}, V_i),

    `values[i] = V^(k-1)(s_i)`, the planning value of transition i's *own* state, and `end_i`
    any episode end (terminal or truncated: the code bootstraps neither). `U_i` is the target
    of `Q(s_i, a_i)`; it never falls below the state's value under the selection. The issue's
    and our default form (`planning_target="code"`); the paper's recursion is
    `planned_returns`."""
    _check_transitions("planned_returns_code", rewards=rewards, episode_ends=episode_ends,
                       values=values)
    rewards = jnp.asarray(rewards, jnp.float32)
    cont = 1.0 - _ends(episode_ends)  # [M]
    values = jnp.asarray(values, jnp.float32)

    def step(u_next, x):
        r, c, v = x
        u = jnp.maximum(r + discount * c * u_next, v)
        return u, u

    return _reverse_scan(step, jnp.zeros((), jnp.float32), (rewards, cont, values))


def softmax_select(q: jax.Array, alpha: float, key: jax.Array) -> jax.Array:
    """One candidate index drawn from `softmax(alpha q)` over the last axis: `[..., M] ->
    [...]` int (SfBC's action selection; alpha = 100 at evaluation). alpha = 0 draws
    uniformly; as alpha grows it becomes the argmax."""
    _check_alpha(alpha)
    return jax.random.categorical(key, alpha * q, axis=-1)


def _check_alpha(alpha) -> None:
    if isinstance(alpha, (int, float)) and alpha < 0:
        raise ValueError(f"alpha is an inverse temperature and must be >= 0 (got {alpha}).")


def planning_steps(num_steps: int, iterations: int) -> list[int]:
    """The gradient steps after which the K planning iterations run, evenly spaced:
    `round(num_steps * j / (K + 1))` for j = 1..K (SfBC refits its critic after each)."""
    return [round(num_steps * j / (iterations + 1)) for j in range(1, iterations + 1)]


def episode_ends(episode_ids) -> jax.Array:
    """`[M]` bool: the transition is its episode's last (the next row starts another)."""
    ids = jnp.asarray(episode_ids)
    return jnp.append(ids[1:] != ids[:-1], True)


def make_state_values(config, action_dim: int):
    """SfBC's planning value of a batch of states for one seed, as a pure function:
    `(state, observations [C, O], key) -> V [C]`.

    `planning_samples` (S) actions per state from the diffusion model's EMA, scored like the
    select step scores them (the critic ensemble's LCB with `config.lcb_lambda`; SfBC's single
    Q at lambda = 0), then `V = planning_value(q, planning_temperature)`. The states are in the
    training space (the flat device dataset's). With `normalize_returns` the critic predicts
    standardised returns: the softmax acts on them (as SfBC's code), and V is mapped back to
    return units with the mean and std of `state.returns`."""
    from gem_jax.method import diffusion as diffusion_lib
    from gem_jax.method.networks import make_networks
    from gem_jax.method.select import lcb

    nets = make_networks(config, action_dim)
    num_samples, alpha = config.planning_samples, config.planning_temperature

    def state_values(state, observations, key):
        samples = diffusion_lib.propose(config, state.diffusion_ema, observations, key,
                                        num_samples, action_dim)  # [S, C, A]
        obs = jnp.broadcast_to(observations, (num_samples, *observations.shape))  # [S, C, O]
        q = nets.critic_apply(state.critic.params, obs.reshape(-1, obs.shape[-1]),
                              samples.reshape(-1, action_dim))  # [E, S*C]
        q = lcb(q.reshape(q.shape[0], *samples.shape[:2]), config.lcb_lambda, axis=0)  # [S, C]
        v = planning_value(q.T, alpha)  # [C]
        if config.normalize_returns:
            if state.returns is None:
                raise ValueError("normalize_returns: planning maps the critic's standardised "
                                 "values back with the state's returns; set state.returns "
                                 "(the runner starts them as the Monte-Carlo returns).")
            mean, std = return_stats(state.returns)
            v = v * std + mean
        return v

    return state_values


def padded_chunks(observations: jax.Array, chunk: int) -> jax.Array:
    """`[M, O] -> [n, chunk, O]`, zero rows appended so that every chunk is full (one
    compiled shape); the caller drops the values of the last `n * chunk - M` rows."""
    m, obs_dim = observations.shape
    chunk = min(chunk, m)
    n = -(-m // chunk)
    pad = jnp.zeros((n * chunk - m, obs_dim), observations.dtype)
    return jnp.concatenate([observations, pad]).reshape(n, chunk, obs_dim)


def planning_states(config, data) -> jax.Array:
    """The states planning values: each transition's own state (`planning_target="code"`)
    or its next state (`"paper"`), `[M, O]`."""
    return data.observations if config.planning_target == "code" else data.next_observations


def replan(config, data, ends: jax.Array, values: jax.Array) -> jax.Array:
    """The new targets `[M]` from the planning values `[M]` of `planning_states`."""
    if config.planning_target == "code":
        return planned_returns_code(data.rewards, ends, values, config.discount)
    return planned_returns(data.rewards, data.dones, ends, values, config.discount)


def reset_critic(config, state, obs_dim: int, action_dim: int):
    """A fresh critic ensemble (new weights, target copy and optimiser state) for a state, as
    SfBC's code does after each planning pass (`reset_critic=1`); one key split off
    `state.key`. The other models are kept."""
    key, init_key = jax.random.split(state.key)
    fresh = init_state(init_key, config, obs_dim, action_dim)
    return state.replace(critic=fresh.critic, target_critic_params=fresh.target_critic_params,
                         key=key)


def make_planning_step(config, action_dim: int):
    """One in-sample planning iteration as a pure function (method §9):
    `(state, data, episode_ends [M]) -> state` with `state.returns` [M] recomputed.

    Every transition's planning state (`planning_states`) gets `V_i` (`make_state_values`),
    then `replan` runs backwards over the dataset. The critic is not reset here
    (`reset_critic`). The states go through in chunks of
    `planning_chunk` (`lax.map`), so memory stays at [S, chunk, A] whatever M is; one key is
    split off `state.key`, chunk j draws with `fold_in(key, j)`. (The runner runs the same
    chunks from the host, with a progress bar: `harness.runner.plan_seeds`.)"""
    state_values = make_state_values(config, action_dim)

    def plan(state, data, ends):
        key, plan_key = jax.random.split(state.key)
        states = planning_states(config, data)  # [M, O]
        chunks = padded_chunks(states, config.planning_chunk)  # [n, C, O]
        keys = jax.vmap(lambda j: jax.random.fold_in(plan_key, j))(jnp.arange(chunks.shape[0]))
        values = jax.lax.map(lambda xs: state_values(state, *xs), (chunks, keys))  # [n, C]
        values = values.reshape(-1)[: states.shape[0]]  # [M]
        return state.replace(returns=replan(config, data, ends, values), key=key)

    return plan

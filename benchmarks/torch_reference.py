"""A straightforward PyTorch (CPU) implementation of GEM's select step and train step.

The yardstick for `compare_torch.py`: what a researcher would write in idiomatic eager
PyTorch, at the same sizes as the JAX library and doing the same arithmetic (method §1-3).
Not deliberately slow: the critic ensemble is one module with stacked weights applied by
`torch.baddbmm` (the EDAC/CORL `VectorizedLinear` pattern), selection runs under
`torch.inference_mode()` and is vectorised over states, candidates, components and
critics; the train step uses `torch.optim.Adam` and an in-place Polyak `lerp_`.
Needs the optional extra `bench` (`pip install -e ".[bench]"`).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def mlp(sizes: list[int], activate_final: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes) or activate_final:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VectorizedLinear(nn.Module):
    """E linear layers, weights stacked `[E, in, out]`: `x [E, M, in] -> [E, M, out]`."""

    def __init__(self, in_features: int, out_features: int, ensemble: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(ensemble, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(ensemble, 1, out_features))
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class CriticEnsemble(nn.Module):
    """`Q_1..Q_E(s, a)` in one module: `(obs [M, obs], act [M, A]) -> [E, M]`."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: list[int], ensemble: int):
        super().__init__()
        sizes = [obs_dim + action_dim, *hidden, 1]
        self.layers = nn.ModuleList(
            VectorizedLinear(sizes[i], sizes[i + 1], ensemble) for i in range(len(sizes) - 1)
        )
        self.ensemble = ensemble

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, act], dim=-1).unsqueeze(0).expand(self.ensemble, -1, -1)  # [E, M, in]
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers):
                x = torch.relu(x)
        return x.squeeze(-1)  # [E, M]


class GMMPolicy(nn.Module):
    """`s -> (logits [B, K], tanh means [B, K, A], clamped state-free log_stds [K, A])`."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: list[int], components: int):
        super().__init__()
        self.trunk = mlp([obs_dim, *hidden], activate_final=True)
        self.logits = nn.Linear(hidden[-1], components)
        self.means = nn.Linear(hidden[-1], components * action_dim)
        self.log_stds = nn.Parameter(torch.full((components, action_dim), -1.0))
        self.k, self.a = components, action_dim

    def forward(self, obs: torch.Tensor):
        h = self.trunk(obs)
        means = torch.tanh(self.means(h)).view(-1, self.k, self.a)  # [B, K, A]
        return self.logits(h), means, self.log_stds.clamp(-5.0, 2.0)


def component_log_joint(logits, means, log_stds, actions):
    """`l_k = log w_k + log N(a; m_k, sigma_k^2)`: actions [B, C, A] -> [B, C, K] (method §1)."""
    z = (actions.unsqueeze(-2) - means.unsqueeze(1)) * torch.exp(-log_stds)  # [B, C, K, A]
    comp = (-0.5 * z.square() - log_stds - HALF_LOG_2PI).sum(-1)  # [B, C, K]
    return torch.log_softmax(logits, -1).unsqueeze(1) + comp


class TorchGEM:
    """Actor, behavior, critic ensemble (+ target) and value net with their Adam optimisers."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: list[int] = (256, 256),
                 num_components: int = 5, num_critics: int = 5, lr: float = 3e-4, seed: int = 0):
        torch.manual_seed(seed)
        hidden = list(hidden)
        self.actor = GMMPolicy(obs_dim, action_dim, hidden, num_components)
        self.behavior = GMMPolicy(obs_dim, action_dim, hidden, num_components)
        self.critic = CriticEnsemble(obs_dim, action_dim, hidden, num_critics)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.value = mlp([obs_dim, *hidden, 1], activate_final=False)
        self.opts = {
            name: torch.optim.Adam(getattr(self, name).parameters(), lr=lr)
            for name in ("actor", "behavior", "critic", "value")
        }
        self.obs_mean = torch.zeros(obs_dim)
        self.obs_std = torch.ones(obs_dim)

    # ---------------- Phase II: select (method §3) ----------------
    @torch.inference_mode()
    def select(self, obs: torch.Tensor, num_candidates: int, t: float, top_k: int = 1,
               lcb_lambda: float = 1.0, beta_start: float = 1.0, beta_end: float = 0.1,
               horizon: float = 1000.0):
        """obs [B, obs] -> (actions [B, A], info of the top-1 candidate per state)."""
        obs = (obs - self.obs_mean) / self.obs_std
        logits, means, log_stds = self.actor(obs)  # [B, K], [B, K, A], [K, A]
        b_logits, b_means, b_log_stds = self.behavior(obs)
        batch, _, act_dim = means.shape
        rows = torch.arange(batch)
        anchor = means[rows, logits.argmax(-1)].unsqueeze(1)  # [B, 1, A]
        comp = torch.multinomial(torch.softmax(logits, -1), num_candidates, replacement=True)
        sampled = means[rows.unsqueeze(1), comp] + log_stds[comp].exp() * torch.randn(
            batch, num_candidates, act_dim
        )  # [B, N, A]
        cands = torch.cat([anchor, sampled], 1).clamp(-1.0, 1.0)  # [B, C, A]
        scores, parts = self.score(obs, cands, (b_logits, b_means, b_log_stds), t, lcb_lambda,
                                   beta_start, beta_end, horizon)  # [B, C]
        lcb, z, log_mu = parts["lcb"], parts["support_z"], parts["behavior_log_prob"]

        top = scores.topk(top_k, dim=1).indices  # [B, k]
        actions = cands[rows.unsqueeze(1), top].mean(1)  # [B, A]
        best = top[:, 0]
        chosen = cands[rows, best]  # [B, A]
        info = {
            "support_z": z[rows, best],
            "lcb": lcb[rows, best],
            "behavior_log_prob": log_mu[rows, best],
            "collapse_dist": (chosen.unsqueeze(1) - b_means).norm(dim=-1).min(-1).values,
        }
        return actions, info

    def score(self, obs, cands, behavior, t, lcb_lambda, beta_start, beta_end, horizon):
        """`score = LCB_lambda + beta_t z(log mu)` for normalised obs [B, obs], cands [B, C, A]."""
        batch, num, act_dim = cands.shape
        obs_rep = obs.unsqueeze(1).expand(-1, num, -1).reshape(batch * num, -1)  # [B*C, obs]
        q = self.critic(obs_rep, cands.reshape(batch * num, act_dim)).view(-1, batch, num)
        lcb = q.mean(0) - lcb_lambda * q.std(0, unbiased=False)  # [B, C]
        log_mu = torch.logsumexp(component_log_joint(*behavior, cands), -1)  # [B, C]
        z = (log_mu - log_mu.mean(1, keepdim=True)) / log_mu.std(
            1, unbiased=False, keepdim=True
        ).clamp_min(1e-6)  # [B, C]
        frac = min(t, horizon) / horizon
        beta = beta_end + (beta_start - beta_end) * 0.5 * (1.0 + math.cos(math.pi * frac))
        parts = {"lcb": lcb, "support_z": z, "behavior_log_prob": log_mu}
        return lcb + beta * z, parts

    # ---------------- Phase I: one train step (method §2) ----------------
    def _step(self, name: str, loss: torch.Tensor) -> None:
        self.opts[name].zero_grad()
        loss.backward()
        self.opts[name].step()

    def train_step(self, batch: dict, discount: float = 0.99, expectile: float = 0.7,
                   temperature: float = 3.0, exp_adv_max: float = 100.0,
                   entropy_coef: float = 1e-3, tau: float = 0.005) -> dict:
        """Update value, critic, actor, behavior on one minibatch, then Polyak the target."""
        obs, act, rew = batch["observations"], batch["actions"], batch["rewards"]
        done, next_obs = batch["dones"], batch["next_observations"]

        with torch.no_grad():
            target_q = self.target_critic(obs, act).min(0).values  # [B]
        diff = target_q - self.value(obs).squeeze(-1)
        weight = torch.where(diff < 0, 1.0 - expectile, expectile)
        value_loss = (weight * diff.square()).mean()
        self._step("value", value_loss)

        with torch.no_grad():
            y = rew + discount * (1.0 - done) * self.value(next_obs).squeeze(-1)  # [B]
            adv = target_q - self.value(obs).squeeze(-1)
        critic_loss = (self.critic(obs, act) - y).square().mean()
        self._step("critic", critic_loss)

        logits, means, log_stds = self.actor(obs)
        log_joint = component_log_joint(logits, means, log_stds, act.unsqueeze(1))[:, 0]  # [B, K]
        resp = torch.softmax(log_joint, -1).detach()
        s_em = (resp * log_joint).sum(-1)
        logw = torch.log_softmax(logits, -1)
        entropy = -(logw.exp() * logw).sum(-1)
        omega = torch.exp(temperature * adv).clamp(max=exp_adv_max)
        actor_loss = -(omega * s_em).mean() - entropy_coef * entropy.mean()
        self._step("actor", actor_loss)

        b_logits, b_means, b_log_stds = self.behavior(obs)
        log_mu = torch.logsumexp(
            component_log_joint(b_logits, b_means, b_log_stds, act.unsqueeze(1))[:, 0], -1
        )
        behavior_loss = -log_mu.mean()
        self._step("behavior", behavior_loss)

        with torch.no_grad():
            for target, online in zip(
                self.target_critic.parameters(), self.critic.parameters(), strict=True
            ):
                target.lerp_(online, tau)
        return {"value/loss": value_loss.detach(), "critic/loss": critic_loss.detach(),
                "actor/loss": actor_loss.detach(), "behavior/nll": behavior_loss.detach()}


def sample_batch(data: dict, batch_size: int) -> dict:
    """Uniform minibatch with replacement, as a training loop would draw it."""
    idx = torch.randint(0, data["rewards"].shape[0], (batch_size,))
    return {name: values[idx] for name, values in data.items()}


def load_jax_params(model: TorchGEM, state) -> TorchGEM:
    """Copy a `GEMState`'s parameters into `model` (flax kernels are `[in, out]`)."""
    t = lambda x: torch.from_numpy(np.array(x, dtype=np.float32))

    def dense(linear: nn.Linear, p: dict):
        linear.weight.data.copy_(t(p["kernel"]).T)
        linear.bias.data.copy_(t(p["bias"]))

    def trunk(seq: nn.Sequential, p: dict):
        linears = [m for m in seq if isinstance(m, nn.Linear)]
        for i, linear in enumerate(linears):
            dense(linear, p[f"Dense_{i}"])

    for name in ("actor", "behavior"):
        p, policy = getattr(state, name).params["params"], getattr(model, name)
        trunk(policy.trunk, p["MLP_0"])
        dense(policy.logits, p["Dense_0"])
        dense(policy.means, p["Dense_1"])
        policy.log_stds.data.copy_(t(p["log_stds"]))
    trunk(model.value, state.value.params["params"]["MLP_0"])
    for critic, params in ((model.critic, state.critic.params),
                           (model.target_critic, state.target_critic_params)):
        for i, layer in enumerate(critic.layers):
            p = params["params"]["MLP_0"][f"Dense_{i}"]
            layer.weight.data.copy_(t(p["kernel"]))  # [E, in, out]
            layer.bias.data.copy_(t(p["bias"])[:, None])  # [E, 1, out]
    model.obs_mean, model.obs_std = t(state.obs_norm.mean), t(state.obs_norm.std)
    return model


def synthetic_dataset(size: int, obs_dim: int, action_dim: int, seed: int = 0) -> dict:
    """Random transitions of the right shapes, as float32 CPU tensors."""
    gen = torch.Generator().manual_seed(seed)
    return {
        "observations": torch.randn(size, obs_dim, generator=gen),
        "actions": torch.rand(size, action_dim, generator=gen) * 2 - 1,
        "rewards": torch.randn(size, generator=gen),
        "next_observations": torch.randn(size, obs_dim, generator=gen),
        "dones": (torch.rand(size, generator=gen) < 0.01).float(),
    }

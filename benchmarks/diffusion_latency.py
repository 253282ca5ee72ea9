"""The compute shape (paper Figure 3, Table 3): GEM's N is parallel work, diffusion's T is
sequential. One run, one table, the same critic ensemble for both.

* GEM: the select step (`make_policy`) over N candidates (the anchor plus N actor samples,
  scored by LCB and the behavior z-score, argmax).
* Diffusion (IDQL's deployment): N candidates drawn by the DDPM reverse chain of T steps
  (`gem_jax.method.diffusion.sample`, IDQL's network: 256 wide, 3 residual blocks), then the
  argmax of the critic ensemble's LCB over them.

Each case is compiled first (compile time apart), warmed up, then timed with
`block_until_ready` (median and IQR), for 1 state and for a batch of B states; memory is the
compiled program's temporary bytes (and the device peak on a GPU).

    python -m benchmarks.diffusion_latency --json=benchmarks/results/diffusion_latency_cpu.json

`run(...)` is also the prepared GPU script's `diffusion` part (benchmarks/gpu_suite.py).
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import common
from gem_jax import SelectKnobs, init_state, make_policy, policy_params
from gem_jax.method import diffusion
from gem_jax.method.networks import make_networks

FLAGS = flags.FLAGS
# The paper's Table 3 (its GPU): per-decision latency in ms.
PAPER = {"gem": "1.25-1.33 ms from N = 1 to 2048", "idql": "2.0 ms at T = 10 -> 20.4 ms at T = 100"}


def define_flags() -> None:
    common.define_size_flags()
    flags.DEFINE_list("gem_candidates", ["1", "64", "1024", "2048"], "GEM's budgets N.")
    flags.DEFINE_list("diffusion_steps", ["5", "10", "20", "50", "100"], "Diffusion steps T.")
    flags.DEFINE_list("diffusion_candidates", ["1", "64", "1024"], "Diffusion samples N.")
    flags.DEFINE_integer("batch_size", 256, "B, states per call in the batched case (0: skip).")
    flags.DEFINE_integer("repeats", 30, "Timed calls per case (after warm-up).")
    flags.DEFINE_float("max_seconds", 20.0, "Time budget per case; slower cases repeat less.")
    flags.DEFINE_integer("diffusion_hidden", 256, "Width of IDQL's noise network.")
    flags.DEFINE_integer("planning_states", 4096, "States in the SfBC planning chunk timed "
                         "after the table (0: skip).")


def make_diffusion_policy(config, action_dim: int, num_steps: int, num_candidates: int,
                          hidden_dim: int = 256):
    """Jitted `(critic_params, net_params, observations [B, obs], key) -> actions [B, A]`:
    N samples of the T-step chain per state, then the argmax of `mean_e Q - lambda std_e Q`."""
    net = diffusion.DiffusionMLP(action_dim, hidden_dim=hidden_dim)
    schedule = diffusion.vp_schedule(num_steps)
    nets = make_networks(config, action_dim)

    @jax.jit
    def act(critic_params, net_params, observations, key):
        cands = diffusion.sample(net.apply, net_params, schedule, observations, key,
                                 num_candidates)  # [N, B, A]
        obs = jnp.broadcast_to(observations, (num_candidates, *observations.shape))
        q = nets.critic_apply(critic_params, obs, cands)  # [E, N, B]
        lcb = q.mean(axis=0) - config.lcb_lambda * q.std(axis=0)  # [N, B]
        best = jnp.argmax(lcb, axis=0)  # [B]
        return jnp.take_along_axis(cands, best[None, :, None], axis=0)[0]  # [B, A]

    return act, net


def _time(compiled_fn, args, repeats: int, max_seconds: float | None) -> dict:
    stats = common.time_calls(functools.partial(compiled_fn, *args), repeats, max_seconds)
    return {"latency_ms": stats["median_ms"], "latency_ms_spread": stats["spread_ms"],
            "latency_ms_min": stats["min_ms"], "repeats": stats["repeats"],
            "temp_bytes": common.memory_analysis(compiled_fn)["temp_bytes"]}


def run(diffusion_steps: list[int], num_candidates: list[int], batch_size: int = 256,
        repeats: int = 30, max_seconds: float | None = 20.0,
        gem_candidates: list[int] | None = None, obs_dim: int = 17, action_dim: int = 6,
        num_critics: int = 5, num_components: int = 5, hidden: tuple[int, ...] = (256, 256),
        seed: int = 0, diffusion_hidden: int = 256, deadline: float = 0.0,
        on_row=None) -> dict:
    """Every GEM N and every diffusion (T, N), 1 state and `batch_size` states; JSON rows.

    `on_row(partial_result)` runs after each row (the GPU script saves as it goes); past the
    Unix time `deadline` (0: none) the remaining cases are skipped and `truncated` is set."""
    machine = common.machine_info()
    config = common.bench_config(num_critics, num_components, hidden)
    gem_candidates = [1, 64, 1024, 2048] if gem_candidates is None else gem_candidates
    param_key, obs_key, net_key, select_key = jax.random.split(jax.random.PRNGKey(seed), 4)
    params = policy_params(init_state(param_key, config, obs_dim, action_dim))
    knobs = SelectKnobs.from_config(config)
    t = jnp.zeros((), jnp.float32)
    batches = {1: jax.random.normal(obs_key, (1, obs_dim))}  # [1, obs]
    if batch_size > 0:
        batches[batch_size] = jax.random.normal(obs_key, (batch_size, obs_dim))  # [B, obs]

    rows = []
    sizes = {"obs_dim": obs_dim, "action_dim": action_dim, "num_critics": num_critics,
             "num_components": num_components, "hidden": list(hidden),
             "batch_size": batch_size, "diffusion_hidden": diffusion_hidden,
             "diffusion_blocks": 3}

    def result(truncated: bool = False) -> dict:
        return {"rows": list(rows), **machine, "sizes": sizes, "paper": PAPER,
                "truncated": truncated,
                "timing": "median and IQR (p75-p25) of blocking calls after 3 warm-up calls; "
                          "peak_bytes is the process-wide device peak (GPU only)"}

    def add(row: dict) -> None:
        rows.append(row)
        print({k: row[k] for k in ("method", "steps", "num_candidates", "states",
                                   "latency_ms")}, flush=True)
        if on_row is not None:
            on_row(result())

    late = lambda: bool(deadline) and time.time() > deadline
    for n in sorted(gem_candidates):
        policy = make_policy(config, num_candidates=n)
        for b, obs in batches.items():
            if late():
                return result(truncated=True)
            args = (params, obs, select_key, t, knobs)
            compiled, compile_s = common.timed_compile(policy, *args)
            add({"method": "gem", "steps": 1, "num_candidates": n, "states": b,
                 "compile_s": compile_s, **_time(compiled, args, repeats, max_seconds),
                 "peak_bytes": common.peak_device_bytes()})
    for steps in sorted(diffusion_steps):
        for n in sorted(num_candidates):
            if late():
                return result(truncated=True)
            act, net = make_diffusion_policy(config, action_dim, steps, n, diffusion_hidden)
            net_params = net.init(net_key, batches[1], jnp.zeros((1, action_dim)),
                                  jnp.zeros((1,), jnp.int32))
            for b, obs in batches.items():
                args = (params.critic, net_params, obs, select_key)
                compiled, compile_s = common.timed_compile(act, *args)
                add({"method": "diffusion", "steps": steps, "num_candidates": n, "states": b,
                     "compile_s": compile_s, **_time(compiled, args, repeats, max_seconds),
                     "peak_bytes": common.peak_device_bytes()})
    return result()


def planning_throughput(num_states: int, planning_samples: int = 16, diffusion_steps: int = 5,
                        obs_dim: int = 17, action_dim: int = 6, num_critics: int = 5,
                        num_components: int = 5, hidden: tuple[int, ...] = (256, 256),
                        diffusion_hidden: int = 256, repeats: int = 5,
                        max_seconds: float | None = 20.0, seed: int = 0, **_) -> dict:
    """SfBC's in-sample planning (method §9) as a workload: one chunk of `num_states` states,
    `planning_samples` T-step diffusion samples each, scored by the critic ensemble
    (`related.sfbc.make_state_values`, the function the runner maps over the dataset);
    returns the chunk's latency and the seconds one planning pass over 10^6 transitions
    takes for one seed at that rate."""
    from gem_jax import presets
    from gem_jax.harness import learners
    from gem_jax.related.sfbc import make_state_values

    config = presets.sfbc(common.bench_config(num_critics, num_components, hidden)).replace(
        planning_samples=planning_samples, diffusion_steps=diffusion_steps,
        diffusion_hidden=diffusion_hidden).validate()
    state_key, obs_key, key = jax.random.split(jax.random.PRNGKey(seed), 3)
    state = learners.init_state(state_key, config, obs_dim, action_dim)
    state = state.replace(returns=jax.random.normal(state_key, (num_states,)))  # the targets
    obs = jax.random.normal(obs_key, (num_states, obs_dim))  # [C, obs]
    compiled, compile_s = common.timed_compile(
        jax.jit(make_state_values(config, action_dim)), state, obs, key)
    stats = _time(compiled, (state, obs, key), repeats, max_seconds)
    per_state_s = stats["latency_ms"] / 1e3 / num_states
    return {"states": num_states, "planning_samples": planning_samples,
            "diffusion_steps": diffusion_steps, "diffusion_hidden": diffusion_hidden,
            "compile_s": compile_s, **stats, "seconds_per_1e6_states": per_state_s * 1e6}


def table(result: dict) -> str:
    """One table: GEM rows (T = 1 call) then diffusion rows, both batch sizes side by side."""
    mb = lambda x: None if x is None else x / 2**20
    cases = {}
    for r in result["rows"]:
        cases.setdefault((r["method"], r["steps"], r["num_candidates"]), {})[r["states"]] = r
    sizes = sorted({r["states"] for r in result["rows"]})
    header = ["method", "T", "N"] + [f"ms ({b} state{'s' * (b > 1)})" for b in sizes] + \
        [f"temp MB ({b})" for b in sizes]
    rows = []
    for (method, steps, n), by_size in cases.items():
        rows.append([method, steps if method == "diffusion" else "-", n]
                    + [by_size.get(b, {}).get("latency_ms") for b in sizes]
                    + [mb(by_size.get(b, {}).get("temp_bytes")) for b in sizes])
    paper = "\n".join(f"* paper, {k}: {v}" for k, v in result.get("paper", PAPER).items())
    note = "\n(truncated at the deadline: later cases not run)\n" if result.get("truncated") \
        else ""
    plan = result.get("planning")
    planning = "" if not plan else (
        f"\nSfBC's in-sample planning: {plan['states']} states x {plan['planning_samples']} "
        f"samples x T = {plan['diffusion_steps']} (noise network {plan['diffusion_hidden']} wide)"
        f" in {plan['latency_ms']:.4g} ms, i.e. {plan['seconds_per_1e6_states']:.4g} s per "
        "10^6 transitions and seed.\n")
    return common.markdown_table(header, rows) + note + planning + "\n" + paper + "\n"


def main(argv):
    del argv
    result = run(
        common.parse_int_list(FLAGS.diffusion_steps, "diffusion_steps"),
        common.parse_int_list(FLAGS.diffusion_candidates, "diffusion_candidates"),
        batch_size=FLAGS.batch_size, repeats=FLAGS.repeats, max_seconds=FLAGS.max_seconds,
        gem_candidates=common.parse_int_list(FLAGS.gem_candidates, "gem_candidates"),
        diffusion_hidden=FLAGS.diffusion_hidden, **common.size_kwargs(FLAGS))
    if FLAGS.planning_states > 0:
        result["planning"] = planning_throughput(
            FLAGS.planning_states, diffusion_hidden=FLAGS.diffusion_hidden,
            repeats=FLAGS.repeats, max_seconds=FLAGS.max_seconds, **common.size_kwargs(FLAGS))
    result["command"] = common.command()
    common.write_outputs(FLAGS.json, result, table(result))


if __name__ == "__main__":
    define_flags()
    app.run(main)

"""Where the time goes: the select step split into its parts, and the train step's FLOP rate.

Select (one state, `--num_candidates` N): each part of the computation is jitted and timed
on its own (actor/behavior heads + sampling, the critic ensemble over the N+1 candidates,
the behavior log-likelihood, LCB + z-score + top-k), next to the whole step. FLOPs come
from the compiled HLO (`compiled.cost_analysis()`), so each row also reads as GFLOP/s; the
`roofline` row times the ensemble's dominant matmul `[E, C, H] x [E, H, H]` alone.

Train: FLOPs per step from the compiled `make_update`, the fused step's time per step,
and the time per step at tiny widths (`--tiny_hidden`), which is the fixed cost per step
that does not scale with the network (dispatch, optimiser bookkeeping, sampling). With
`--torch`, the PyTorch reference gets the same two train measurements.
`--trace_dir` also records `jax.profiler` traces of the whole select step and of a fused
train call, and lists the compiled HLO ops that take the most time in them, each with its
output shape from the HLO text (the traces open in TensorBoard's profile plugin or Perfetto).

    python -m benchmarks.profile_hotpath --torch --json=benchmarks/results/profile_cpu.json
"""

from __future__ import annotations

import collections
import functools
import glob
import gzip
import json
import os
import re

import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import common, train_throughput
from gem_jax import SelectKnobs, init_state, make_policy, policy_params
from gem_jax.method import gmm
from gem_jax.method.learner import make_train_loop, make_update, sample_batch
from gem_jax.method.networks import make_networks
from gem_jax.method.select import lcb, top_k_mean, zscore

FLAGS = flags.FLAGS


def define_flags() -> None:
    common.define_size_flags()
    flags.DEFINE_integer("num_candidates", 1024, "N of the select breakdown.")
    flags.DEFINE_integer("batch_size", 256, "Train minibatch size.")
    flags.DEFINE_integer("steps_per_call", 100, "K, fused train steps per timed call.")
    flags.DEFINE_integer("repeats", 30, "Timed calls per select part.")
    flags.DEFINE_list("tiny_hidden", ["8"], "Widths whose step time is the fixed per-step cost.")
    flags.DEFINE_bool("torch", False, "Also measure the PyTorch reference's train step.")
    flags.DEFINE_string("trace_dir", None, "If set, write a jax.profiler trace here.")


def flops(compiled) -> float | None:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return None if not cost or "flops" not in cost else float(cost["flops"])


def measure(fn, *args, repeats: int) -> dict:
    """Compile `jax.jit(fn)` for args; median and fastest ms, GFLOP, GFLOP/s (fastest call)."""
    compiled, _ = common.timed_compile(jax.jit(fn), *args)
    stats = common.time_calls(functools.partial(compiled, *args), repeats)
    gflop = (flops(compiled) or 0.0) / 1e9
    return {"ms": stats["median_ms"], "min_ms": stats["min_ms"], "gflop": gflop,
            "gflop_per_s": gflop / (stats["min_ms"] / 1e3)}


def op_profile(compiled, args: tuple, trace_dir: str, calls: int = 20, top: int = 8) -> list:
    """Trace `calls` blocking calls with `jax.profiler`; top HLO ops by time per call.

    Each row: HLO op name, ms per call, and its `type[shape] opcode` from the compiled HLO,
    so a fusion reads as e.g. `f32[5,1025,256] fusion` next to its cost.
    """
    for _ in range(2):
        jax.block_until_ready(compiled(*args))
    jax.profiler.start_trace(trace_dir)
    for _ in range(calls):
        jax.block_until_ready(compiled(*args))
    jax.profiler.stop_trace()
    path = max(glob.glob(os.path.join(trace_dir, "plugins", "profile", "*", "*.trace.json.gz")),
               key=os.path.getmtime)
    with gzip.open(path) as f:
        events = json.load(f)["traceEvents"]
    hlo = {m.group(1): f"{m.group(2)} {m.group(3)}" for m in re.finditer(
        r"%([\w.-]+) = (\S+?)(?:\{[^}]*\})? (\w[\w-]*)\(", compiled.as_text())}
    micros = collections.Counter()
    for e in events:
        if e.get("ph") == "X" and e.get("name") in hlo:
            micros[e["name"]] += e["dur"]
    return [[name, us / calls / 1e3, hlo[name]] for name, us in micros.most_common(top)]


def select_parts(config, n: int, obs_dim: int, action_dim: int, seed: int, repeats: int) -> dict:
    """Time the whole select step and each of its parts for one state."""
    key = jax.random.PRNGKey(seed)
    params = policy_params(init_state(key, config, obs_dim, action_dim))
    nets = make_networks(config, action_dim)
    knobs, t = SelectKnobs.from_config(config), jnp.zeros((), jnp.float32)
    obs = jax.random.normal(key, (obs_dim,))  # [obs]
    cands = jax.random.uniform(key, (n + 1, action_dim), minval=-1.0, maxval=1.0)  # [C, A]
    behavior = nets.behavior_apply(params.behavior, obs)
    q = jax.random.normal(key, (n + 1, config.num_critics))  # [C, E]
    log_mu = jax.random.normal(key, (n + 1,))  # [C]
    hidden = config.hidden_dims[-1]
    x = jax.random.normal(key, (config.num_critics, n + 1, hidden))  # [E, C, H]
    w = jax.random.normal(key, (config.num_critics, hidden, hidden))  # [E, H, H]

    def heads_and_sampling(p, o, k):
        actor = nets.actor_apply(p.actor, o)
        nets.behavior_apply(p.behavior, o)
        return gmm.top_component_mean(actor), gmm.sample(actor, k, n)

    def critics(p, o, c):
        return jax.vmap(lambda a: nets.critic_apply(p.critic, o, a))(c)  # [C, E]

    def critic_first_layer(p, o, c):  # relu([s, a] W_e + b_e) for every critic and candidate
        layer = p.critic["params"]["MLP_0"]["Dense_0"]
        x = jnp.concatenate([jnp.broadcast_to(o, (c.shape[0], o.shape[0])), c], -1)  # [C, in]
        return jax.nn.relu(jnp.einsum("ci,eih->ech", x, layer["kernel"]) + layer["bias"][:, None])

    def score(q, log_mu, c):
        return top_k_mean(c, lcb(q, knobs.lcb_lambda) + 0.5 * zscore(log_mu), 1)

    policy = make_policy(config, num_candidates=n)
    return {
        "whole select step": measure(policy, params, obs[None], key, t, knobs, repeats=repeats),
        "actor+behavior heads, sampling": measure(heads_and_sampling, params, obs, key,
                                                  repeats=repeats),
        "critic ensemble on candidates": measure(critics, params, obs, cands, repeats=repeats),
        "  of which: first layer (contraction obs+act)": measure(
            critic_first_layer, params, obs, cands, repeats=repeats),
        "behavior log-likelihood": measure(gmm.log_prob, behavior, cands, repeats=repeats),
        "LCB + z-score + top-k": measure(score, q, log_mu, cands, repeats=repeats),
        "roofline: [E,C,H]x[E,H,H] matmul": measure(
            lambda x, w: jnp.einsum("ech,ehk->eck", x, w), x, w, repeats=repeats),
    }


def jax_train(config, obs_dim: int, action_dim: int, steps: int, seed: int) -> dict:
    """GFLOP per step (compiled HLO) and the fused step's ms per step."""
    key = jax.random.PRNGKey(seed)
    data = train_throughput.synthetic_dataset(key, 10_000, obs_dim, action_dim)
    state = init_state(key, config, obs_dim, action_dim)
    batch = sample_batch(key, data, config.batch_size)
    gflop = (flops(jax.jit(make_update(config)).lower(state, batch).compile()) or 0.0) / 1e9
    result = train_throughput.run([1], obs_dim, action_dim, config.num_critics,
                                  config.num_components, config.hidden_dims, config.batch_size,
                                  steps, 10_000, repeats=3, seed=seed)
    ms = 1e3 / result["steps_per_s"]
    return {"ms_per_step": ms, "gflop_per_step": gflop, "gflop_per_s": gflop / (ms / 1e3)}


def traced_ops(config, n: int, obs_dim: int, action_dim: int, seed: int, trace_dir: str) -> dict:
    """`op_profile` of the select step (one state) and of a fused call of 10 train steps."""
    key = jax.random.PRNGKey(seed)
    state = init_state(key, config, obs_dim, action_dim)
    params, knobs = policy_params(state), SelectKnobs.from_config(config)
    args = (params, jax.random.normal(key, (1, obs_dim)), key, jnp.zeros(()), knobs)
    select = common.timed_compile(make_policy(config, num_candidates=n), *args)[0]
    data = train_throughput.synthetic_dataset(key, 10_000, obs_dim, action_dim)
    loop = jax.jit(make_train_loop(config, 10))  # not donated: the same state every call
    train = common.timed_compile(loop, state, data)[0]
    return {"select": op_profile(select, args, os.path.join(trace_dir, "select")),
            "train (10 steps per call)": op_profile(train, (state, data),
                                                    os.path.join(trace_dir, "train"), calls=3)}


def torch_train_ms(config, obs_dim: int, action_dim: int, steps: int, threads: int) -> float:
    import torch

    from benchmarks import torch_reference as ref

    torch.set_num_threads(threads)
    model = ref.TorchGEM(obs_dim, action_dim, config.hidden_dims, config.num_components,
                         config.num_critics)
    data = ref.synthetic_dataset(10_000, obs_dim, action_dim)

    def call():
        for _ in range(steps):
            model.train_step(ref.sample_batch(data, config.batch_size))

    return common.time_calls(call, 3, warmup=1, block=lambda x: x)["median_ms"] / steps


def run(num_candidates=1024, batch_size=256, steps_per_call=100, repeats=30, tiny_hidden=(8,),
        with_torch=False, trace_dir=None, obs_dim=17, action_dim=6, num_critics=5,
        num_components=5, hidden=(256, 256), seed=0) -> dict:
    machine = common.machine_info()  # load and date at the start
    config = common.bench_config(num_critics, num_components, hidden).replace(
        batch_size=batch_size)
    tiny = config.replace(hidden_dims=tuple(tiny_hidden))
    select = select_parts(config, num_candidates, obs_dim, action_dim, seed, repeats)
    train = {"default widths": jax_train(config, obs_dim, action_dim, steps_per_call, seed),
             f"tiny widths {list(tiny_hidden)}": jax_train(tiny, obs_dim, action_dim,
                                                           steps_per_call, seed)}
    ops = {} if not trace_dir else traced_ops(config, num_candidates, obs_dim, action_dim, seed,
                                              trace_dir)
    torch_rows = {}
    if with_torch:
        for threads in (1, 2):
            for name, cfg in (("default widths", config), ("tiny widths", tiny)):
                torch_rows[f"{name}, {threads} thread(s)"] = torch_train_ms(
                    cfg, obs_dim, action_dim, 20, threads)
    return {"select": select, "train": train, "torch_train_ms_per_step": torch_rows,
            "top_hlo_ops": ops,
            **machine,
            "sizes": {"num_candidates": num_candidates, "batch_size": batch_size,
                      "obs_dim": obs_dim, "action_dim": action_dim, "num_critics": num_critics,
                      "num_components": num_components, "hidden": list(hidden)}}


def table(result: dict) -> str:
    n = result["sizes"]["num_candidates"]
    rows = [[name, r["ms"], r["min_ms"], r["gflop"], r["gflop_per_s"]]
            for name, r in result["select"].items()]
    out = f"Select step, one state, N = {n}:\n\n"
    out += common.markdown_table(
        ["part", "median ms", "fastest ms", "GFLOP", "GFLOP/s (fastest)"], rows)
    rows = [[f"JAX, {name}", r["ms_per_step"], r["gflop_per_step"], r["gflop_per_s"]]
            for name, r in result["train"].items()]
    rows += [[f"PyTorch, {name}", ms, None, None]
             for name, ms in result["torch_train_ms_per_step"].items()]
    out += "\nTrain step:\n\n" + common.markdown_table(["", "ms/step", "GFLOP/step", "GFLOP/s"],
                                                       rows)
    for name, rows in result["top_hlo_ops"].items():
        out += f"\nTop HLO ops by time (jax.profiler trace), {name}:\n\n"
        out += common.markdown_table(["HLO op", "ms per call", "output, opcode"], rows)
    return out


def main(argv):
    del argv
    result = run(FLAGS.num_candidates, FLAGS.batch_size, FLAGS.steps_per_call, FLAGS.repeats,
                 tuple(common.parse_int_list(FLAGS.tiny_hidden, "tiny_hidden")), FLAGS.torch,
                 FLAGS.trace_dir, **common.size_kwargs(FLAGS))
    result["command"] = common.command()
    common.write_outputs(FLAGS.json, result, table(result))


if __name__ == "__main__":
    define_flags()
    app.run(main)

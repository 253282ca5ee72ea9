"""The training run at the edge: dataset -> device -> fused train calls -> logs, evals,
checkpoints -> summary. `experiments/train.py` is its command-line face.

The state carries a leading seed axis `[S, ...]`; one jitted program runs the fused
`lax.scan` loop vmapped over seeds, sharded over devices along the seed axis when there
are several (`gem_jax.harness.parallel`: S need not be a multiple of the devices; on several
hosts only process 0 writes logs and summaries). Every `steps_per_call` steps the host
fetches the stacked metrics once, checks them for non-finite values (the divergence
guard), and logs, evaluates and checkpoints on its intervals.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from gem_jax.harness import checkpoint as ckpt
from gem_jax.harness.evaluation import RESULT_KEYS, action_scale, evaluate
from gem_jax.harness.learners import init_state, make_train_loop
from gem_jax.harness.logwriters import open_writers, parse_log_to
from gem_jax.harness.parallel import (
    fetch,
    pad_seeds,
    padded_seeds,
    replicate,
    seed_mesh,
    shard_seeds,
    unpad_seeds,
    vmap_seeds,
)
from gem_jax.harness.runlog import MetricsLog, plot_learning_curve, write_json
from gem_jax.method.config import GEMConfig
from gem_jax.method.learner import ObsNorm
from gem_jax.method.select import SelectKnobs, make_policy, policy_params, seed_params
from gem_jax.method.types import Batch
from gem_jax.presets import from_config_dict


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss or parameter; the last good checkpoint is kept."""


class DatasetError(ValueError):
    """A dataset is on disk but cannot be read (corrupted or half-written)."""


def open_dataset(env: str, download: bool = False, normalize_observations: bool = False,
                 progress: bool = True):
    """`gem_jax.data.load_dataset` with every failure turned into a one-line user error.

    Unknown names (`ValueError` listing close matches) and missing datasets
    (`FileNotFoundError` saying how to get them) pass through; anything else raised while
    reading a dataset that exists (a truncated HDF5 file, a garbled cache or metadata)
    becomes a `DatasetError` naming the dataset directory to delete and rebuild.
    """
    from gem_jax.data import load_dataset, resolve_name, storage

    spec = resolve_name(env)
    try:
        return load_dataset(env, download=download,
                            normalize_observations=normalize_observations, progress=progress)
    except TimeoutError:
        raise
    except Exception as err:  # noqa: BLE001 - any reader failure means a damaged dataset
        if isinstance(err, FileNotFoundError) and not all(
            storage.is_on_disk(i) for i in spec.dataset_ids
        ):
            raise  # not on disk: the message says how to get it
        where = ", ".join(str(storage.dataset_dir(i)) for i in spec.dataset_ids)
        detail = " ".join(str(err).split())[:300]
        raise DatasetError(
            f"Dataset {env!r} at {where} could not be read ({type(err).__name__}: {detail}); "
            "it looks corrupted: delete that directory and rebuild or re-download it."
        ) from err


def check_workdir(workdir: str | pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(workdir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write_test_{jax.process_index()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise PermissionError(
            f"Cannot write to workdir {path} ({err.strerror}); choose another --workdir."
        ) from None
    return path


def next_actions(actions: np.ndarray, episode_ids: np.ndarray) -> np.ndarray:
    """The dataset's next action of each transition `[M, A]`: the following row's action
    within the same episode; an episode's last step repeats its own (its bootstrap is masked
    at a terminal; at a time-limit cut the next action was never recorded)."""
    following = np.concatenate([actions[1:], actions[-1:]])  # [M, A]
    same = np.append(episode_ids[1:] == episode_ids[:-1], False)  # [M]
    return np.where(same[:, None], following, actions)


def device_dataset(dataset, scale: np.ndarray, with_next_actions: bool = False,
                   returns_discount: float | None = None, reward_scaling: bool = True) -> Batch:
    """The flat dataset on device, actions mapped to [-1, 1] by the env's action scale;
    with the next actions where the critic bootstraps SARSA-style, and with the discounted
    Monte-Carlo returns (`returns_discount`) where it regresses on them (`critic_target`;
    then the rewards are `returns_rewards`, what in-sample planning sums too). Without
    `reward_scaling` the suite's reward scale is undone (`Dataset.reward_scale`)."""
    b = dataset.batch
    unscale = 1.0 if reward_scaling else 1.0 / dataset.reward_scale
    f32 = lambda x: jnp.asarray(np.asarray(x, np.float32))
    actions = np.clip(np.asarray(b.actions) / scale, -1.0, 1.0)
    return Batch(
        observations=f32(b.observations),
        actions=f32(actions),
        rewards=f32((b.rewards if returns_discount is None else returns_rewards(dataset))
                    * np.float32(unscale)),
        next_observations=f32(b.next_observations),
        dones=f32(b.dones),
        next_actions=(f32(next_actions(actions, np.asarray(dataset.episode_ids)))
                      if with_next_actions else None),
        returns=(None if returns_discount is None else dataset_returns(dataset,
                                                                        returns_discount)),
    )


def returns_rewards(dataset) -> np.ndarray:
    """The rewards `[M]` SfBC's returns sum: the loaded ones, except on AntMaze, where the
    loader's `r - 1` (IQL's convention) is undone: with it a failed episode's state k steps
    before its time limit would be worth -(1 - γ^k)/(1 - γ), what a state k steps from the
    goal is worth; SfBC's code sums the 0/1 reward."""
    rewards = np.asarray(dataset.batch.rewards, np.float32)
    return rewards + np.float32(1.0) if dataset.suite == "antmaze" else rewards


def dataset_returns(dataset, discount: float) -> jax.Array:
    """Each transition's discounted MC return within its episode (`related.sfbc.mc_returns`;
    an episode ends where the next row starts another, terminal or truncated), of
    `returns_rewards`."""
    from gem_jax.related.sfbc import episode_ends, mc_returns

    return mc_returns(jnp.asarray(returns_rewards(dataset)),
                      jnp.asarray(dataset.batch.dones, jnp.float32),
                      episode_ends(np.asarray(dataset.episode_ids)), discount)


def plan_seeds(config: GEMConfig, action_dim: int, state, data: Batch, ends: jax.Array,
               progress: bool = False, desc: str = "in-sample planning"):
    """SfBC's in-sample planning for every seed (`related.sfbc`, method §9): the same chunks,
    keys and values as `related.sfbc.make_planning_step`, vmapped over the seed axis and run
    chunk by chunk from the host under a progress bar (over 10^6 transitions: 34 min a seed on
    our 2-core CPU, benchmarks/RESULTS.md "The compute shape"). Returns the state with each
    seed's `returns` recomputed by its own critic and diffusion model, and one key split off
    each seed's."""
    from gem_jax.related.sfbc import padded_chunks, planning_states, replan

    split = jax.jit(vmap_seeds(jax.random.split))
    pairs = split(state.key)  # [S, 2, 2]
    keys, plan_keys = pairs[:, 0], pairs[:, 1]
    values_fn = _seed_values(config, action_dim)
    states = planning_states(config, data)  # [M, O]
    chunks = padded_chunks(states, config.planning_chunk)  # [n, C, O]
    values = []
    for j in tqdm(range(chunks.shape[0]), disable=not progress, desc=desc, unit="chunk",
                  dynamic_ncols=True, leave=False):
        values.append(values_fn(state, chunks[j], plan_keys, j))  # [S, C]
    values = jnp.concatenate(values, axis=1)[:, : states.shape[0]]  # [S, M]
    returns = jax.jit(vmap_seeds(lambda v: replan(config, data, ends, v)))(values)  # [S, M]
    return state.replace(returns=returns, key=keys)


def reset_critics(config: GEMConfig, state, obs_dim: int, action_dim: int):
    """`related.sfbc.reset_critic` for every seed (SfBC's code, after each planning pass)."""
    from gem_jax.related.sfbc import reset_critic

    return vmap_seeds(lambda s: reset_critic(config, s, obs_dim, action_dim))(state)


@functools.lru_cache(maxsize=8)
def _seed_values(config: GEMConfig, action_dim: int):
    """Jitted `(state [S, ...], chunk [C, O], keys [S, 2], j) -> V [S, C]`."""
    from gem_jax.related.sfbc import make_state_values

    state_values = make_state_values(config, action_dim)
    one = lambda st, obs, key, j: state_values(st, obs, jax.random.fold_in(key, j))
    return jax.jit(vmap_seeds(one, in_axes=(0, None, 0, None)))


class _NoLog:
    """Stands in for a `MetricsLog` on processes other than 0 of a multi-host run."""

    def write(self, row) -> None:
        pass

    def truncate_after(self, step: int) -> None:
        pass

    def rows(self) -> list:
        return []


def init_seeds(config: GEMConfig, seeds: list[int], obs_dim: int, action_dim: int, obs_norm):
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])  # [S, 2]
    return jax.vmap(lambda k: init_state(k, config, obs_dim, action_dim, obs_norm))(keys)


def make_seed_loop(config: GEMConfig, num_steps: int, phase: str | None = None):
    """Jitted `(state [S, ...], dataset) -> (state, metrics [S, K])`, state donated
    (`phase`: `learner.make_update`'s)."""
    loop = vmap_seeds(make_train_loop(config, num_steps, phase), in_axes=(0, None))
    return jax.jit(loop, donate_argnums=0)


def next_chunk(config: GEMConfig, step: int) -> tuple[int, str | None]:
    """`(steps, phase)` of the fused call starting at `step`: `steps_per_call` steps, fewer at
    the end of the run or of the behavior's pretraining (a call never spans both phases, so
    each runs the program built for it)."""
    k, pretrain = config.steps_per_call, config.gmm_pretrain_steps
    if pretrain <= 0:
        return min(k, config.num_steps - step), None
    if step < pretrain:
        return min(k, pretrain - step), "pretrain"
    return min(k, config.num_steps - step), "main"


def find_divergence(metrics: dict, first_step: int) -> str | None:
    finite = np.asarray(metrics["train/finite"])  # [S, K]
    if finite.all():
        return None
    seed, k = np.argwhere(finite == 0)[0]
    bad = [n for n in ("value/loss", "critic/loss", "actor/loss", "behavior/nll")
           if not np.isfinite(np.asarray(metrics[n])[seed, k])]
    if "train/params_finite" in metrics and not np.asarray(metrics["train/params_finite"])[seed, k]:
        bad.append("parameters")
    return (f"non-finite {', '.join(bad) or 'loss'} at step {first_step + int(k) + 1} "
            f"(seed index {int(seed)})")


SEED_RESULTS = RESULT_KEYS


def evaluate_seeds(dataset, config, state, num_episodes: int, step: int, policy=None,
                   support=None) -> dict:
    """Evaluate every seed's policy; per-seed results and their mean/std."""
    policy = policy or make_policy(config)
    knobs = SelectKnobs.from_config(config)
    params = policy_params(state, support)
    num_seeds = int(np.asarray(state.step).shape[0])
    per_seed = []
    for i in range(num_seeds):
        p_i = seed_params(params, i)
        key = jax.random.fold_in(jax.random.PRNGKey(config.seed + i), step)
        per_seed.append(evaluate(dataset, policy, p_i, knobs, key, num_episodes, config.z_thresh,
                                 seed=10_000 + config.seed + i))
    out = {k: float(np.mean([r[k] for r in per_seed])) for k in SEED_RESULTS if k in per_seed[0]}
    out["normalized_score_seed_std"] = float(np.std([r["normalized_score"] for r in per_seed]))
    out["normalized_score_episode_std"] = float(
        np.std([s for r in per_seed for s in r["episode_scores"]]))
    out["per_seed"] = per_seed
    return out


def empo_support(dataset, scale: np.ndarray, workdir: pathlib.Path, seed: int,
                 progress: bool):
    """Fit (or reload) the EMPO cluster-mixture support of `dataset` (method §7), on raw
    observations and actions in [-1, 1], saved as `<workdir>/empo_support.msgpack`."""
    from gem_jax.empo.support import fit_empo_support, load_support, save_support

    path = workdir / ckpt.SUPPORT_FILE
    if path.is_file():
        return load_support(path)
    b = dataset.batch
    raw = lambda x: np.asarray(x) * dataset.obs_std + dataset.obs_mean  # undo standardising
    batch = Batch(raw(b.observations), np.clip(np.asarray(b.actions) / scale, -1, 1),
                  b.rewards, raw(b.next_observations), b.dones)
    support = fit_empo_support(batch, dataset.episode_ids, key=jax.random.PRNGKey(seed),
                               progress=progress)
    save_support(path, support)
    return support


def train_row(metrics: dict, step: int, steps_per_s: float) -> dict:
    """One `metrics` row: each metric's mean over seeds and the call's steps (the CSV
    columns), `step`, `steps_per_s` (the train steps per second since the previous row: a
    phase of another speed, such as LOM's pretraining, does not linger in it; the summary's
    is the whole run's), and `per_seed` (each metric's mean per seed; JSONL only)."""
    row = {name: float(np.mean(v)) for name, v in metrics.items()}
    row.update(step=step, steps_per_s=steps_per_s)
    row["per_seed"] = {name: np.mean(np.asarray(v), axis=1).tolist()
                       for name, v in metrics.items()}
    return row


def eval_row(result: dict, step: int) -> dict:
    """One `eval` row: the means and stds over seeds (CSV), and `per_seed` (JSONL only)."""
    row = {"step": step, **{k: v for k, v in result.items() if k not in ("per_seed", "step")}}
    row["per_seed"] = {k: [r[k] for r in result["per_seed"]] for k in SEED_RESULTS
                       if k in result["per_seed"][0]}
    return row


def eval_scalars(result: dict, seeds: list[int]) -> dict[str, float]:
    """An evaluation for TensorBoard / W&B: `eval/<name>` (over seeds) and
    `eval/seed_<s>/<name>` for each seed's results and audits."""
    out = {f"eval/{k}": v for k, v in result.items() if k not in ("per_seed", "step")}
    for seed, r in zip(seeds, result["per_seed"]):
        out.update({f"eval/seed_{seed}/{k}": r[k] for k in SEED_RESULTS if k in r})
    return out


def _crossed(prev: int, step: int, last: int, every: int) -> bool:
    """Whether an interval boundary (or the final step) lies in (prev, step]."""
    return every > 0 and (step // every > prev // every or step == last)


def run_training(
    env: str,
    config: GEMConfig,
    workdir: str | pathlib.Path,
    num_seeds: int = 1,
    resume: bool = False,
    download: bool = False,
    progress: bool = True,
    algo: str = "gem",
    log_to=("csv",),
    log_group: str | None = None,
    checkpoint_minutes: float = 10.0,
) -> dict:
    """Train, evaluate, checkpoint and summarise one run; returns the summary dict.

    `log_to`: where metrics go besides the CSV/JSONL logs (always written), a subset of
    `gem_jax.harness.logwriters.TARGETS`; `log_group` groups W&B runs (compare.py: its --out).
    A checkpoint is saved every `config.checkpoint_every` steps and also once
    `checkpoint_minutes` of wall time have passed since the last one (0: steps only), so a
    killed slow run (AntMaze: ~20 steps/s for 3 seeds) loses minutes, not an interval."""
    log_to = parse_log_to(log_to)  # a missing package fails here, before any work
    with contextlib.ExitStack() as cleanup:  # closes the log writers however the run ends
        return _train(cleanup, env, config, workdir, num_seeds, resume, download, progress,
                      algo, log_to, log_group, checkpoint_minutes)


def _train(cleanup: contextlib.ExitStack, env: str, config: GEMConfig, workdir, num_seeds: int,
           resume: bool, download: bool, progress: bool, algo: str, log_to: tuple[str, ...],
           log_group: str | None, checkpoint_minutes: float = 0.0) -> dict:
    config.validate()
    if num_seeds < 1:
        raise ValueError(f"num_seeds must be >= 1, got {num_seeds}.")
    if resume and not ckpt.has_checkpoint(workdir):  # before anything is written there
        raise FileNotFoundError(
            f"no checkpoint in {workdir} to resume; drop --resume to start a new run"
        )
    workdir = check_workdir(workdir)
    start_step, state, meta = 0, None, None
    if ckpt.has_checkpoint(workdir):
        if not resume:
            raise FileExistsError(
                f"{workdir} already holds checkpoints; pass --resume to continue that run "
                "or choose a fresh --workdir."
            )
        meta = ckpt.newest_meta(workdir)
        saved = from_config_dict(meta["config"])
        config = saved.replace(num_steps=config.num_steps)  # the run's own config, new length
        num_seeds = len(meta["seeds"])

    dataset = open_dataset(env, download=download,
                           normalize_observations=config.normalize_observations, progress=progress)
    probe = dataset.make_env()
    scale = action_scale(probe)
    probe.close()
    # made once the dataset opened: a run that fails before leaves no checkpoints folder
    manager = ckpt.make_manager(workdir, keep=config.keep_checkpoints)
    if meta is not None:
        state, meta, start_step, damaged = ckpt.restore_newest_intact(
            workdir, check=lambda m: ckpt.check_dims(m, dataset.obs_dim, dataset.action_dim,
                                                     workdir, env))
        if damaged:  # set aside (kept), so that the resumed run can write those steps again
            aside = [ckpt.set_aside(workdir, step) for step in damaged]
            manager = ckpt.make_manager(workdir, keep=config.keep_checkpoints)
            print(f"warning: checkpoint step {', '.join(map(str, damaged))} in "
                  f"{ckpt.checkpoint_dir(workdir)} is damaged (moved to {aside[0].parent}); "
                  f"resuming from step {start_step}, the newest intact one.", file=sys.stderr)
        start_step = int(np.asarray(state.step)[0])
    seeds = [config.seed + i for i in range(num_seeds)]
    meta = meta or ckpt.make_meta(config, dataset.obs_dim, dataset.action_dim, seeds,
                                  env=env, dataset_id=dataset.dataset_id, suite=dataset.suite,
                                  action_scale=scale.tolist(), algo=algo,
                                  num_transitions=int(dataset.batch.rewards.shape[0]))
    data = device_dataset(dataset, scale, config.critic_target == "sarsa",
                          config.discount if config.critic_target == "returns" else None,
                          config.reward_scaling)
    support = None
    if config.support_model == "empo":  # the behavior support in selection (method §7 ablation)
        support = empo_support(dataset, scale, workdir, config.seed, progress)
    mesh = seed_mesh(num_seeds)  # seeds split over devices, padded to a multiple of them
    data = replicate(data, mesh)
    primary = jax.process_index() == 0  # the one process that writes logs (multi-host)
    if state is None:
        obs_norm = ObsNorm(jnp.asarray(dataset.obs_mean, jnp.float32),
                           jnp.asarray(dataset.obs_std, jnp.float32))
        state = init_seeds(config, seeds, dataset.obs_dim, dataset.action_dim, obs_norm)
        if config.planning_iterations > 0:  # each seed's targets start as the MC returns
            state = state.replace(returns=jnp.broadcast_to(data.returns,
                                                           (num_seeds, *data.returns.shape)))
    plan_at, ends = [], None
    if config.planning_iterations > 0:
        from gem_jax.related.sfbc import episode_ends, planning_steps

        plan_at = planning_steps(config.num_steps, config.planning_iterations)
        ends = episode_ends(np.asarray(dataset.episode_ids))
    state = shard_seeds(pad_seeds(state, padded_seeds(num_seeds, mesh)), mesh)

    logs = (MetricsLog(workdir, "metrics"), MetricsLog(workdir, "eval")) if primary else None
    train_log, eval_log = logs or (_NoLog(), _NoLog())
    train_log.truncate_after(start_step)
    eval_log.truncate_after(start_step)
    if primary:
        write_json(workdir / "config.json", {"env": env, "num_seeds": num_seeds,
                                              "config": dataclasses.asdict(config)})
    writers = cleanup.enter_context(open_writers(
        log_to if primary else (), workdir, name=f"{algo} {env} {workdir.name}",
        group=log_group, start_step=start_step))
    writers.hparams({"env": env, "algo": algo, "num_seeds": num_seeds,
                     **dataclasses.asdict(config)})

    chunk, phase = next_chunk(config, min(start_step, config.num_steps - 1))  # a done run too
    t0 = time.perf_counter()
    loops = {(chunk, phase): make_seed_loop(config, chunk, phase).lower(state, data).compile()}
    compile_s = time.perf_counter() - t0
    policy = make_policy(config)

    step, train_time, steps_done, result = start_step, 0.0, 0, None
    logged = (0, 0.0)  # (steps_done, train_time) at the last metrics row
    planning_s = 0.0  # SfBC's in-sample planning, outside train_time (steps/s)
    last_save = time.monotonic()
    bar = tqdm(total=config.num_steps, initial=start_step, unit="step",
               disable=not (progress and primary),
               desc=f"{algo} {env}", dynamic_ncols=True)
    while step < config.num_steps:
        chunk, phase = next_chunk(config, step)
        if (chunk, phase) not in loops:  # a new phase or a partial call compiles once more
            loops[(chunk, phase)] = make_seed_loop(config, chunk, phase)
        t = time.perf_counter()
        state, metrics = loops[(chunk, phase)](state, data)
        metrics = unpad_seeds(fetch(metrics), num_seeds)  # one host transfer: [S, K] each
        train_time += time.perf_counter() - t
        problem = find_divergence(metrics, step)
        if problem:
            bar.close()
            raise DivergenceError(
                f"Training diverged: {problem}. The last good checkpoint in "
                f"{ckpt.checkpoint_dir(workdir)} is kept; lower the learning rates or check "
                "the data."
            )
        prev, step, steps_done = step, step + chunk, steps_done + chunk
        bar.update(chunk)
        crossed = functools.partial(_crossed, prev, step, config.num_steps)
        for at in (p for p in plan_at if prev < p <= step):  # SfBC: new critic targets
            bar.write(f"step {step}: in-sample planning ({plan_at.index(at) + 1} of "
                      f"{len(plan_at)}) over {ends.shape[0]} transitions")
            t = time.perf_counter()
            state = plan_seeds(config, dataset.action_dim, state, data, ends,
                               progress and primary)
            jax.block_until_ready(state.returns)
            seconds = time.perf_counter() - t
            planning_s += seconds
            bar.write(f"step {step}: planning done in {seconds:.0f} s")
            if config.planning_reset_critic:
                state = reset_critics(config, state, dataset.obs_dim, dataset.action_dim)
        if crossed(config.log_every):
            row = train_row(metrics, step, (steps_done - logged[0]) / max(
                train_time - logged[1], 1e-9))
            logged = (steps_done, train_time)
            train_log.write(row)
            writers.scalars({k_: v for k_, v in row.items() if k_ != "step"}, step)
            bar.set_postfix(critic=f"{row['critic/loss']:.3g}", nll=f"{row['behavior/nll']:.3g}")
        if crossed(config.eval_every) and config.eval_episodes > 0:
            result = evaluate_seeds(dataset, config, unpad_seeds(state, num_seeds),
                                    config.eval_episodes, step, policy, support)
            result["step"] = step
            eval_log.write(eval_row(result, step))
            writers.scalars(eval_scalars(result, seeds), step)
            if primary:
                bar.write(f"step {step}: normalised score {result['normalized_score']:.1f}, "
                          f"Violation {result['violation']:.3f}")
        overdue = checkpoint_minutes > 0 and time.monotonic() - last_save >= 60 * checkpoint_minutes
        if crossed(config.checkpoint_every) or (overdue and step < config.num_steps):
            ckpt.save(manager, step, unpad_seeds(state, num_seeds), meta)
            last_save = time.monotonic()
    bar.close()
    if manager.latest_step() != step:
        ckpt.save(manager, step, unpad_seeds(state, num_seeds), meta)

    final = result if result is not None and result["step"] == step else {}
    if not final and config.eval_episodes > 0:
        final = evaluate_seeds(dataset, config, unpad_seeds(state, num_seeds),
                               config.eval_episodes, step, policy, support)
        writers.scalars(eval_scalars(final, seeds), step)
    summary = {
        "env": env,
        "dataset_id": dataset.dataset_id,
        "algo": meta.get("algo", algo),
        "steps": step,
        "num_seeds": num_seeds,
        "seeds": seeds,
        "normalized_score": {"mean": final.get("normalized_score", math.nan),
                             "std": final.get("normalized_score_episode_std", math.nan),
                             "seed_std": final.get("normalized_score_seed_std", math.nan)},
        "support_z": final.get("support_z", math.nan),
        "violation": final.get("violation", math.nan),
        "collapse_dist": final.get("collapse_dist", math.nan),
        "behavior_z": final.get("behavior_z", math.nan),
        "behavior_violation": final.get("behavior_violation", math.nan),
        "per_seed": final.get("per_seed", []),
        "steps_per_s": steps_done / max(train_time, 1e-9),
        "compile_s": compile_s,
        "planning_s": planning_s,  # this call's planning (a resumed run: since the resume)
        "devices": [str(d) for d in jax.devices()],
        "seed_devices": 1 if mesh is None else mesh.size,  # devices the seed axis spans
        "config": dataclasses.asdict(config),
    }
    writers.scalars({"final/steps_per_s": summary["steps_per_s"],
                     "final/compile_s": compile_s}, step)
    if primary:
        write_json(workdir / "summary.json", summary)
        plot_learning_curve(train_log.rows(), eval_log.rows(), workdir / "learning_curve.png",
                            f"{algo} on {env}")
    return summary

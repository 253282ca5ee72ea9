"""File the results of `benchmarks/gpu_suite.sh` (`make bench-gpu-collect FROM=<folder>`).

Runs on a machine with the project installed (and, to evaluate, the maze2d-medium dataset):

* the benchmark JSONs go to `benchmarks/results/<name>_gpu.json`, each with a markdown
  table beside it (`.md`; the select latency also as `benchmarks/select_latency_gpu.png`);
* the training run's record, the suite's log and manifest go to `experiments/results/gpu/`;
* the trained state (`maze2d_medium_state.npz`) becomes a run directory (`--run_dir`) that
  every evaluation tool loads (`experiments/evaluate.py`, `tune.py`, `gem_jax.load_policy`):
  one orbax checkpoint at the step reached, plus the CPU table row's tuned knobs;
* with `--evaluate` (default), `experiments/evaluate.py` scores it on the CPU row's test
  episodes with the CPU row's knobs, and `experiments/results/gpu/maze2d_medium_200k.{json,md}`
  puts the GPU-trained row ("trained on <GPU> in X s") beside the CPU-trained one.

Results of a dry run, or figures not from a GPU, are refused unless `--force` (tests).

    python -m benchmarks.gpu_collect --from=runs/bench-gpu
"""

from __future__ import annotations

import json
import math
import pathlib
import shutil
import subprocess
import sys

import numpy as np
from absl import app, flags

from gem_jax import presets

ROOT = pathlib.Path(__file__).absolute().parent.parent

FLAGS = flags.FLAGS

BENCH_FILES = {  # suite output -> benchmarks/results name (before the suffix)
    "select_latency.json": "select_latency",
    "profile.json": "profile",
    "train_throughput.json": "train_throughput",
    "diffusion_latency.json": "diffusion_latency",
}
RUN_FILES = ("maze2d_medium_train.json", "suite.json", "suite.log")
STATE_FILE = "maze2d_medium_state.npz"
CPU_TABLE = "experiments/results/fidelity_mazes.json"
CPU_RUN = "experiments/results/maze2d/medium_200k/layer_norm"
# GEMConfig fields that shape training (not selection, logging or evaluation): the GPU run
# and the CPU row must agree on all of them to stand side by side.
TRAINING_FIELDS = (
    "hidden_dims", "num_components", "behavior_num_components", "num_critics", "target_subset",
    "log_std_min", "log_std_max", "layer_norm", "action_boundary", "latent_mean_bound",
    "log_std_clamp", "discount", "expectile", "adv_temperature", "exp_adv_max", "entropy_coef",
    "detach_responsibilities", "target_update_rate", "gmm_pretrain_steps",
    "gmm_freeze_after_pretrain", "actor_lr", "critic_lr", "value_lr", "behavior_lr",
    "batch_size", "normalize_observations", "num_steps",
)


def define_flags() -> None:
    flags.DEFINE_string("from", "runs/bench-gpu", "Folder holding the suite's returned files.")
    flags.DEFINE_string("results_dir", "benchmarks/results", "Benchmark JSONs go here.")
    flags.DEFINE_string("gpu_dir", "experiments/results/gpu", "Training records go here.")
    flags.DEFINE_string("run_dir", "runs/gpu/maze2d_medium", "Run directory to write.")
    flags.DEFINE_string("suffix", "_gpu", "Suffix of the benchmark result names.")
    flags.DEFINE_bool("evaluate", True, "Evaluate the trained run beside the CPU row.")
    flags.DEFINE_string("cpu_table", CPU_TABLE, "Fidelity table holding the CPU row.")
    flags.DEFINE_string("cpu_run", CPU_RUN, "Committed files of the CPU row's run.")
    flags.DEFINE_bool("overwrite", False, "Replace an existing --run_dir.")
    flags.DEFINE_bool("force", False, "Accept dry-run or non-GPU results (tests only).")


def read_json(path: pathlib.Path) -> dict:
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); was the run cut mid-write?") from None


def write_json(path: pathlib.Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, default=float) + "\n")


def check_result(path: pathlib.Path, result: dict, force: bool) -> None:
    """Refuse a dry run's or a non-GPU machine's figures (unless `force`)."""
    if force:
        return
    if result.get("dry"):
        raise ValueError(f"{path} comes from a dry run (--dry): tiny sizes, not figures to "
                         "file. Run `make bench-gpu` on the GPU machine.")
    device = str(result.get("device", ""))
    if not device.startswith(("gpu", "cuda")):
        raise ValueError(f"{path} was measured on {device!r}, not a GPU.")


# --- markdown tables ------------------------------------------------------------------------


def profile_table(result: dict) -> str:
    """Parts of the select step, compiled cost, and the traced top ops."""
    from benchmarks import common

    n = result["sizes"]["num_candidates"]
    rows = [[name, r["ms"], r["min_ms"], r["gflop"], r["gflop_per_s"]]
            for name, r in result.get("select_parts", {}).items()]
    out = f"Select step, one state, N = {n}, each part timed alone:\n\n"
    out += common.markdown_table(["part", "median ms", "fastest ms", "GFLOP",
                                  "GFLOP/s (fastest)"], rows)
    rows = [[name, c.get("gflop"), c.get("bytes_accessed"), c.get("temp_bytes")]
            for name, c in result.get("compiled_cost", {}).items()]
    out += "\nCompiled select step:\n\n" + common.markdown_table(
        ["case", "GFLOP", "bytes accessed", "temp bytes"], rows)
    for name, ops in result.get("top_ops", {}).items():
        if "skipped" in ops:
            out += f"\nTop ops, {name}: not traced ({ops['skipped']})\n"
            continue
        out += (f"\nTop ops by time ({ops['source']}), {name}; all ops "
                f"{ops['total_op_ms_per_call']:.4g} ms per call:\n\n")
        out += common.markdown_table(["op", "ms per call", "output, opcode"], ops["ops"])
    return out


def throughput_table(result: dict) -> str:
    """One table per size setting, with the issue's targets read off it."""
    from benchmarks import train_throughput

    out = ""
    for name, setting in result["settings"].items():
        t = setting["targets"]
        out += f"\n{name}:\n\n" + train_throughput.table(setting)
        out += (f"\none seed: {t['steps_per_s_one_seed']} steps/s (target >= "
                f"{t['target_steps_per_s']}); {t['seeds']} seeds' call time / one seed's: "
                f"{t['seeds_time_ratio']} (target <= {t['target_ratio']})\n")
    return out


def bench_markdown(name: str, result: dict) -> str | None:
    """The markdown table of one benchmark result (None where there is no table function)."""
    if name == "select_latency":
        from benchmarks import select_latency

        return select_latency.table(result) + f"\ntargets: {json.dumps(result['targets'])}\n"
    if name == "profile":
        return profile_table(result)
    if name == "train_throughput":
        return throughput_table(result)
    try:
        from benchmarks import diffusion_latency
    except ImportError:
        return None
    table = getattr(diffusion_latency, "table", None)
    return table(result) if table else None


def collect_benchmarks(src: pathlib.Path, results_dir: pathlib.Path, suffix: str,
                       force: bool) -> list[str]:
    """Copy each benchmark JSON (with its .md) into `results_dir`; returns the paths."""
    from benchmarks import common

    written = []
    for filename, name in BENCH_FILES.items():
        path = src / filename
        if not path.is_file():
            continue
        result = read_json(path)
        check_result(path, result, force)
        out = results_dir / f"{name}{suffix}.json"
        write_json(out, result)
        table = bench_markdown(name, result)
        if table is not None:
            common.write_markdown(str(out.with_suffix(".md")), result, table)
        if name == "select_latency":
            from benchmarks import select_latency

            # beside the CPU figure: benchmarks/select_latency_cpu.png (results/*.png is ignored)
            select_latency.plot(result, str(results_dir.parent / f"select_latency{suffix}.png"))
        written.append(str(out))
    return written


# --- the trained state -> a run directory ---------------------------------------------------


def load_state_file(path: pathlib.Path) -> tuple[dict, dict]:
    """`(leaves by path name, meta)` of the suite's state file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the train part saved no state (see "
                                "maze2d_medium_train.json and suite.log).")
    with np.load(path) as f:
        leaves = {k: f[k] for k in f.files if k != "__meta__"}
        meta = json.loads(f["__meta__"].tobytes().decode())
    return leaves, meta


def rebuild_state(leaves: dict, meta: dict):
    """The seed-stacked `GEMState` of `meta` with every saved leaf in place.

    Leaves the file lacks (a policy-only save; or an optimiser state whose layout another
    optax version names differently) keep a fresh initialisation; the policy's own leaves
    (actor, behavior, critic, observation normaliser) must all be there.
    Returns `(state, names of the leaves filled from the initialisation)`."""
    import jax
    import jax.numpy as jnp

    from benchmarks.gpu_suite import POLICY_PREFIXES, init_seeds
    from gem_jax.method.learner import ObsNorm
    from gem_jax.presets import from_config_dict

    config = from_config_dict(meta["config"])
    obs_dim, action_dim = int(meta["obs_dim"]), int(meta["action_dim"])
    norm = ObsNorm(jnp.zeros((obs_dim,), jnp.float32), jnp.ones((obs_dim,), jnp.float32))
    template = init_seeds(config, [int(s) for s in meta["seeds"]], obs_dim, action_dim, norm)
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    new, filled = [], []
    for path, leaf in paths:
        name = jax.tree_util.keystr(path)
        saved = leaves.get(name)
        if saved is not None and saved.shape == leaf.shape:
            new.append(jnp.asarray(saved, leaf.dtype))
            continue
        if name.startswith(POLICY_PREFIXES[:4]):
            got = "missing" if saved is None else f"shape {saved.shape}, expected {leaf.shape}"
            raise ValueError(f"The state file's {name} is {got}: it does not fit the config "
                             "it was saved with.")
        new.append(leaf)
        filled.append(name)
    return jax.tree_util.tree_unflatten(treedef, new), filled


def cpu_row(table_path: pathlib.Path, env: str) -> dict:
    """The GEM row of `env` in the fidelity table."""
    rows = [r for r in read_json(table_path)["rows"] if r["env"] == env and r["algo"] == "gem"]
    if not rows:
        raise ValueError(f"{table_path} has no GEM row for {env}.")
    return rows[0]


def write_run_dir(leaves: dict, meta: dict, run_dir: pathlib.Path, knobs: dict | None,
                  train: dict, overwrite: bool) -> dict:
    """An orbax run directory of the trained state; returns what was written."""
    from gem_jax.harness import checkpoint as ckpt
    from gem_jax.presets import from_config_dict

    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{run_dir} exists; pass --overwrite to replace it or choose "
                                  "another --run_dir.")
        shutil.rmtree(run_dir)
    state, filled = rebuild_state(leaves, meta)
    config = from_config_dict(meta["config"])
    step = int(meta["step"])
    run_meta = ckpt.make_meta(
        config, meta["obs_dim"], meta["action_dim"], meta["seeds"], env=meta["env"],
        dataset_id=meta["dataset_id"], suite=meta["suite"], action_scale=meta["action_scale"],
        algo=meta.get("algo", "gem"), trained_on=train.get("device"),
        train_s=train.get("train_s"), state_kind=meta.get("state_kind"))
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt.save(ckpt.make_manager(run_dir), step, state, run_meta)
    if knobs:
        write_json(run_dir / presets.TUNED_FILE, knobs)
    write_json(run_dir / "config.json", {"env": meta["env"], "num_seeds": len(meta["seeds"]),
                                         "config": run_meta["config"]})
    return {"run_dir": str(run_dir), "step": step, "filled_from_init": filled}


def config_differences(gpu_config: dict, cpu_config: dict) -> dict:
    """Training fields on which the two runs differ (`{field: [gpu, cpu]}`)."""
    norm = lambda v: list(v) if isinstance(v, (list, tuple)) else v
    return {f: [norm(gpu_config.get(f)), norm(cpu_config.get(f))] for f in TRAINING_FIELDS
            if norm(gpu_config.get(f)) != norm(cpu_config.get(f))}


def evaluate_run(run_dir: pathlib.Path, seed: int, episodes: int, num_candidates: int) -> dict:
    """`experiments/evaluate.py` on the run (its tuned knobs); the one row it writes."""
    out = run_dir / "sweep_test"
    cmd = [sys.executable, str(ROOT / "experiments" / "evaluate.py"), f"--workdir={run_dir}",
           f"--out={out}", f"--seed={seed}", f"--eval_episodes={episodes}",
           f"--num_candidates={num_candidates}", "--progress=false"]
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    (row,) = read_json(out / "sweep.json")["rows"]
    return row


def side_by_side(cpu: dict, cpu_train: dict, gpu: dict, train: dict) -> dict:
    """The two rows and whether the GPU row lies within seed noise of the CPU row
    (|difference| <= 2 standard errors of the difference of the seed means)."""
    c, g = np.asarray(cpu["seed_scores"], float), np.asarray(gpu["seed_scores"], float)
    diff = float(g.mean() - c.mean())
    se = math.sqrt(c.var() / max(len(c) - 1, 1) + g.var() / max(len(g) - 1, 1))
    return {
        "cpu": {"seed_scores": c.tolist(), "normalized_score": float(c.mean()),
                "seed_std": float(c.std()), "trained_on": cpu_train.get("devices"),
                "train_s": cpu_train.get("train_s"), "steps": cpu.get("steps"),
                **{k: cpu.get(k) for k in ("support_z", "violation", "collapse_dist")}},
        "gpu": {"seed_scores": g.tolist(), "normalized_score": float(g.mean()),
                "seed_std": float(g.std()), "trained_on": train.get("device"),
                "train_s": train.get("train_s"), "compile_s": train.get("compile_s"),
                "steps": train.get("steps"), "steps_per_s": train.get("steps_per_s"),
                **{k: gpu.get(k) for k in ("support_z", "violation", "collapse_dist")}},
        "difference": diff, "two_standard_errors": 2 * se,
        "within_seed_noise": abs(diff) <= 2 * se,
    }


def comparison_markdown(env: str, rows: dict, knobs: dict) -> str:
    """The two rows as a table, with the 'trained on ... in X s' line."""
    from benchmarks import common

    def fmt(r):
        scores = ", ".join(f"{s:.1f}" for s in r["seed_scores"])
        return f"{r['normalized_score']:.1f} ± {r['seed_std']:.1f} ({scores})"

    g, c = rows["gpu"], rows["cpu"]
    header = ["trained on", "seeds", "steps", "train s", "test score (per seed)", "Violation"]
    table = common.markdown_table(header, [
        [str(c["trained_on"]), len(c["seed_scores"]), c["steps"], c["train_s"], fmt(c),
         c["violation"]],
        [str(g["trained_on"]), len(g["seed_scores"]), g["steps"], g["train_s"], fmt(g),
         g["violation"]],
    ])
    return (f"# {env} GEM: trained on a GPU beside the CPU-trained table row\n\n"
            f"Trained on {g['trained_on']} in {g['train_s']:.0f} s ({g['steps']} steps, "
            f"{len(g['seed_scores'])} seeds vmapped; compile {g['compile_s']:.0f} s). "
            f"Knobs (the CPU row's, chosen on validation): {knobs}.\n\n{table}\n"
            f"Difference {rows['difference']:+.1f}; two standard errors "
            f"{rows['two_standard_errors']:.1f}: within seed noise: "
            f"{rows['within_seed_noise']}.\n")


def collect(src: pathlib.Path, results_dir: pathlib.Path, gpu_dir: pathlib.Path,
            run_dir: pathlib.Path, suffix: str = "_gpu", evaluate: bool = True,
            cpu_table: pathlib.Path = ROOT / CPU_TABLE, cpu_run: pathlib.Path = ROOT / CPU_RUN,
            overwrite: bool = False, force: bool = False) -> dict:
    """Everything the module docstring lists; returns a summary of what was written."""
    if not src.is_dir():
        raise FileNotFoundError(f"{src} is not a folder: pass --from=<the suite's output>.")
    report = {"benchmarks": collect_benchmarks(src, results_dir, suffix, force)}
    gpu_dir.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, gpu_dir / name)
    train_path = src / RUN_FILES[0]
    if not train_path.is_file():
        report["run"] = "no training record in the suite's output"
        return report
    train = read_json(train_path)
    check_result(train_path, train, force)
    leaves, meta = load_state_file(src / STATE_FILE)
    row = cpu_row(cpu_table, meta["env"])
    knobs = row.get("knobs")
    report["run"] = write_run_dir(leaves, meta, run_dir, knobs, train, overwrite)
    cpu_config_path = cpu_run / "fidelity_quarter" / "gem_train_config.json"
    if cpu_config_path.is_file():
        report["config_differences"] = config_differences(
            meta["config"], read_json(cpu_config_path)["config"])
    if not evaluate:
        return report
    test_seed = int(row["test_env_seeds"][0]) - 10_000  # sweep: env seed 10_000 + seed + i + j
    tune = cpu_run / "fidelity_quarter" / "tune.json"
    episodes = int(read_json(tune)["episodes_per_seed"]) if tune.is_file() else 10
    gpu_row = evaluate_run(run_dir, test_seed, episodes, int(knobs["num_candidates"]))
    summary_path = cpu_run / "pick_study" / "gem_train_summary.json"
    cpu_train = {}
    if summary_path.is_file():
        s = read_json(summary_path)
        cpu_train = {"devices": ", ".join(s.get("devices", [])),
                     "train_s": s["steps"] / s["steps_per_s"]}
    rows = side_by_side(row, cpu_train, gpu_row, train)
    result = {"env": meta["env"], "knobs": knobs, "test_eval_seed": test_seed,
              "episodes_per_seed": episodes, "run_dir": str(run_dir),
              "config_differences": report.get("config_differences"), **rows}
    write_json(gpu_dir / "maze2d_medium_200k.json", result)
    (gpu_dir / "maze2d_medium_200k.md").write_text(comparison_markdown(meta["env"], rows, knobs))
    report["comparison"] = str(gpu_dir / "maze2d_medium_200k.json")
    return report


def main(argv) -> None:
    del argv
    from absl import logging

    logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint step at INFO
    report = collect(pathlib.Path(FLAGS["from"].value), pathlib.Path(FLAGS.results_dir),
                     pathlib.Path(FLAGS.gpu_dir), pathlib.Path(FLAGS.run_dir), FLAGS.suffix,
                     FLAGS.evaluate, pathlib.Path(FLAGS.cpu_table), pathlib.Path(FLAGS.cpu_run),
                     FLAGS.overwrite, FLAGS.force)
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    define_flags()
    app.run(main)

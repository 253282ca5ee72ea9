"""benchmarks/: the scripts run end to end at tiny sizes and write the documented JSON, and
the PyTorch reference computes the same numbers as the library (so the comparison is fair).

No timing assertions: speed is measured by the benchmarks, never by a test.
"""

import dataclasses
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from toy import two_mode_bandit

from gem_jax import GEMConfig, SelectKnobs, init_state, policy_params
from gem_jax.method.learner import make_update, sample_batch
from gem_jax.method.networks import make_networks
from gem_jax.method.select import score_candidates

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--hidden=16", "--obs_dim=3", "--action_dim=2", "--num_critics=2", "--num_components=2"]


def run_script(tmp_path, name: str, *args: str) -> dict:
    """Run `python -m benchmarks.<name> args --json=...` from the root in a subprocess and
    return its JSON."""
    out = str(tmp_path / f"{name}.json")
    cmd = [sys.executable, "-m", f"benchmarks.{name}", *args, f"--json={out}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        result = json.load(f)
    assert os.path.exists(os.path.splitext(out)[0] + ".md")
    return result


def positive(*values):
    for v in values:
        assert isinstance(v, (int, float)) and v > 0, values


def test_select_latency_script_schema(tmp_path):
    result = run_script(tmp_path, "select_latency", "--num_candidates=64,1", "--repeats=3",
                        "--batch_size=2", *TINY)
    assert [r["num_candidates"] for r in result["results"]] == [1, 64]  # measured ascending
    for row in result["results"]:
        positive(row["latency_ms"], row["batch_latency_ms"], row["temp_bytes"], row["compile_s"])
        assert row["latency_ms_spread"] >= 0 and row["repeats"] == 3
        assert row["peak_bytes"] is None or row["peak_bytes"] > 0  # None on CPU
    # more candidates need a bigger candidate tensor: temporaries grow with N
    assert result["results"][1]["temp_bytes"] > result["results"][0]["temp_bytes"]
    positive(result["compile_s"])
    assert isinstance(result["device"], str) and result["device"]


def test_train_throughput_script_schema(tmp_path):
    # S = 2 seeds vmapped (the script's own code); one seed is the library's fused step
    # --vmap_one_seed adds S = 1 through vmap over a size-1 axis (the runner's old program)
    result = run_script(tmp_path, "train_throughput", "--steps_per_call=4", "--repeats=2",
                        "--num_seeds=2", "--batch_size=8", "--dataset_size=64",
                        "--vmap_one_seed", *TINY)
    positive(result["steps_per_s"], result["compile_s"])
    assert result["device"] and result["num_seeds"] == 2
    row, one = result["results"]
    assert (row["vmapped"], one["vmapped"], one["num_seeds"]) == (True, True, 1)
    positive(one["steps_per_s"])
    assert row["repeats"] == 2
    np.testing.assert_allclose(row["total_steps_per_s"], 2 * row["steps_per_s"])
    np.testing.assert_allclose(row["steps_per_s"], 4 / (row["call_ms"] / 1e3))


def test_lom_phases_script_times_three_programs_and_the_phases_drop_flops(tmp_path):
    """The per-phase programs compute less than the traced one (XLA's cost analysis, not a
    time): pretraining keeps the behavior's update alone, the main phase drops the frozen
    behavior's gradient."""
    result = run_script(tmp_path, "lom_phases", "--hidden=16,16", "--steps_per_call=4",
                        "--repeats=2", "--rounds=2", "--dataset_size=64")
    traced, pretrain, main = result["results"]
    assert [r["program"] for r in result["results"]] == ["traced", "pretrain", "main"]
    positive(*(r["steps_per_s"] for r in result["results"]))
    assert traced["flops_share"] == 1.0 and traced["speedup"] == 1.0
    assert pretrain["flops_share"] < 0.5 and main["flops_share"] < 1.0
    np.testing.assert_allclose(main["speedup"], main["steps_per_s"] / traced["steps_per_s"])
    assert len(main["call_ms_rounds"]) == 2  # the programs took turns, two rounds
    np.testing.assert_allclose(main["gflop_per_s"], main["gflop_per_step"] * main["steps_per_s"])
    np.testing.assert_allclose(main["steps_per_s"], 4 / (np.median(main["call_ms_rounds"]) / 1e3))
    assert result["sizes"]["num_critics"] == 3  # hopper-medium's LOM_DATASETS row


def test_int_list_flags_parse_and_reject_bad_entries():
    sys.path.insert(0, ROOT)
    from benchmarks.common import parse_int_list

    assert parse_int_list(["1", "64", "2048"], "num_candidates") == [1, 64, 2048]
    assert parse_int_list("1,4", "num_seeds") == [1, 4]
    with pytest.raises(ValueError, match="comma-separated list of integers"):
        parse_int_list(["1", "many"], "num_candidates")
    with pytest.raises(ValueError, match="at least one integer"):
        parse_int_list([], "hidden")


# --- the PyTorch reference does the library's arithmetic ---

CFG = GEMConfig(hidden_dims=(16, 16), num_critics=3, num_components=2, behavior_num_components=2,
                batch_size=64, layer_norm=False)  # the PyTorch reference has plain critics


def torch_model(state):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, ROOT)
    from benchmarks import torch_reference

    torch.manual_seed(0)
    model = torch_reference.TorchGEM(2, 1, CFG.hidden_dims, CFG.num_components, CFG.num_critics)
    return torch, torch_reference.load_jax_params(model, state)


def test_torch_train_step_matches_jax_losses():
    data = two_mode_bandit(jax.random.PRNGKey(0), 512)
    state = init_state(jax.random.PRNGKey(1), CFG, 2, 1)
    torch, model = torch_model(state)
    update = jax.jit(make_update(CFG))
    for step in range(3):  # later steps check Adam, Polyak and the update order too
        batch = sample_batch(jax.random.PRNGKey(10 + step), data, CFG.batch_size)
        state, metrics = update(state, batch)
        tbatch = {f.name: torch.from_numpy(np.array(getattr(batch, f.name)))
                  for f in dataclasses.fields(batch)}
        losses = model.train_step(tbatch)
        for name, value in losses.items():
            np.testing.assert_allclose(float(value), float(metrics[name]), rtol=2e-4, atol=2e-5,
                                       err_msg=f"{name} at step {step}")


def test_torch_score_matches_jax_score():
    state = init_state(jax.random.PRNGKey(2), CFG, 2, 1)
    torch, model = torch_model(state)
    params, knobs = policy_params(state), SelectKnobs.create(lcb_lambda=0.7, beta_start=2.0)
    nets = make_networks(CFG, 1)
    obs = np.array([0.3, -0.4], np.float32)
    cands = np.linspace(-1, 1, 9, dtype=np.float32)[:, None]  # [C, A]
    behavior = nets.behavior_apply(params.behavior, obs)
    scores, parts = score_candidates(nets, params, obs, cands, behavior, 250.0, knobs)
    tobs = torch.from_numpy(obs)[None]
    with torch.no_grad():
        tscores, tparts = model.score(tobs, torch.from_numpy(cands)[None],
                                      model.behavior(tobs), 250.0, 0.7, 2.0, 0.1, 1000.0)
    np.testing.assert_allclose(tscores[0].numpy(), np.asarray(scores), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(tparts["lcb"][0].numpy(), np.asarray(parts["lcb"]), rtol=1e-4,
                               atol=1e-5)
    actions, info = model.select(tobs.repeat(3, 1), 8, 0.0)
    assert actions.shape == (3, 1) and bool((actions.abs() <= 1).all())
    assert info["support_z"].shape == (3,)


def test_compare_picks_fastest_torch_threads_and_median_over_rounds():
    sys.path.insert(0, ROOT)
    from benchmarks import compare_torch

    def torch_run(threads, select_ms, batch_ms, steps):
        return {"torch_version": "x", "torch_threads": threads, "select_ms": select_ms,
                "select_repeats": 50, "batch_select_ms": batch_ms, "train_steps_per_s": steps}

    best = compare_torch.best_of([torch_run(2, 9.0, 100.0, 50.0), torch_run(1, 6.0, 120.0, 40.0)])
    assert (best["select_ms"], best["select_threads"]) == (6.0, 1)
    assert (best["batch_select_ms"], best["batch_select_threads"]) == (100.0, 2)
    assert (best["train_steps_per_s"], best["train_threads"]) == (50.0, 2)
    assert best["select_repeats"] == 50

    rounds = [{"speedup": {"select": v, "batch_select": 2 * v, "train": 3 * v},
               "speedup_best_call": {"select": v, "batch_select": v, "train": v}, "tag": i}
              for i, v in enumerate([1.5, 1.0, 2.0])]
    summary = compare_torch.summarize_rounds(rounds)
    assert summary["speedup"] == {"select": 1.5, "batch_select": 3.0, "train": 4.5}
    assert summary["speedup_range"]["train"] == [3.0, 6.0]
    assert summary["tag"] == 1 and len(summary["rounds"]) == 3  # the middle round's figures


@pytest.mark.slow
def test_compare_torch_runs_end_to_end():
    """Both `run`s in-process, incl. the one-seed train path (`make_fused_train_step`)."""
    pytest.importorskip("torch")
    sys.path.insert(0, ROOT)
    from benchmarks import compare_torch

    result = compare_torch.run(
        num_candidates=8, select_batch_size=2, batch_size=16, steps_per_call=3, torch_steps=2,
        repeats=3, train_repeats=2, torch_threads=(1,), dataset_size=64, rounds=2, obs_dim=3,
        action_dim=2, num_critics=2, num_components=2, hidden=(16,), seed=0)
    assert len(result["rounds"]) == 2
    for name in ("select", "batch_select", "train"):
        low, high = sorted(r["speedup"][name] for r in result["rounds"])
        assert result["speedup"][name] == pytest.approx((low + high) / 2)  # median of two
        positive(result["speedup_best_call"][name])
    positive(result["jax"]["select_ms"], result["torch"]["train_steps_per_s"])
    assert "speed-up" in compare_torch.table(result)


def test_diffusion_latency_times_both_shapes_and_stops_at_the_deadline():
    from benchmarks import diffusion_latency

    small = dict(batch_size=2, repeats=3, max_seconds=1.0, gem_candidates=[1], hidden=(8,),
                 num_critics=2, num_components=2, obs_dim=3, action_dim=2,
                 diffusion_hidden=16)
    seen = []
    result = diffusion_latency.run([2], [1, 4], on_row=lambda r: seen.append(len(r["rows"])),
                                   **small)
    cases = {(r["method"], r["steps"], r["num_candidates"], r["states"]) for r in result["rows"]}
    assert cases == {("gem", 1, 1, 1), ("gem", 1, 1, 2), ("diffusion", 2, 1, 1),
                     ("diffusion", 2, 1, 2), ("diffusion", 2, 4, 1), ("diffusion", 2, 4, 2)}
    assert seen == [1, 2, 3, 4, 5, 6] and not result["truncated"]
    assert all(r["latency_ms"] > 0 for r in result["rows"])
    table = diffusion_latency.table(result)
    assert "| diffusion | 2 | 4 |" in table and "paper, idql" in table
    late = diffusion_latency.run([2], [1], deadline=1.0, **small)  # 1970: already past
    assert late["truncated"] and late["rows"] == []


def test_xla_flags_summary_medians_and_speedups_against_the_first_variant():
    from benchmarks.xla_flags import summarize

    def m(steps, ms, batch_ms):
        return {"train_steps_per_s": steps, "select_ms": ms, "select_batch_ms": batch_ms}

    rounds = [[m(60, 10, 80), m(70, 8, 60), {"error": "Unknown flag"}],
              [m(64, 12, 90), m(80, 9, 72), {"error": "Unknown flag"}],
              [m(50, 11, 70), m(66, 7, 64), {"error": "Unknown flag"}]]
    base, fast, bad = summarize(["", "--a=1", "--nope"], rounds)
    assert (base["train_steps_per_s"], base["select_ms"], base["select_batch_ms"]) == (60, 11, 80)
    assert (fast["train_steps_per_s"], fast["select_ms"], fast["select_batch_ms"]) == (70, 8, 64)
    np.testing.assert_allclose([fast["speedup_train"], fast["speedup_select"],
                                fast["speedup_select_batch"]], [70 / 60, 11 / 8, 80 / 64])
    assert base["speedup_train"] == 1.0 and fast["rounds"] == [r[1] for r in rounds]
    assert bad["error"] == "Unknown flag" and "speedup_train" not in bad


def test_xla_flags_script_runs_each_variant_in_its_own_process(tmp_path):
    # an unknown flag makes that variant's XLA abort: its row reports the error, the
    # others are measured
    result = run_script(tmp_path, "xla_flags", "--variants=,--xla_gem_not_a_flag=1",
                        "--rounds=1", "--steps_per_call=4", "--train_repeats=2",
                        "--dataset_size=64", "--num_candidates=8", "--batch_size=2",
                        "--select_repeats=3", *TINY)
    base, bad = result["results"]
    positive(base["train_steps_per_s"], base["select_ms"], base["select_batch_ms"])
    assert base["speedup_train"] == 1.0 and len(base["rounds"]) == 1
    assert "error" in bad and "train_steps_per_s" not in bad

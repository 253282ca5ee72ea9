"""The experiment queues (experiments/queues/*.sh): each parses, `resume_flag` asks for
`--resume` only where a run has a finished checkpoint, and generative.sh runs each seed once
(stand-in Python)."""

from __future__ import annotations

import json
import pathlib
import subprocess

import pytest

QUEUES = pathlib.Path(__file__).resolve().parent.parent / "experiments" / "queues"


@pytest.mark.parametrize("script", sorted(p.name for p in QUEUES.glob("*.sh")))
def test_queue_script_parses(script):
    done = subprocess.run(["bash", "-n", str(QUEUES / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_resume_flag_needs_a_finished_checkpoint(tmp_path):
    runs = {"saved": "checkpoints/20000", "torn": "checkpoints/20000.orbax-checkpoint-tmp-3",
            "empty": "checkpoints", "new": None}
    for name, sub in runs.items():
        (tmp_path / name / sub if sub else tmp_path / name).mkdir(parents=True)
    script = f"source {QUEUES / 'common.sh'}; " + "; ".join(
        f'echo "{name}=$(resume_flag {tmp_path / name})"' for name in runs)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["saved=--resume", "torn=", "empty=", "new="]


def test_kept_suite_outputs_are_not_git_ignored():
    """The suite's kept copies (experiments/results/<suite>/runs/) are committed with the table:
    an ignore rule for run folders must not cover them (only the top-level runs/ is scratch)."""
    root = QUEUES.parent.parent
    kept = "experiments/results/locomotion/runs/hopper-medium/bc/summary.json"
    ignored = lambda path: subprocess.run(["git", "check-ignore", "-q", path], cwd=root,
                                          capture_output=True).returncode == 0
    assert ignored("runs/demo/summary.json")  # the scratch folder stays ignored
    assert not ignored(kept)


FAKE_PYTHON = '''#!{python}
"""Stands in for the project's Python in generative.sh: logs each command, writes what
train.py / tune.py would (one seed, tune rows with test scores), runs pool_seeds.py."""
import json, pathlib, subprocess, sys

script, args = sys.argv[1], dict(a[2:].split("=", 1) for a in sys.argv[2:]
                                 if a.startswith("--") and "=" in a)
with open({log!r}, "a") as f:
    f.write(f"{{pathlib.Path(script).stem}} {{args.get('workdir', args.get('out', ''))}}\\n")
wd = pathlib.Path(args.get("workdir", "."))
if script.endswith("train.py"):
    wd.mkdir(parents=True, exist_ok=True)
    seed = int(args["seed"])
    (wd / "summary.json").write_text(json.dumps({{
        "env": args["env"], "algo": args["algo"], "steps": int(args["steps"]), "num_seeds": 1,
        "seeds": [seed], "per_seed": [{{"normalized_score": 10.0 * seed}}]}}))
    (wd / "config.json").write_text("{{}}")
elif script.endswith("tune.py"):
    assert args["test_rows"] == "all"
    seed = json.loads((wd / "summary.json").read_text())["seeds"][0]
    score = lambda n, split: {{"normalized_score": float(n * (seed + split)),
                              "seed_scores": [float(n * (seed + split))]}}
    knobs = dict.fromkeys({tuned_keys!r})
    rows = [{{**knobs, "num_candidates": n, "validation": score(n, 0), "test": score(n, 1)}}
            for n in (16, 64)]
    (wd / "tune.json").write_text(json.dumps({{
        "env": "x", "step": 1, "episodes_per_seed": 10, "num_seeds": 1, "rows": rows}}))
elif script.endswith("pool_seeds.py"):
    sys.exit(subprocess.run([{python!r}, {pool!r}, *sys.argv[2:]]).returncode)
'''


def test_generative_queue_trains_each_seed_once_and_pools_them(tmp_path):
    """generative.sh on a copy of the queues with a stand-in Python: every (dataset, algo)
    trains three one-seed runs, keeps them, pools them; a rerun trains nothing; a seed whose
    kept copy is gone (another machine) is the only one retrained."""
    import shutil
    import sys

    repo = tmp_path / "repo"
    shutil.copytree(QUEUES, repo / "experiments" / "queues")
    log = tmp_path / "calls.log"
    fake = tmp_path / "python"
    from gem_jax.presets import TUNED_KEYS

    fake.write_text(FAKE_PYTHON.format(python=sys.executable, log=str(log), pool=str(
        QUEUES.parent / "pool_seeds.py"), tuned_keys=TUNED_KEYS))
    fake.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(fake), "GEM_RUNS": str(tmp_path / "runs"),
           "PYTHONPATH": str(QUEUES.parent.parent)}
    run = lambda: subprocess.run(["bash", str(repo / "experiments/queues/generative.sh")],
                                 env=env, capture_output=True, text=True, cwd=repo)
    done = run()
    calls = log.read_text().splitlines()
    trains = [c for c in calls if c.startswith("train ")]
    assert len(trains) == 18, done.stderr[-2000:]  # (2 mazes + hopper) x 2 algos x 3 seeds
    out = repo / "experiments/results/generative"
    assert (out / "hopper-medium_sfbc_tune.json").is_file(), done.stderr[-3000:]
    pooled = json.loads((out / "hopper-medium_sfbc_tune.json").read_text())
    # seeds 0-2 choose on validation n * seed: the pool picks N = 64, its test scores n * (s + 1)
    assert pooled["chosen"]["num_candidates"] == 64
    assert pooled["chosen_test"]["seed_scores"] == [64.0, 128.0, 192.0]
    assert (out / "runs/maze2d-umaze_idql/seed2/tune.json").is_file()
    log.write_text("")
    run()
    assert not [c for c in log.read_text().splitlines() if c.startswith("train ")]
    (out / "maze2d-medium_idql_tune.json").unlink()
    shutil.rmtree(out / "runs/maze2d-medium_idql/seed1")
    run()
    trains = [c for c in log.read_text().splitlines() if c.startswith("train ")]
    assert trains == [f"train {tmp_path / 'runs/generative/maze2d-medium/idql/seed1'}"]
    assert (out / "maze2d-medium_idql_tune.json").is_file()


LOGGING_PYTHON = '''#!/bin/bash
# Stands in for the project's Python: runs `-c` code for real, logs every script's command.
if [ "$1" = -c ]; then exec {python} "$@"; fi
echo "$@" >> {log}
'''


def run_logged(tmp_path, script: str, *args: str, manifest: dict | None = None,
               keep: bool = False, with_stderr: bool = False, queues: str | None = None):
    """`script` on a copy of the queues (and, where given, of the policy manifest) with a
    logging stand-in Python; returns the commands it ran, script path first (and its stderr,
    `with_stderr`). `keep`: the copy goes into what the test already put in tmp_path/repo;
    `queues`: all.sh's QUEUES."""
    import shutil
    import sys

    repo = tmp_path / "repo"
    if not keep:
        shutil.rmtree(repo, ignore_errors=True)
    shutil.copytree(QUEUES, repo / "experiments" / "queues", dirs_exist_ok=keep)
    if manifest is not None:
        (repo / "gem_jax/data/policies").mkdir(parents=True)
        (repo / "gem_jax/data/policies/manifest.json").write_text(json.dumps(manifest))
    log, fake = tmp_path / "calls.log", tmp_path / "python"
    log.write_text("")
    fake.write_text(LOGGING_PYTHON.format(python=sys.executable, log=log))
    fake.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(fake), "GEM_RUNS": str(tmp_path / "runs")}
    if queues is not None:
        env["QUEUES"] = queues
    done = subprocess.run(["bash", str(repo / "experiments/queues" / script), *args], env=env,
                          capture_output=True, text=True, cwd=repo)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    return (calls, done.stderr) if with_stderr else calls


def test_antmaze_queue_rebuilds_no_dataset_the_manifest_records(tmp_path):
    """antmaze.sh's last step (the six builds, for their figures) is skipped where the policy
    manifest records all six, as on a fresh machine once the figures are committed; one
    missing: every build runs (each skipped by make_dataset.py where on disk), then the record."""
    tasks = ["umaze", "umaze-diverse", "medium-play", "medium-diverse", "large-play",
             "large-diverse"]
    recorded = {"ant-goal": {"datasets": {t: {"ours": {}} for t in tasks}}}
    calls = run_logged(tmp_path, "antmaze.sh", manifest=recorded)
    assert [c.split()[0] for c in calls] == ["experiments/suite.py"]
    del recorded["ant-goal"]["datasets"]["large-diverse"]
    calls = run_logged(tmp_path, "antmaze.sh", manifest=recorded)
    assert [c.split()[0] for c in calls] == ["experiments/suite.py", *[
        "experiments/make_dataset.py"] * 6, "tools/ship_ant_policy.py"]
    assert calls[-2].endswith("--dataset=antmaze-large-diverse")


def copy_committed_lom_steps(tmp_path):
    """The committed results lom.sh's steps 1-2b read (as on a fresh machine) into tmp_path/repo."""
    import shutil

    results = QUEUES.parent / "results"
    repo = tmp_path / "repo" / "experiments/results"
    shutil.copytree(results / "lom", repo / "lom")
    shutil.copytree(results / "maze2d", repo / "maze2d")


def test_lom_queue_on_a_fresh_machine_runs_only_what_is_not_committed(tmp_path):
    """lom.sh where steps 1-2b are committed and no run directory exists (another machine):
    only the hopper suite and the page run, and no skipped step copies a file it never wrote."""
    copy_committed_lom_steps(tmp_path)
    calls, stderr = run_logged(tmp_path, "lom.sh", keep=True, with_stderr=True)
    assert [c.split()[0] for c in calls] == ["experiments/suite.py",
                                             "experiments/side_by_side.py"]
    assert "cannot stat" not in stderr, stderr
    args = lambda line: dict(a[2:].split("=", 1) for a in line.split()[1:] if "=" in a)
    assert (args(calls[0])["algos"], args(calls[0])["seed_shards"]) == ("lom", "lom")
    # --with-sarsa: the SARSA critic's row after LOM's, in a table of its own, then the page
    calls = run_logged(tmp_path, "lom.sh", "--with-sarsa", keep=True)
    assert [c.split()[0] for c in calls] == ["experiments/suite.py",
                                             "experiments/side_by_side.py"] * 2
    sarsa = args(calls[2])
    assert sarsa["algos"].startswith("lom-sarsa=lom:--config.critic_target=sarsa")
    assert sarsa["out"].endswith("lom/lom_hopper_sarsa") and sarsa["seed_shards"] == "lom-sarsa"
    assert f"hopper-medium:lom-sarsa:{sarsa['out']}.json" in calls[3]


def test_lom_queue_run_by_all_sh_reaches_its_page(tmp_path):
    """all.sh runs each queue as `bash lom.sh` from the queues folder, so `$0` is relative there,
    while common.sh has moved to the repository root: the page step must not look for pages.sh
    beside `$0` (session 33's queue ended with "./pages.sh: No such file or directory")."""
    copy_committed_lom_steps(tmp_path)
    calls, stderr = run_logged(tmp_path, "all.sh", keep=True, with_stderr=True, queues="lom")
    assert "No such file" not in stderr, stderr
    assert [c.split()[0] for c in calls] == ["experiments/suite.py",
                                             "experiments/side_by_side.py"]


def test_hopper_queue_adds_the_e2_comparison_only_when_asked(tmp_path):
    args = lambda line: dict(a[2:].split("=", 1) for a in line.split()[1:] if "=" in a)
    plain = args(run_logged(tmp_path, "hopper.sh")[0])
    assert (plain["algos"], plain["seed_shards"]) == ("bc,iql,gem", "gem")
    e2 = args(run_logged(tmp_path, "hopper.sh", "--with-e2")[0])
    assert e2["algos"] == "bc,iql,gem,gem-e2=gem:--config.num_critics=2"
    assert e2["seed_shards"] == "gem,gem-e2" and e2["out"] == plain["out"]


def test_fill_queue_runs_locomotion_pairs_with_the_locomotion_queues_flags(tmp_path):
    """fill.sh's suite call matches locomotion.sh's tier calls in every flag that decides a
    pair's stages (root, steps, suite), and keeps into the same folder, so a pair it finishes
    is done there."""
    args = lambda line: dict(a[2:].split("=", 1) for a in line.split()[1:] if "=" in a)
    fill = args(run_logged(tmp_path, "fill.sh")[0])
    iql = args(run_logged(tmp_path, "fill.sh", "iql")[0])
    assert (fill["algos"], iql["algos"]) == ("bc", "iql")
    shards = lambda line: set(line.get("seed_shards", "").split(",")) - {""}
    assert (shards(fill), shards(iql)) == (set(), {"iql"})
    tiers = [args(c) for c in run_logged(tmp_path, "locomotion.sh")
             if c.startswith("experiments/suite.py") and "--suite=locomotion" in c]
    assert tiers
    for tier in tiers:
        assert {k: tier[k] for k in ("suite", "root", "steps")} == {
            k: fill[k] for k in ("suite", "root", "steps")}
        assert "bc" in tier["algos"].split(",") and "iql" in tier["algos"].split(",")
        assert {"bc", "iql"} & shards(tier) == {"iql"}  # IQL seeds apart, BC pairs vmapped
        assert pathlib.Path(tier["out"]).parent == pathlib.Path(fill["out"]).parent  # keep
    assert "ablation_datasets" not in fill and "mass_scales" not in fill  # the defaults, as there
    assert all("ablation_datasets" not in t and "mass_scales" not in t for t in tiers)


def test_headline_page_gathers_bc_iql_gem_of_every_suite_with_the_published_scores(tmp_path):
    """pages.sh's headline figure (README's): BC, IQL and GEM on each dataset of the three
    suites, in suite order; each row read from a committed table where there is one (the
    locomotion suite's own table is not written yet: listed as missing), with the D4RL score
    published for that system and dataset beside it."""
    from gem_jax.analysis import result_table

    calls = run_logged(tmp_path, "pages.sh", "headline")
    assert len(calls) == 1 and calls[0].startswith("experiments/side_by_side.py ")
    args = calls[0].split()[1:]
    specs = [a.split("=", 1)[1].split(":", 2) for a in args if a.startswith("--row=")]
    envs = list(dict.fromkeys(env for env, _, _ in specs))
    assert envs == ["maze2d-umaze", "maze2d-medium", "maze2d-large", "antmaze-umaze",
                    "antmaze-umaze-diverse", "hopper-medium", "walker2d-medium",
                    "halfcheetah-medium"]
    assert [algo for _, algo, _ in specs] == ["bc", "iql", "gem"] * len(envs)
    published_path = next(a.split("=", 1)[1] for a in args if a.startswith("--published="))
    repo = QUEUES.parent.parent
    published = json.loads((repo / published_path).read_text())
    rows, missing = result_table.gather(
        [(env, algo, repo / path) for env, algo, path in specs], published)
    measured = {(r["env"], r["algo"]) for r in rows}
    assert {("maze2d-umaze", "bc"), ("antmaze-umaze", "gem"), ("hopper-medium", "iql"),
            ("halfcheetah-medium", "bc")} <= measured
    for row in rows:  # the published score of that system on that dataset, none invented
        assert row["published"] == published[row["algo"].upper()][row["env"]]
    antmaze_gem = next(r for r in rows if (r["env"], r["algo"]) == ("antmaze-umaze", "gem"))
    assert antmaze_gem["published"] == 83.0 and antmaze_gem["normalized_score"] > 0
    assert len(rows) + len(missing) == 3 * len(envs)

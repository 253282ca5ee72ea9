"""Collect tuned, test-episode results of several runs into one fidelity table.

    python experiments/fidelity_table.py \
        --run=pointmaze-umaze:gem:runs/umaze_gem --run=pointmaze-umaze:iql:runs/umaze_iql \
        --out=experiments/results/fidelity_mazes

Every number comes from test episodes (but a variant tuned on validation episodes alone,
`tune.py --test_rows=none`: its row is its chosen setting's validation score, marked so);
knobs come from validation episodes:
* a GEM run's main row is `<workdir>/tune.json`'s chosen setting on test (experiments/
  tune.py); its N sweep and ablations are `<workdir>/<--n_sweep>/sweep.json` and
  `<workdir>/<--ablations>/sweep.json`, written by `experiments/evaluate.py --seed=<the
  tune test seed>` (which uses the tuned knobs for everything it does not sweep); the N
  sweep also takes tune.json's test rows at the chosen λ and β (same seeds), one curve per
  top-k rule (argmax, or e.g. a top-256 draw), so budgets tune already ran are not rerun;
* a baseline (IQL, BC) acts with its mean: its row is the N = 0 row of its
  `<workdir>/<--n_sweep>/sweep.json`.
WORKDIR needs only those JSON files (the step comes from the sweep file), so a folder of
committed results serves as well as a run directory. A GEM run without the ablation sweep
contributes no ablation rows and is listed under `missing`.
Writes `<out>.json` (`{"rows": [...], "n_sweep": [...], "ablations": [...], "missing": [...],
"gaps": [...]}`, one row per (env, algo); `gaps`: GEM minus each baseline per env and
their mean over envs), `<out>.md` and `<out>_vs_n.png` (score, Violation, CollapseDist
against N).
"""

from __future__ import annotations

import json
import pathlib

from absl import app, flags

from gem_jax.analysis import targets
from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("run", [], "ENV:ALGO:WORKDIR, repeatable; ALGO may be LABEL=ALGO (a "
                          "variant run such as gem-e2=gem, shown as LABEL).")
flags.DEFINE_string("n_sweep", "sweep_test_n", "Subdirectory holding the N sweep.")
flags.DEFINE_string("ablations", "sweep_test_ablations", "Subdirectory holding the ablations.")
flags.DEFINE_string("out", "experiments/results/fidelity_mazes", "Output path prefix.")



def read_json(path: pathlib.Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run the step that writes it first "
                                "(see this script's docstring).")
    return json.loads(path.read_text())


def row_of(result: dict) -> dict:
    """Seed scores, mean, std and audits (BehaviorZ only in results from 2026-12-05 on)."""
    from gem_jax.analysis.result_table import scored

    return scored(result)


def curve_of(top_k: int, pick: str, frac: float = 0.0) -> str:
    """The N-sweep curve a row belongs to: the paper's argmax (k = 1), a fixed top-k rule,
    or a share of the set (`top_k_frac`, whatever k it gives at this N)."""
    if frac > 0:
        return f"top {100 * frac:g}% {pick}"
    if pick == "softmax":  # SfBC's draw over the whole set, k draws averaged
        return f"softmax, {top_k} averaged"
    return "argmax" if top_k == 1 else f"top-{top_k} {pick}"


def rule_of(row: dict) -> tuple:
    """A row's top-k rule `(k, pick, share)`; k = 1 is the argmax, whatever rule gave it,
    but for SfBC's softmax draw (over the whole set)."""
    rule = (row["top_k"], row.get("top_k_pick", "mean"), row.get("top_k_frac", 0.0))
    return (1, "mean", 0.0) if rule[0] == 1 and rule[1] != "softmax" else rule


def n_curves(base: dict, sweep_rows: list, tune: dict) -> list:
    """GEM's score against N: the N-sweep file's rows, plus tune.json's test rows (same env
    seeds and keys) that share the chosen λ, β, source, bonus and means but a budget or top-k
    rule the sweep file lacks, so a budget is not evaluated twice. One curve per top-k rule,
    sorted by N; rows from before `top_k_pick` existed read "mean"."""
    fixed = ("source", "lcb_lambda", "beta_start", "beta_end", "anchor_bonus",
             "candidate_means")
    chosen = tune["chosen"]
    old = {"top_k_pick": "mean", "top_k_frac": 0.0}  # rows from before these knobs
    rows = [{**old, **r} for r in sweep_rows]
    rows += [{**old, **r, **r["test"]}
             for r in tune["rows"]
             if r.get("test") and all(r.get(k) == chosen.get(k) for k in fixed)]
    out, seen = [], set()
    for r in rows:
        rule = rule_of(r)  # (a share gives k = 1 at N <= 1)
        curve = curve_of(*rule)
        key = (r["num_candidates"], *rule)
        if key not in seen:
            seen.add(key)
            out.append({**base, "num_candidates": r["num_candidates"], "top_k": rule[0],
                        "top_k_pick": rule[1], "top_k_frac": rule[2], "curve": curve,
                        **row_of(r)})
    return sorted(out, key=lambda r: (r["curve"] != "argmax", r["curve"], r["num_candidates"]))


def collect(spec: str) -> tuple[dict, list, list, list]:
    try:
        env, algo, workdir = spec.split(":", 2)
    except ValueError:
        raise ValueError(f"--run={spec!r}: expected ENV:ALGO:WORKDIR.") from None
    algo, _, kind = algo.partition("=")
    kind = kind or algo
    workdir = pathlib.Path(workdir)
    n_file = read_json(workdir / FLAGS.n_sweep / "sweep.json")
    n_rows = n_file["rows"]
    base = {"env": env, "algo": algo, "kind": kind, "steps": int(n_file["step"])}
    if kind != "gem":
        mean_row = [r for r in n_rows if r["num_candidates"] == 0]
        if not mean_row:
            raise ValueError(f"{workdir / FLAGS.n_sweep} has no N = 0 row for {algo}.")
        return {**base, **row_of(mean_row[0]), "knobs": {"num_candidates": 0}}, [], [], []
    tune = read_json(workdir / "tune.json")
    tested = tune["chosen_test"] is not None  # None: tuned on validation alone (a variant)
    main = {**base, **row_of(tune["chosen_test"] if tested else tune["chosen_validation"]),
            "split": "test" if tested else "validation", "knobs": tune["chosen"],
            "curve": curve_of(*rule_of(tune["chosen"])),
            **({"test_env_seeds": tune["test_env_seeds"]} if tested else
               {"validation_env_seeds": tune["validation_env_seeds"]})}
    if tune.get("chosen_validation"):  # the comparisons on validation episodes read these
        main["validation"] = row_of(tune["chosen_validation"])
    if not tested:  # its N = 0 test row is no curve to draw beside test-scored ones
        return main, [], [], []
    sweep = n_curves(base, [r for r in n_rows if r["variant"] == "gem"], tune)
    ab_path = workdir / FLAGS.ablations / "sweep.json"
    if not ab_path.is_file():
        return main, sweep, [], [{"env": env, "algo": algo, "missing": "ablations",
                                  "expected": str(ab_path)}]
    ab_rows = read_json(ab_path)["rows"]
    ref = [r for r in ab_rows if r["variant"] == "gem"]
    if not ref:
        raise ValueError(f"{workdir / FLAGS.ablations} needs a 'gem' row to take deltas from.")
    ref = row_of(ref[0])
    ablations = []
    for r in ab_rows:
        if r["variant"] == "gem":
            continue
        row = row_of(r)
        ablations.append({**base, "variant": r["variant"], **row,
                          "delta_score": row["normalized_score"] - ref["normalized_score"],
                          "violation_ratio_vs_gem": row["violation"] / max(ref["violation"],
                                                                          1e-9)})
    return main, sweep, ablations, []


def gaps(rows) -> list[dict]:
    """GEM's score minus each baseline's (rows of another kind than GEM), per env, and their
    mean over the envs that have both (the issue's targets: >= 0 per env, >= 10 on the
    average)."""
    score = {(r["env"], r["algo"]): r["normalized_score"] for r in rows}
    out = []
    for algo in sorted({r["algo"] for r in rows if r.get("kind", r["algo"]) != "gem"}):
        per_env = {env: score[env, "gem"] - score[env, algo]
                   for env, a in score if a == "gem" and (env, algo) in score}
        if per_env:
            out.append({"baseline": algo, "per_env": per_env,
                        "mean": sum(per_env.values()) / len(per_env)})
    return out


def markdown(rows, sweep, ablations, missing=(), gap_rows=()) -> str:
    fmt = lambda r: (f"{r['normalized_score']:.1f} ± {r['normalized_score_std']:.1f} "
                     f"({', '.join(f'{s:.1f}' for s in r['seed_scores'])})"
                     + (" (validation)" if r.get("split") == "validation" else ""))
    num = lambda r, k, f: format(r[k], f) if k in r else "—"
    lines = ["| env | algo | steps | normalised score (per seed) | SupportZ | Violation | "
             "CollapseDist | BehaviorZ | BehaviorViolation | knobs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['env']} | {r['algo']} | {r['steps']} | {fmt(r)} | {r['support_z']:.2f} | "
              f"{r['violation']:.3f} | {r['collapse_dist']:.3f} | {num(r, 'behavior_z', '.2f')} | "
              f"{num(r, 'behavior_violation', '.3f')} | {r['knobs']} |" for r in rows]
    compared = [r for r in rows if "validation" in r]
    if any(r.get("split") == "validation" for r in rows):  # variants: compare on validation
        lines += ["", "On validation episodes, at each run's chosen setting (the comparison "
                  "of variants: same episodes for all):", "",
                  "| env | algo | validation score (per seed) | Violation | knobs |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['env']} | {r['algo']} | {fmt(r['validation'])} | "
                  f"{r['validation']['violation']:.3f} | {r['knobs']} |" for r in compared]
    if sweep:
        lines += ["", "| env | N | top-k rule | score (per seed) | Violation | CollapseDist |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['env']} | {r['num_candidates']} | {r['curve']} | {fmt(r)} | "
                  f"{r['violation']:.3f} | {r['collapse_dist']:.3f} |" for r in sweep]
    if ablations:
        lines += ["", "| env | variant | score (per seed) | Δ vs gem | Violation |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['env']} | {r['variant']} | {fmt(r)} | {r['delta_score']:+.1f} | "
                  f"{r['violation']:.3f} |" for r in ablations]
    for g in gap_rows:
        envs = ", ".join(f"{e} {d:+.1f}" for e, d in g["per_env"].items())
        lines += ["", f"GEM − {g['baseline']}: {envs}; mean over envs {g['mean']:+.1f}."]
    lines += targets.summary_lines(rows, sweep, ablations)
    if missing:
        lines += ["", "Not measured: " + "; ".join(f"{m['env']} {m['algo']} {m['missing']}"
                                                   for m in missing) + "."]
    return "\n".join(lines) + "\n"


def plot(sweep, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted({r["env"] for r in sweep})
    curves = sorted({r["curve"] for r in sweep}, key=lambda c: (c != "argmax", c))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for i, env in enumerate(envs):
        for j, curve in enumerate(curves):  # one colour per env, one line style per rule
            rows = sorted((r for r in sweep if r["env"] == env and r["curve"] == curve),
                          key=lambda r: r["num_candidates"])
            if not rows:
                continue
            x = [max(r["num_candidates"], 0.5) for r in rows]  # N = 0 drawn at 0.5 (log axis)
            style = dict(color=f"C{i}", linestyle=("-", "--", ":", "-.")[j % 4],
                         marker="os^D"[j % 4], label=f"{env}, {curve}")
            for ax, key in zip(axes, ("normalized_score", "violation", "collapse_dist")):
                y = [r[key] for r in rows]
                if key == "normalized_score":
                    ax.errorbar(x, y, yerr=[r["normalized_score_std"] for r in rows],
                                capsize=3, **style)
                else:
                    ax.plot(x, y, **style)
    for ax, label in zip(axes, ("normalised score (test episodes)", "Violation (share)",
                                "CollapseDist (action units)")):
        ax.set_xscale("log")
        ax.set_xlabel("candidates N (N = 0 drawn at 0.5)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def body() -> int:
    from gem_jax.harness.runlog import write_json

    if not FLAGS.run:
        raise ValueError("Give at least one --run=ENV:ALGO:WORKDIR.")
    rows, sweep, ablations, missing = [], [], [], []
    for spec in FLAGS.run:
        main, s, a, m = collect(spec)
        rows.append(main)
        sweep += s
        ablations += a
        missing += m
    gap_rows = gaps(rows)
    out = pathlib.Path(FLAGS.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out.with_suffix(".json"), {"rows": rows, "n_sweep": sweep, "ablations": ablations,
                                          "missing": missing, "gaps": gap_rows})
    text = markdown(rows, sweep, ablations, missing, gap_rows)
    out.with_suffix(".md").write_text(text)
    if sweep:
        plot(sweep, out.parent / f"{out.name}_vs_n.png")
    print(text)
    return 0


main = absl_main(body)


if __name__ == "__main__":
    app.run(main)

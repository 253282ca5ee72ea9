"""One run's results from seeds trained apart (behind `experiments/pool_seeds.py`).

A 3-seed run at the locomotion table's sizes trains for 3 h or more on two cores, longer than
a sitting; one seed (`train.py --seed=i --num_seeds=1`: the same initial key as seed index i
of a vmapped run, `runner.init_seeds`) takes a third of that. These functions pool the small
outputs of such one-seed runs, *shards*, into the files one vmapped run writes, so the tables
read them unchanged:

* `summary.json`: the per-seed rows concatenated, means and stds recomputed;
* a sweep's rows (`evaluate.py`): a setting measured in every shard becomes one row over all
  their seeds (`pool_rows`);
* `tune.json` (`tune.py --test_rows=all`, every setting scored on validation and test
  episodes): the rows pooled, then the setting with the best mean validation score over all
  seeds chosen (`pooled_choice`), and its test row reported. The choice is the pooled one,
  never a shard's. The shard tuned last may know it already: `tune.py --choose_with=<the
  other shards' tune.json>` chooses by the same rule and scores on test only that choice's
  N curves (`--test_rows=curves`), ~40% of that shard's tune time saved. Shards tuned on
  validation episodes alone (`--test_rows=none`: a variant compared on validation, e.g.
  `suite.py`'s `gem-e2`) pool to a choice without a test row.

Each shard is a one-seed run, so `evaluate.py` and `tune.py` score it as seed index 0: every
shard meets the same episodes (env seeds `10_000 + seed + j`), where a vmapped run's seed i
meets episodes shifted by i (`sweep.evaluate_setting`). Both are the same distribution of
starts; pooled files say `"seed_shards"`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gem_jax.analysis.sweep import STATIC, TRACED

# a row's setting (what it measured) as against its results
SETTING_KEYS = (*STATIC, *TRACED, "mass_scale")
# the keys of the top-k rule and the traced knobs: moot with a single candidate (N = 0 and the
# paper's one-anchor set), where the one action is taken whatever they say
MOOT_AT_N0 = (*TRACED, "top_k", "top_k_pick", "top_k_frac")
SEED_STD = "normalized_score_seed_std"
EPISODE_STD = "normalized_score_episode_std"
# recomputed from all seeds (or counts), never averaged
OWN_RULES = ("normalized_score", "seed_scores", SEED_STD, EPISODE_STD, "num_seeds", "episodes")


class PoolError(ValueError):
    """Shards that do not pool (different runs, steps or grids)."""


def setting_key(row: dict) -> tuple:
    """What a sweep row measured: its setting, with the knobs that cannot matter dropped at
    N = 0 without the K-means set (one candidate, taken whatever the score)."""
    moot = row.get("num_candidates") == 0 and not row.get("candidate_means", False)
    return tuple((k, row.get(k)) for k in SETTING_KEYS
                 if k in row and not (moot and k in MOOT_AT_N0))


def pool_metrics(rows: Sequence[dict]) -> dict:
    """One setting's results over all the seeds of `rows` (each a row of one or more seeds,
    with `seed_scores`): scores concatenated; the mean score and its seed std recomputed; the
    audits averaged with each row weighted by its seeds (a row's audits are its seeds' mean);
    the episode std pooled exactly (the rows' episode means and within stds, equal episodes
    per seed)."""
    seeds = [len(r["seed_scores"]) for r in rows]
    scores = [float(s) for r in rows for s in r["seed_scores"]]  # [S]
    out = dict(rows[0])  # the setting (and other fields) as the first row has them
    for key, first in rows[0].items():
        if key in SETTING_KEYS or key in OWN_RULES or isinstance(first, bool):
            continue
        values = [r.get(key) for r in rows]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[key] = float(np.average(values, weights=seeds))
    out["normalized_score"] = float(np.mean(scores))
    out[SEED_STD] = float(np.std(scores))
    out["seed_scores"] = scores
    if all(EPISODE_STD in r for r in rows):  # within + between, weighted by seeds
        means = np.array([r["normalized_score"] for r in rows])  # [R]
        var = np.array([r[EPISODE_STD] ** 2 for r in rows])  # [R]
        w = np.array(seeds) / sum(seeds)
        grand = float(np.sum(w * means))
        out[EPISODE_STD] = float(np.sqrt(np.sum(w * (var + (means - grand) ** 2))))
    if "num_seeds" in rows[0]:
        out["num_seeds"] = sum(seeds)
    return out


def pool_rows(shard_rows: Sequence[Sequence[dict]]) -> tuple[list[dict], list[tuple]]:
    """The settings every shard measured, each pooled over all seeds (in the first shard's
    order), and the settings some shard lacks (left out)."""
    keyed = [{setting_key(r): r for r in rows} for rows in shard_rows]
    out, missing = [], []
    for key, row in keyed[0].items():
        if all(key in k for k in keyed[1:]):
            out.append(pool_metrics([row, *(k[key] for k in keyed[1:])]))
        else:
            missing.append(key)
    missing += [key for k in keyed[1:] for key in k if key not in keyed[0]]
    return out, list(dict.fromkeys(missing))


def _same(name: str, values: Sequence, what: str) -> None:
    if any(v != values[0] for v in values[1:]):
        raise PoolError(f"The shards differ in {name} ({', '.join(map(str, values))}); pool "
                        f"only one-seed runs of the same {what}.")


def pool_sweeps(sweeps: Sequence[dict]) -> dict:
    """`evaluate.py`'s sweep.json of each shard -> one over all seeds (the settings every
    shard measured)."""
    _same("env", [s.get("env") for s in sweeps], "dataset")
    _same("step", [s.get("step") for s in sweeps], "training budget")
    rows, missing = pool_rows([s["rows"] for s in sweeps])
    return {**{k: v for k, v in sweeps[0].items() if k not in ("rows", "workdir")},
            "rows": rows, "seed_shards": len(sweeps),
            "left_out": [dict(k) for k in missing]}


def check_tunes(tunes: Sequence[dict], tuned_keys: Sequence[str]) -> None:
    """Raise `PoolError` unless the tune.json files are of one dataset, budget, protocol and
    grid (the same settings in the same order)."""
    _same("env", [t.get("env") for t in tunes], "dataset")
    _same("step", [t.get("step") for t in tunes], "training budget")
    _same("episodes per seed", [t.get("episodes_per_seed") for t in tunes], "protocol")
    grids = [[tuple(r[k] for k in tuned_keys) for r in t["rows"]] for t in tunes]
    if any(g != grids[0] for g in grids[1:]):
        raise PoolError("The shards' tune.json rows differ in their settings; tune every shard "
                        "with the same tune.py grid.")


def pooled_choice(tunes: Sequence[dict]) -> int:
    """The row with the best mean validation score over all the shards' seeds (the first on
    ties). The mean is `math.fsum` over the seeds' scores, exact whatever the shards' order,
    so `tune.py --choose_with` (from one shard, the others read) and the pool (all shards in
    seed order) agree on ties."""
    means = [math.fsum(s for p in parts for s in p["validation"]["seed_scores"])
             / sum(len(p["validation"]["seed_scores"]) for p in parts)
             for parts in zip(*(t["rows"] for t in tunes))]
    return max(range(len(means)), key=lambda i: (means[i], -i))


def pool_tunes(tunes: Sequence[dict], tuned_keys: Sequence[str]) -> dict:
    """`tune.py`'s tune.json of each shard -> one over all seeds: the rows pooled setting by
    setting (a test row where every shard has one: `--test_rows=all`, or the curves of the
    pooled choice in the shard tuned last with `--choose_with`), the best mean validation
    score chosen (`pooled_choice`), its test row reported (none where every shard was tuned
    with `--test_rows=none`)."""
    check_tunes(tunes, tuned_keys)
    best = pooled_choice(tunes)
    validation_only = all(t.get("test_rows") == "none" for t in tunes)
    for i, t in enumerate(tunes):
        if t["rows"][best].get("test") is None and not validation_only:
            raise PoolError(f"Shard {i}'s tune.json has no test score for the pooled choice "
                            f"(row {best}); tune each shard with tune.py --test_rows=all, or "
                            "the last with --choose_with the others' tune.json.")
    rows = []
    for parts in zip(*(t["rows"] for t in tunes)):
        tested = all(p.get("test") is not None for p in parts)
        rows.append({**{k: parts[0][k] for k in tuned_keys},
                     "validation": pool_metrics([p["validation"] for p in parts]),
                     "test": pool_metrics([p["test"] for p in parts]) if tested else None})
    chosen = {k: rows[best][k] for k in tuned_keys}
    first = tunes[0]
    return {**{k: v for k, v in first.items() if k not in ("rows", "workdir", "chosen_with")},
            "num_seeds": sum(t["num_seeds"] for t in tunes), "seed_shards": len(tunes),
            "chosen": chosen, "chosen_validation": rows[best]["validation"],
            "chosen_test": rows[best]["test"],
            "test_rows": "none" if validation_only else "all" if all(
                r["test"] is not None for r in rows) else "curves",
            "rows": rows}


def pool_summaries(summaries: Sequence[dict]) -> dict:
    """`train.py`'s summary.json of each shard -> one over all seeds."""
    _same("env", [s.get("env") for s in summaries], "dataset")
    _same("algo", [s.get("algo") for s in summaries], "algorithm")
    _same("steps", [s.get("steps") for s in summaries], "training budget")
    per_seed = [p for s in summaries for p in s.get("per_seed", [])]
    out = {k: v for k, v in summaries[0].items() if k not in ("per_seed",)}
    out.update(num_seeds=sum(s["num_seeds"] for s in summaries),
               seeds=[x for s in summaries for x in s["seeds"]], per_seed=per_seed,
               seed_shards=len(summaries))
    if per_seed:
        scores = [p["normalized_score"] for p in per_seed]
        episodes = [e for p in per_seed for e in p.get("episode_scores", [])]
        out["normalized_score"] = {"mean": float(np.mean(scores)),
                                   "std": float(np.std(episodes)) if episodes else None,
                                   "seed_std": float(np.std(scores))}
        for key in ("support_z", "violation", "collapse_dist", "behavior_z",
                    "behavior_violation"):
            if all(key in p for p in per_seed):
                out[key] = float(np.mean([p[key] for p in per_seed]))
    for key in ("steps_per_s", "compile_s"):
        if all(isinstance(s.get(key), (int, float)) for s in summaries):
            out[key] = float(np.mean([s[key] for s in summaries]))
    return out

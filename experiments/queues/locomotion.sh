#!/usr/bin/env bash
# The locomotion table's queue (experiments/suite.py), in the order the work is done. Rerun it
# to continue: finished stages are skipped, training resumes from its last checkpoint.
#
#   nohup bash experiments/queues/locomotion.sh > ~/gem-runs/locomotion.log 2>&1 &
#   .venv/bin/python experiments/suite.py --suite=locomotion --tiers=1 --algos=bc,iql,gem \
#       --root=~/gem-runs/locomotion --status                 # where it stands
#
# Run directories: $GEM_RUNS (default ~/gem-runs)/locomotion/<dataset>/<label>/.
# Each stage imports the code when it starts: while editing the work tree, run the queue from a
# clone at a fixed commit, e.g.
#   git clone -q . ~/gem-runs/src && ln -s "$PWD/.venv" ~/gem-runs/src/.venv
#   cd ~/gem-runs/src && PYTHONPATH=$PWD nohup bash experiments/queues/locomotion.sh > ~/gem-runs/locomotion.log 2>&1 &
# (then copy experiments/results/locomotion/ back before committing).
source "$(dirname "$0")/common.sh"  # a failed stage stops only its own run
ROOT="$RUNS/locomotion"
STEPS="${STEPS:-300000}"
common=(--root="$ROOT" --steps="$STEPS" --progress=false)

# 0. hopper-medium first, with E = 2 critics beside our E = 5 (hopper.sh; skipped where done).
bash experiments/queues/hopper.sh --with-e2

# 1. Tier 1: hopper / walker2d / halfcheetah-medium; BC, IQL, GEM at (256, 256), 3 seeds
#    (GEM and IQL one seed at a time, pooled: --seed_shards, a seed finished is kept whatever
#    machine the next sitting gets, and a one-seed run costs 10% less compute than a seed of a
#    vmapped 3-seed run, benchmarks/RESULTS.md "Seeds apart"; BC, ~35 min a pair, vmapped).
"$PY" experiments/suite.py --suite=locomotion --tiers=1 --algos=bc,iql,gem "${common[@]}" \
  --seed_shards=iql,gem \
  --out=experiments/results/locomotion/fidelity_locomotion

# 2. Our defaults against the paper's form, on validation episodes (tune.json of each run):
#    E = 2 critics; the plain density with a hard log-std clip; critics without LayerNorm.
#    (beta 0 -> 3 and the top-quarter draw are selection knobs: tune.py's grid covers them.)
"$PY" experiments/suite.py --datasets=hopper-medium,walker2d-medium "${common[@]}" \
  --algos="gem-e2=gem:--config.num_critics=2,gem-density=gem:--config.action_boundary=density --config.log_std_clamp=hard,gem-noln=gem:--config.layer_norm=false" \
  --seed_shards=gem-e2,gem-density,gem-noln --out=experiments/results/locomotion/ours_vs_paper

# 3. Tiers 2 and 3.
"$PY" experiments/suite.py --suite=locomotion --tiers=1,2,3 --algos=bc,iql,gem "${common[@]}" \
  --seed_shards=iql,gem --out=experiments/results/locomotion/fidelity_locomotion

#!/usr/bin/env bash
# AntMaze from our own ant (the AntMaze issue), in the order the work is done. Rerun it to
# continue: a built dataset is not rebuilt, finished suite stages are skipped, training resumes.
#
#   nohup bash experiments/queues/antmaze.sh > ~/gem-runs/antmaze.log 2>&1 &
#   .venv/bin/python experiments/suite.py --suite=antmaze --algos=bc,iql,gem \
#       --root=~/gem-runs/antmaze --ablation_datasets=antmaze-umaze --mass_scales=1 \
#       --status                                             # where it stands
#
# Needs the shipped ant (gem_jax/data/policies/ant-goal.msgpack; tools/ship_ant_policy.py).
# Run directories: $GEM_RUNS (default ~/gem-runs)/antmaze/<dataset>/<label>/.
source "$(dirname "$0")/common.sh"
ROOT="$RUNS/antmaze"
STEPS="${STEPS:-300000}"

# 1. BC, IQL and GEM on antmaze-umaze and -umaze-diverse, 3 seeds; GEM's knobs on validation
#    episodes, the N sweep and the ablations (no_pw ...) on test episodes. The suite builds
#    the two datasets where they are missing, and skips the runs complete in its committed
#    kept copy (experiments/results/antmaze/runs/) where the run directories are gone. IQL
#    and GEM train one seed at a time (--seed_shards, pooled: a 3-seed GEM pair is longer
#    than a sitting, and a seed finished is kept even where the next sitting gets another
#    machine); BC (40-70 min) as one vmapped run.
"$PY" experiments/suite.py --suite=antmaze --algos=bc,iql,gem --root="$ROOT" --steps="$STEPS" \
  --ablation_datasets=antmaze-umaze --mass_scales=1 --progress=false --seed_shards=iql,gem \
  --out=experiments/results/antmaze/fidelity_antmaze

# 2. Where the policies go on antmaze-umaze (2 test episodes a seed): GEM with and without the
#    behavior term, and IQL, over the maze.
OUT=experiments/results/antmaze
for label in gem:gem,no_pw iql:gem; do
  algo=${label%%:*} run="$ROOT/antmaze-umaze/${label%%:*}"
  [ -f "$run/summary.json" ] && [ ! -f "$OUT/trace_umaze_$algo.png" ] && \
    "$PY" experiments/probes/maze_trace.py --workdir="$run" --variants="${label##*:}" \
      --episodes=2 --seed=500000 --out="$run/trace_test" && \
    cp "$run/trace_test/trace.png" "$OUT/trace_umaze_$algo.png" && \
    cp "$run/trace_test/trace.json" "$OUT/trace_umaze_$algo.json"
done

# 3. The other four datasets (10^6 steps each, one worker per core; skipped where built), then
#    the figures of all six beside Minari's in the policy manifest. Skipped where the manifest
#    already records all six (the builds are deterministic): a fresh machine would spend
#    ~1 h rebuilding them for figures that are committed.
tasks=(umaze umaze-diverse medium-play medium-diverse large-play large-diverse)
"$PY" -c 'import json, sys
built = json.load(open("gem_jax/data/policies/manifest.json"))["ant-goal"].get("datasets", {})
sys.exit(0 if all(t in built for t in sys.argv[1:]) else 1)' "${tasks[@]}" && exit 0
for task in "${tasks[@]}"; do
  "$PY" experiments/make_dataset.py --dataset="antmaze-$task" || exit 1
done
"$PY" tools/ship_ant_policy.py --record_builds

#!/usr/bin/env bash
# hopper-medium's BC, IQL and GEM rows (the locomotion queue's step 0), alone: the LOM and the
# diffusion side-by-side pages need the same three rows, so all.sh runs this before them.
# Rerun to continue: finished stages are skipped, training resumes.
#
#   nohup bash experiments/queues/hopper.sh > ~/gem-runs/hopper.log 2>&1 &
#
# Run directories: $GEM_RUNS (default ~/gem-runs)/locomotion/hopper-medium/<label>/ (the
# locomotion suite's root: its table reads these runs).
# E = 2 critics beside our E = 5 (the locomotion issue's one measured comparison, on
# validation episodes): E = 2 trains faster, so the choice is made before the other datasets
# are trained (the preset takes it; see README "paper vs ours"). Each GEM pair trains one
# seed at a time (--seed_shards, pooled: a 3-seed GEM pair at (256, 256) is longer than a
# sitting; at GEM's sizes one seed alone trains 3x as many steps/s as three vmapped, the
# same total: benchmarks/RESULTS.md); BC and IQL pairs are finished.
source "$(dirname "$0")/common.sh"
"$PY" experiments/suite.py --datasets=hopper-medium --root="$RUNS/locomotion" \
  --steps="${STEPS:-300000}" --progress=false \
  --algos="bc,iql,gem-e2=gem:--config.num_critics=2,gem" --seed_shards=gem-e2,gem \
  --out=experiments/results/locomotion/hopper_medium_e2

#!/usr/bin/env bash
# hopper-medium's BC, IQL and GEM rows (the locomotion queue's step 0), alone: the LOM and the
# diffusion side-by-side pages need the same three rows, so all.sh runs this before them.
# Rerun to continue: finished stages are skipped, training resumes.
#
#   nohup bash experiments/queues/hopper.sh > ~/gem-runs/hopper.log 2>&1 &
#
# Run directories: $GEM_RUNS (default ~/gem-runs)/locomotion/hopper-medium/<label>/ (the
# locomotion suite's root: its table reads these runs).
# GEM trains one seed at a time (--seed_shards, pooled: a 3-seed GEM pair at (256, 256) is
# longer than a sitting; at GEM's sizes one seed alone trains 3x as many steps/s as three
# vmapped, the same total: benchmarks/RESULTS.md); BC and IQL pairs are finished.
#
#   bash experiments/queues/hopper.sh --with-e2   # also E = 2 critics beside our E = 5
#
# --with-e2: the locomotion issue's one measured comparison of E = 2 and E = 5 critics on
# validation episodes, which the preset takes (README "paper vs ours"). locomotion.sh runs it
# before the other datasets; all.sh runs hopper.sh without it first, so that the LOM and
# diffusion pages get their GEM row ~5 h of training sooner.
source "$(dirname "$0")/common.sh"
algos="bc,iql,gem" shards="gem"
case "${1:-}" in
  "") ;;
  --with-e2) algos+=",gem-e2=gem:--config.num_critics=2" shards+=",gem-e2" ;;
  *) echo "usage: bash experiments/queues/hopper.sh [--with-e2]" >&2; exit 2 ;;
esac
"$PY" experiments/suite.py --datasets=hopper-medium --root="$RUNS/locomotion" \
  --steps="${STEPS:-300000}" --progress=false --algos="$algos" --seed_shards="$shards" \
  --out=experiments/results/locomotion/hopper_medium_e2

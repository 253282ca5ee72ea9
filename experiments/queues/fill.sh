#!/usr/bin/env bash
# Short units for the end of a sitting: the locomotion table's BC pairs (one vmapped 3-seed
# pair at a time), or its IQL seeds (one seed at a time, `--seed_shards=iql`, as locomotion.sh
# trains them), tier by tier, with locomotion.sh's own flags, so each pair or seed kept here
# counts there. A GEM seed (~2.2 h with its tune) or a LOM seed (~2-2.5 h) started late in a
# sitting is lost where the next sitting gets another machine; a BC pair (~45 min at
# (256, 256) with its data and evaluations) is not. Stop the main queue where its next
# training run starts (nothing is lost then) and run this in the time that is left:
#
#   nohup bash experiments/queues/fill.sh > ~/gem-runs/fill.log 2>&1 &        # BC pairs
#   nohup bash experiments/queues/fill.sh iql > ~/gem-runs/fill.log 2>&1 &    # IQL seeds
#
# Run directories: $GEM_RUNS (default ~/gem-runs)/locomotion/<dataset>/<algo>/; kept copies
# in experiments/results/locomotion/runs/ (commit them); the rows so far in
# experiments/results/locomotion/filler_<algo>.{json,md}.
source "$(dirname "$0")/common.sh"
algo="${1:-bc}"
case "$algo" in
  bc) shards=() ;;
  iql) shards=(--seed_shards=iql) ;;
  *) echo "usage: bash experiments/queues/fill.sh [bc|iql]" >&2; exit 2 ;;
esac
"$PY" experiments/suite.py --suite=locomotion --algos="$algo" --root="$RUNS/locomotion" \
  --steps="${STEPS:-300000}" --progress=false \
  "${shards[@]}" --out="experiments/results/locomotion/filler_$algo"

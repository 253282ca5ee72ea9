#!/usr/bin/env bash
# IDQL and SfBC beside BC, IQL and GEM (the diffusion issue, its side-by-side), in the order the
# work is done. Rerun to continue: a finished step is skipped (its tune.json is committed, or
# a seed's kept copy is), training resumes from its last checkpoint.
#
#   nohup bash experiments/queues/generative.sh > ~/gem-runs/generative.log 2>&1 &
#
# Run directories: $GEM_RUNS (default ~/gem-runs)/generative/<dataset>/<algo>/. Budgets are
# those of each suite's GEM row: maze2d 2e5 steps at (128, 128), 3 seeds, the fidelity table's
# validation / test env seeds (700000 / 900000; its BC, IQL and GEM rows are
# experiments/results/fidelity_mazes.json); hopper-medium 3e5 steps at (256, 256), the
# locomotion suite's (its BC, IQL and GEM rows: experiments/results/locomotion/).
# The knobs are chosen on validation episodes and reported on test ones (tune.py): IDQL's N
# (its paper sweeps 16-256), SfBC's M and its 1 or 4 averaged picks; no LCB, no support term,
# no anchor, as both papers score (SupportZ and Violation are still audited by the GMM).
# Cost: SfBC's in-sample planning scores 16 diffusion samples at each of 10^6 next states:
# 34 min a seed with the (256, 3-block) noise network on our 2 idle cores (benchmarks/RESULTS.md,
# "The compute shape"), more beside another job, so the maze runs use a 128-wide noise
# network, as their critics are 128 wide (ours, cost).
source "$(dirname "$0")/common.sh"
ROOT="$RUNS/generative"
OUT=experiments/results/generative
mkdir -p "$ROOT" "$OUT"
knobs=(--lcb_lambda=0 --beta_start=0 --beta_end=0 --source=diffusion --eval_episodes=10
       --val_seed=700000 --test_seed=900000 --progress=false)
grid_idql=(--num_candidates=16,64,256 --top_k=1)
grid_sfbc=(--num_candidates=16,32,64 --top_k=1,4 --top_k_pick=softmax)


# One seed at a time (a 3-seed run at (256, 256) is longer than a sitting, and a seed kept is
# never retrained, whatever machine the next sitting gets): each seed trains
# and is tuned alone (tune.py --test_rows=all), its small outputs are kept in
# $OUT/runs/<dataset>_<algo>/seed<i>/ (committed: a fresh machine skips the seeds kept there),
# then experiments/pool_seeds.py pools them and chooses the knobs on the pooled validation
# scores (as suite.py --seed_shards does).
run_sharded() {  # dataset algo steps hidden [train.py flags...]
  local data=$1 algo=$2 steps=$3 hidden=$4 run="$ROOT/$1/$2" kept="$OUT/runs/$1_$2" runs=()
  shift 4
  [ -f "$OUT/${data}_${algo}_tune.json" ] && return 0
  local grid="grid_$algo[@]"
  for i in 0 1 2; do
    local shard="$run/seed$i"
    runs+=("$kept/seed$i")
    [ -f "$kept/seed$i/tune.json" ] && continue
    "$PY" experiments/make_dataset.py --dataset="$data" || return 1
    "$PY" experiments/train.py --env="$data" --algo="$algo" --workdir="$shard" \
      --steps="$steps" --eval_episodes=0 --checkpoint_every=20000 \
      --config.hidden_dims="$hidden" --seed="$i" --num_seeds=1 --progress=false \
      $(resume_flag "$shard") "$@" || return 1
    "$PY" experiments/tune.py --workdir="$shard" "${knobs[@]}" "${!grid}" --test_rows=all \
      || return 1
    mkdir -p "$kept/seed$i"
    cp "$shard/summary.json" "$shard/config.json" "$kept/seed$i/"
    cp "$shard/tune.json" "$kept/seed$i/"  # last: the shard is kept whole
  done
  "$PY" experiments/pool_seeds.py --runs="$(IFS=,; echo "${runs[*]}")" --out="$run" && \
    cp "$run/tune.json" "$OUT/${data}_${algo}_tune.json"
}

for data in maze2d-umaze maze2d-medium; do
  for algo in idql sfbc; do
    run_sharded "$data" "$algo" 200000 "(128,128)" --config.diffusion_hidden=128
  done
done
for algo in idql sfbc; do run_sharded hopper-medium "$algo" 300000 "(256,256)"; done

# 3. The side-by-side page from the committed result files (pages.sh):
#    experiments/results/generative/side_by_side.{md,json,png}.
bash experiments/queues/pages.sh generative

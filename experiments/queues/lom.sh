#!/usr/bin/env bash
# LOM beside BC, IQL and GEM (the LOM issue), in the order the work is done. Rerun to continue:
# a finished step is skipped (its summary or sweep file exists), training resumes.
#
#   nohup bash experiments/queues/lom.sh > ~/gem-runs/lom.log 2>&1 &
#   bash experiments/queues/lom.sh --with-sarsa   # also hopper-medium with the SARSA critic
#
# Run directories: $GEM_RUNS (default ~/gem-runs)/lom/. Budgets are those of each suite's GEM
# row: nav2d 2e4 steps at (128, 128); maze2d 2e5 steps at (128, 128) with the fidelity
# table's validation / test env seeds (700000 / 900000); hopper-medium the locomotion suite's.
source "$(dirname "$0")/common.sh"
case "${1:-}" in
  "" | --with-sarsa) ;;
  *) echo "usage: bash experiments/queues/lom.sh [--with-sarsa]" >&2; exit 2 ;;
esac
ROOT="$RUNS/lom"
OUT=experiments/results/lom
mkdir -p "$ROOT" "$OUT"
small=(--config.hidden_dims="(128,128)" --num_seeds=3 --progress=false)

# 1. nav2d: all four side by side, then each method's routes (path plots). Skipped where the
#    committed results of 1a are all there (the run directories may be gone).
nav2d_done=1
for f in nav2d_gem_tune nav2d_bc_test nav2d_iql_test nav2d_lom_test; do
  [ -f "$OUT/$f.json" ] || nav2d_done=0
done
[ -f "$ROOT/nav2d/compare.md" ] || [ $nav2d_done = 1 ] || { "$PY" experiments/compare.py \
  --env=nav2d --algos=bc,iql,gem,lom --seeds=3 --steps=20000 --eval_episodes=10 \
  --out="$ROOT/nav2d" --config.hidden_dims="(128,128)" --progress=false && \
  cp "$ROOT/nav2d/compare.md" "$OUT/compare_nav2d.md" && \
  cp "$ROOT/nav2d/compare.csv" "$OUT/compare_nav2d.csv"; }
for algo in bc iql gem lom; do
  [ -d "$ROOT/nav2d/$algo" ] && [ ! -f "$OUT/nav2d_trace_$algo.png" ] && \
    "$PY" experiments/probes/nav2d_trace.py --workdir="$ROOT/nav2d/$algo" --out="$ROOT/nav2d/trace_$algo" && \
    cp "$ROOT/nav2d/trace_$algo/trace.png" "$OUT/nav2d_trace_$algo.png" && \
    cp "$ROOT/nav2d/trace_$algo/trace.json" "$OUT/nav2d_trace_$algo.json"
done

# 1a. nav2d on test episodes, GEM tuned: tune.py chooses GEM's knobs on validation episodes
#     (nav2d preset grid, N = 64) and scores them on test (env seeds from 500000); BC, IQL and
#     LOM have no knobs and are scored on the same test episodes (N = 0).
[ -f "$OUT/nav2d_gem_tune.json" ] || { "$PY" experiments/tune.py --workdir="$ROOT/nav2d/gem" \
  --num_candidates=16,64 --lcb_lambda=0,1 --beta_start=0.1,0.3,1 --beta_end=0.1,3 \
  --top_k=1,16 --eval_episodes=10 --progress=false && \
  cp "$ROOT/nav2d/gem/tune.json" "$OUT/nav2d_gem_tune.json"; }
for algo in bc iql lom; do
  [ -f "$OUT/nav2d_${algo}_test.json" ] || { "$PY" experiments/evaluate.py \
    --workdir="$ROOT/nav2d/$algo" --seed=500000 --eval_episodes=10 --num_candidates=0 \
    --out="$ROOT/nav2d/$algo/sweep_test" --progress=false && \
    cp "$ROOT/nav2d/$algo/sweep_test/sweep.json" "$OUT/nav2d_${algo}_test.json"; }
done

# 1b. LOM's critic: ours bootstraps on IQL's value, the paper's is TD3+BC's SARSA
#     (--config.critic_target=sarsa); ours stays the default only if it measures equal or better.
[ -f "$OUT/compare_nav2d_lom_sarsa.md" ] || { "$PY" experiments/compare.py --env=nav2d \
  --algos=lom --seeds=3 --steps=20000 --eval_episodes=10 --out="$ROOT/nav2d_sarsa" \
  --config.hidden_dims="(128,128)" --config.critic_target=sarsa --progress=false && \
  cp "$ROOT/nav2d_sarsa/compare.md" "$OUT/compare_nav2d_lom_sarsa.md"; }

# 2. maze2d-umaze and -medium: LOM at the fidelity table's budget (its GEM and IQL rows are
#    experiments/results/fidelity_mazes.json), and BC, which that table has on maze2d-large
#    only (its results go to experiments/results/maze2d/, for the LOM and diffusion tables
#    alike); validation and test episodes.
#    BC first on both (the shorter runs, which both side-by-side pages need), then LOM.
for algo in bc lom; do
  for maze in maze2d-umaze maze2d-medium; do
    if [ "$algo" = lom ]; then run="$ROOT/$maze" out="$OUT/${maze}_lom"
    else run="$RUNS/maze2d/$maze/bc" out="experiments/results/maze2d/${maze}_bc"; fi
    [ -f "${out}_val.json" ] && [ -f "${out}_test.json" ] && continue  # committed: done
    "$PY" experiments/make_dataset.py --dataset="$maze" || continue  # skipped where built
    "$PY" experiments/train.py --env="$maze" --algo="$algo" --workdir="$run" --steps=200000 \
      --eval_episodes=0 --checkpoint_every=20000 "${small[@]}" $(resume_flag "$run") || continue
    for split in 700000:val 900000:test; do
      seed=${split%%:*}; name=${split##*:}
      [ -f "$run/sweep_$name/sweep.json" ] || "$PY" experiments/evaluate.py --workdir="$run" \
        --seed="$seed" --eval_episodes=10 --num_candidates=0 --out="$run/sweep_$name" \
        --progress=false
      cp "$run/sweep_$name/sweep.json" "${out}_$name.json"
    done
  done
done

# 2b. Where LOM loses return on each maze (experiments/probes/lom_modes.py, on the validation
#     and test episodes): LOM's policy, the mean of its hyper-Q's mode, the critic's best mode
#     mean, and the critic's pick among behavior samples. Skipped where committed or not trained.
for maze in maze2d-umaze maze2d-medium; do
  run="$ROOT/$maze"
  for split in 700000:val 900000:test; do
    seed=${split%%:*}; name=${split##*:}; out="$OUT/${maze}_lom_modes_$name"
    [ -f "$out.json" ] || [ ! -f "$run/summary.json" ] || { "$PY" experiments/probes/lom_modes.py \
      --workdir="$run" --seed="$seed" --out="$run/lom_modes_$name" --progress=false && \
      cp "$run/lom_modes_$name/lom_modes.json" "$out.json" && \
      cp "$run/lom_modes_$name/lom_modes.md" "$out.md"; }
  done
done

# 3. hopper-medium: LOM in the locomotion suite's root, beside its BC / IQL / GEM rows; one
#    seed at a time (--seed_shards, pooled). Cost (AMD EPYC 2 vCPUs, (256, 256);
#    benchmarks/RESULTS.md, "LOM's two phases"): the 50k-step behavior pretraining ~2 min,
#    then 31-40 steps/s, ~2-2.5 h a seed; its hyper-Q regression scores the critics at every
#    behavior mode of every batch state.
"$PY" experiments/suite.py --datasets=hopper-medium --algos=lom --seed_shards=lom \
  --root="$RUNS/locomotion" --steps=300000 --progress=false --out="$OUT/lom_hopper"

# 4. The side-by-side page from the committed result files (pages.sh):
#    experiments/results/lom/side_by_side.{md,json,png}.
bash experiments/queues/pages.sh lom

# 5. --with-sarsa: hopper-medium's LOM with the paper's SARSA critic as well (another ~7 h of
#    the two cores; nav2d's 1b already decided the default critic), then the page again.
if [ "${1:-}" = --with-sarsa ]; then
  "$PY" experiments/suite.py --datasets=hopper-medium \
    --algos="lom-sarsa=lom:--config.critic_target=sarsa" --seed_shards=lom-sarsa \
    --root="$RUNS/locomotion" --steps=300000 --progress=false --out="$OUT/lom_hopper_sarsa"
  bash experiments/queues/pages.sh lom
fi

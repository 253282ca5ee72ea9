#!/usr/bin/env bash
# The side-by-side pages, rebuilt from the committed result files alone (no run directory
# needed; rows not measured yet are listed as such): the LOM and diffusion issues'
# experiments/results/{lom,generative}/side_by_side.{md,json,png}, and the headline BC / IQL /
# GEM figure over every suite, the paper's and the published baselines' D4RL scores beside
# (experiments/results/headline.{md,json,png}, README's figure). lom.sh and generative.sh end
# with their page; run it by hand after copying results in.
#
#   bash experiments/queues/pages.sh [lom] [generative] [headline]   # default: all three
source "$(dirname "$0")/common.sh"
F=experiments/results/fidelity_mazes.json                   # maze2d: IQL, GEM (and BC on large)
H=experiments/results/locomotion/hopper_medium_e2.json      # hopper-medium: hopper.sh's table
B=experiments/results/maze2d                                # maze2d BC (lom.sh step 2)
A=experiments/results/antmaze/fidelity_antmaze.json         # antmaze: BC, IQL, GEM
L=experiments/results/locomotion                            # the locomotion suite's tables

lom_page() {
  local out=experiments/results/lom rows=()
  rows+=(--row="nav2d:bc:$out/nav2d_bc_test.json" --row="nav2d:iql:$out/nav2d_iql_test.json"
        --row="nav2d:gem:$out/nav2d_gem_tune.json" --row="nav2d:lom:$out/nav2d_lom_test.json")
  for maze in maze2d-umaze maze2d-medium; do
    rows+=(--row="$maze:bc:$B/${maze}_bc_test.json" --row="$maze:iql:$F" --row="$maze:gem:$F"
           --row="$maze:lom:$out/${maze}_lom_test.json")
  done
  rows+=(--row="hopper-medium:bc:$H" --row="hopper-medium:iql:$H" --row="hopper-medium:gem:$H"
         --row="hopper-medium:lom:$out/lom_hopper.json"
         --row="hopper-medium:lom-sarsa:$out/lom_hopper_sarsa.json")
  "$PY" experiments/side_by_side.py "${rows[@]}" \
    --published=experiments/results/generative/published.json --out="$out/side_by_side"
}

generative_page() {
  local out=experiments/results/generative rows=()
  for data in maze2d-umaze maze2d-medium hopper-medium; do
    if [ "$data" = hopper-medium ]; then
      rows+=(--row="$data:bc:$H" --row="$data:iql:$H" --row="$data:gem:$H")
    else
      rows+=(--row="$data:bc:$B/${data}_bc_test.json" --row="$data:iql:$F" --row="$data:gem:$F")
    fi
    for algo in idql sfbc; do rows+=(--row="$data:$algo:$out/${data}_${algo}_tune.json"); done
  done
  "$PY" experiments/side_by_side.py "${rows[@]}" --published="$out/published.json" \
    --out="$out/side_by_side"
}

headline_page() {
  local rows=()
  for maze in maze2d-umaze maze2d-medium; do
    rows+=(--row="$maze:bc:$B/${maze}_bc_test.json" --row="$maze:iql:$F" --row="$maze:gem:$F")
  done
  rows+=(--row="maze2d-large:bc:$F" --row="maze2d-large:iql:$F" --row="maze2d-large:gem:$F")
  for ant in antmaze-umaze antmaze-umaze-diverse; do
    for algo in bc iql gem; do rows+=(--row="$ant:$algo:$A"); done
  done
  for algo in bc iql gem; do rows+=(--row="hopper-medium:$algo:$H"); done
  # The rest of the locomotion table: fill.sh's BC pairs, then the suite's own table.
  for data in walker2d-medium halfcheetah-medium; do
    rows+=(--row="$data:bc:$L/filler_bc.json")
    for algo in iql gem; do rows+=(--row="$data:$algo:$L/fidelity_locomotion.json"); done
  done
  "$PY" experiments/side_by_side.py "${rows[@]}" \
    --published=experiments/results/published_d4rl.json --out=experiments/results/headline
}

for page in ${@:-lom generative headline}; do
  case "$page" in
    lom) lom_page ;;
    generative) generative_page ;;
    headline) headline_page ;;
    *) echo "pages.sh: no page $page (lom, generative, headline)" >&2; exit 2 ;;
  esac
done

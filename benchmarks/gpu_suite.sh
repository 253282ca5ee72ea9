#!/usr/bin/env bash
# The prepared accelerator run (`make bench-gpu`; `make bench-gpu-dry` = this with --dry).
#
#   bash benchmarks/gpu_suite.sh [--dry]
#
# Runs from the repository root of a fresh copy with the `python3` on PATH (or $GEM_PYTHON):
# it needs jax (with its accelerator plugin), flax, optax, numpy and absl, and nothing else.
# Each part runs in its own process under its own time cap, shortest first, the training run
# last; each writes its JSON into $OUT (default runs/bench-gpu; dry: runs/bench-gpu-dry) as
# soon as it has figures, so a run cut short still leaves them. At most 8 files, none over
# 16 MiB:
#   select_latency.json  profile.json  train_throughput.json  [diffusion_latency.json]
#   maze2d_medium_train.json  maze2d_medium_state.npz  suite.json  suite.log
# The whole run stays within $GEM_GPU_BUDGET_S seconds (default 470, under 8 minutes).
# Then, on a machine with the datasets: `make bench-gpu-collect FROM=<the folder>`.
set -u
cd "$(dirname "$0")/.."

DRY=0
for arg in "$@"; do
  case "$arg" in
    --dry) DRY=1 ;;
    *) echo "usage: bash benchmarks/gpu_suite.sh [--dry]" >&2; exit 2 ;;
  esac
done

PY="${GEM_PYTHON:-python3}"
# No install here: the repository root on the path makes gem_jax and benchmarks importable.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ "$DRY" = 1 ]; then OUT="${OUT:-runs/bench-gpu-dry}"; else OUT="${OUT:-runs/bench-gpu}"; fi
BUDGET="${GEM_GPU_BUDGET_S:-470}"
mkdir -p "$OUT"
LOG="$OUT/suite.log"
: > "$LOG"
export PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # peak_bytes then reflects what the programs use
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-1}"

START=$(date +%s)
DEADLINE=$((START + BUDGET))
if [ "$DRY" = 1 ]; then
  FLAGS=(--dry --out="$OUT")
  TRAIN=(--num_seeds=2 --steps=40 --save_every_s=0)
else
  FLAGS=(--out="$OUT")
  TRAIN=(--num_seeds=8 --steps=200000 --save_every_s=60)
fi

log() { echo "[gpu_suite $(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }
PARTS_JSON=""

# run_part NAME CAP_SECONDS [extra flags]: the part under `timeout`, never past the deadline.
run_part() {
  local name=$1 cap=$2; shift 2
  local now left t0 rc
  now=$(date +%s); left=$((DEADLINE - now))
  if [ "$left" -lt 20 ]; then
    log "$name: skipped, ${left}s left of the ${BUDGET}s budget"
    PARTS_JSON+="{\"part\": \"$name\", \"rc\": null, \"seconds\": 0, \"note\": \"no time left\"},"
    return
  fi
  [ "$cap" -gt "$left" ] && cap=$left
  log "$name: start (cap ${cap}s)"
  t0=$(date +%s)
  timeout -k 10 "$cap" "$PY" benchmarks/gpu_suite.py --part="$name" "${FLAGS[@]}" \
    --deadline="$((t0 + cap - 5))" "$@" >> "$LOG" 2>&1
  rc=$?
  log "$name: rc=$rc after $(($(date +%s) - t0))s"
  PARTS_JSON+="{\"part\": \"$name\", \"rc\": $rc, \"seconds\": $(($(date +%s) - t0))},"
}

log "python: $(command -v "$PY"); out: $OUT; dry: $DRY; budget: ${BUDGET}s"
"$PY" -c "import jax; print('jax', jax.__version__, jax.devices())" >> "$LOG" 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$LOG" 2>&1

run_part select 100
run_part profile 60
run_part throughput 120
run_part diffusion 150
run_part train "$BUDGET" "${TRAIN[@]}"   # the rest of the budget

rm -rf "$OUT/trace_tmp"
cat > "$OUT/suite.json" <<EOF
{"dry": $([ "$DRY" = 1 ] && echo true || echo false), "budget_s": $BUDGET,
 "wall_s": $(($(date +%s) - START)), "parts": [${PARTS_JSON%,}]}
EOF
log "done in $(($(date +%s) - START))s; files in $OUT:"
ls -la "$OUT" | tee -a "$LOG"

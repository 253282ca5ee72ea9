#!/usr/bin/env bash
# Every queue here, one after another (one at a time: two jobs on two cores each run at half
# speed), so the cores go on to the next table when one finishes. Each queue skips its finished
# work, so rerunning this continues where it stopped.
#
#   nohup bash experiments/queues/all.sh > ~/gem-runs/all.log 2>&1 &
#   QUEUES="lom generative" nohup bash experiments/queues/all.sh ...   # another order or subset
#
# Default order: the AntMaze table (the design's headline); hopper-medium's BC / IQL / GEM rows
# (the locomotion table's first, which the LOM and diffusion pages need too); LOM and the
# diffusion systems (a few hours each); then the rest of the locomotion table (the longest).
cd "$(dirname "$0")"
for queue in ${QUEUES:-antmaze hopper lom generative locomotion}; do
  [ -f "$queue.sh" ] || { echo "all.sh: no queue $queue.sh here" >&2; exit 2; }
  echo "=== $(date -u +%FT%TZ) $queue.sh"
  bash "$queue.sh" || echo "=== $queue.sh stopped with status $? (the next queue goes on)"
done
echo "=== $(date -u +%FT%TZ) all queues done"

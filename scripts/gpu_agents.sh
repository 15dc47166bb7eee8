#!/usr/bin/env bash
# Score `mpc` (or any agent) on many seeds on one GPU within a deadline: blocks of EP episodes, P blocks at once, each
# block its own report (tv2tv agent rewrites it after every episode, so a block the deadline cuts keeps the episodes
# it finished: "complete": false). Reports land in $RUNS (default runs_gpu/agents), a tarball of them in $OUT if set.
#
#   SEEDS="10030 10035 ..." CHECKPOINT=forage_branches_ends bash scripts/gpu_agents.sh
#
# By environment variable (defaults in brackets): CHECKPOINT [forage_branches_ends]  AGENT [mpc]  SEEDS [10030 ..
# 10055 and 10090 .. 10115, step 5]  EP [5]  P [4]  BUDGET [520: seconds from the start, after which no block starts
# and running ones stop]  DEVICE [cuda]  MAX_DECISIONS [40]  WHEELS [empty: a folder of wheels (gymnasium,
# jsonargparse and friends) to install with this package into /tmp/site first, on a machine without them].
# Measured on an H200 (2026-11-28): one `mpc` process 0.54 s per decision, 4 at once 0.9 s, 12 at once 2.7 s: the GPU
# serves ~4.4 decisions/s in all (kernel-launch bound), so more than ~4 processes only adds waiting.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
start=$(date +%s)
export DEADLINE=$((start + ${BUDGET:-520})) start
export RUNS=${RUNS:-runs_gpu/agents}
mkdir -p "$RUNS"
[[ -n "${OUT:-}" ]] && trap 'tar czf "$OUT/agents.tgz" -C "$(dirname "$RUNS")" "$(basename "$RUNS")"' EXIT
source scripts/gpu_site.sh
block() {
  local s=$1 left=$((DEADLINE - $(date +%s)))
  (( left > 30 )) || { echo "skipped $s (deadline)"; return; }
  timeout "$left" tv2tv agent --agent "${AGENT:-mpc}" --checkpoint "${CHECKPOINT:-forage_branches_ends}" \
    --episodes "${EP:-5}" --seed "$s" --max-decisions "${MAX_DECISIONS:-40}" --candidates 16 --iterations 1 \
    --flow-steps 4 --guidance 3 --threads 1 --device "${DEVICE:-cuda}" --baselines random oracle \
    --out "$RUNS/${AGENT:-mpc}_$s.json" > "$RUNS/${AGENT:-mpc}_$s.log" 2>&1
  echo "block $s rc=$? at $(( $(date +%s) - start )) s: $(grep -E "^${AGENT:-mpc} +return" "$RUNS/${AGENT:-mpc}_$s.log")"
}
export -f block
seeds=${SEEDS:-"10030 10035 10040 10045 10050 10055 10090 10095 10100 10105 10110 10115"}
tr ' ' '\n' <<< "$seeds" | xargs -P "${P:-4}" -I{} bash -c 'block {}'
echo "done after $(( $(date +%s) - start )) s"

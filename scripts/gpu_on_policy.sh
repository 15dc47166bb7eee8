#!/usr/bin/env bash
# The world model learns the states its own planner visits, on one GPU: `mpc` with `forage_branches`
# plays and records games (`tv2tv agent --record`), their branches are played in the real game (`tv2tv branch`),
# and the model continues on them pooled with the data it knew (configs/world_model/on_policy.yaml, the planner's
# folders drawn 5x); then how it tells deadly moves from safe ones on held-out states (`tv2tv evaluate-ends`).
#
#   bash scripts/gpu_on_policy.sh data   # collect, mpc games (unless MPC_RECORDED), branches, encode
#   bash scripts/gpu_on_policy.sh fit    # the fit, its checkpoint in parts under $OUT, evaluate-ends if ENDS_LIMIT > 0
#   bash scripts/gpu_on_policy.sh        # both, for a machine with no limit per command
# A GPU machine stops a command after 600 s and a whole job after 15 min of device time in all: run the two stages
# as two calls on the same warm machine (data/ stays there between calls). The `mpc` games can be played beforehand
# on a CPU and carried (small: ~15 KB a game): MPC_RECORDED="data/forage_mpc_10060 data/forage_mpc_10075" (the 30
# games of 2026-11-27, seeds 10060-10089: score agents on other seeds then) skips playing on the device; give both
# stages the same MPC_RECORDED.
# By environment variable (defaults in brackets):
#   RUNS [runs_gpu]  DEVICE [cuda]  WORKERS [nproc]  MPC_RECORDED [empty: play MPC_EPISODES games, seeds 50000+]
#   MPC_EPISODES [30]  MAX_DECISIONS [40]  RANDOM_EPISODES [600]  RANDOM_BRANCHED [100]  SCRIPTED_EPISODES [200]
#   FIT_TIME [00:00:04:00]  BATCH [64]  ENDS_LIMIT [0: evaluate here afterwards, on data/forage_mpc_10075 say]
#   TV2TV_FIT_ARGS: extra `tv2tv fit` arguments (a CPU smoke test: "--trainer.accelerator cpu
#   --trainer.precision 32-true --trainer.max_steps 2", with DEVICE=cpu and tiny episode counts).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
stage=${1:-all}
[[ $stage =~ ^(data|fit|all)$ ]] || { echo "usage: $0 [data|fit]" >&2; exit 2; }
runs=${RUNS:-runs_gpu}
device=${DEVICE:-cuda}
workers=${WORKERS:-$(nproc)}
read -r -a extra <<< "${TV2TV_FIT_ARGS:-}"
read -r -a recorded <<< "${MPC_RECORDED:-data/forage_mpc}"
forage=tv2tv_world/Forage-v0
stamp() { echo "[$(date +%T)] $*"; }
mkdir -p "$runs"

if [[ $stage != fit ]]; then
  stamp "collect (the data forage_branches learnt from)"
  tv2tv collect --env $forage --policy scripted --episodes "${SCRIPTED_EPISODES:-200}" --seed 0 --workers "$workers" --out data/forage --quiet
  tv2tv collect --env $forage --policy explore --episodes "${SCRIPTED_EPISODES:-200}" --seed 200000 --workers "$workers" --out data/forage_explore --quiet
  tv2tv collect --env $forage --policy random --episodes "${RANDOM_EPISODES:-600}" --seed 300000 --workers "$workers" --out data/forage_random --quiet
  if [[ -z ${MPC_RECORDED:-} ]]; then
    stamp "mpc plays and records (seeds 50000.., never used to score agents)"
    tv2tv agent --agent mpc --checkpoint forage_branches --episodes "${MPC_EPISODES:-30}" --seed 50000 \
      --max-decisions "${MAX_DECISIONS:-40}" --candidates 16 --flow-steps 4 --baselines --device "$device" \
      --out "$runs/mpc_recorded.json" --record data/forage_mpc
  fi
  stamp "branches"
  # a fraction of the random player's branches of 2026-11-27 (its weights hold them all): 28,656 short episodes took 8 min to encode there
  tv2tv branch --data data/forage_random --out data/forage_random_branches --window 4 --episodes "${RANDOM_BRANCHED:-100}" \
    --workers "$workers" --quiet
  for d in "${recorded[@]}"; do
    tv2tv branch --data "$d" --out "${d}_branches" --window 4 --workers "$workers" --quiet
  done
  stamp "encode"
  for d in data/forage data/forage_explore data/forage_random data/forage_random_branches \
           "${recorded[@]}" "${recorded[@]/%/_branches}"; do
    tv2tv encode --checkpoint forage --data "$d" --device "$device" --workers 4 --batch-chunks 512 --quiet
  done
fi

if [[ $stage != data ]]; then
  stamp "world model"
  folders=(data/forage data/forage_explore data/forage_random data/forage_random_branches)
  weights=(1 1 1 1)
  for d in "${recorded[@]}"; do folders+=("$d" "${d}_branches"); weights+=(5 5); done
  list() { local IFS=,; echo "[$*]"; }
  tv2tv fit --config configs/world_model/forage.yaml --config configs/world_model/gpu.yaml \
    --config configs/world_model/continue.yaml --config configs/world_model/hazards.yaml \
    --config configs/world_model/branches.yaml --config configs/world_model/on_policy.yaml \
    --data.init_args.data_dir "$(list "${folders[@]}")" --data.init_args.latents "$(list "${folders[@]/%//latents.npz}")" \
    --data.init_args.folder_weights "$(list "${weights[@]}")" \
    --trainer.max_time "${FIT_TIME:-00:00:04:00}" --data.init_args.batch_size "${BATCH:-64}" \
    --trainer.enable_progress_bar false --trainer.logger.init_args.save_dir "$runs" "${extra[@]}"
  ckpt=$(ls -d "$runs"/world_model_forage_on_policy/version_* | sort -V | tail -1)/checkpoints/last.ckpt
  if [[ -n "${OUT:-}" ]]; then  # the GPU machine returns files <= 16 MiB from $OUT: the checkpoint in exact parts
    python3 -m tv2tv_world.storage.checkpoint_parts split "$ckpt" "$OUT/on_policy"
  fi
  if (( ${ENDS_LIMIT:-0} > 0 )); then
    stamp "which move ends the game, held out: forage_branches, then the new model"
    tv2tv collect --env $forage --policy random --episodes 100 --seed 400000 --workers "$workers" --out data/forage_random_heldout --quiet
    tv2tv evaluate-ends --checkpoint forage_branches --data data/forage_random_heldout --limit "$ENDS_LIMIT" \
      --device "$device" --out "$runs/ends_before.json"
    tv2tv evaluate-ends --checkpoint "$ckpt" --data data/forage_random_heldout --limit "$ENDS_LIMIT" \
      --device "$device" --out "$runs/ends_after.json"
  fi
  stamp "done: $ckpt (join parts here: python -m tv2tv_world.storage.checkpoint_parts join PREFIX OUT.ckpt)"
fi

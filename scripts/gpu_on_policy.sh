#!/usr/bin/env bash
# The world model learns the states its own planner visits, on one GPU (issue 5): `mpc` with `forage_branches`
# plays and records games (`tv2tv agent --record`), their branches are played in the real game (`tv2tv branch`),
# and the model continues on them pooled with the data it knew (configs/world_model/on_policy.yaml); then how it
# tells deadly moves from safe ones on held-out states (`tv2tv evaluate-ends`, printed: nothing has to come back
# but stdout). About 12 minutes on an H100/H200 at the defaults (the fit itself: FIT_TIME).
# By environment variable (defaults in brackets):
#   RUNS [runs_gpu]  DEVICE [cuda]  WORKERS [nproc]  MPC_EPISODES [60]  MPC_HELDOUT_EPISODES [15]  MAX_DECISIONS [40]
#   RANDOM_EPISODES [600]  RANDOM_BRANCHED [200]  SCRIPTED_EPISODES [200]  FIT_TIME [00:00:05:00]  BATCH [64]
#   ENDS_LIMIT [1500]: held-out decisions per folder that evaluate-ends tries every action at
#   TV2TV_FIT_ARGS: extra `tv2tv fit` arguments (a CPU smoke test: "--trainer.accelerator cpu
#   --trainer.precision 32-true --trainer.max_steps 2", with DEVICE=cpu and tiny episode counts).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
runs=${RUNS:-runs_gpu}
device=${DEVICE:-cuda}
workers=${WORKERS:-$(nproc)}
read -r -a extra <<< "${TV2TV_FIT_ARGS:-}"
forage=tv2tv_world/Forage-v0
stamp() { echo "[$(date +%T)] $*"; }
mkdir -p "$runs"

stamp "collect (the data forage_branches learnt from, and held-out states)"
tv2tv collect --env $forage --policy scripted --episodes "${SCRIPTED_EPISODES:-200}" --seed 0 --workers "$workers" --out data/forage --quiet
tv2tv collect --env $forage --policy explore --episodes "${SCRIPTED_EPISODES:-200}" --seed 200000 --workers "$workers" --out data/forage_explore --quiet
tv2tv collect --env $forage --policy random --episodes "${RANDOM_EPISODES:-600}" --seed 300000 --workers "$workers" --out data/forage_random --quiet
tv2tv collect --env $forage --policy random --episodes 100 --seed 400000 --workers "$workers" --out data/forage_random_heldout --quiet

stamp "mpc plays and records (seeds 50000.., never used to score agents)"
tv2tv agent --agent mpc --checkpoint forage_branches --episodes "${MPC_EPISODES:-60}" --seed 50000 \
  --max-decisions "${MAX_DECISIONS:-40}" --candidates 16 --flow-steps 4 --baselines --device "$device" \
  --out "$runs/mpc_recorded.json" --record data/forage_mpc
tv2tv agent --agent mpc --checkpoint forage_branches --episodes "${MPC_HELDOUT_EPISODES:-15}" --seed 60000 \
  --max-decisions "${MAX_DECISIONS:-40}" --candidates 16 --flow-steps 4 --baselines --device "$device" \
  --out "$runs/mpc_heldout.json" --record data/forage_mpc_heldout   # held-out states where mpc goes

stamp "branches"
# a third of session 13's random branches (its weights hold the rest): 28,656 short episodes took 8 min to encode there
tv2tv branch --data data/forage_random --out data/forage_random_branches --window 4 --episodes "${RANDOM_BRANCHED:-200}" \
  --workers "$workers" --quiet
tv2tv branch --data data/forage_mpc --out data/forage_mpc_branches --window 4 --workers "$workers" --quiet

stamp "encode"
for d in forage forage_explore forage_random forage_random_branches forage_mpc forage_mpc_branches; do
  tv2tv encode --checkpoint forage --data "data/$d" --device "$device" --workers 4 --batch-chunks 512 --quiet
done

stamp "world model"
tv2tv fit --config configs/world_model/forage.yaml --config configs/world_model/gpu.yaml \
  --config configs/world_model/continue.yaml --config configs/world_model/hazards.yaml \
  --config configs/world_model/branches.yaml --config configs/world_model/on_policy.yaml \
  --trainer.max_time "${FIT_TIME:-00:00:05:00}" --data.init_args.batch_size "${BATCH:-64}" \
  --trainer.enable_progress_bar false --trainer.logger.init_args.save_dir "$runs" "${extra[@]}"
ckpt=$(ls -d "$runs"/world_model_forage_on_policy/version_* | sort -V | tail -1)/checkpoints/last.ckpt

stamp "which move ends the game, held out: forage_branches, then the new model"
tv2tv evaluate-ends --checkpoint forage_branches --data data/forage_random_heldout data/forage_mpc_heldout \
  --limit "${ENDS_LIMIT:-1500}" --device "$device" --out "$runs/ends_before.json"
tv2tv evaluate-ends --checkpoint "$ckpt" --data data/forage_random_heldout data/forage_mpc_heldout \
  --limit "${ENDS_LIMIT:-1500}" --device "$device" --out "$runs/ends_after.json"
if [[ -n "${OUT:-}" ]]; then  # the lent machine returns files <= 16 MiB from $OUT: the checkpoint in exact parts
  python3 -m tv2tv_world.checkpoint_parts split "$ckpt" "$OUT/on_policy"
  cp "$runs"/ends_before.json "$runs"/ends_after.json "$OUT/"
fi
stamp "done: $ckpt (join parts here: python -m tv2tv_world.checkpoint_parts join PREFIX OUT.ckpt)"

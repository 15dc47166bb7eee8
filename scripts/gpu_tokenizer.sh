#!/usr/bin/env bash
# The large tokenizer on one GPU, in one call: collect the Forage data there (folders already present are kept), train the
# large tokenizer (configs/vae/large.yaml, bf16) for MINUTES, score it on held-out episodes, and put the report and
# the weights (split into parts under 16 MiB: `python -m tv2tv_world.storage.checkpoint_parts join PREFIX OUT.ckpt` rebuilds
# them) in $OUT. With FROM, the run starts from an earlier tokenizer's weights (`init_from`: a fresh schedule), so the
# minutes of several GPU machines add up.
#
#   WHEELS=.whl MINUTES=7 bash scripts/gpu_tokenizer.sh                      # a GPU machine (carry .whl)
#   WHEELS=.whl FROM=runs/tokenizer.ckpt bash scripts/gpu_tokenizer.sh       # carry the joined checkpoint too
#
# By environment variable (defaults in brackets): MINUTES [7]  FROM [empty]  LATENT_CHANNELS [16]  BATCH [96]
# WORKERS [nproc: collection processes]  LOADERS [8: data loader workers]  DEVICE [cuda]  RUNS [runs_gpu]  WHEELS
# TV2TV_FIT_ARGS: extra `tv2tv fit` arguments (a CPU smoke test: "--trainer.accelerator cpu --trainer.precision
# 32-true --trainer.max_steps 2" with DEVICE=cpu, SCRIPTED_EPISODES=2 and HELDOUT_EPISODES=2).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
source scripts/gpu_site.sh
runs=${RUNS:-runs_gpu}
device=${DEVICE:-cuda}
workers=${WORKERS:-$(nproc)}
read -r -a extra <<< "${TV2TV_FIT_ARGS:-}"
stamp() { echo "[$(date +%T)] $*"; }
mkdir -p "$runs"

collect() {  # folder policy episodes seed: the folders the tokenizers so far learnt from, and the held-out seeds
  [[ -f data/$1/manifest.json ]] && return
  tv2tv collect --env tv2tv_world/Forage-v0 --policy "$2" --episodes "$3" --seed "$4" --workers "$workers" \
    --out "data/$1" --quiet
}
stamp "collect"
collect forage scripted "${SCRIPTED_EPISODES:-200}" 0
collect forage_explore explore "${SCRIPTED_EPISODES:-200}" 200000
collect forage_heldout scripted "${HELDOUT_EPISODES:-20}" 100000

warm=()
[[ -n "${FROM:-}" ]] && warm=(--model.init_args.init_from "$FROM")
stamp "fit for ${MINUTES:-7} min${FROM:+ from $FROM}"
tv2tv fit --config configs/vae/forage.yaml --config configs/vae/gpu.yaml --config configs/vae/large.yaml \
  --trainer.max_time "00:00:$(printf %02d "${MINUTES:-7}"):00" --data.init_args.batch_size "${BATCH:-96}" \
  --data.init_args.num_workers "${LOADERS:-8}" --model.init_args.config.latent_channels "${LATENT_CHANNELS:-16}" \
  --trainer.logger.init_args.save_dir "$runs" "${warm[@]}" "${extra[@]}"
ckpt=$(ls -d "$runs"/vae_forage_large/version_* | sort -V | tail -1)/checkpoints/last.ckpt

stamp "evaluate $ckpt on data/forage_heldout"
tv2tv evaluate-vae --checkpoint "$ckpt" --data data/forage_heldout --device "$device" | tee "$runs/tokenizer_eval.json"
if [[ -n "${OUT:-}" ]]; then
  cp "$runs/tokenizer_eval.json" "$OUT/"
  python3 -m tv2tv_world.storage.checkpoint_parts split "$ckpt" "$OUT/tokenizer"
  tar czf "$OUT/tokenizer_run.tgz" -C "$(dirname "$(dirname "$ckpt")")" --exclude checkpoints .
fi
stamp "done: $ckpt"

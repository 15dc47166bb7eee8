#!/usr/bin/env bash
# Train the Forage tokenizer, encode the data and train the world model on one GPU, from the
# repo's configs (configs/*/forage.yaml + configs/*/gpu.yaml: bf16-mixed, time budgets).
# Needs data/forage from `tv2tv collect` (data/forage_explore too for the tokenizer's large.yaml).
# Runs land in $RUNS (default runs_gpu); extra arguments for both fits can come in $TV2TV_FIT_ARGS
# (a smoke test on CPU, say). Where to start, by environment variable:
#   VAE_CONFIGS   extra tokenizer configs (default: configs/vae/large.yaml, the best so far; "" for none)
#   TOKENIZER     a trained tokenizer checkpoint: skip the tokenizer, train a new world model on its latents
#   WORLD_MODEL_FROM=forage (or a world-model checkpoint): skip the tokenizer and continue that world model
#                 with its own tokenizer (a warm start, so GPU minutes add up across sessions)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-runs_gpu}
read -r -a extra <<< "${TV2TV_FIT_ARGS:-}"
read -r -a vae_configs <<< "${VAE_CONFIGS-configs/vae/large.yaml}"
device=${ENCODE_DEVICE:-cuda}
from=${WORLD_MODEL_FROM:-}
stamp() { echo "[$(date +%T)] $*"; }

warm=()
if [[ -n "$from" ]]; then
  vae=$from
  warm=(--model.init_args.init_from "$from")
elif [[ -n "${TOKENIZER:-}" ]]; then
  vae=$TOKENIZER
else
  stamp "tokenizer"
  tv2tv fit --config configs/vae/forage.yaml --config configs/vae/gpu.yaml "${vae_configs[@]/#/--config=}" \
    --trainer.logger.init_args.save_dir "$runs" --trainer.logger.init_args.name vae_forage "${extra[@]}"
  vae=$(ls -d "$runs"/vae_forage/version_* | sort -V | tail -1)/checkpoints/last.ckpt
fi

stamp "encode with $vae"
tv2tv encode --checkpoint "$vae" --data data/forage --device "$device" --quiet

stamp "world model"
tv2tv fit --config configs/world_model/forage.yaml --config configs/world_model/gpu.yaml \
  --model.init_args.vae_checkpoint "$vae" "${warm[@]}" --trainer.logger.init_args.save_dir "$runs" "${extra[@]}"
stamp "done"

"""The pretrained models shipped inside the package, loadable by name (`--checkpoint forage`).

A bundle is a world-model checkpoint stripped to what sampling needs: no optimizer state;
the world model's weight matrices stored as int8 with one fp16 scale per output row
(symmetric, round to nearest), its other float tensors and the video tokenizer as fp16 (the
tokenizer's fingerprint is taken at fp16, so latents encoded with the full checkpoint's
tokenizer stay valid). Loading dequantizes to fp32, so everything downstream sees an
ordinary checkpoint. It loads with `weights_only=True` like any other.

An end-head bundle (`write_end_head_bundle`, kind "end_head") holds only a latent end head
(`tv2tv fit-end-head`), in fp16, and the name of the bundled model beside it whose latents it
reads: loading it by name loads that model with this head, for a few MB instead of another
copy of the model.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tv2tv_world.storage.atomic_file import atomic_path
from tv2tv_world.storage.checkpoint import FORMAT_VERSION, CheckpointError, load_checkpoint

BUNDLED_DIR = Path(__file__).parents[1] / "bundled"  # tv2tv_world/bundled
QUANTIZE_MIN_ELEMENTS = 4096  # smaller tensors (norms, biases, small convs) stay fp16
END_HEAD_KIND = "end_head"


def bundled_names() -> list[str]:
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.pt"))


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    """A path as given, or the bundled model of that name ("forage") when no such file exists."""
    path = Path(name_or_path)
    if not path.exists() and path.suffix == "" and (BUNDLED_DIR / f"{path.name}.pt").is_file():
        return BUNDLED_DIR / f"{path.name}.pt"
    return path


def quantize(tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, ...) float -> int8 values of the same shape and (rows,) fp16 scales."""
    flat = tensor.float().reshape(len(tensor), -1)
    scale = flat.abs().amax(dim=1).clamp_min(1e-12) / 127.0
    values = torch.round(flat / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return values.reshape(tensor.shape), scale.half()


def dequantize(checkpoint: dict) -> dict:
    """Turn a bundle's compact state dict back into fp32 tensors, in place; other checkpoints pass through."""
    scales = checkpoint.pop("quantized_scales", None)
    state = checkpoint["state_dict"]
    for name, value in state.items():
        if scales is not None and name in scales:
            state[name] = value.float() * scales[name].float().reshape(-1, *([1] * (value.dim() - 1)))
        elif value.is_floating_point():
            state[name] = value.float()
    return checkpoint


def write_bundle(checkpoint_path: str | Path, out: str | Path, extra: dict | None = None,
                 training: dict | None = None) -> Path:
    """Write the sampling-only, int8/fp16 copy of a world-model checkpoint to `out` (atomically); `training`, when
    given, is the training record it carries (`training.training_record`) in place of the checkpoint's own."""
    checkpoint = load_checkpoint(checkpoint_path, kind="world_model")
    state, scales = {}, {}
    for name, value in checkpoint["state_dict"].items():
        if not name.startswith("vae.") and value.is_floating_point() and value.dim() >= 2 \
                and value.numel() >= QUANTIZE_MIN_ELEMENTS:
            state[name], scales[name] = quantize(value)
        else:
            state[name] = value.half() if value.is_floating_point() else value
    meta = dict(checkpoint["tv2tv"])
    if training is not None:
        meta["training"] = training
    if "latent_end_head" in meta:  # the end head travels in fp16 (loaded back into fp32 weights)
        meta["latent_end_head"] = _half_head(meta["latent_end_head"])
    bundle = {
        "tv2tv": {**meta, "bundle": {"source": str(checkpoint_path), "step": checkpoint.get("global_step"),
                                     **(extra or {})}},
        "state_dict": state,
        "quantized_scales": scales,
        "datamodule_hyper_parameters": {"window": checkpoint.get("datamodule_hyper_parameters", {}).get("window")},
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as temp:
        torch.save(bundle, temp)
    return out


def write_end_head_bundle(checkpoint_path: str | Path, base: str, out: str | Path) -> Path:
    """Write only the latent end head of `checkpoint_path` (fp16) to `out`, to load on top of the model bundled as
    `base` in `out`'s folder. The checkpoint's model and tokenizer must be `base`'s, tensor for tensor (as
    `tv2tv fit-end-head --checkpoint BASE` leaves them): a head reads the latents of the tokenizer it was fitted with."""
    checkpoint = dequantize(load_checkpoint(checkpoint_path, kind="world_model"))
    if "latent_end_head" not in checkpoint["tv2tv"]:
        raise CheckpointError(f"{checkpoint_path}: carries no latent end head (tv2tv fit-end-head)")
    out = Path(out)
    base_state = dequantize(load_checkpoint(out.parent / f"{base}.pt", kind="world_model"))["state_dict"]
    state = checkpoint["state_dict"]
    if state.keys() != base_state.keys() or not all(torch.equal(state[k], base_state[k]) for k in state):
        raise CheckpointError(f"{checkpoint_path}: its model is not the one bundled as {base!r}, so its end head "
                              "cannot ride on it; bundle the whole checkpoint instead")
    bundle = {"tv2tv": {"kind": END_HEAD_KIND, "format": FORMAT_VERSION, "base": base,
                        "latent_end_head": _half_head(checkpoint["tv2tv"]["latent_end_head"]),
                        "bundle": {"source": str(checkpoint_path)}}}
    with atomic_path(out) as temp:
        torch.save(bundle, temp)
    return out


def _half_head(head: dict) -> dict:
    """A latent end head's plain data (`LatentEndHead.to_dict`) with its float tensors in fp16."""
    return {**head, "state_dict": {k: v.half() if v.is_floating_point() else v for k, v in head["state_dict"].items()}}

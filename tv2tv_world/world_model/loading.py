"""A trained world model, loaded from its `tv2tv fit` checkpoint with everything it needs to run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from tv2tv_world.storage.bundle import END_HEAD_KIND, dequantize, resolve_checkpoint
from tv2tv_world.storage.checkpoint import CheckpointError, inconsistent_checkpoint, load_checkpoint, module_state
from tv2tv_world.tokenizer.video_vae import VideoVAE
from tv2tv_world.world_model.latent_end_head import LatentEndHead
from tv2tv_world.world_model.model import FlowConfig, WorldModel
from tv2tv_world.world_model.mot import MoTConfig
from tv2tv_world.world_model.text_tokenizer import ByteTokenizer


@dataclass
class LoadedWorldModel:
    """The world model, its frozen tokenizer, and what the checkpoint knows about its game.

    `game` has env_id, env_kwargs, action_texts, action_repeat, frame_size and fps (None when
    trained without a dataset manifest); `text_mode` is "per_step" or "prompt"; `train_window`
    the decisions per training sample (None if unknown): rollouts keep at most that many
    steps after the anchor in context, the longest streams the model has seen; `end_head` the
    latent end head (`tv2tv fit-end-head`) when the checkpoint carries one.
    """

    model: WorldModel
    vae: VideoVAE
    game: dict | None
    text_mode: str
    path: Path
    train_window: int | None = None
    end_head: LatentEndHead | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def context_steps(self) -> int:
        """The sampler's window: the anchor plus the training window (16 if unknown)."""
        return self.train_window + 1 if self.train_window else 16


def load_world_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedWorldModel:
    """Load a world-model checkpoint (weights_only), in eval mode on `device`; a bundled model by name ("forage"),
    or an end-head bundle by name: the model bundled beside it with that head (`bundle.write_end_head_bundle`)."""
    path = resolve_checkpoint(path)
    checkpoint = load_checkpoint(path, kind=("world_model", END_HEAD_KIND))
    if checkpoint["tv2tv"]["kind"] == END_HEAD_KIND:
        return _with_end_head(path, checkpoint["tv2tv"], device)
    return _world_model(path, dequantize(checkpoint), device)


def _with_end_head(path: Path, meta: dict, device: str | torch.device) -> LoadedWorldModel:
    """An end-head bundle at `path`: the world model bundled beside it as `meta["base"]`, carrying this head."""
    base = path.parent / f"{meta.get('base')}.pt"
    if not base.is_file():
        raise CheckpointError(f"{path}: holds only an end head for the bundled model {meta.get('base')!r}, "
                              f"which is not beside it ({base})")
    loaded = _world_model(base, dequantize(load_checkpoint(base, kind="world_model")), device)
    try:
        end_head = LatentEndHead.from_dict(meta["latent_end_head"]).to(device)
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        raise inconsistent_checkpoint(path, "end-head bundle", err) from None
    return dataclasses.replace(loaded, path=path, end_head=end_head)


def _world_model(path: Path, checkpoint: dict, device: str | torch.device) -> LoadedWorldModel:
    """The loaded world model of a (dequantized) world-model checkpoint read from `path`."""
    meta = checkpoint["tv2tv"]
    try:
        vae = VideoVAE.from_loaded(checkpoint)
        flow = {"reward_token": "eof", **meta["flow_config"]}  # checkpoints older than the field read EOF
        model = WorldModel(MoTConfig(**meta["mot_config"]), FlowConfig(**flow),
                           ByteTokenizer.from_dict(meta["tokenizer"]))
        model.load_state_dict(module_state(checkpoint, "model"))
        end_head = LatentEndHead.from_dict(meta["latent_end_head"]).to(device) if "latent_end_head" in meta else None
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        raise inconsistent_checkpoint(path, "world-model checkpoint", err) from None
    window = checkpoint.get("datamodule_hyper_parameters", {}).get("window")
    return LoadedWorldModel(model.to(device).eval(), vae.to(device).eval(), meta.get("game"), meta.get("text_mode", "per_step"), path,
                            int(window) if window else None, end_head)

"""Training the world model with Lightning on top of a frozen, trained video tokenizer."""

from __future__ import annotations

from dataclasses import asdict

import lightning as L
import torch
from einops import rearrange

from tv2tv_world.checkpoint import FORMAT_VERSION, check_kind
from tv2tv_world.lr_schedule import warmup_cosine
from tv2tv_world.mot import MoTConfig
from tv2tv_world.vae_module import check_data_fits_tokenizer, to_unit
from tv2tv_world.video_vae import VideoVAE
from tv2tv_world.world_model import FlowConfig, WorldModel, step_text


class WorldModelModule(L.LightningModule):
    """The `WorldModel` trained on latents of a frozen `VideoVAE`; one checkpoint holds both.

    Args:
        vae_checkpoint: a trained video tokenizer from `tv2tv fit` (its latent shape sets the MoT's).
        mot: transformer sizes; `latent_channels` / `latent_size` are taken from the tokenizer.
        flow: loss weights, flow-time sampling and text dropout.
        lr, weight_decay, warmup_steps: AdamW with warm-up and cosine decay over `trainer.max_steps`.
    """

    CHECKPOINT_KIND = "world_model"

    def __init__(self, vae_checkpoint: str, mot: MoTConfig | None = None, flow: FlowConfig | None = None,
                 lr: float = 3e-4, weight_decay: float = 0.01, warmup_steps: int = 200):
        super().__init__()
        vae = VideoVAE.from_checkpoint(vae_checkpoint)
        mot = MoTConfig(**mot) if isinstance(mot, dict) else mot or MoTConfig()
        mot.latent_channels, mot.latent_size = vae.cfg.latent_channels, vae.cfg.latent_size
        mot.__post_init__()
        flow = FlowConfig(**flow) if isinstance(flow, dict) else flow or FlowConfig()
        self.save_hyperparameters(ignore=["mot", "flow"])
        self.hparams.update(mot=asdict(mot), flow=asdict(flow))  # plain data, for weights_only loading
        self.vae = vae.requires_grad_(False)
        self.model = WorldModel(mot, flow)

    def on_fit_start(self) -> None:
        check_data_fits_tokenizer(self.trainer.datamodule, self.vae.cfg)

    def _losses(self, batch: dict) -> dict[str, torch.Tensor]:
        self.vae.eval()
        with torch.no_grad():
            latents = self.vae.encode(self.vae.chunk(to_unit(batch["frames"])))  # (b, 1 + n, c, h, w)
        texts = [[step_text(a, i) for a, i in zip(actions, intents)]
                 for actions, intents in zip(batch["action_texts"], batch["intents"])]
        return self.model.loss(latents, texts, batch["rewards"], batch["terminated"])

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        losses = self._losses(batch)
        self.log_dict({f"train/{k}": v for k, v in losses.items() if k != "loss"})
        self.log("train/loss", losses["loss"], prog_bar=True)
        return losses["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        losses = self._losses(batch)
        self.log_dict({f"val/{k}": v for k, v in losses.items()}, sync_dist=True)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        return {"optimizer": optimizer,
                "lr_scheduler": warmup_cosine(optimizer, self.hparams.warmup_steps, self.trainer.max_steps)}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        manifest = getattr(self.trainer.datamodule, "manifest", None) if self._trainer else None
        game = None if manifest is None else {
            "env_id": manifest.env_id, "env_kwargs": manifest.env_kwargs, "action_texts": list(manifest.action_texts),
            "action_repeat": manifest.action_repeat, "frame_size": list(manifest.frame_size), "fps": manifest.fps,
        }
        checkpoint["tv2tv"] = {
            "kind": self.CHECKPOINT_KIND, "format": FORMAT_VERSION, "vae_config": asdict(self.vae.cfg),
            "mot_config": self.hparams.mot, "flow_config": self.hparams.flow,
            "tokenizer": self.model.tokenizer.to_dict(), "game": game,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        check_kind(checkpoint, self.CHECKPOINT_KIND)

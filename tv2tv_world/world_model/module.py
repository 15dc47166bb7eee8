"""Training the world model with Lightning on latents of a frozen, trained video tokenizer.

The data module must serve latents from `tv2tv encode` made with this very tokenizer (the
fingerprints are compared at fit start): encoding once is far cheaper than every step.
"""

from __future__ import annotations

from dataclasses import asdict

import lightning as L
import torch
from einops import rearrange
from lightning.pytorch.loggers import TensorBoardLogger

from tv2tv_world.storage.checkpoint import FORMAT_VERSION, check_kind
from tv2tv_world.tokenizer.latents import vae_fingerprint
from tv2tv_world.tokenizer.loading import load_tokenizer
from tv2tv_world.tokenizer.module import check_data_fits_tokenizer, to_uint8, to_unit
from tv2tv_world.training.lr_schedule import warmup_cosine
from tv2tv_world.training.tensorboard_video import add_video
from tv2tv_world.training.training_record import RunClock, record_of_path
from tv2tv_world.world_model.loading import load_world_model
from tv2tv_world.world_model.model import FlowConfig, WorldModel, step_text
from tv2tv_world.world_model.mot import MoTConfig
from tv2tv_world.world_model.sampler import Sampler, SamplerConfig


class WorldModelModule(L.LightningModule):
    """The `WorldModel` trained on latents of a frozen `VideoVAE`; one checkpoint holds both.

    Args:
        vae_checkpoint: a trained video tokenizer from `tv2tv fit` (its latent shape sets the MoT's), or a
            world model whose tokenizer to use (a bundled one by name).
        mot: transformer sizes; `latent_channels` / `latent_size` are taken from the tokenizer.
        flow: loss weights, flow-time sampling and text dropout.
        lr, weight_decay, warmup_steps: AdamW with warm-up and cosine decay over `trainer.max_steps`.
        head_lr_scale: the reward and termination heads learn at `lr` times this: they learn from rare
            events (fruits, episode ends) whose gradients are small beside the flow loss's.
        text_lr_scale: the text tower (`MoTTransformer.text_parameters`) learns at `lr` times this: below 1
            it is held while the video tower goes on. On Forage, 0.1 did not stop the held-out text loss's
            rise (it comes through the shared attention; docs/training_log.md).
        min_train_steps: if set, each training batch keeps only the last L steps of its windows (L drawn
            uniformly from min_train_steps..window; the chunk before them becomes the anchor). A window
            lies inside its episode, so it can hold the episode's end only at its last step: cropped
            this way, ends are seen at every position of a rollout, as a planner meets them.
        text_mode: "per_step" (TV2TV: each step's action and intent before its chunk) or "prompt"
            (the T2V baseline: all the window's action texts as one prompt before the first chunk).
        video_flow_steps: Euler steps of the real-vs-imagined videos logged at each validation.
        init_from: a world model (checkpoint path, or a bundled name such as "forage") whose weights
            start this run: a warm start with a fresh optimizer and schedule (`--ckpt_path` resumes a
            run exactly instead). It must share this run's transformer sizes, and its tokenizer unless
            `init_other_tokenizer`.
        init_other_tokenizer: let `init_from` come from a world model of another tokenizer (another
            game's): its weights are then only a starting point, its latents meaning something else.
    """

    CHECKPOINT_KIND = "world_model"
    TEXT_MODES = ("per_step", "prompt")

    def __init__(self, vae_checkpoint: str, mot: MoTConfig | None = None, flow: FlowConfig | None = None,
                 lr: float = 3e-4, weight_decay: float = 0.01, warmup_steps: int = 200, text_mode: str = "per_step",
                 video_flow_steps: int = 8, init_from: str | None = None, head_lr_scale: float = 1.0,
                 min_train_steps: int | None = None, init_other_tokenizer: bool = False, text_lr_scale: float = 1.0):
        super().__init__()
        if text_mode not in self.TEXT_MODES:
            raise ValueError(f"text_mode must be one of {self.TEXT_MODES}, got {text_mode!r}")
        for name, scale in (("head_lr_scale", head_lr_scale), ("text_lr_scale", text_lr_scale)):
            if not scale > 0:
                raise ValueError(f"{name} must be > 0, got {scale}")
        if min_train_steps is not None and min_train_steps < 1:
            raise ValueError(f"min_train_steps must be >= 1 or None, got {min_train_steps}")
        vae = load_tokenizer(vae_checkpoint)
        mot = MoTConfig(**mot) if isinstance(mot, dict) else mot or MoTConfig()
        mot.latent_channels, mot.latent_size = vae.cfg.latent_channels, vae.cfg.latent_size
        mot.__post_init__()
        flow = FlowConfig(**flow) if isinstance(flow, dict) else flow or FlowConfig()
        self.save_hyperparameters(ignore=["mot", "flow"])
        self.hparams.update(mot=asdict(mot), flow=asdict(flow))  # plain data, for weights_only loading
        self.vae = vae.requires_grad_(False)
        self.model = WorldModel(mot, flow)
        self._trained_before = None  # the warm start's training record (`training_record`)
        self._clock = RunClock()
        if init_from is not None:
            self._warm_start(init_from)

    def _warm_start(self, init_from: str) -> None:
        """Copy the weights of the world model `init_from` into this one (clear errors when they cannot fit)."""
        loaded = load_world_model(init_from)
        theirs, ours = vae_fingerprint(loaded.vae), vae_fingerprint(self.vae)
        if theirs != ours and not self.hparams.init_other_tokenizer:
            raise ValueError(f"init_from {init_from!r} was trained on tokenizer {theirs}, but vae_checkpoint is tokenizer "
                             f"{ours}: its latents mean something else (init_other_tokenizer: true starts from it even so)")
        weights = loaded.model.state_dict()
        # a refiner this run adds starts at zero (`chunk_refiner`), so the warm start may leave it out
        added = {k for k in self.model.state_dict() if k.startswith("refiner.") and k not in weights}
        try:
            missing, unexpected = self.model.load_state_dict(weights, strict=False)  # shapes are checked even so
            if set(missing) - added or unexpected:
                raise RuntimeError(f"state_dict mismatch:\n missing {sorted(set(missing) - added)[:4]}, "
                                   f"unexpected {sorted(unexpected)[:4]}")
        except RuntimeError as err:
            raise ValueError(f"init_from {init_from!r} does not fit this run's model (mot sizes, "
                             f"flow.termination_token): {str(err).splitlines()[1].strip()}") from None
        self._trained_before = record_of_path(init_from)

    def on_train_start(self) -> None:
        self._clock.start()

    def on_fit_start(self) -> None:
        datamodule = self.trainer.datamodule
        check_data_fits_tokenizer(datamodule, self.vae.cfg)
        expected = vae_fingerprint(self.vae)
        found = getattr(datamodule, "latent_fingerprint", None)
        if found != expected:
            raise ValueError(
                f"the world model trains on latents of its tokenizer {expected}; the data module serves "
                + ("frames: set data.init_args.latents to a file from `tv2tv encode`" if found is None
                   else f"latents of tokenizer {found}: re-run `tv2tv encode` with vae_checkpoint")
            )

    def texts(self, batch: dict) -> tuple[list[list[str]], list[str] | None]:
        """Per-step texts (b, n) and prompts (b,) or None, as this model's text mode lays them out."""
        per_step = [[step_text(a, i) for a, i in zip(actions, intents)]
                    for actions, intents in zip(batch["action_texts"], batch["intents"])]
        if self.hparams.text_mode == "per_step":
            return per_step, None
        return [[""] * len(actions) for actions in batch["action_texts"]], [", ".join(a) for a in batch["action_texts"]]

    def _losses(self, batch: dict) -> dict[str, torch.Tensor]:
        texts, prompts = self.texts(batch)
        return self.model.loss(batch["latents"], texts, batch["rewards"], batch["terminated"], prompts)

    def crop(self, batch: dict) -> dict:
        """The batch's last L steps (see `min_train_steps`): latents (b, 1 + L, ...), per-step fields (b, L)."""
        n, low = len(batch["action_texts"][0]), self.hparams.get("min_train_steps")
        if low is None:
            return batch
        start = n - int(torch.randint(min(low, n), n + 1, ()))
        per_step = {key: batch[key][:, start:] for key in ("actions", "rewards", "terminated", "truncated")}
        texts = {key: [row[start:] for row in batch[key]] for key in ("action_texts", "intents")}
        return {"latents": batch["latents"][:, start:], **per_step, **texts}

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        losses = self._losses(self.crop(batch))
        self.log_dict({f"train/{k}": v for k, v in losses.items() if k != "loss"})
        self.log("train/loss", losses["loss"], prog_bar=True)
        return losses["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        losses = self._losses(batch)
        self.log_dict({f"val/{k}": v for k, v in losses.items()}, sync_dist=True)
        if batch_idx == 0:
            self._log_imagination(batch)

    @torch.no_grad()
    def _log_imagination(self, batch: dict) -> None:
        """Imagine the first sample's window from its real anchor with its real texts; log PSNR and a video."""
        texts, prompts = self.texts(batch)
        sampler = Sampler(self.model, SamplerConfig(flow_steps=self.hparams.video_flow_steps, context_steps=len(texts[0]) + 1))
        ctx = sampler.start(batch["latents"][:1, 0], None if prompts is None else prompts[:1])
        generator = torch.Generator().manual_seed(0)  # the sampler draws its noise on the CPU, whatever the device
        chunks = [sampler.step(ctx, [text], generator=generator).latents for text in texts[0]]
        made = rearrange(self.vae.decode(torch.cat(chunks)), "n c r h w -> (n r) c h w")
        real = to_unit(batch["frames"][0])
        psnr = -10 * torch.log10(((made.clamp(-1, 1) - real) / 2).pow(2).mean())
        self.log("val/imagined_psnr", psnr, sync_dist=True)
        self.model.train(self.training)
        if isinstance(self.logger, TensorBoardLogger) and self.global_rank == 0:
            video = rearrange(torch.cat([batch["frames"][0], to_uint8(made)], dim=-1), "t c h w -> t h w c")
            add_video(self.logger.experiment, "val/real_vs_imagined", video.cpu().numpy(), self.global_step)

    def param_groups(self) -> list[dict]:
        """The optimizer's parameter groups: the trunk, then the heads if `head_lr_scale` != 1, then the text
        tower if `text_lr_scale` != 1, each at `lr` times its scale (one group when both are 1, so that runs
        saved before the options resume with the optimizer state they have)."""
        model, lr = self.model, self.hparams.lr
        parts = ((self.hparams.get("head_lr_scale", 1.0), [*model.reward_head.parameters(),
                                                            *model.termination_head.parameters()]),
                 (self.hparams.get("text_lr_scale", 1.0), model.transformer.text_parameters()))
        groups = [{"params": params, "lr": lr * scale} for scale, params in parts if scale != 1.0]
        scaled = {id(p) for group in groups for p in group["params"]}
        return [{"params": [p for p in model.parameters() if id(p) not in scaled]}, *groups]

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.param_groups(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        return {"optimizer": optimizer,
                "lr_scheduler": warmup_cosine(optimizer, self.hparams.warmup_steps, self.trainer)}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        manifest = getattr(self.trainer.datamodule, "manifest", None) if self._trainer else None
        game = None if manifest is None else {
            "env_id": manifest.env_id, "env_kwargs": manifest.env_kwargs, "action_texts": list(manifest.action_texts),
            "action_repeat": manifest.action_repeat, "frame_size": list(manifest.frame_size), "fps": manifest.fps,
        }
        checkpoint["tv2tv"] = {
            "kind": self.CHECKPOINT_KIND, "format": FORMAT_VERSION, "vae_config": asdict(self.vae.cfg),
            "mot_config": self.hparams.mot, "flow_config": self.hparams.flow,
            "tokenizer": self.model.tokenizer.to_dict(), "game": game, "text_mode": self.hparams.text_mode,
        }
        if self._trainer is not None:
            checkpoint["tv2tv"]["training"] = self._clock.record(self.trainer, self._trained_before)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        check_kind(checkpoint, self.CHECKPOINT_KIND)
        self._clock.resume(checkpoint)

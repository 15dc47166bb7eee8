"""Training the video tokenizer with Lightning: reconstruction + gradient + small KL."""

from __future__ import annotations

from dataclasses import asdict

import lightning as L
import torch
import torch.nn.functional as F
from einops import rearrange
from lightning.pytorch.loggers import TensorBoardLogger
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from tv2tv_world.storage.checkpoint import FORMAT_VERSION, check_kind
from tv2tv_world.tokenizer.loading import load_tokenizer
from tv2tv_world.tokenizer.video_vae import VideoVAE, VideoVAEConfig
from tv2tv_world.training.lr_schedule import warmup_cosine
from tv2tv_world.training.tensorboard_video import add_video


def to_unit(frames: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return frames.float() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], clamped."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def foreground_weights(target: torch.Tensor, weight: float) -> torch.Tensor:
    """(n, c, r, h, w) -> (n, 1, r, h, w): 1 + weight where a pixel differs from its chunk's median colour.

    Sprites cover a few percent of a frame; without this the MSE is mostly background.
    """
    background = target.flatten(2).median(dim=2).values[..., None, None, None]  # (n, c, 1, 1, 1)
    foreground = (target - background).abs().amax(dim=1, keepdim=True) > 0.1
    return 1.0 + weight * foreground.float()


def image_gradient_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences; (..., h, w) each. Sharpens sprite edges."""
    dx = lambda x: x[..., :, 1:] - x[..., :, :-1]  # noqa: E731
    dy = lambda x: x[..., 1:, :] - x[..., :-1, :]  # noqa: E731
    return F.l1_loss(dx(pred), dx(target)) + F.l1_loss(dy(pred), dy(target))


def check_data_fits_tokenizer(datamodule, cfg: VideoVAEConfig) -> None:
    """Frames must have the tokenizer's size, and one decision must be one chunk."""
    manifest = getattr(datamodule, "manifest", None)
    if manifest is None:
        return
    if tuple(manifest.frame_size) != (cfg.frame_size, cfg.frame_size):
        raise ValueError(f"data frames are {manifest.frame_size}, the tokenizer's frame_size is {cfg.frame_size}")
    if manifest.action_repeat != cfg.temporal_compression:
        raise ValueError(
            f"data has {manifest.action_repeat} frames per decision, the tokenizer's temporal_compression is "
            f"{cfg.temporal_compression}; they must match (one decision = one chunk)"
        )


class VideoVAEModule(L.LightningModule):
    """The `VideoVAE` plus its loss, optimiser, metrics and TensorBoard videos.

    Args:
        config: the tokenizer's shapes (`VideoVAEConfig`).
        lr: peak AdamW learning rate (linear warm-up, cosine decay over `trainer.max_steps`).
        warmup_steps: steps of linear warm-up.
        l1_weight, gradient_weight, kl_weight: weights of the loss terms next to the MSE.
        foreground_weight: extra weight of pixels unlike the chunk's median colour (0: plain MSE).
        stats_momentum: EMA momentum of the latent mean/std used to standardise latents.
        video_every_n_steps: log an input-vs-reconstruction video every N training steps.
        init_from: a tokenizer (a `tv2tv fit` checkpoint of one, or a world model or bundled name,
            whose tokenizer it carries) whose weights and latent statistics start this run: a warm
            start with a fresh optimizer and schedule, so separate short runs (a few GPU minutes each)
            add up (`--ckpt_path` resumes a run exactly instead). Its config must equal this run's.
        freeze_encoder: train the decoder alone (needs `init_from`): the encoder, its latents and their
            statistics stay exactly those of `init_from`, so world models trained on those latents
            render through the sharper decoder unchanged.
    """

    CHECKPOINT_KIND = "video_vae"

    def __init__(
        self,
        config: VideoVAEConfig | None = None,
        lr: float = 3e-4,
        warmup_steps: int = 200,
        l1_weight: float = 0.2,
        gradient_weight: float = 0.5,
        kl_weight: float = 1e-6,
        foreground_weight: float = 0.0,
        stats_momentum: float = 0.01,
        video_every_n_steps: int = 500,
        init_from: str | None = None,
        freeze_encoder: bool = False,
    ):
        super().__init__()
        if freeze_encoder and init_from is None:
            raise ValueError("freeze_encoder needs init_from: a frozen encoder must be a trained one")
        config = VideoVAEConfig(**config) if isinstance(config, dict) else config or VideoVAEConfig()
        self.save_hyperparameters(ignore=["config"])
        self.hparams["config"] = asdict(config)  # plain data, so checkpoints load with weights_only
        self.vae = VideoVAE(config)
        if init_from is not None:
            self._warm_start(init_from)
        self.vae.encoder.requires_grad_(not freeze_encoder)

    def _warm_start(self, init_from: str) -> None:
        """Copy the weights and latent statistics of the tokenizer `init_from` into this one."""
        theirs = load_tokenizer(init_from)
        if theirs.cfg != self.vae.cfg:
            raise ValueError(f"init_from {init_from!r} is a tokenizer of {asdict(theirs.cfg)}, but this run's config "
                             f"is {asdict(self.vae.cfg)}; they must be equal")
        self.vae.load_state_dict(theirs.state_dict())

    # ---- data sanity ------------------------------------------------------------------
    def on_fit_start(self) -> None:
        check_data_fits_tokenizer(self.trainer.datamodule, self.vae.cfg)

    # ---- steps ------------------------------------------------------------------------
    def _chunks(self, batch: dict) -> torch.Tensor:
        """batch frames (b, 1 + n r, c, h, w) uint8 -> chunks (b (1 + n), c, r, h, w) in [-1, 1]."""
        return rearrange(self.vae.chunk(to_unit(batch["frames"])), "b n c r h w -> (b n) c r h w")

    def _losses(self, chunks: torch.Tensor, sample: bool) -> tuple[dict, torch.Tensor, torch.Tensor]:
        mean, logvar = self.vae.encode_moments(chunks)  # a frozen encoder's weights need no grad: no graph is built
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if sample else mean
        recon = self.vae.decoder(rearrange(z, "n c h w -> n c 1 h w"))
        w = foreground_weights(chunks, self.hparams.foreground_weight)
        error = recon - chunks
        losses = {
            "mse": (w * error.square()).mean() / w.mean(),
            "l1": (w * error.abs()).mean() / w.mean(),
            "gradient": image_gradient_loss(recon, chunks),
            "kl": 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean(),
        }
        hp = self.hparams
        losses["loss"] = (losses["mse"] + hp.l1_weight * losses["l1"] + hp.gradient_weight * losses["gradient"]
                          + hp.kl_weight * losses["kl"])
        return losses, mean, recon

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        chunks = self._chunks(batch)
        losses, mean, recon = self._losses(chunks, sample=True)
        if not self.hparams.freeze_encoder:
            self._update_latent_stats(mean)
        self.log_dict({f"train/{k}": v for k, v in losses.items() if k != "loss"})
        self.log("train/loss", losses["loss"], prog_bar=True)
        if self.global_step % self.hparams.video_every_n_steps == 0:
            self._log_video("train/input_vs_reconstruction", batch, recon)
        return losses["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        chunks = self._chunks(batch)
        losses, _, recon = self._losses(chunks, sample=False)
        pred = rearrange((recon.clamp(-1, 1) + 1) / 2, "n c r h w -> (n r) c h w")
        target = rearrange((chunks + 1) / 2, "n c r h w -> (n r) c h w")
        self.log("val/loss", losses["loss"], sync_dist=True)
        self.log("val/psnr", peak_signal_noise_ratio(pred, target, data_range=1.0), prog_bar=True, sync_dist=True)
        self.log("val/ssim", structural_similarity_index_measure(pred, target, data_range=1.0), sync_dist=True)
        if batch_idx == 0:
            self._log_video("val/input_vs_reconstruction", batch, recon)

    @torch.no_grad()
    def _update_latent_stats(self, mean: torch.Tensor) -> None:
        m, mean = self.hparams.stats_momentum, mean.float()  # under bf16 autocast the encoder's output is bf16
        batch_mean = mean.mean(dim=(0, 2, 3))
        batch_std = mean.std(dim=(0, 2, 3)).clamp_min(1e-4)
        if self.trainer.world_size > 1:  # every rank keeps the same statistics
            stats = self.all_gather(torch.stack([batch_mean, batch_std])).mean(dim=0)
            batch_mean, batch_std = stats[0], stats[1]
        first = self.global_step == 0 and self.hparams.init_from is None  # a warm start keeps its statistics
        self.vae.latent_mean.lerp_(batch_mean, 1.0 if first else m)
        self.vae.latent_std.lerp_(batch_std, 1.0 if first else m)

    def _log_video(self, tag: str, batch: dict, recon: torch.Tensor) -> None:
        """First sample of the batch: input frames next to their reconstruction."""
        if not isinstance(self.logger, TensorBoardLogger) or self.global_rank != 0:
            return
        n = (batch["frames"].shape[1] - 1) // self.vae.cfg.temporal_compression + 1  # chunks per sample
        chunks = rearrange(recon[:n], "n c r h w -> 1 n c r h w")
        made = to_uint8(self.vae.unchunk(chunks))[0]
        real = batch["frames"][0]
        video = rearrange(torch.cat([real, made], dim=-1), "t c h w -> t h w c")
        add_video(self.logger.experiment, tag, video.cpu().numpy(), self.global_step)

    # ---- optimiser and checkpoints ------------------------------------------------------
    def configure_optimizers(self):
        trained = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trained, lr=self.hparams.lr, weight_decay=0.0)
        return {"optimizer": optimizer,
                "lr_scheduler": warmup_cosine(optimizer, self.hparams.warmup_steps, self.trainer)}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["tv2tv"] = {"kind": self.CHECKPOINT_KIND, "format": FORMAT_VERSION, "vae_config": asdict(self.vae.cfg)}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        check_kind(checkpoint, self.CHECKPOINT_KIND)

"""The real game as `tv2tv evaluate`'s reference: what a perfect world model would score on the same windows.

For each held-out window, where the game replays its recordings (`real_counterfactual`):
- the window's counterfactual commands played in the real game, read by the same action probe
  (`counterfactual_control_real_game`, and the model's own score on the steps the real game
  plays before it ends, `counterfactual_control_on_real_steps`);
- the recorded actions played with another draw of the game's randomness, through the
  tokenizer, against the recording (`psnr_real_game_redrawn_by_horizon`): the PSNR of a model
  that draws perfect samples, which no sampling model can beat on average; and of the raw frames
  (`psnr_real_game_redrawn_raw_by_horizon`), the same with a perfect tokenizer; and its objects
  against the recording's (`sprite_f1_real_game_redrawn_by_horizon`, all objects of the last frame
  of each chunk), the object F1 of a perfect sampler.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from einops import rearrange

from tv2tv_world.dataset.format import Episode, Manifest
from tv2tv_world.dataset.real_counterfactual import ReplayError, real_counterfactual, recorded_game, redrawn_future
from tv2tv_world.evaluation.action_probe import ActionProbe, probe_hits
from tv2tv_world.evaluation.object_metrics import GamePalette, ObjectCounts, frames_to_uint8
from tv2tv_world.tokenizer.latents import encode_frames
from tv2tv_world.tokenizer.module import to_unit
from tv2tv_world.world_model.loading import LoadedWorldModel


def through_tokenizer(loaded: LoadedWorldModel, frames: np.ndarray) -> torch.Tensor:
    """(1 + n r, h, w, 3) uint8 frames -> the n decisions' chunks as the tokenizer returns them, (n, 3, r, h, w)."""
    latents = torch.from_numpy(encode_frames(loaded.vae, frames)).float()
    with torch.no_grad():
        return loaded.vae.decode(latents[1:]).clamp(-1, 1)


class RealGameReference:
    """Collects, window by window, what the real game shows; `report` turns it into the report's keys."""

    def __init__(self, loaded: LoadedWorldModel, probe: ActionProbe, manifest: Manifest, horizon: int,
                 palette: GamePalette):
        self.loaded, self.probe, self.horizon, self.palette = loaded, probe, horizon, palette
        self.redrawn_objects = [ObjectCounts() for _ in range(horizon)]
        self.failure: str | None = None
        try:
            self.game: gym.Env | None = recorded_game(manifest)
        except (ValueError, gym.error.Error) as err:
            self.game, self.failure = None, f"the game {manifest.env_id} could not be made here: {err}"
        self.hits, self.played = [], []  # (H,) bool each: the probe read the command; the real game played the step
        # summed over windows: mean squared error at each horizon, through the tokenizer and of the raw frames
        self.redrawn_squared, self.redrawn_squared_raw = torch.zeros(horizon), torch.zeros(horizon)
        self.redrawn_windows = 0

    def add(self, episode: Episode, seed: int | None, start: int, commanded: np.ndarray, anchor_last: torch.Tensor,
            real: torch.Tensor, redraw_seed: int) -> None:
        """One window from decision `start` of `episode` (recorded with `seed`): `commanded` (H,) its counterfactual
        actions, `anchor_last` (3, h, w) the tokenizer's frame before it, `real` (H, 3, r, h, w) its recorded chunks."""
        if self.failure is not None:
            return
        try:
            frames = real_counterfactual(self.game, episode, seed, start, commanded)
            redrawn = redrawn_future(self.game, episode, seed, start, self.horizon, redraw_seed)
        except ReplayError as err:
            self.failure = str(err)
            return
        chunks = through_tokenizer(self.loaded, frames)  # (n, 3, r, h, w), n <= H
        n = len(chunks)
        hits = torch.zeros(self.horizon, dtype=torch.bool)
        hits[:n] = probe_hits(self.probe, chunks[None], anchor_last[None], torch.as_tensor(commanded[:n])[None])
        self.hits.append(hits)
        self.played.append(torch.arange(self.horizon) < n)
        first = episode.frames[start * self.game.repeat][None]
        made = through_tokenizer(self.loaded, np.concatenate([first, redrawn]))
        self.redrawn_squared += ((made - real) / 2).pow(2).mean(dim=(1, 2, 3, 4))
        for h in range(self.horizon):
            self.redrawn_objects[h].add(self.palette, frames_to_uint8(real[h : h + 1, :, -1]),
                                        frames_to_uint8(made[h : h + 1, :, -1]))
        raw = rearrange(to_unit(torch.from_numpy(redrawn)), "(n r) h w c -> n c r h w", r=self.game.repeat)
        self.redrawn_squared_raw += ((raw - real) / 2).pow(2).mean(dim=(1, 2, 3, 4))
        self.redrawn_windows += 1

    def report(self, model_hits: torch.Tensor, reported: tuple[int, ...]) -> dict:
        """The report's keys; model_hits (b * H,) the model's counterfactual hits on the same windows, in order."""
        if self.game is not None:
            self.game.close()
        if self.failure is not None or not self.hits:
            return {"counterfactual_control_real_game": None, "counterfactual_control_real_game_by_horizon": None,
                    "counterfactual_control_on_real_steps": None, "counterfactual_real_game_steps": None,
                    "psnr_real_game_redrawn_by_horizon": None, "psnr_real_game_redrawn_curve": None,
                    "psnr_real_game_redrawn_raw_by_horizon": None, "sprite_f1_real_game_redrawn_by_horizon": None,
                    "real_game_note": self.failure or "no window was replayed"}
        real, played = torch.stack(self.hits), torch.stack(self.played)  # (b, H) each
        model = rearrange(model_hits, "(b n) -> b n", n=self.horizon)
        shown = [h for h in reported if h <= self.horizon]
        curve, raw = ([-10 * math.log10(max(float(s) / self.redrawn_windows, 1e-10)) for s in squared]
                      for squared in (self.redrawn_squared, self.redrawn_squared_raw))
        return {
            "counterfactual_control_real_game": float(real[played].float().mean()),
            "counterfactual_control_real_game_by_horizon": {
                str(h): float(real[:, h - 1][played[:, h - 1]].float().mean()) if played[:, h - 1].any() else None
                for h in shown},
            "counterfactual_control_on_real_steps": float(model[played].float().mean()),
            "counterfactual_real_game_steps": float(played.float().mean()),  # share of steps before the game ended
            "psnr_real_game_redrawn_by_horizon": {str(h): curve[h - 1] for h in shown},
            "psnr_real_game_redrawn_curve": curve,
            "psnr_real_game_redrawn_raw_by_horizon": {str(h): raw[h - 1] for h in shown},  # no tokenizer: its ceiling
            "sprite_f1_real_game_redrawn_by_horizon": {str(h): self.redrawn_objects[h - 1].f1 for h in shown},
        }

"""`tv2tv_world/Imagination-v0`: a trained world model served as a Gymnasium environment.

The only door from Gymnasium to the sampler: agents, planners and the pygame player use this.
"""

from __future__ import annotations

import string
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from einops import rearrange
from gymnasium import spaces

from tv2tv_world.envs.decision_repeat import DecisionRepeat
from tv2tv_world.envs.make import make_game
from tv2tv_world.tokenizer.module import to_uint8, to_unit
from tv2tv_world.world_model.latent_end_head import with_end_head
from tv2tv_world.world_model.loading import LoadedWorldModel, load_world_model
from tv2tv_world.world_model.sampler import Sampler, SamplerConfig, StepResult

ACTION_MODES = ("discrete", "text")
OBSERVATIONS = ("rgb", "latent")
TEXT_CHARSET = string.ascii_letters + string.digits + string.punctuation + " "


def make_real_env(loaded: LoadedWorldModel, render_mode: str | None = None) -> gym.Env:
    """The real game a world model was trained on, stepping one decision (= one chunk) at a time."""
    game = loaded.game
    if game is None:
        raise ValueError(f"{loaded.path}: the checkpoint does not name its game (trained without a dataset manifest)")
    kwargs = dict(game["env_kwargs"])
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    return DecisionRepeat(make_game(game["env_id"], **kwargs), int(game["action_repeat"]))


def anchor_chunk(frames, size: int, r: int) -> torch.Tensor:
    """Start frames, (h, w, 3) or (r, h, w, 3) uint8 -> one chunk (1, 3, r, h, w) in [-1, 1]; a single frame is repeated."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.shape[-3:] != (size, size, 3) or frames.ndim not in (3, 4):
        raise ValueError(f"start frames must be uint8 of shape ({size}, {size}, 3) or ({r}, {size}, {size}, 3), "
                         f"got {frames.dtype} {frames.shape}")
    if frames.ndim == 3:
        frames = np.repeat(frames[None], r, axis=0)
    if len(frames) != r:
        raise ValueError(f"a start chunk has {r} frames, got {len(frames)}")
    return rearrange(to_unit(torch.from_numpy(frames)), "r h w c -> 1 c r h w")


class ImaginationEnv(gym.Env):
    """The game as a world model imagines it: each step the model draws the next chunk of frames.

    ## Action space
    `Discrete(n)` over the game's action texts (`action_mode="discrete"`, the default), the
    same as the real game's; or `Text(max_length)` (`action_mode="text"`): any text is an
    action, and the empty string lets the model write its own text (free run).

    ## Observation space
    `"rgb"` (default): the newest imagined frame, `Box(0, 255, (h, w, 3), uint8)`, like the
    real game's. `"latent"`: the newest chunk's latent, `Box(-inf, inf, (c, h', w'), float32)`.

    ## Rewards and episode end
    Reward from the model's reward head; `terminated` when its termination head's probability
    exceeds `termination_threshold` (default 0.5; 1 never ends an episode that way);
    `truncated` after `horizon` steps. `info`: `text` (what drove the step), `model_text` (the
    text the model wrote itself, or None), `termination_probability`, and `frames`, the
    chunk's (r, h, w, 3) frames (absent with latent observations and no render mode: then no
    pixels are decoded, as in the vector env).

    ## Starting state
    `reset(seed=s)` resets the real game with seed s and starts imagining from its first frame.
    `options={"frames": x}` starts from given frames instead: one (h, w, 3) uint8 frame or a
    chunk (r, h, w, 3).

    ## Arguments
    `checkpoint` (path of a world-model checkpoint, or a `LoadedWorldModel`), `action_mode`,
    `observation`, `horizon`, `flow_steps`, `guidance`, `context_steps` (default: the anchor plus
    the training window, the longest context the model has seen), `temperature`,
    `termination_threshold`, `render_mode` ("rgb_array" or "human"), `shared_noise` (vectorized:
    every sub-env draws its chunks from the same noise, so planners compare plans, not luck),
    `device` (where the model runs when loaded from a path, default the CPU; observations are
    NumPy arrays either way, and a seed draws the same noise on every device).
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 15}

    def __init__(self, checkpoint: str | Path | LoadedWorldModel, action_mode: str = "discrete", observation: str = "rgb",
                 horizon: int = 1000, flow_steps: int = 8, guidance: float = SamplerConfig.guidance,
                 context_steps: int | None = None, temperature: float = 0.7, termination_threshold: float = 0.5,
                 render_mode: str | None = None, shared_noise: bool = False, device: str | None = None):
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {action_mode!r}")
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        if not 0.0 < termination_threshold <= 1.0:
            raise ValueError(f"termination_threshold must be in (0, 1] (1: never terminate), got {termination_threshold!r}")
        self.termination_threshold = termination_threshold
        if not isinstance(horizon, int) or horizon < 1:
            raise ValueError(f"horizon must be an int >= 1, got {horizon!r}")
        self.loaded = checkpoint if isinstance(checkpoint, LoadedWorldModel) else load_world_model(checkpoint, device or "cpu")
        if device is not None and self.loaded.device.type != torch.device(device).type:
            raise ValueError(f"the given model is on {self.loaded.device}, not on device={device!r}: load it there "
                             "(load_world_model(path, device)) or leave device out")
        if self.loaded.game is None:
            raise ValueError(f"{self.loaded.path}: the checkpoint does not name its game")
        if self.loaded.text_mode != "per_step":
            raise ValueError(f"{self.loaded.path}: a {self.loaded.text_mode!r}-mode model (the prompt-only baseline) "
                             "takes no per-step actions; the imagination env needs a per_step model")
        self.action_texts = tuple(self.loaded.game["action_texts"])
        self.action_mode, self.observation, self.horizon, self.render_mode = action_mode, observation, horizon, render_mode
        self.sampler = Sampler(self.loaded.model, SamplerConfig(flow_steps=flow_steps, guidance=guidance,
                                                                context_steps=context_steps or self.loaded.context_steps,
                                                                temperature=temperature, shared_noise=shared_noise))
        vae_cfg = self.loaded.vae.cfg
        size, latent = vae_cfg.frame_size, vae_cfg.latent_size
        self.metadata = {**self.metadata, "render_fps": int(self.loaded.game.get("fps") or 15)}
        self.max_text_bytes = self.loaded.model.tokenizer.max_text_bytes
        if action_mode == "discrete":
            self.action_space = spaces.Discrete(len(self.action_texts))
        else:
            self.action_space = spaces.Text(max_length=self.max_text_bytes, min_length=0, charset=TEXT_CHARSET)
        if observation == "rgb":
            self.observation_space = spaces.Box(0, 255, (size, size, 3), np.uint8)
        else:
            self.observation_space = spaces.Box(-np.inf, np.inf, (vae_cfg.latent_channels, latent, latent), np.float32)
        self._real: gym.Env | None = None
        self._ctx = None
        self._generator = torch.Generator()
        self._frame: np.ndarray | None = None
        self._latent: np.ndarray | None = None
        self._start_latent: np.ndarray | None = None  # the real chunk's latent at reset (a two-decision end head reads it)
        self._first_text: str | None = None  # the first step's text since reset
        self._steps, self._done = 0, True
        self._window = None

    # ---- Gymnasium API ----------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        frames = options.get("frames")
        if frames is None:
            if self._real is None:
                self._real = make_real_env(self.loaded)
            frame, _ = self._real.reset(seed=int(self.np_random.integers(2**31)) if seed is None else seed)
            frames = frame
        chunk = self.anchor_chunk(frames)
        self._generator.manual_seed(int(self.np_random.integers(2**63 - 1)))
        with torch.no_grad():
            anchor = self.loaded.vae.encode(chunk.to(self.loaded.device)).cpu()  # (1, c, h, w)
        self._ctx = self.sampler.start(anchor)
        self._frame = rearrange(to_uint8(chunk[0, :, -1]), "c h w -> h w c").numpy()
        self._latent = self._start_latent = anchor[0].numpy()
        self._first_text, self._steps, self._done = None, 0, False
        info = {"text": None, "model_text": None, "frames": rearrange(to_uint8(chunk[0]), "c r h w -> r h w c").numpy()}
        if self.render_mode == "human":
            self.render()
        return self._observe(), info

    def step(self, action):
        if self._ctx is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if self._done:
            raise gym.error.ResetNeeded("the episode has ended (terminated or truncated): call reset() before step()")
        text = self.action_text(action)
        result: StepResult = self.sampler.step(self._ctx, [text], generator=self._generator)
        termination = self.end_probability(torch.from_numpy(self._latent)[None], result.texts, result.termination,
                                           torch.from_numpy(self._start_latent)[None],
                                           [self._first_text if self._steps == 1 else None])
        if self._steps == 0:
            self._first_text = result.texts[0]
        self._latent = result.latents[0].cpu().numpy()
        frames = None
        if self.observation == "rgb" or self.render_mode is not None:  # latents alone: no pixels decoded
            with torch.no_grad():
                chunk = self.loaded.vae.decode(result.latents)[0].cpu()  # (3, r, h, w)
            frames = rearrange(to_uint8(chunk), "c r h w -> r h w c").numpy()
        self._frame = None if frames is None else frames[-1]
        self._steps += 1
        probability = float(termination[0])
        terminated, truncated = probability > self.termination_threshold, self._steps >= self.horizon
        self._done = terminated or truncated
        info = {"text": result.texts[0], "model_text": result.texts[0] if bool(result.wrote_text[0]) else None,
                "termination_probability": probability}
        if frames is not None:
            info["frames"] = frames
        if self.render_mode == "human":
            for frame in frames:
                self._show(frame)
        return self._observe(), float(result.reward[0]), terminated, truncated, info

    def render(self):
        if self.render_mode == "rgb_array":
            return None if self._frame is None else self._frame.copy()
        if self.render_mode == "human" and self._frame is not None:
            self._show(self._frame)
        return None

    def close(self):
        if self._window is not None:
            self._window.close()
            self._window = None
        if self._real is not None:
            self._real.close()
            self._real = None

    # ---- helpers --------------------------------------------------------------------------
    def action_text(self, action) -> str | None:
        """The step's text for an action of this env's space (None: the model writes it); clear errors otherwise."""
        if self.action_mode == "discrete":
            if isinstance(action, np.ndarray) and action.shape == ():
                action = action.item()
            if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
                raise TypeError(f"action must be an int in [0, {len(self.action_texts)}), got {action!r} "
                                f"({type(action).__name__}); use action_mode='text' for text")
            if not 0 <= int(action) < len(self.action_texts):
                raise ValueError(f"action {int(action)} is outside Discrete({len(self.action_texts)}): {self.action_texts}")
            return self.action_texts[int(action)]
        if not isinstance(action, str):
            raise TypeError(f"action must be a str in action_mode='text', got {type(action).__name__}: {action!r}")
        if len(action.encode("utf-8")) > self.max_text_bytes:
            raise ValueError(f"action text is {len(action.encode('utf-8'))} UTF-8 bytes; the limit is {self.max_text_bytes}")
        return action or None

    def end_probability(self, before: torch.Tensor, texts: list[str], probability: torch.Tensor,
                        starts: torch.Tensor, first_texts: list[str | None]) -> torch.Tensor:
        """The chance that each step ended the game: the latent end head's where the checkpoint has one and the
        step's text is one of the game's actions, else the trunk's head (`probability`, (n,)).

        before: (n, c, h, w) the latents on screen before the step (what the end head reads); starts: (n, c, h, w)
        the real chunks the streams started from, and first_texts their first step's text where this step is the
        second since then, else None (a two-decision end head judges those steps from the real chunk).
        """
        head = self.loaded.end_head
        if head is None:
            return probability
        device = self.loaded.device
        return with_end_head(probability, head.end_probability(before.to(device), texts, starts.to(device), first_texts))

    def anchor_chunk(self, frames) -> torch.Tensor:
        """(h, w, 3) or (r, h, w, 3) uint8 -> (1, 3, r, h, w) in [-1, 1]; a single frame is repeated."""
        return anchor_chunk(frames, self.loaded.vae.cfg.frame_size, self.loaded.vae.cfg.temporal_compression)

    def _observe(self) -> np.ndarray:
        return self._frame.copy() if self.observation == "rgb" else self._latent.astype(np.float32)

    def _show(self, frame: np.ndarray) -> None:
        if self._window is None:
            from tv2tv_world.envs.human_window import HumanWindow

            self._window = HumanWindow("tv2tv-world: imagination", self.metadata["render_fps"])
        self._window.show(frame)

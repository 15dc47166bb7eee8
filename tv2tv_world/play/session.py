"""The game behind `tv2tv play`: the imagination env (and, side by side, the real game) one decision at a time.

No pygame here: the window and the keys live in `player.py`; this keeps the rollout, the log
of texts and the per-frame PSNR between the two worlds.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from tv2tv_world.envs.action_text import action_of_text, idle_action
from tv2tv_world.envs.imagination import ImaginationEnv
from tv2tv_world.play.rollout_file import Rollout


@dataclass
class LogLine:
    """One step as the HUD shows it: who gave the text (`key`, `typed` or `model`) and the text."""

    step: int
    source: str
    text: str
    reward: float


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 frames (h, w, 3); 99 for identical frames."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


class PlaySession:
    """Steps `env` (a text-mode, RGB `ImaginationEnv`) and, when given, the real game with the same actions.

    `step(text=..., action=...)`: a key's action id, any typed text, or neither (the model
    writes the step's text itself: free run). Typed text reaches the real game as the action it
    names ("move left"), else the idle action. An episode that ended restarts on the next step
    from a new real start.
    """

    def __init__(self, env: ImaginationEnv, real: gym.Env | None = None, seed: int = 0):
        if env.action_mode != "text" or env.observation != "rgb":
            raise ValueError("playback needs an ImaginationEnv with action_mode='text' and observation='rgb'")
        self.env, self.real, self.seed = env, real, seed
        self.action_texts = env.action_texts
        self.rollout = Rollout(frames=np.zeros((0, 1, 1, 3), np.uint8), fps=env.metadata["render_fps"])
        self.log: list[LogLine] = []
        self.psnr: list[float] = []
        self.real_rewards: list[float] = []  # per decision, with a real game
        self.steps, self.episode, self.done = 0, 0, True
        self._frames: list[np.ndarray] = []
        self._real: list[np.ndarray] = []
        self.reset(seed)

    @property
    def frame(self) -> np.ndarray:
        return self._frames[-1]

    @property
    def real_frame(self) -> np.ndarray | None:
        return self._real[-1] if self.real is not None else None

    @property
    def frames(self) -> list[np.ndarray]:
        """Every imagined frame so far."""
        return self._frames

    @property
    def real_frames(self) -> list[np.ndarray]:
        """Every real frame so far (empty without a real game)."""
        return self._real

    def reset(self, seed: int | None = None) -> list[np.ndarray]:
        """A new real start; returns the frames to show (the start frame)."""
        seed = self.seed + self.episode if seed is None else seed
        observation, _ = self.env.reset(seed=seed)
        self._frames.append(observation)
        self.rollout.frame_steps.append(self.steps)
        if self.real is not None:
            self._real.append(self.real.reset(seed=seed)[0])
            self.psnr.append(psnr(observation, self._real[-1]))
        self.episode, self.done = self.episode + 1, False
        self.log.append(LogLine(self.steps, "reset", f"new start (seed {seed})", 0.0))
        return [observation]

    def step(self, text: str | None = None, action: int | None = None, source: str | None = None) -> list[np.ndarray]:
        """One decision; returns its imagined frames (r, h, w, 3) as a list (or the new start after an episode end).

        `source` names who chose the action in the log (default "key" for actions).
        """
        if self.done:
            return self.reset()
        if action is not None:
            step_text, source = self.action_texts[action], source or "key"
        else:
            step_text, source = (text or ""), ("typed" if text else "model")
        observation, reward, terminated, truncated, info = self.env.step(step_text)
        frames = list(info["frames"])
        text = info["text"]
        real_action = action if action is not None else action_of_text(text, self.action_texts)
        self._frames.extend(frames)
        self.rollout.frame_steps.extend([self.steps + 1] * len(frames))
        if self.real is not None:
            played = idle_action(self.action_texts) if real_action is None else real_action
            _, real_reward, real_end, real_cut, real_info = self.real.step(played)
            self.real_rewards.append(float(real_reward))
            self._real.extend(list(real_info["frames"]))
            self.psnr.extend(psnr(a, b) for a, b in zip(frames, real_info["frames"]))
            terminated = terminated or real_end or real_cut
        self.steps += 1
        self.done = terminated or truncated
        self.rollout.texts.append(text)
        self.rollout.model_texts.append(info["model_text"] or "")
        self.rollout.actions.append(-1 if real_action is None else int(real_action))
        self.rollout.rewards.append(float(reward))
        self.log.append(LogLine(self.steps, source if not info["model_text"] else "model", text, float(reward)))
        if self.done:
            self.log.append(LogLine(self.steps, "end", "terminated" if terminated else "horizon reached", 0.0))
        return frames

    def to_rollout(self, meta: dict | None = None) -> Rollout:
        """Everything shown so far, as a `Rollout` for `--replay`."""
        rollout = self.rollout
        rollout.frames = np.stack(self._frames)
        rollout.real = np.stack(self._real) if self.real is not None else None
        rollout.meta = {**rollout.meta, **(meta or {}), "psnr": self.psnr,
                        "log": [[line.step, line.source, line.text, line.reward] for line in self.log]}
        return rollout

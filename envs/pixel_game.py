"""Any Gymnasium game with pixel frames and Discrete actions, in the shape our games have."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from tv2tv_world.envs.action_text import idle_action, meaning_to_text
from tv2tv_world.envs.human_window import HumanWindow
from tv2tv_world.envs.resize import area_resize


def _make_inner(game: str, **kwargs) -> gym.Env:
    """`gymnasium.make(game)`, registering ALE's games first when the id needs them."""
    if game.startswith("ALE/"):
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")  # ALE's SDL would complain about missing sound cards
        try:
            import ale_py
        except ImportError as err:
            raise ImportError(f"{game} needs ale-py: pip install 'tv2tv-world[atari]'") from err
        gym.register_envs(ale_py)
        kwargs.setdefault("repeat_action_probability", 0.0)  # the action text must say what happened
    try:
        return gym.make(game, **kwargs)
    except gym.error.Error as err:
        raise ValueError(f"cannot make game {game!r}: {err}") from err


def _is_pixels(space: spaces.Space) -> bool:
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3 and space.shape[-1] == 3


class PixelGame(gym.Env):
    """Wraps a pixel game so it looks like Forage: square RGB frames and a text per action.

    ## Action space
    The wrapped game's `Discrete(n)`. `action_texts[i]` is the text of action i: from the
    `action_texts` argument, else from the game's `get_action_meanings()` (ALE) turned into
    English ("move right and fire"), else "action i".

    ## Observation space
    `Box(0, 255, (size, size, 3), uint8)`: the game's frame (its observation when that is an
    RGB image, else `render()` in `rgb_array` mode), resized by area averaging.

    ## Rewards, starting state, episode end
    Those of the wrapped game; with `action_repeat` k each step plays the action k times
    and sums the rewards; truncated after `max_steps` steps when given. With `noop_max` n,
    `reset` first plays a random 1..n steps of the idle action (drawn from the reset's seed),
    the Atari protocol's varied starts for games that are otherwise deterministic.

    ## Arguments
    - `game`: a Gymnasium id (`"ALE/Breakout-v5"`) or an env instance.
    - `size`: output frame height and width (default 64).
    - `action_texts`: a sequence of n texts or a mapping {action: text} overriding some.
    - `action_repeat`: times each action is played per step (default 1).
    - `max_steps`: steps before truncation (default: the game's own limit only).
    - `noop_max`: most idle steps played at reset (default 0: none).
    - `fps`: frames per second of the game (default: the wrapped game's `render_fps`, else 15).
    - `render_mode`: `"rgb_array"` or `"human"`.
    - any other keyword goes to `gymnasium.make(game, ...)`.

    `get_state()` / `set_state()` work where the wrapped game can clone its state (ALE can).
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 15}

    def __init__(
        self,
        game: str | gym.Env,
        size: int = 64,
        action_texts: Sequence[str] | Mapping[int, str] | None = None,
        action_repeat: int = 1,
        max_steps: int | None = None,
        noop_max: int = 0,
        fps: float | None = None,
        render_mode: str | None = None,
        **make_kwargs,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if not isinstance(size, int) or size < 8:
            raise ValueError(f"size must be an int >= 8, got {size!r}")
        if not isinstance(action_repeat, int) or action_repeat < 1:
            raise ValueError(f"action_repeat must be an int >= 1, got {action_repeat!r}")
        if not isinstance(noop_max, int) or noop_max < 0:
            raise ValueError(f"noop_max must be an int >= 0, got {noop_max!r}")
        if fps is not None and not (isinstance(fps, (int, float)) and fps > 0):
            raise ValueError(f"fps must be a positive number or None, got {fps!r}")
        inner = _make_inner(game, **make_kwargs) if isinstance(game, str) else game
        name = game if isinstance(game, str) else type(game.unwrapped).__name__
        if not isinstance(inner.action_space, spaces.Discrete):
            raise ValueError(f"{name} has action space {inner.action_space}; PixelGame needs Discrete actions")
        self._frames_from_obs = _is_pixels(inner.observation_space)
        if not self._frames_from_obs and inner.render_mode != "rgb_array":
            if not isinstance(game, str):
                raise ValueError(
                    f"{name} has no pixel frames: observations are {inner.observation_space} and render_mode is "
                    f"{inner.render_mode!r}; create it with render_mode='rgb_array'"
                )
            inner.close()
            inner = _make_inner(game, render_mode="rgb_array", **make_kwargs)
        if not self._frames_from_obs and "rgb_array" not in inner.metadata.get("render_modes", []):
            raise ValueError(f"{name} has no pixel frames: neither RGB observations nor an rgb_array render mode")

        self.game, self.game_name = inner, name
        self.size, self.action_repeat, self.max_steps, self.noop_max = size, action_repeat, max_steps, noop_max
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": fps or inner.metadata.get("render_fps") or 15}
        self.action_space = spaces.Discrete(int(inner.action_space.n))
        self.observation_space = spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.action_texts = self._texts(action_texts)
        self.idle_action = idle_action(self.action_texts)
        self._frame: np.ndarray | None = None
        self._raw: np.ndarray | None = None
        self._steps, self._done = 0, False
        self._window: HumanWindow | None = None

    def _texts(self, given) -> tuple[str, ...]:
        n = self.action_space.n
        meanings = getattr(self.game.unwrapped, "get_action_meanings", None)
        texts = [meaning_to_text(m) for m in meanings()] if callable(meanings) else [f"action {i}" for i in range(n)]
        if isinstance(given, Mapping):
            for action, text in given.items():
                if not 0 <= int(action) < n:
                    raise ValueError(f"action_texts names action {action!r}; {self.game_name} has actions 0..{n - 1}")
                texts[int(action)] = text
        elif given is not None:
            if len(given) != n:
                raise ValueError(f"action_texts has {len(given)} texts; {self.game_name} has {n} actions")
            texts = list(given)
        if any(not isinstance(t, str) or not t.strip() for t in texts):
            raise ValueError(f"every action text must be a non-empty string, got {texts!r}")
        if len(set(texts)) != n:
            raise ValueError(f"action texts must be distinct, got {texts!r}")
        return tuple(texts)

    def _observe(self, observation) -> np.ndarray:
        self._raw = np.asarray(observation if self._frames_from_obs else self.game.render(), dtype=np.uint8)
        self._frame = area_resize(self._raw, self.size, self.size)
        return self._frame

    def raw_frame(self) -> np.ndarray:
        """The game's current frame before resizing; (h, w, 3) uint8. For scripted players."""
        if self._raw is None:
            raise RuntimeError("call reset() first")
        return self._raw

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        observation, info = self.game.reset(seed=seed, options=options)
        if self.noop_max:
            for _ in range(int(self.np_random.integers(1, self.noop_max + 1))):
                observation, _, terminated, truncated, info = self.game.step(self.idle_action)
                if terminated or truncated:
                    observation, info = self.game.reset(options=options)
        self._steps, self._done = 0, False
        return self._observe(observation), info

    def step(self, action):
        if self._frame is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not valid: expected an int in [0, {self.action_space.n})")
        if self._done:
            raise RuntimeError("step() called after the episode ended; call reset() first")
        total, terminated, truncated, info = 0.0, False, False, {}
        for _ in range(self.action_repeat):
            observation, reward, terminated, truncated, info = self.game.step(int(action))
            total += float(reward)
            if terminated or truncated:
                break
        self._steps += 1
        truncated = truncated or (not terminated and self.max_steps is not None and self._steps >= self.max_steps)
        self._done = terminated or truncated
        frame = self._observe(observation)
        if self.render_mode == "human":
            self.render()
        return frame, total, terminated, truncated, info

    def get_state(self):
        """The wrapped game's full state (ALE `clone_state`), plus our step counter."""
        if self._raw is None:
            raise RuntimeError("call reset() before get_state()")
        clone = getattr(self.game.unwrapped, "clone_state", None)
        if clone is None:
            raise NotImplementedError(f"{self.game_name} cannot save its state")
        return {"game": clone(include_rng=True), "steps": self._steps, "done": self._done, "raw": self._raw.copy()}

    def set_state(self, state) -> None:
        """Restore a state from `get_state()`."""
        restore = getattr(self.game.unwrapped, "restore_state", None)
        if restore is None:
            raise NotImplementedError(f"{self.game_name} cannot restore a state")
        restore(state["game"])
        self._steps, self._done = state["steps"], state["done"]
        self._raw = state["raw"].copy()
        self._frame = area_resize(self._raw, self.size, self.size)

    def render(self):
        if self.render_mode == "rgb_array":
            return self._frame
        if self.render_mode == "human" and self._frame is not None:
            if self._window is None:
                self._window = HumanWindow(f"tv2tv-world: {self.game_name}", self.metadata["render_fps"])
            self._window.show(self._frame)
        return None

    def close(self):
        if self._window is not None:
            self._window.close()
            self._window = None
        self.game.close()

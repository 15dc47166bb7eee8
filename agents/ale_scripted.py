"""What the scripted ALE players share: the game check, epsilon noise, and an intent said once."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from tv2tv_world.agents.policy import Decision
from tv2tv_world.envs.pixel_game import PixelGame


class AleScripted:
    """A player of the ALE games in `games` (through PixelGame) that reads the raw screen.

    Subclasses implement `choose(frame) -> (intent, action)` on the game's (210, 160, 3) frame;
    with probability `epsilon` the action is replaced by a random one (the intent stays).
    """

    games: tuple[str, ...] = ()

    def __init__(self, env: gym.Env, seed: int | None = None, epsilon: float = 0.1):
        game = env.unwrapped
        if not isinstance(game, PixelGame) or game.game_name not in self.games:
            raise TypeError(f"{type(self).__name__} plays {' or '.join(self.games)} through PixelGame")
        self.game, self.epsilon = game, epsilon
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.intent: str | None = None

    def choose(self, frame: np.ndarray) -> tuple[str, int]:
        raise NotImplementedError

    def act(self, observation: np.ndarray) -> Decision:
        intent, action = self.choose(self.game.raw_frame())
        if self.rng.random() < self.epsilon:
            action = int(self.rng.integers(self.game.action_space.n))
        said, self.intent = (intent if intent != self.intent else None), intent
        return Decision(action, said)

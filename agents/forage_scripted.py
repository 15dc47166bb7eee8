"""A scripted Forage player that says what it is going for: the source of intent texts."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from tv2tv_world.agents.policy import Decision
from tv2tv_world.envs.forage import (
    ACTION_TEXTS,
    FRUIT_SIZE,
    HAZARD_SIZE,
    PLAYER_SIZE,
    ForageEnv,
    move_hazards,
    move_player,
    overlap,
)

FLEE_INTENT = "get away from the hazard"


def fruit_intent(colour: str) -> str:
    """The intent text for heading to a fruit: 'go to the red fruit'."""
    return f"go to the {colour} fruit"


class ForageScripted:
    """Picks a fruit (usually the nearest), walks to it, and steps aside from hazards.

    Reads the game through `ForageEnv.get_state()` and looks `lookahead` frames ahead with
    the game's own motion rules, so it only dies when cornered. With probability `epsilon`
    a decision is a random *safe* action, so the data also shows off-plan moves.
    """

    def __init__(self, env: gym.Env, seed: int | None = None, epsilon: float = 0.15, switch_prob: float = 0.03,
                 lookahead: int = 6):
        if not isinstance(env.unwrapped, ForageEnv):
            raise TypeError(f"ForageScripted plays Forage, not {type(env.unwrapped).__name__}")
        self.game: ForageEnv = env.unwrapped
        self.epsilon, self.switch_prob, self.lookahead = epsilon, switch_prob, lookahead
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.target: int | None = None
        self.target_xy: np.ndarray | None = None
        self.fleeing = False

    def act(self, observation: np.ndarray) -> Decision:
        s = self.game.get_state()
        eaten = self.target is not None and not np.array_equal(s.fruits[self.target], self.target_xy)
        new_target = self.target is None or eaten or self.rng.random() < self.switch_prob
        if new_target:
            self.target = self._choose_target(s.player, s.fruits)
        self.target_xy = s.fruits[self.target].copy()

        safety = np.array([self._clearance(s.player, s.hazards, a) for a in range(len(ACTION_TEXTS))])
        safe = np.flatnonzero(safety > 0)
        wanted = self._towards(s.player, self.target_xy)
        if wanted in safe:
            action, fleeing = wanted, False
        else:
            action = int(safety.argmax()) if len(safe) == 0 else self._nearest_safe(s.player, safe)
            fleeing = True
        if len(safe) and self.rng.random() < self.epsilon:
            action = int(self.rng.choice(safe))

        intent = None
        if fleeing and not self.fleeing:
            intent = FLEE_INTENT
        elif not fleeing and (new_target or self.fleeing):
            intent = fruit_intent(self.game.fruit_names[self.target])
        self.fleeing = fleeing
        return Decision(action, intent)

    def _clearance(self, player: np.ndarray, hazards: np.ndarray, action: int) -> float:
        """1 when holding `action` (then waiting) survives the lookahead, else frames to contact minus lookahead (< 0)."""
        for frame in range(self.lookahead):
            player, hazards = move_player(player, action if frame < 4 else 0), move_hazards(hazards)
            if any(overlap(player - 1, PLAYER_SIZE + 2, h[:2], HAZARD_SIZE) for h in hazards):
                return frame - self.lookahead
        return 1.0

    def _choose_target(self, player: np.ndarray, fruits: np.ndarray) -> int:
        distances = np.abs(fruits + FRUIT_SIZE / 2 - player - PLAYER_SIZE / 2).sum(axis=1)
        return int(distances.argmin()) if self.rng.random() < 0.6 else int(self.rng.integers(len(fruits)))

    def _towards(self, player: np.ndarray, fruit: np.ndarray) -> int:
        dx, dy = fruit + FRUIT_SIZE / 2 - player - PLAYER_SIZE / 2
        if abs(dx) < 1 and abs(dy) < 1:
            return 0
        horizontal = abs(dx) > abs(dy) if self.rng.random() < 0.8 else abs(dx) <= abs(dy)
        if horizontal and abs(dx) >= 1 or abs(dy) < 1:
            return 4 if dx > 0 else 3
        return 2 if dy > 0 else 1

    def _nearest_safe(self, player: np.ndarray, safe: np.ndarray) -> int:
        """The safe action that ends closest to the target."""
        goal = self.target_xy + FRUIT_SIZE / 2
        return int(min(safe, key=lambda a: np.abs(move_player(player, int(a)) + PLAYER_SIZE / 2 - goal).sum()))

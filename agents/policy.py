"""What every player of a real game implements: one decision per text step / video chunk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Decision:
    """An action id, and the player's new intent in words when it just changed."""

    action: int
    intent: str | None = None


class Policy(Protocol):
    """A player: `reset` at the start of an episode, then `act` once per decision.

    A decision holds for `action_repeat` frames (one video chunk), so `act` sees the newest
    frame, (h, w, 3) uint8, every `action_repeat` steps of the env.
    """

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, observation: np.ndarray) -> Decision: ...

"""Auditing a planner's imagination: the real game scores the same plans, so we see how far to trust it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from tv2tv_world.agents.imagined_returns import ImaginedReturns
from tv2tv_world.agents.oracle_returns import OracleReturns


class PlanAudit:
    """Plan scoring by `imagined`, with every batch of plans also scored by `real` (a copy of the real game).

    The planner sees only the imagined returns, so auditing never changes what it plays; the
    pairs are kept for `summary()`. Needs a game that saves its state (as the oracle planner).
    """

    def __init__(self, imagined: ImaginedReturns, real: OracleReturns):
        self.imagined, self.real = imagined, real
        self.batches: list[tuple[np.ndarray, np.ndarray]] = []  # (imagined (n,), real (n,)) per scored batch

    def start(self, env: gym.Env, frames: np.ndarray, seed: int) -> None:
        self.imagined.start(env, frames, seed)
        self.real.start(env, frames, seed)

    def __call__(self, plans: np.ndarray) -> np.ndarray:
        """(n, horizon) action ids -> (n,) imagined returns (the real ones are only recorded)."""
        imagined = self.imagined(plans)
        self.batches.append((np.asarray(imagined, np.float64), self.real(plans)))
        return imagined

    def summary(self) -> dict:
        """How well imagination ranked the plans it was given, over all scored batches.

        - `return_correlation`: Pearson r of imagined and real returns, all plans pooled.
        - `regret`: per batch, the best real return among its plans minus the real return of the
          plan imagination ranked first; `random_regret`: the same for a plan picked at random
          (the batch's mean real return), what a planner that ignores its model loses.
        - `imagined_by_outcome`: mean imagined return (and count) of the plans whose real return
          was below zero (a hazard), zero, or above zero.
        """
        if not self.batches:
            raise RuntimeError("no plans were scored yet")
        imagined = np.concatenate([i for i, _ in self.batches])
        real = np.concatenate([r for _, r in self.batches])
        spread = imagined.std() > 0 and real.std() > 0
        by_outcome = {name: {"plans": int(chosen.sum()),
                             "mean_imagined": float(imagined[chosen].mean()) if chosen.any() else None}
                      for name, chosen in (("loss", real < 0), ("nothing", real == 0), ("gain", real > 0))}
        return {
            "batches": len(self.batches), "plans": len(real),
            "return_correlation": float(np.corrcoef(imagined, real)[0, 1]) if spread else None,
            "regret": float(np.mean([r.max() - r[np.argmax(i)] for i, r in self.batches])),
            "random_regret": float(np.mean([r.max() - r.mean() for _, r in self.batches])),
            "imagined_by_outcome": by_outcome,
        }

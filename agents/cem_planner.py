"""The cross-entropy method over sequences of discrete actions (one iteration = random shooting)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Returns = Callable[[np.ndarray], np.ndarray]  # (n, horizon) action ids -> (n,) returns
SELECTIONS = ("plan", "first_action")


@dataclass
class PlannerConfig:
    """How many plans to try, how far ahead, and how the sampling distribution narrows."""

    horizon: int = 6  # decisions (video chunks) per plan
    candidates: int = 64  # plans scored per iteration
    iterations: int = 2  # CEM refits; 1 = random shooting
    elites: int = 8  # best plans a refit keeps
    floor: float = 0.05  # every action keeps at least this share of the refit distribution
    discount: float = 0.95  # per decision
    select: str = "plan"  # "plan": the best-scoring plan; "first_action": the first move its plans rate best on average

    def __post_init__(self):
        for name in ("horizon", "candidates", "iterations", "elites"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.elites > self.candidates:
            raise ValueError(f"elites ({self.elites}) cannot exceed candidates ({self.candidates})")
        if not 0.0 <= self.floor < 1.0 or not 0.0 < self.discount <= 1.0:
            raise ValueError(f"floor must be in [0, 1) and discount in (0, 1], got {self.floor}, {self.discount}")
        if self.select not in SELECTIONS:
            raise ValueError(f"select must be one of {SELECTIONS}, got {self.select!r}")


class CEMPlanner:
    """Plans by sampling action sequences from per-step categorical distributions and refitting to the best.

    The previous plan, shifted by one decision, is always among the first candidates (warm start).
    Only a plan's first action is played before planning again, so `select="first_action"` judges
    first actions by the mean score of every plan that starts with them (all iterations pooled), and
    returns the best plan of the winner: one lucky score cannot pick a move that most plans regret.
    """

    def __init__(self, n_actions: int, config: PlannerConfig | None = None, seed: int | None = None):
        self.n_actions, self.config = n_actions, config or PlannerConfig()
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self._previous: np.ndarray | None = None

    def plan(self, returns: Returns) -> np.ndarray:
        """The best (horizon,) action sequence found; `returns` scores an (n, horizon) batch of plans."""
        cfg = self.config
        probabilities = np.full((cfg.horizon, self.n_actions), 1.0 / self.n_actions)
        best, best_return = None, -np.inf
        tried, tried_scores = [], []
        for _ in range(cfg.iterations):
            plans = self._sample(probabilities)
            if self._previous is not None:
                plans[0] = self._previous
            scores = np.asarray(returns(plans), dtype=np.float64)
            if scores.shape != (cfg.candidates,):
                raise ValueError(f"returns gave shape {scores.shape} for {cfg.candidates} plans")
            tried.append(plans)
            tried_scores.append(scores)
            order = np.argsort(-scores, kind="stable")
            if scores[order[0]] > best_return:
                best, best_return = plans[order[0]].copy(), scores[order[0]]
            counts = np.stack([np.bincount(step, minlength=self.n_actions) for step in plans[order[: cfg.elites]].T])
            probabilities = (1 - cfg.floor) * counts / cfg.elites + cfg.floor / self.n_actions
        if cfg.select == "first_action":
            best = self._best_first_action(np.concatenate(tried), np.concatenate(tried_scores))
        self._previous = np.append(best[1:], best[-1])
        return best

    def _best_first_action(self, plans: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """(n, horizon) plans and (n,) scores -> the best-scoring plan among those whose first action has the
        highest mean score."""
        firsts = plans[:, 0]
        means = {a: scores[firsts == a].mean() for a in np.unique(firsts)}
        winner = max(means, key=means.get)
        mine = np.flatnonzero(firsts == winner)
        return plans[mine[np.argmax(scores[mine])]].copy()

    def _sample(self, probabilities: np.ndarray) -> np.ndarray:
        """(horizon, n_actions) -> (candidates, horizon) action ids."""
        cumulative = np.cumsum(probabilities, axis=1)
        draws = self.rng.random((self.config.candidates, self.config.horizon, 1))
        return np.minimum((draws > cumulative[None]).sum(axis=-1), self.n_actions - 1)

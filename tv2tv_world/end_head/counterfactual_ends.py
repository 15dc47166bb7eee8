"""Which action ends the game: every action tried at recorded states, in the real game and by the model.

A recorded episode says only whether the action the player took ended the game. A planner needs
more: which of the actions it could take would. Games that save and restore their state answer
that exactly: replay each recorded episode from its seed, and at every decision try each action
in a copy of the game. The model's answer is its termination head on the BOF state of a plan's
first step, read from the real newest chunk and each action's text (what `mpc` reads), and,
for a head that reads EOF too, the chunk imagined with the planner's flow steps and guidance.
Measured on the random player's held-out Forage episodes: the head trained with the trunk ranks
a deadly action above a safe one of the same state with AUC 0.67-0.68; a linear head refit on
those states 0.72-0.74, reading BOF and EOF 0.84 (2026-11-27, `docs/results.md`);
the trunk trained on counterfactual branches 0.90 (2026-11-27). A checkpoint with a latent end
head (`world_model/latent_end_head.py`, fitted on the same replays) answers from that head instead: 0.97.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from tv2tv_world.dataset.branches import replayable_game
from tv2tv_world.dataset.format import DatasetError, Manifest, read_episode
from tv2tv_world.envs.imagination_vector import ImaginationVectorEnv
from tv2tv_world.evaluation.imagination import roc_auc
from tv2tv_world.world_model.loading import LoadedWorldModel
from tv2tv_world.world_model.sampler import SamplerConfig


@dataclass
class CounterfactualEnds:
    """n recorded states, each with every one of the game's a actions tried."""

    head: torch.Tensor  # (n, a) the end probabilities the imagination env reports (see `counterfactual_ends`)
    ends: torch.Tensor  # (n, a) bool: the action ends the game in the real game
    taken: torch.Tensor  # (n,) the recorded action

    def report(self) -> dict:
        """How the current head tells deadly actions from safe ones (`end_report`)."""
        return end_report(self.head, self.ends)


def tried_actions(folder: str | Path, env_id: str, limit: int,
                  pairs: bool = False) -> Iterator[tuple[np.ndarray, list[bool], int, np.ndarray | None]]:
    """Replay the first `limit` decisions of `folder`'s episodes (in order) and try every action at each.

    Yields, per decision: the newest real frames before it ((r, h, w, 3) uint8, or the reset's
    one (h, w, 3) frame at an episode's start), whether each action ends the game there, the
    recorded action and, with `pairs`, every pair of actions tried (`pair_ends`; else None).
    `env_id`: the game the caller models; another game's folder is refused.
    """
    folder = Path(folder)
    manifest = Manifest.load(folder)
    if env_id != manifest.env_id:
        raise DatasetError(f"{folder} holds {manifest.env_id} episodes; the model plays {env_id}")
    real, copy = replayable_game(folder, manifest), replayable_game(folder, manifest)
    copy.reset(seed=0)
    n_actions, count = copy.action_space.n, 0
    for entry in manifest.episodes:
        episode = read_episode(folder / entry["file"])
        observation, info = real.reset(seed=entry["seed"])
        for t, action in enumerate(episode.actions[: limit - count]):
            saved = real.unwrapped.get_state()
            outcome = []
            for a in range(n_actions):
                copy.unwrapped.set_state(saved)
                outcome.append(bool(copy.step(a)[2]))
            yield info.get("frames", observation), outcome, int(action), pair_ends(copy, saved) if pairs else None
            observation, _, terminated, _, info = real.step(int(action))
            if bool(terminated) != bool(episode.terminated[t]):
                raise DatasetError(f"{folder / entry['file']} does not replay from seed {entry['seed']} "
                                   f"(decision {t}): recorded by another version of {manifest.env_id}?")
        count += min(len(episode.actions), limit - count)
        if count >= limit:
            break


NO_LABEL = -1  # in `pair_ends`: the first action ended the episode, so the second has nothing to end


def pair_ends(game: gym.Env, state) -> np.ndarray:
    """Every pair of actions (i, j) played from `state` in `game` (which it overwrites) -> (a, a) int8:
    1 where j ends the game in the decision after i, 0 where it does not, `NO_LABEL` where i ended the episode."""
    n = game.action_space.n
    ends = np.full((n, n), NO_LABEL, np.int8)
    for i in range(n):
        game.unwrapped.set_state(state)
        _, _, terminated, truncated, _ = game.step(i)
        if terminated or truncated:
            continue
        after = game.unwrapped.get_state()
        for j in range(n):
            game.unwrapped.set_state(after)
            ends[i, j] = bool(game.step(j)[2])
    return ends


@torch.no_grad()
def counterfactual_ends(loaded: LoadedWorldModel, folders: list[str | Path], limit: int = 1500, flow_steps: int = 4,
                        guidance: float = SamplerConfig.guidance) -> CounterfactualEnds:
    """The first `limit` decisions of each folder's episodes (in order), every action tried at each.

    `head` is the end probability the imagination env reports for each action's first step (the
    latent end head's where the checkpoint has one, else the termination head's). flow_steps, guidance: how each action's chunk is
    imagined, when the head reads its EOF (`mpc`'s settings); a head that reads only BOF never
    sees the chunk, drawn then in one step.
    """
    if loaded.game is None:
        raise ValueError(f"{loaded.path}: the checkpoint does not name its game, so its actions cannot be tried")
    n_actions = len(loaded.game["action_texts"])
    reads_chunk = "eof" in loaded.model.flow.termination_reads
    imagination = ImaginationVectorEnv(n_actions, loaded, observation="latent", termination_threshold=1.0,
                                       flow_steps=flow_steps if reads_chunk else 1, guidance=guidance,
                                       horizon=10**9, shared_noise=True)
    probabilities, ends, taken = [], [], []
    for folder in folders:
        for frames, outcome, action, _ in tried_actions(folder, loaded.game["env_id"], limit):
            imagination.reset(seed=0, options={"frames": frames})
            info = imagination.step(np.arange(n_actions))[4]
            probabilities.append(torch.from_numpy(info["termination_probability"]).float())
            ends.append(outcome)
            taken.append(action)
    return CounterfactualEnds(torch.stack(probabilities), torch.tensor(ends), torch.tensor(taken))


def end_report(probability: torch.Tensor, ends: torch.Tensor) -> dict:
    """(n, a) end probabilities and real ends -> `end_ranking`, with the counts and mean probabilities behind it
    (`mean_p_deadly` None when no action ends the game)."""
    return {**end_ranking(probability, ends), "states": len(ends), "actions": ends.shape[1], "deadly": int(ends.sum()),
            "mean_p_deadly": float(probability[ends].mean()) if ends.any() else None,
            "mean_p_safe": float(probability[~ends].mean())}


def end_ranking(probability: torch.Tensor, ends: torch.Tensor) -> dict:
    """(n, a) end probabilities and real ends -> how well they tell deadly actions from safe ones.

    `pair_auc`: over all (state, action) pairs; `within_state_auc`: the mean, over states where some
    actions end the game and some do not, of the AUC among that state's actions (what picking an
    action needs); `safest_is_safe`: how often the action of lowest probability is a safe one there.
    """
    mixed = torch.nonzero(ends.any(1) & ~ends.all(1)).flatten()
    safest = probability[mixed].argmin(1)
    return {
        "pair_auc": roc_auc(probability.flatten(), ends.flatten()),
        "within_state_auc": float(np.mean([roc_auc(probability[i], ends[i]) for i in mixed])) if len(mixed) else None,
        "safest_is_safe": float((~ends[mixed, safest]).float().mean()) if len(mixed) else None,
        "mixed_states": len(mixed),
    }

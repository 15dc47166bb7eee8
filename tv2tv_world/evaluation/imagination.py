"""`tv2tv evaluate`: how well a world model imagines held-out episodes, and how well it obeys text.

From a real anchor chunk the model imagines `horizon` chunks while the recorded actions (and
intents) are forced as the steps' text; imagined frames are compared with the real ones at
every horizon. An inverse-dynamics probe (`action_probe`) then reads which action happened in
each imagined chunk: `control_accuracy` is how often that is the commanded action, and
`counterfactual_control_accuracy` the same when every step commands a different action than
the recording's. Reward accuracy is reported twice: on the imagined rollouts, and with the
real chunks committed instead (teacher forcing), which tells the heads' errors from the
imagination's.

Where the game replays its recorded episodes (Forage does), the real game is the reference
(`real_game_reference`): it plays each window's counterfactual commands for the same probe to
read (`counterfactual_control_real_game`, the score of a perfect world model), and the recorded
actions with another draw of its randomness (`psnr_real_game_redrawn_by_horizon`, the PSNR of a
model that draws perfect samples). The probe trains on half of the evaluated folder's episodes, plus every
episode of `probe_data` folders: a scripted player seldom waits, and a probe that saw few waits
reads a commanded wait as a move.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from torchmetrics.functional.image import structural_similarity_index_measure

from tv2tv_world.dataset.datamodule import SAME_GAME
from tv2tv_world.dataset.format import Episode, Manifest, read_episode
from tv2tv_world.evaluation.action_probe import ActionProbe, predict_actions, probe_hits, probe_inputs, train_probe
from tv2tv_world.evaluation.object_metrics import GamePalette, ObjectCounts, frames_to_uint8
from tv2tv_world.evaluation.real_game_reference import RealGameReference
from tv2tv_world.tokenizer.latents import encode_frames
from tv2tv_world.tokenizer.module import to_uint8, to_unit
from tv2tv_world.world_model.loading import LoadedWorldModel
from tv2tv_world.world_model.model import step_text
from tv2tv_world.world_model.sampler import Sampler, SamplerConfig

REPORTED_HORIZONS = (1, 4, 16)
PICTURE_HORIZONS = (1, 2, 4, 8, 16)  # the columns of the real-vs-imagined picture
PICTURE_WINDOWS = 3


class HeldOutEpisode:
    """A recorded episode with its chunks' latents and their tokenizer reconstructions.

    `real` (1 + k r, c, h, w) are the recorded frames and `decoded` (1 + k, c, r, h, w) the chunks' reconstructions,
    both uint8 as a screen shows them (a fourth of the memory of floats: an Atari episode has thousands of chunks).
    """

    def __init__(self, episode: Episode, loaded: LoadedWorldModel, batch_chunks: int = 64):
        vae = loaded.vae
        self.episode = episode
        self.latents = torch.from_numpy(encode_frames(vae, episode.frames, batch_chunks)).float()  # (1 + k, c, h, w)
        with torch.no_grad():
            self.decoded = torch.cat([to_uint8(vae.decode(part)) for part in self.latents.split(batch_chunks)])
        self.real = torch.from_numpy(rearrange(episode.frames, "t h w c -> t c h w"))  # (1 + k r, c, h, w) uint8

    def real_chunk_frames(self, start: int, stop: int, repeat: int) -> torch.Tensor:
        """Real frames of decisions start..stop-1 in [-1, 1]: (stop - start, c, r, h, w)."""
        frames = self.real[start * repeat + 1 : stop * repeat + 1]
        return to_unit(rearrange(frames, "(n r) c h w -> n c r h w", r=repeat))


def windows_of(episodes: list[HeldOutEpisode], horizon: int, max_windows: int) -> list[tuple[int, int]]:
    """(episode, start) of non-overlapping windows of `horizon` decisions, plus each episode's final window."""
    found = []
    for e, held in enumerate(episodes):
        k = held.episode.decisions
        starts = list(range(0, k - horizon + 1, horizon))
        if k >= horizon and k - horizon not in starts:
            starts.append(k - horizon)  # ends on the last decision: where terminations are
        found += [(e, s) for s in starts]
    if len(found) > max_windows:
        keep = np.random.default_rng(0).choice(len(found), max_windows, replace=False)
        found = [found[i] for i in sorted(keep)]
    return found


@torch.no_grad()
def imagine(loaded: LoadedWorldModel, sampler: Sampler, anchors: torch.Tensor, actions: list[list[str]],
            intents: list[list[str]] | None, seed: int, real_chunks: torch.Tensor | None = None) -> dict:
    """Roll out from anchor latents (b, c, h, w) with forced per-step actions (b, H): frames, rewards, terminations.

    real_chunks: (b, H, c, h, w) latents to commit instead of drawing (teacher forcing); then no
    frames are decoded, only the heads' rewards and terminations are returned.
    """
    per_step = loaded.text_mode == "per_step"
    prompts = None if per_step else [", ".join(a) for a in actions]
    ctx = sampler.start(anchors, prompts)
    generator = torch.Generator().manual_seed(seed)
    chunks, rewards, terminations = [], [], []
    for h in range(len(actions[0])):
        if per_step:
            texts = [step_text(a[h], i[h] if intents else "") for a, i in zip(actions, intents or actions)]
        else:
            texts = [""] * len(actions)
        result = sampler.step(ctx, texts, None if real_chunks is None else real_chunks[:, h], generator=generator)
        chunks.append(result.latents)
        rewards.append(result.reward)
        terminations.append(result.termination)
    if real_chunks is not None:
        return {"rewards": torch.stack(rewards, 1), "terminations": torch.stack(terminations, 1)}
    latents = torch.stack(chunks, dim=1)  # (b, H, c, h, w)
    frames = loaded.vae.decode(latents).clamp(-1, 1)  # (b, H, 3, r, h, w)
    return {"frames": frames, "rewards": torch.stack(rewards, 1), "terminations": torch.stack(terminations, 1)}


def evaluate_world_model(loaded: LoadedWorldModel, data_dir: str | Path, horizon: int = 16, max_windows: int = 96,
                         flow_steps: int = 8, guidance: float = SamplerConfig.guidance, batch_size: int = 32,
                         probe_steps: int = 400, seed: int = 0,
                         probe_data: Sequence[str | Path] = ()) -> tuple[dict, ActionProbe, np.ndarray]:
    """The report (a dict of plain numbers), the trained action probe, and a picture (H, W, 3) uint8 of a few
    windows: for each a row of real and a row of imagined last frames of the chunks at `PICTURE_HORIZONS`.

    Objects (`object_metrics`): `sprite_f1_by_horizon` compares the last frame of each imagined chunk with
    the real one, over all objects and over those of moving colours (`sprite_f1_moving_by_horizon`);
    the same for the real frames through the tokenizer (the ceiling) and, where the game replays, for
    the real game replayed with another random draw through the tokenizer (the ceiling where the game
    itself is random), and for the anchor's last real frame held at every horizon (`..._copy_last_...`,
    the floor: a model must beat a game that stands still). The game's palette is found from the
    probe's episodes.

    probe_data: more folders of real episodes of the same game (never the evaluated one) for the
    probe to learn from, e.g. a random player's, whose actions are spread evenly.
    """
    began = time.perf_counter()
    manifest = Manifest.load(data_dir)
    action_texts = list(loaded.game["action_texts"]) if loaded.game else list(manifest.action_texts)
    _check_data_fits(loaded, manifest, data_dir)
    repeat = manifest.action_repeat
    extra_probe_episodes = _probe_folder_episodes(probe_data, data_dir, manifest, loaded)
    episodes = [HeldOutEpisode(read_episode(Path(data_dir) / e["file"]), loaded) for e in manifest.episodes]

    # the probe learns inverse dynamics on the real decisions of half the episodes (seen through the
    # tokenizer); it is scored, and the world model evaluated, on the other half only
    if len(episodes) < 2:
        raise ValueError(f"{data_dir}: evaluation needs at least 2 episodes (the action probe trains on half of them)")
    probe_episodes, episodes = episodes[: len(episodes) // 2], episodes[len(episodes) // 2 :]
    entries = manifest.episodes[len(manifest.episodes) // 2 :]
    windows = windows_of(episodes, horizon, max_windows)
    if not windows:
        raise ValueError(f"{data_dir}: no held-out episode has {horizon} decisions; lower --horizon")
    if loaded.text_mode == "prompt" and loaded.train_window and horizon > loaded.train_window:
        raise ValueError(f"a prompt-mode model saw prompts of {loaded.train_window} actions; use --horizon <= {loaded.train_window}")
    palette = GamePalette.from_frames([held.episode.frames for held in probe_episodes[:8]])
    probe_episodes += extra_probe_episodes
    probe = train_probe(*_probe_data(probe_episodes), len(action_texts), probe_steps, seed=seed)
    test_x, test_y = _probe_data(episodes)
    probe_real_accuracy = float((predict_actions(probe, test_x) == test_y).float().mean())

    context = min(horizon + 1, loaded.context_steps)
    sampler = Sampler(loaded.model, SamplerConfig(flow_steps=flow_steps, guidance=guidance, context_steps=context))
    rng = np.random.default_rng(seed)
    squared = torch.zeros(horizon)
    ssim = torch.zeros(horizon)
    hits = {"control": [], "counterfactual": []}
    reference = RealGameReference(loaded, probe, manifest, horizon, palette)
    objects = {key: [ObjectCounts() for _ in range(horizon)] for key in ("imagined", "tokenizer", "copy_last")}
    shown = [h for h in PICTURE_HORIZONS if h <= horizon]
    picture_real, picture_imagined = [], []
    reward_pred, reward_pred_real, reward_true, term_pred, term_pred_real, term_true = [], [], [], [], [], []
    for first in range(0, len(windows), batch_size):
        batch = windows[first : first + batch_size]
        anchors = torch.stack([episodes[e].latents[s] for e, s in batch])
        anchor_last = to_unit(torch.stack([episodes[e].decoded[s, :, -1] for e, s in batch]))  # (b, 3, h, w)
        recorded = [episodes[e].episode.actions[s : s + horizon] for e, s in batch]
        intents = [episodes[e].episode.intents[s : s + horizon].tolist() for e, s in batch]
        real = torch.stack([episodes[e].real_chunk_frames(s, s + horizon, repeat) for e, s in batch])  # (b, H, 3, r, h, w)
        commanded = [[action_texts[a] for a in acts] for acts in recorded]
        held_last = rearrange(torch.stack([episodes[e].real[s * repeat] for e, s in batch]),  # the anchor's last
                              "b c h w -> b h w c").numpy()

        run = imagine(loaded, sampler, anchors, commanded, intents, seed + first)
        for h in range(horizon):
            real_last = frames_to_uint8(real[:, h, :, -1])
            objects["imagined"][h].add(palette, real_last, frames_to_uint8(run["frames"][:, h, :, -1]))
            decoded = torch.stack([episodes[e].decoded[s + 1 + h, :, -1] for e, s in batch])
            objects["tokenizer"][h].add(palette, real_last, rearrange(decoded, "b c h w -> b h w c").numpy())
            objects["copy_last"][h].add(palette, real_last, held_last)
        if not picture_real:
            picture_real = [frames_to_uint8(real[:PICTURE_WINDOWS, h - 1, :, -1]) for h in shown]
            picture_imagined = [frames_to_uint8(run["frames"][:PICTURE_WINDOWS, h - 1, :, -1]) for h in shown]
        error = ((run["frames"] - real) / 2).pow(2)
        squared += error.mean(dim=(2, 3, 4, 5)).sum(dim=0)
        for h in range(horizon):
            made = rearrange(run["frames"][:, h], "b c r y x -> (b r) c y x")
            target = rearrange(real[:, h], "b c r y x -> (b r) c y x")
            ssim[h] += float(structural_similarity_index_measure((made + 1) / 2, (target + 1) / 2, data_range=1.0)) * len(batch)
        hits["control"].append(probe_hits(probe, run["frames"], anchor_last, torch.as_tensor(np.stack(recorded))))
        reward_pred.append(run["rewards"])
        real_chunks = torch.stack([episodes[e].latents[s + 1 : s + 1 + horizon] for e, s in batch])
        forced = imagine(loaded, sampler, anchors, commanded, intents, seed + first, real_chunks=real_chunks)
        reward_pred_real.append(forced["rewards"])
        term_pred_real.append(forced["terminations"])
        reward_true.append(torch.stack([torch.from_numpy(episodes[e].episode.rewards[s : s + horizon]) for e, s in batch]))
        term_pred.append(run["terminations"])  # probabilities
        term_true.append(torch.stack([torch.from_numpy(episodes[e].episode.terminated[s : s + horizon]) for e, s in batch]))

        # counterfactual: every step commands an action other than the recorded one
        shifted = [(acts + rng.integers(1, len(action_texts), size=len(acts))) % len(action_texts) for acts in recorded]
        cf = imagine(loaded, sampler, anchors, [[action_texts[a] for a in acts] for acts in shifted], None, seed + first)
        hits["counterfactual"].append(probe_hits(probe, cf["frames"], anchor_last, torch.as_tensor(np.stack(shifted))))
        for i, ((e, s), last, acts) in enumerate(zip(batch, anchor_last, shifted)):
            reference.add(episodes[e].episode, entries[e].get("seed"), s, acts, last, real[i], seed + first + i)

    n = len(windows)
    psnr = [float(-10 * math.log10(max(float(s) / n, 1e-10))) for s in squared]
    reward_true = torch.cat(reward_true).flatten()
    reward_pred, reward_pred_real = torch.cat(reward_pred).flatten(), torch.cat(reward_pred_real).flatten()
    reward_hits = {key: float((pred.round() == reward_true.round()).float().mean())
                   for key, pred in (("imagined", reward_pred), ("real", reward_pred_real))}
    term_pred, term_pred_real = torch.cat(term_pred).flatten(), torch.cat(term_pred_real).flatten()
    term_true = torch.cat(term_true).flatten()
    report = {
        "checkpoint": str(loaded.path),
        "data": str(data_dir),
        "text_mode": loaded.text_mode,
        "windows": n,
        "horizon": horizon,
        "flow_steps": flow_steps,
        "guidance": guidance,
        "context_steps": context,
        "psnr_by_horizon": {str(h): psnr[h - 1] for h in REPORTED_HORIZONS if h <= horizon},
        "ssim_by_horizon": {str(h): float(ssim[h - 1] / n) for h in REPORTED_HORIZONS if h <= horizon},
        "psnr_curve": psnr,
        "tokenizer_psnr": _tokenizer_psnr(episodes, repeat),
        "sprite_f1_by_horizon": f1_by_horizon(objects["imagined"], "f1"),
        "sprite_f1_moving_by_horizon": f1_by_horizon(objects["imagined"], "moving_f1"),
        "sprite_f1_tokenizer_by_horizon": f1_by_horizon(objects["tokenizer"], "f1"),
        "sprite_f1_moving_tokenizer_by_horizon": f1_by_horizon(objects["tokenizer"], "moving_f1"),
        "sprite_f1_copy_last_by_horizon": f1_by_horizon(objects["copy_last"], "f1"),
        "sprite_f1_moving_copy_last_by_horizon": f1_by_horizon(objects["copy_last"], "moving_f1"),
        "object_palette": palette.to_dict(),
        "reward_accuracy": reward_hits["imagined"],
        "reward_accuracy_real_chunks": reward_hits["real"],  # the same heads, the real chunks committed
        # rounded accuracy is mostly the many zero-reward steps; the AUCs say how well the heads rank the rare events
        "reward_auc": roc_auc(reward_pred, reward_true > 0),
        "reward_auc_real_chunks": roc_auc(reward_pred_real, reward_true > 0),
        "termination_f1": _f1(term_pred > 0.5, term_true),
        "termination_auc": roc_auc(term_pred, term_true),
        "termination_auc_real_chunks": roc_auc(term_pred_real, term_true),
        "text_perplexity": text_perplexity(loaded, episodes, windows, horizon, action_texts),
        "control_accuracy": float(torch.cat(hits["control"]).float().mean()),
        "counterfactual_control_accuracy": float(torch.cat(hits["counterfactual"]).float().mean()),
        "control_by_horizon": _by_horizon(hits["control"], horizon),
        "counterfactual_control_by_horizon": _by_horizon(hits["counterfactual"], horizon),
        "probe_real_accuracy": probe_real_accuracy,
        "probe_data": [str(folder) for folder in probe_data],
        **reference.report(torch.cat(hits["counterfactual"]), REPORTED_HORIZONS),
        "seconds": time.perf_counter() - began,
    }
    return report, probe, real_vs_imagined(picture_real, picture_imagined)


def real_vs_imagined(real: list[np.ndarray], imagined: list[np.ndarray], gap: int = 2) -> np.ndarray:
    """Per column (a horizon) frames (n, h, w, 3) uint8 of n windows -> one picture: a real row above an
    imagined row for each window, columns in order, separated by `gap` white pixels."""
    rows = []
    for i in range(len(real[0])):
        for frames in (real, imagined):
            cells = [np.pad(column[i], ((0, gap), (0, gap), (0, 0)), constant_values=255) for column in frames]
            rows.append(np.concatenate(cells, axis=1))
    return np.concatenate(rows, axis=0)


def f1_by_horizon(counts: list[ObjectCounts], which: str) -> dict[str, float]:
    """Per-horizon `ObjectCounts` (H,) -> their `which` ("f1" or "moving_f1") at each reported horizon."""
    return {str(h): getattr(counts[h - 1], which) for h in REPORTED_HORIZONS if h <= len(counts)}


def _probe_data(episodes: list[HeldOutEpisode]) -> tuple[torch.Tensor, torch.Tensor]:
    """Probe inputs (n, 1 + r, 3, h, w) uint8 and recorded actions (n,) of every decision of `episodes`."""
    inputs = [probe_inputs(held.decoded[:-1, :, -1], held.decoded[1:]) for held in episodes]  # frame before, chunk
    return torch.cat(inputs), torch.cat([torch.from_numpy(held.episode.actions) for held in episodes])


def _check_data_fits(loaded: LoadedWorldModel, manifest: Manifest, data_dir: str | Path) -> None:
    """Raise a ValueError naming the mismatch when `data_dir` holds another game, frame size or chunk
    length than the world model (and its tokenizer) were trained on."""
    if loaded.game and loaded.game["env_id"] != manifest.env_id:
        raise ValueError(f"{data_dir} holds {manifest.env_id} episodes; the model was trained on {loaded.game['env_id']}")
    cfg = loaded.vae.cfg
    if tuple(manifest.frame_size) != (cfg.frame_size, cfg.frame_size):
        raise ValueError(f"{data_dir} holds frames of {tuple(manifest.frame_size)} px; the model's tokenizer reads "
                         f"{cfg.frame_size} x {cfg.frame_size}")
    if manifest.action_repeat != cfg.temporal_compression:
        raise ValueError(f"{data_dir} holds {manifest.action_repeat} frames per decision; the model's chunks have "
                         f"{cfg.temporal_compression}")


def _probe_folder_episodes(folders: Sequence[str | Path], data_dir: str | Path, manifest: Manifest,
                           loaded: LoadedWorldModel) -> list[HeldOutEpisode]:
    """Every episode of `folders`, each of `manifest`'s game and none the evaluated folder itself."""
    found = []
    for folder in map(Path, folders):
        if folder.resolve() == Path(data_dir).resolve():
            raise ValueError(f"--probe-data {folder} is the evaluated folder; the probe must not train on the "
                             "episodes it is scored on")
        other = Manifest.load(folder)
        for key in SAME_GAME:
            if getattr(other, key) != getattr(manifest, key):
                raise ValueError(f"--probe-data {folder} has {key} {getattr(other, key)!r} but {data_dir} has "
                                 f"{getattr(manifest, key)!r}: the probe must learn the evaluated game")
        found += [HeldOutEpisode(read_episode(folder / e["file"]), loaded) for e in other.episodes]
    return found


def _by_horizon(hits: list[torch.Tensor], horizon: int) -> dict[str, float]:
    """Batches of (b * H,) hits in (b, H) order -> hit rate at each reported horizon."""
    rate = rearrange(torch.cat(hits), "(b n) -> b n", n=horizon).float().mean(dim=0)  # (H,)
    return {str(h): float(rate[h - 1]) for h in REPORTED_HORIZONS if h <= horizon}


@torch.no_grad()
def text_perplexity(loaded: LoadedWorldModel, episodes: list[HeldOutEpisode], windows: list[tuple[int, int]],
                    horizon: int, action_texts: list[str], batch_size: int = 16) -> float:
    """exp of the next-byte cross-entropy of the recorded texts, teacher-forced on real latents (mean over windows)."""
    model, losses = loaded.model.eval(), []
    for first in range(0, len(windows), batch_size):
        batch = windows[first : first + batch_size]
        latents = torch.stack([episodes[e].latents[s : s + horizon + 1] for e, s in batch])
        actions = [[action_texts[a] for a in episodes[e].episode.actions[s : s + horizon]] for e, s in batch]
        if loaded.text_mode == "per_step":
            intents = [episodes[e].episode.intents[s : s + horizon] for e, s in batch]
            texts, prompts = [[step_text(a, i) for a, i in zip(acts, ints)] for acts, ints in zip(actions, intents)], None
        else:
            texts, prompts = [[""] * horizon for _ in batch], [", ".join(a) for a in actions]
        rewards = torch.stack([torch.from_numpy(episodes[e].episode.rewards[s : s + horizon]) for e, s in batch])
        terminated = torch.stack([torch.from_numpy(episodes[e].episode.terminated[s : s + horizon]) for e, s in batch])
        losses.append(float(model.loss(latents, texts, rewards, terminated, prompts)["text"]) * len(batch))
    return float(math.exp(sum(losses) / len(windows)))


def _tokenizer_psnr(episodes: list[HeldOutEpisode], repeat: int) -> float:
    """PSNR of the tokenizer's own reconstructions of the decisions' frames: the ceiling for imagination."""
    squared, count = 0.0, 0
    for held in episodes:
        k = held.episode.decisions
        error = ((to_unit(held.decoded[1:]) - held.real_chunk_frames(0, k, repeat)) / 2).pow(2)
        squared += float(error.mean(dim=(1, 3, 4)).sum())
        count += error.shape[0] * error.shape[2]
    return float(-10 * math.log10(max(squared / count, 1e-10)))


def roc_auc(scores: torch.Tensor, positive: torch.Tensor) -> float | None:
    """Area under the ROC curve of (n,) scores for (n,) bool labels: the chance that a positive outranks a
    negative (ties count half); None when a class is missing."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if not n_pos or not n_neg:
        return None
    # Mann-Whitney U from mid-ranks: O(n log n) memory-light, where comparing every pair needs n_pos x n_neg
    _, inverse, counts = torch.unique(scores.double().flatten(), return_inverse=True, return_counts=True)
    last = torch.cumsum(counts, 0).double()
    ranks = (last - (counts.double() - 1) / 2)[inverse]  # 1-based, ties share their mean rank
    return float((ranks[positive.flatten()].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _f1(pred: torch.Tensor, true: torch.Tensor) -> float:
    tp = float((pred & true).sum())
    denominator = float(pred.sum() + true.sum())
    return 2 * tp / denominator if denominator else 1.0

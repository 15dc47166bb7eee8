"""Fixed-length windows of recorded episodes, for every model we train."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from einops import rearrange
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from tv2tv_world.dataset.format import DatasetError, Episode, Manifest, read_episode
from tv2tv_world.dataset.latent_file import load_latents

SAME_GAME = ("env_id", "env_kwargs", "frame_size", "action_repeat", "action_texts")  # what pooled folders share


class EpisodeWindows(Dataset):
    """Every window of `window` consecutive decisions that lies inside one episode.

    An item (w = window, r = action repeat) is a dict:
    - `frames`: (1 + w * r, 3, h, w) uint8, the frame before the first decision, then each chunk
    - `actions`: (w,) int64; `rewards`: (w,) float32; `terminated`, `truncated`: (w,) bool
    - `action_texts`, `intents`: lists of w strings
    """

    def __init__(self, episodes: list[Episode], window: int, action_repeat: int):
        if window < 1:
            raise ValueError(f"window must be >= 1 decision, got {window}")
        self.episodes, self.window, self.repeat = episodes, window, action_repeat
        self.index = [(e, start) for e, ep in enumerate(episodes) for start in range(ep.decisions - window + 1)]

    def __len__(self) -> int:
        return len(self.index)

    def episode_of_window(self) -> np.ndarray:
        """(len(self),) int64: the index into `episodes` of each window's episode."""
        return np.array([e for e, _ in self.index], dtype=np.int64)

    def terminal(self) -> np.ndarray:
        """(len(self),) bool: which windows hold the step at which their episode was terminated."""
        return np.array([bool(self.episodes[e].terminated[start : start + self.window].any()) for e, start in self.index],
                        dtype=bool)

    def __getitem__(self, i: int) -> dict:
        e, start = self.index[i]
        ep, stop = self.episodes[e], start + self.window
        frames = ep.frames[start * self.repeat : stop * self.repeat + 1]
        return {
            "frames": torch.from_numpy(rearrange(frames, "t h w c -> t c h w").copy()),
            "actions": torch.from_numpy(ep.actions[start:stop]),
            "rewards": torch.from_numpy(ep.rewards[start:stop]),
            "terminated": torch.from_numpy(ep.terminated[start:stop]),
            "truncated": torch.from_numpy(ep.truncated[start:stop]),
            "action_texts": ep.action_texts[start:stop].tolist(),
            "intents": ep.intents[start:stop].tolist(),
        }


class LatentWindows(EpisodeWindows):
    """The same windows, with the chunks' latents from `tv2tv encode` instead of raw chunks.

    An item also has `latents`: (1 + w, c, h', w') float32; the first is the anchor, the chunk
    just before the window (the first frame alone at an episode's start), then one per
    decision; and `frames` holds only the w * r frames of those decisions (for videos).
    """

    def __init__(self, episodes: list[Episode], latents: list[np.ndarray], window: int, action_repeat: int):
        super().__init__(episodes, window, action_repeat)
        self.latents = latents

    def __getitem__(self, i: int) -> dict:
        item = super().__getitem__(i)
        e, start = self.index[i]
        item["latents"] = torch.from_numpy(self.latents[e][start : start + self.window + 1].astype(np.float32))
        item["frames"] = item["frames"][1:]
        return item


def collate_windows(items: list[dict]) -> dict:
    """Stack tensors along a new batch axis; texts become (b, w) lists of lists."""
    return {key: torch.stack([it[key] for it in items]) if torch.is_tensor(items[0][key]) else [it[key] for it in items]
            for key in items[0]}


class EpisodeDataModule(L.LightningDataModule):
    """Loads dataset folders from `tv2tv collect` and splits their episodes into train and val.

    Args:
        data_dir: the dataset folder (with manifest.json), or a list of folders recorded from the
            same game (same env id and arguments, frame size, action repeat and action texts), e.g. one played
            by the scripted player and one by `--policy explore`; their episodes are pooled.
        window: decisions (= video chunks) per sample.
        batch_size: samples per batch.
        val_fraction: share of episodes held out for validation (at least one when >= 2 episodes).
        num_workers: DataLoader worker processes.
        seed: seeds the train/val split.
        latents: a latents file from `tv2tv encode` (world models train on latents, not frames);
            with several folders, one file per folder in the same order.
        terminal_weight: how many times more often a training window that holds its episode's
            termination is drawn than any other (with replacement, as many draws per epoch as there
            are windows). Episode ends are rare (in Forage ~1 decision in 1,000 of the scripted
            player's data), too rare for a termination head to learn from; 1 = plain shuffling.
        folder_weights: with several folders, how often a training window of each folder is drawn
            relative to the others (one number per folder, in order; multiplies `terminal_weight`), e.g. to
            let a small folder of the states a planner visits count beside a large one of a scripted
            player's. None = every window alike.
    """

    def __init__(self, data_dir: str | list[str], window: int = 8, batch_size: int = 16, val_fraction: float = 0.1,
                 num_workers: int = 0, seed: int = 0, latents: str | list[str] | None = None,
                 terminal_weight: float = 1.0, folder_weights: list[float] | None = None):
        super().__init__()
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        if not terminal_weight > 0:
            raise ValueError(f"terminal_weight must be > 0, got {terminal_weight}")
        self.save_hyperparameters()
        self.folders = [Path(d) for d in ([data_dir] if isinstance(data_dir, (str, Path)) else data_dir)]
        if not self.folders:
            raise DatasetError("data_dir is an empty list; name at least one dataset folder")
        if folder_weights is not None:
            if len(folder_weights) != len(self.folders):
                raise ValueError(f"{len(self.folders)} data folders but {len(folder_weights)} folder_weights; "
                                 "give one weight per folder, in the same order")
            if not all(w > 0 for w in folder_weights):
                raise ValueError(f"folder_weights must all be > 0, got {list(folder_weights)}")
        self.latent_files = None if latents is None else [latents] if isinstance(latents, (str, Path)) else list(latents)
        if self.latent_files is not None and len(self.latent_files) != len(self.folders):
            raise DatasetError(f"{len(self.folders)} data folders but {len(self.latent_files)} latents files; "
                               "give one latents file per folder, in the same order")
        # fails early, with the folder's name, on a bad path or a folder of another game
        self.manifests = [Manifest.load(folder) for folder in self.folders]
        self.manifest = self.manifests[0]
        for folder, other in zip(self.folders[1:], self.manifests[1:]):
            for key in SAME_GAME:
                if getattr(other, key) != getattr(self.manifest, key):
                    raise DatasetError(f"{folder} has {key} {getattr(other, key)!r} but {self.folders[0]} has "
                                       f"{getattr(self.manifest, key)!r}; pooled folders must record the same game")
        self.train_set: EpisodeWindows | None = None
        self.train_folder: np.ndarray | None = None  # (train episodes,) int64: the folder each came from
        self.val_set: EpisodeWindows | None = None
        self.latent_fingerprint: str | None = None

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.manifest.frame_size

    @property
    def action_texts(self) -> tuple[str, ...]:
        return self.manifest.action_texts

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        hp, name = self.hparams, ", ".join(map(str, self.folders))
        episodes, latents, fingerprints, folder_of = [], [], set(), []
        for i, (folder, manifest) in enumerate(zip(self.folders, self.manifests)):
            for entry in manifest.episodes:
                episode = read_episode(folder / entry["file"])
                manifest.validate(episode, str(folder / entry["file"]))
                episodes.append(episode)
                folder_of.append(i)
            if self.latent_files is not None:
                found, fingerprint = load_latents(self.latent_files[i], [e["file"] for e in manifest.episodes])
                latents.extend(found)
                fingerprints.add(fingerprint)
        if not episodes:
            raise DatasetError(f"{name}: the manifest lists no episodes")
        if len(fingerprints) > 1:
            raise DatasetError(f"the latents files {self.latent_files} were made by different tokenizers; "
                               "encode every folder with the same one")
        order = np.random.default_rng(hp.seed).permutation(len(episodes))
        n_val = 0 if len(episodes) < 2 else max(1, round(hp.val_fraction * len(episodes))) if hp.val_fraction else 0
        repeat = self.manifest.action_repeat
        if self.latent_files is None:
            make = lambda idx: EpisodeWindows([episodes[i] for i in idx], hp.window, repeat)  # noqa: E731
        else:
            self.latent_fingerprint = fingerprints.pop()
            make = lambda idx: LatentWindows([episodes[i] for i in idx], [latents[i] for i in idx], hp.window, repeat)  # noqa: E731
        self.train_set, self.val_set = make(order[n_val:]), make(order[:n_val])
        self.train_folder = np.asarray(folder_of, dtype=np.int64)[order[n_val:]]
        if len(self.train_set) == 0:
            longest = max(ep.decisions for ep in episodes)
            raise DatasetError(f"{name}: no training episode has {hp.window} decisions (longest: {longest}); lower window")

    def _loader(self, dataset: EpisodeWindows, shuffle: bool, sampler: WeightedRandomSampler | None = None) -> DataLoader:
        return DataLoader(dataset, batch_size=self.hparams.batch_size, shuffle=shuffle, sampler=sampler,
                          collate_fn=collate_windows, num_workers=self.hparams.num_workers,
                          persistent_workers=self.hparams.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        if hp.terminal_weight == 1.0 and hp.folder_weights is None:
            return self._loader(self.train_set, shuffle=True)
        weights = np.where(self.train_set.terminal(), hp.terminal_weight, 1.0)
        if hp.folder_weights is not None:
            folder = self.train_folder[self.train_set.episode_of_window()]
            weights = weights * np.asarray(hp.folder_weights, dtype=np.float64)[folder]
        sampler = WeightedRandomSampler(torch.from_numpy(weights), num_samples=len(weights), replacement=True)
        return self._loader(self.train_set, shuffle=False, sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

"""Windows of episodes for training: the right frames, never across an episode end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from einops import rearrange

from tv2tv_world.dataset.datamodule import EpisodeDataModule, EpisodeWindows
from tv2tv_world.dataset.format import DatasetError, Manifest, read_episode


def test_every_window_matches_its_episode_and_stays_inside_it(tiny_dataset):
    manifest = Manifest.load(tiny_dataset)
    episodes = [read_episode(tiny_dataset / e["file"]) for e in manifest.episodes]
    windows = EpisodeWindows(episodes, window=3, action_repeat=4)
    assert len(windows) == sum(max(0, ep.decisions - 2) for ep in episodes)
    for i in range(len(windows)):
        e, start = windows.index[i]
        item, episode = windows[i], episodes[e]
        assert start + 3 <= episode.decisions
        assert item["frames"].shape == (13, 3, 64, 64)
        expected = rearrange(episode.frames[4 * start : 4 * start + 13], "t h w c -> t c h w")
        np.testing.assert_array_equal(item["frames"].numpy(), expected)
        np.testing.assert_array_equal(item["actions"].numpy(), episode.actions[start : start + 3])
        assert item["action_texts"] == episode.action_texts[start : start + 3].tolist()
        if item["terminated"].any() or item["truncated"].any():
            assert start + 3 == episode.decisions  # only the last window of an episode may hold its end


def test_split_is_by_episode_and_batches_keep_texts(tiny_dataset):
    dm = EpisodeDataModule(str(tiny_dataset), window=2, batch_size=4, val_fraction=0.34)
    dm.setup("fit")
    train = {id(ep) for ep in dm.train_set.episodes}
    val = {id(ep) for ep in dm.val_set.episodes}
    assert len(val) == 2 and len(train) == 4 and not train & val
    batch = next(iter(dm.train_dataloader()))
    assert batch["frames"].shape == (4, 9, 3, 64, 64)
    assert len(batch["action_texts"]) == 4 and all(len(t) == 2 for t in batch["action_texts"])
    assert dm.action_texts[0] == "wait" and dm.frame_size == (64, 64)


def test_window_longer_than_every_episode_is_a_named_error(tiny_dataset):
    dm = EpisodeDataModule(str(tiny_dataset), window=500)
    with pytest.raises(DatasetError, match="no training episode has 500 decisions"):
        dm.setup("fit")


def test_missing_data_dir_is_a_named_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        EpisodeDataModule(str(tmp_path / "missing"))


def test_folders_of_one_game_are_pooled(tiny_dataset, tmp_path):
    from tv2tv_world.dataset.collect import collect

    from conftest import TINY_FORAGE

    other = tmp_path / "explore"
    collect("tv2tv_world/Forage-v0", "explore", 3, other, seed=500, env_kwargs=TINY_FORAGE, progress=False)
    dm = EpisodeDataModule([str(tiny_dataset), str(other)], window=2, batch_size=4, val_fraction=0.0)
    dm.setup("fit")
    pooled = {tuple(ep.actions) for ep in dm.train_set.episodes}
    assert len(dm.train_set.episodes) == 9
    assert {tuple(read_episode(other / e["file"]).actions) for e in Manifest.load(other).episodes} <= pooled


def test_folder_weights_draw_each_folders_windows_as_often_as_asked(tiny_dataset, tmp_path):
    from tv2tv_world.dataset.collect import collect

    from conftest import TINY_FORAGE

    other = tmp_path / "explore"
    collect("tv2tv_world/Forage-v0", "explore", 3, other, seed=500, env_kwargs=TINY_FORAGE, progress=False)
    folders = [str(tiny_dataset), str(other)]
    dm = EpisodeDataModule(folders, window=2, batch_size=1, val_fraction=0.0, folder_weights=[1.0, 9.0])
    dm.setup("fit")
    explore = {tuple(read_episode(other / e["file"]).actions) for e in Manifest.load(other).episodes}
    from_other = [tuple(ep.actions) in explore for ep in dm.train_set.episodes]
    assert dm.train_folder.tolist() == [int(x) for x in from_other]  # each episode knows its folder
    in_other = dm.train_folder[dm.train_set.episode_of_window()] == 1
    torch.manual_seed(0)
    drawn = np.concatenate([list(dm.train_dataloader().sampler) for _ in range(20)])
    assert len(drawn) == 20 * len(dm.train_set)  # an epoch keeps its length
    odds = 9 * in_other.mean() / (9 * in_other.mean() + 1 - in_other.mean())
    assert abs(in_other[drawn].mean() - odds) < 0.05 and in_other[drawn].mean() > in_other.mean() + 0.2
    with pytest.raises(ValueError, match="2 data folders but 1 folder_weights"):
        EpisodeDataModule(folders, folder_weights=[1.0])
    with pytest.raises(ValueError, match="folder_weights must all be > 0"):
        EpisodeDataModule(folders, folder_weights=[1.0, 0.0])


def test_pooled_folders_of_another_game_or_unpaired_latents_are_named(tiny_dataset, tmp_path):
    from tv2tv_world.dataset.collect import collect

    other = tmp_path / "bigger"
    collect("tv2tv_world/Forage-v0", "random", 1, other, env_kwargs={"max_steps": 48, "size": 32}, progress=False)
    with pytest.raises(DatasetError, match="env_kwargs .*size.*pooled folders must record the same game"):
        EpisodeDataModule([str(tiny_dataset), str(other)])
    with pytest.raises(DatasetError, match="2 data folders but 1 latents files"):
        EpisodeDataModule([str(tiny_dataset), str(tiny_dataset)], latents=[str(tmp_path / "a.npz")])
    with pytest.raises(DatasetError, match="empty list"):
        EpisodeDataModule([])


def test_pooled_latents_from_different_tokenizers_are_refused(tiny_dataset, tmp_path):
    import torch

    from tv2tv_world.tokenizer.latents import encode_dataset
    from tv2tv_world.tokenizer.video_vae import VideoVAE, VideoVAEConfig

    files = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        vae = VideoVAE(VideoVAEConfig(latent_channels=4, channels=(8, 16), frame_size=64)).eval()
        files.append(str(encode_dataset(vae, tiny_dataset, tmp_path / f"latents_{seed}.npz", progress=False)))
    dm = EpisodeDataModule([str(tiny_dataset), str(tiny_dataset)], window=2, latents=files)
    with pytest.raises(DatasetError, match="made by different tokenizers"):
        dm.setup("fit")
    same = EpisodeDataModule([str(tiny_dataset), str(tiny_dataset)], window=2, latents=[files[0], files[0]])
    same.setup("fit")
    assert len(same.train_set.episodes) + len(same.val_set.episodes) == 12


def test_terminal_weight_draws_the_windows_that_end_an_episode_more_often(tmp_path):
    from tv2tv_world.dataset.collect import collect

    from conftest import TINY_FORAGE

    collect("tv2tv_world/Forage-v0", "random", 8, tmp_path, seed=7, env_kwargs=TINY_FORAGE, progress=False)
    plain = EpisodeDataModule(str(tmp_path), window=2, batch_size=1, val_fraction=0.0)
    plain.setup("fit")
    terminal = plain.train_set.terminal()
    expected = [bool(plain.train_set[i]["terminated"].any()) for i in range(len(plain.train_set))]
    assert terminal.tolist() == expected and 0 < terminal.mean() < 0.5

    def terminal_share(weight: float) -> float:
        dm = EpisodeDataModule(str(tmp_path), window=2, batch_size=1, val_fraction=0.0, terminal_weight=weight)
        dm.setup("fit")
        torch.manual_seed(0)
        draws = [bool(batch["terminated"].any()) for _ in range(10) for batch in dm.train_dataloader()]
        assert len(draws) == 10 * len(terminal)  # an epoch keeps its length
        return float(np.mean(draws))

    share = terminal_share(50.0)
    odds = terminal.mean() * 50 / (terminal.mean() * 50 + 1 - terminal.mean())
    assert abs(share - odds) < 0.1 and share > terminal.mean() + 0.3
    assert abs(terminal_share(1.0) - terminal.mean()) < 1e-9  # plain shuffling: each window once per epoch
    with pytest.raises(ValueError, match="terminal_weight must be > 0"):
        EpisodeDataModule(str(tmp_path), terminal_weight=0.0)

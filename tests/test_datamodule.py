"""Windows of episodes for training: the right frames, never across an episode end."""

from __future__ import annotations

import numpy as np
import pytest
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

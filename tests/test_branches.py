"""`tv2tv branch`: every action the recorded player did not take, played in the real game; and encoding such folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tv2tv_world.cli.main import main
from tv2tv_world.dataset.branches import branch_dataset
from tv2tv_world.dataset.format import DatasetError, Manifest, read_episode
from tv2tv_world.dataset.latent_file import load_latents
from tv2tv_world.envs.decision_repeat import DecisionRepeat
from tv2tv_world.envs.make import make_game
from tv2tv_world.tokenizer.latents import encode_dataset, encode_frames
from tv2tv_world.tokenizer.video_vae import VideoVAE, VideoVAEConfig

from conftest import TINY_FORAGE


@pytest.fixture(scope="module")
def branches(random_forage, tmp_path_factory):
    out = tmp_path_factory.mktemp("branches") / "b"
    return out, branch_dataset(random_forage, out, window=2, progress=False)


def test_each_branch_is_the_recorded_past_then_an_untaken_action_as_the_real_game_plays_it(random_forage, branches):
    out, manifest = branches
    source = Manifest.load(random_forage)
    r, n_actions = source.action_repeat, len(source.action_texts)
    assert len(manifest.episodes) == sum(max(0, e["decisions"] - 1) for e in source.episodes) * (n_actions - 1)
    assert manifest.policy == "random branches" and manifest.episodes_requested == len(manifest.episodes)
    tried = {}
    for entry in manifest.episodes:
        branch, recorded, t = read_episode(out / entry["file"]), read_episode(random_forage / entry["source"]), entry["decision"]
        manifest.validate(branch, entry["file"])
        assert branch.decisions == 2 and entry["seed"] == next(e["seed"] for e in source.episodes
                                                              if e["file"] == entry["source"])
        np.testing.assert_array_equal(branch.frames[: r + 1], recorded.frames[(t - 1) * r : t * r + 1])
        assert branch.actions[0] == recorded.actions[t - 1] and branch.action_texts[0] == recorded.action_texts[t - 1]
        assert not branch.terminated[0] and not branch.truncated[0]
        tried.setdefault((entry["source"], t), set()).add(int(branch.actions[1]))
        # the outcome by replaying the recorded actions from the seed, no saved state involved
        game = DecisionRepeat(make_game(source.env_id, **source.env_kwargs), r)
        game.reset(seed=entry["seed"])
        for action in recorded.actions[:t]:
            game.step(int(action))
        _, reward, terminated, _, info = game.step(int(branch.actions[1]))
        np.testing.assert_array_equal(branch.frames[r + 1 :], info["frames"])
        assert branch.rewards[1] == pytest.approx(reward)
        assert bool(branch.terminated[1]) == terminated and bool(branch.truncated[1]) == (not terminated)
        assert branch.action_texts[1] == source.action_texts[branch.actions[1]] and branch.intents[1] == ""
    for (file, t), actions in tried.items():  # every action but the recorded one, once
        taken = int(read_episode(random_forage / file).actions[t])
        assert actions == set(range(n_actions)) - {taken}
    ends = sum(e["terminated"] for e in manifest.episodes)
    assert 0 < ends < len(manifest.episodes)  # this recording has deadly and safe branches


def test_the_command_in_parallel_writes_the_same_folder(random_forage, branches, tmp_path, capsys):
    out, manifest = branches
    main(["branch", "--data", str(random_forage), "--out", str(tmp_path / "p"), "--window", "2", "--workers", "2",
          "--quiet"])
    ends = sum(e["terminated"] for e in manifest.episodes)
    assert f"{len(manifest.episodes)} branches ({ends} end the game)" in capsys.readouterr().out
    assert Manifest.load(tmp_path / "p").episodes == manifest.episodes  # same files, same sha256


def test_bad_branch_requests_are_refused(random_forage, branches, tmp_path):
    out, _ = branches
    with pytest.raises(ValueError, match="already holds episodes"):
        branch_dataset(random_forage, out, window=2, progress=False)
    with pytest.raises(DatasetError, match="no recorded episode has 99 decisions"):
        branch_dataset(random_forage, tmp_path / "long", window=99, progress=False)
    with pytest.raises(DatasetError, match="does not exist"):
        branch_dataset(tmp_path / "nowhere", tmp_path / "x", window=2, progress=False)


def test_encoding_in_workers_and_across_episodes_gives_each_episode_its_own_latents(branches, tmp_path):
    out, manifest = branches
    torch.manual_seed(0)
    vae = VideoVAE(VideoVAEConfig(latent_channels=4, channels=(8, 16), frame_size=64)).eval()
    path = encode_dataset(vae, out, tmp_path / "l.npz", progress=False, workers=2, batch_chunks=7)
    files = [e["file"] for e in manifest.episodes]
    latents, _ = load_latents(path, files)
    assert len(latents) == len(files)
    for file, encoded in zip(files, latents):
        alone = encode_frames(vae, read_episode(out / file).frames)
        assert encoded.shape == alone.shape == (3, 4, 8, 8)
        np.testing.assert_allclose(encoded.astype(np.float32), alone.astype(np.float32), atol=2e-3)

"""`tv2tv refit-termination`: the termination head refit on the frozen model, nothing else changed."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tv2tv_world.checkpoint import CheckpointError
from tv2tv_world.cli import main
from tv2tv_world.dataset.collect import collect
from tv2tv_world.dataset.format import DatasetError
from tv2tv_world.dataset.latents import encode_dataset
from tv2tv_world.termination_refit import bof_states, write_with_termination_head
from tv2tv_world.video_vae import VideoVAE
from tv2tv_world.world_model_checkpoint import load_world_model


def _episodes(encoded, folder, **env_kwargs):
    """Random-player Forage episodes in `folder`, encoded by the tiny tokenizer into folder/latents.npz."""
    collect("tv2tv_world/Forage-v0", "random", 12, folder, seed=5, env_kwargs={"max_steps": 64, **env_kwargs},
            progress=False)
    encode_dataset(VideoVAE.from_checkpoint(encoded[0]), folder, progress=False)
    return folder


def _log_loss(probability: torch.Tensor, steps) -> float:
    return float(F.binary_cross_entropy(probability.clamp(1e-6, 1 - 1e-6), steps.terminated.float()))


def test_refit_changes_only_the_termination_head_and_fits_it_better(tiny_world_model, encoded, tmp_path, capsys):
    data = _episodes(encoded, tmp_path / "random", n_hazards=4)
    out = tmp_path / "refit.ckpt"
    main(["refit-termination", "--checkpoint", str(tiny_world_model), "--data", str(data), "--out", str(out)])
    assert "termination AUC" in capsys.readouterr().out
    before, after = load_world_model(tiny_world_model), load_world_model(out)
    changed = [name for name, value in after.model.state_dict().items()
               if not torch.equal(value, before.model.state_dict()[name])]
    assert sorted(changed) == ["termination_head.bias", "termination_head.weight"]
    old, new = bof_states(before, [data]), bof_states(after, [data])
    assert int(old.terminated.sum()) > 0 and torch.equal(old.states, new.states)  # the trunk is untouched
    assert _log_loss(new.head, new) < _log_loss(old.head, old)


def test_refit_needs_episodes_that_end_and_a_full_checkpoint(tiny_world_model, encoded, tmp_path):
    never_ends = _episodes(encoded, tmp_path / "safe", n_hazards=0)
    with pytest.raises(DatasetError, match="holds an episode end"):
        bof_states(load_world_model(tiny_world_model), [never_ends])
    with pytest.raises(CheckpointError, match="bundled"):
        write_with_termination_head("forage", torch.zeros(256), torch.zeros(()), tmp_path / "x.ckpt")
    assert not (tmp_path / "x.ckpt").exists()


def test_imagined_states_start_as_the_teacher_forced_ones_then_follow_the_imagined_chunks(tiny_world_model, encoded,
                                                                                          tmp_path, capsys):
    """Step 1's BOF sees the real first chunk and its text in both ways; later steps see imagined chunks."""
    from tv2tv_world.sampler import SamplerConfig

    data = _episodes(encoded, tmp_path / "random", n_hazards=4)
    loaded = load_world_model(tiny_world_model)
    forced = bof_states(loaded, [data], window=3)
    imagined = bof_states(loaded, [data], window=3, imagined=SamplerConfig(flow_steps=2))
    assert torch.equal(forced.terminated, imagined.terminated)
    first, later = slice(0, None, 3), [i for i in range(len(forced.terminated)) if i % 3]
    torch.testing.assert_close(imagined.states[first], forced.states[first], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(imagined.states[later], forced.states[later], atol=1e-3)
    main(["refit-termination", "--checkpoint", str(tiny_world_model), "--data", str(data), "--out",
          str(tmp_path / "refit.ckpt"), "--imagined", "--flow-steps", "1", "--window", "3"])
    assert "termination AUC" in capsys.readouterr().out and (tmp_path / "refit.ckpt").is_file()

"""A checkpoint split into bounded files and joined again: the same weights, a loadable world model."""

from __future__ import annotations

import pytest
import torch

from tv2tv_world.storage.checkpoint import CheckpointError
from tv2tv_world.storage.checkpoint_parts import join_checkpoint, main, split_checkpoint
from tv2tv_world.world_model.loading import load_world_model


def test_split_parts_stay_under_the_bound_and_join_to_the_same_weights(tiny_world_model, tmp_path):
    original = torch.load(tiny_world_model, map_location="cpu", weights_only=True)
    largest = max(t.numel() * t.element_size() for t in original["state_dict"].values())
    written = split_checkpoint(tiny_world_model, tmp_path / "wm", max_bytes=2 * largest)
    parts = [p for p in written if "_part" in p.name]
    assert len(parts) > 1
    for part in parts:
        assert sum(t.numel() * t.element_size() for t in torch.load(part, weights_only=True).values()) <= 2 * largest

    joined = torch.load(join_checkpoint(tmp_path / "wm", tmp_path / "joined.ckpt"), weights_only=True)
    assert joined["state_dict"].keys() == original["state_dict"].keys()
    assert all(torch.equal(joined["state_dict"][k], v) and joined["state_dict"][k].dtype == v.dtype
               for k, v in original["state_dict"].items())
    assert "optimizer_states" in original and "optimizer_states" not in joined
    a, b = load_world_model(tiny_world_model).model, load_world_model(tmp_path / "joined.ckpt").model
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_a_missing_or_corrupt_part_is_named(tiny_world_model, tmp_path, capsys):
    weights = torch.load(tiny_world_model, map_location="cpu", weights_only=True)["state_dict"].values()
    largest = max(t.numel() * t.element_size() for t in weights)
    main(["split", str(tiny_world_model), str(tmp_path / "wm"), "--max-mib", str(2 * largest / 2**20)])
    assert "wm_part1.pt" in capsys.readouterr().out
    (tmp_path / "wm_part1.pt").write_bytes(b"not a tensor file")
    with pytest.raises(CheckpointError, match="part 1 of .* is unreadable"):
        join_checkpoint(tmp_path / "wm", tmp_path / "out.ckpt")
    (tmp_path / "wm_part1.pt").unlink()
    with pytest.raises(CheckpointError, match="missing part 1"):
        join_checkpoint(tmp_path / "wm", tmp_path / "out.ckpt")
    assert not (tmp_path / "out.ckpt").exists()
    with pytest.raises(CheckpointError, match="missing"):
        join_checkpoint(tmp_path / "nothing", tmp_path / "out.ckpt")
    with pytest.raises(ValueError, match="more than a part may hold"):
        split_checkpoint(tiny_world_model, tmp_path / "small", max_bytes=16)

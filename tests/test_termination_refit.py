"""`tv2tv refit-termination`: the termination head refit on the frozen model, nothing else changed."""

from __future__ import annotations

import json

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


def test_counterfactual_ends_try_every_action_and_agree_with_the_record(tiny_world_model, encoded, tmp_path, capsys):
    from tv2tv_world.counterfactual_ends import counterfactual_ends, end_ranking
    from tv2tv_world.dataset.format import Manifest, read_episode

    data = _episodes(encoded, tmp_path / "random", n_hazards=4)
    loaded = load_world_model(tiny_world_model)
    tried = counterfactual_ends(loaded, [data], limit=500)
    recorded = torch.cat([torch.from_numpy(read_episode(data / e["file"]).terminated)
                          for e in Manifest.load(data).episodes])
    n = len(recorded)
    assert tried.states.shape[:2] == (n, 5) and tried.head.shape == (n, 5) and tried.ends.shape == (n, 5)
    assert torch.equal(tried.ends[torch.arange(n), tried.taken], recorded)  # the played action did what was recorded
    assert int(recorded.sum()) > 0 and int(tried.ends.sum()) > int(recorded.sum())  # other actions would have died too
    assert not torch.allclose(tried.states[:, 0], tried.states[:, 1])  # the action's text reaches the state
    assert len(counterfactual_ends(loaded, [data], limit=7).ends) == 7

    report_path = tmp_path / "ends.json"  # `tv2tv evaluate-ends`: the same replay, its ranking as JSON
    main(["evaluate-ends", "--checkpoint", str(tiny_world_model), "--data", str(data), "--limit", "500",
          "--out", str(report_path)])
    report = json.loads(report_path.read_text())
    expected = end_ranking(tried.head, tried.ends)
    assert report["states"] == n and report["deadly"] == int(tried.ends.sum())
    assert report["within_state_auc"] == pytest.approx(expected["within_state_auc"], abs=1e-6)
    assert report["pair_auc"] == pytest.approx(expected["pair_auc"], abs=1e-6)
    assert report["mean_p_deadly"] == pytest.approx(float(tried.head[tried.ends].mean()), abs=1e-6)
    capsys.readouterr()

    out = tmp_path / "refit.ckpt"
    main(["refit-termination", "--checkpoint", str(tiny_world_model), "--data", str(data), "--out", str(out),
          "--counterfactual", "--limit", "60"])
    printed = capsys.readouterr().out
    assert "within_state_auc" in printed and out.is_file()
    both = tmp_path / "both.ckpt"  # every action's first step and the imagined windows, one head fitted to both
    main(["refit-termination", "--checkpoint", str(tiny_world_model), "--data", str(data), "--out", str(both),
          "--counterfactual", "--imagined", "--limit", "30", "--flow-steps", "1", "--window", "3"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == [f"fit on {data}"] * 2
    assert "within_state_auc" in lines[0] and "termination AUC" in lines[1] and both.is_file()
    assert not torch.equal(load_world_model(both).model.termination_head.weight,
                           load_world_model(out).model.termination_head.weight)


def test_a_head_refit_to_read_bof_and_eof_is_written_and_loaded_as_such(tiny_world_model, encoded, tmp_path, capsys):
    """Widened, the head starts as the old one (zero on EOF); the written checkpoint reads both; bad names refused."""
    from tv2tv_world.counterfactual_ends import counterfactual_ends
    from tv2tv_world.termination_refit import read_termination_from

    data = _episodes(encoded, tmp_path / "random", n_hazards=4)
    loaded = load_world_model(tiny_world_model)
    old = counterfactual_ends(loaded, [data], limit=20)
    read_termination_from(loaded, "bof_eof")
    widened = counterfactual_ends(loaded, [data], limit=20, flow_steps=2)
    assert widened.states.shape[-1] == 2 * old.states.shape[-1]
    torch.testing.assert_close(widened.states[..., : old.states.shape[-1]], old.states)  # BOF comes before the chunk
    torch.testing.assert_close(widened.head, old.head)

    out = tmp_path / "both.ckpt"
    main(["refit-termination", "--checkpoint", str(tiny_world_model), "--data", str(data), "--out", str(out),
          "--counterfactual", "--limit", "40", "--head-reads", "bof_eof", "--flow-steps", "2"])
    assert "within_state_auc" in capsys.readouterr().out
    before, after = load_world_model(tiny_world_model).model, load_world_model(out).model
    assert after.flow.termination_token == "bof_eof" and after.flow.termination_reads == ("bof", "eof")
    assert after.termination_head.in_features == 2 * before.termination_head.in_features
    assert all(torch.equal(value, before.state_dict()[name]) for name, value in after.state_dict().items()
               if not name.startswith("termination_head"))
    forced = tmp_path / "forced.ckpt"  # teacher-forced windows: the head reads BOF and the EOF after the real chunk
    main(["refit-termination", "--checkpoint", str(tiny_world_model), "--data", str(data), "--out", str(forced),
          "--head-reads", "bof_eof", "--window", "3"])
    assert "termination AUC" in capsys.readouterr().out
    assert load_world_model(forced).model.termination_head.in_features == after.termination_head.in_features
    with pytest.raises(SystemExit):
        main(["refit-termination", "--checkpoint", str(tiny_world_model), "--data", str(data), "--out",
              str(tmp_path / "bad.ckpt"), "--head-reads", "chunk"])
    assert "termination_token must be one of" in capsys.readouterr().err and not (tmp_path / "bad.ckpt").exists()


def test_end_ranking_reads_which_actions_a_head_puts_first():
    from tv2tv_world.counterfactual_ends import end_ranking

    ends = torch.tensor([[True, False, False], [False, True, False], [False, False, False]])
    right = end_ranking(torch.tensor([[0.9, 0.1, 0.2], [0.1, 0.8, 0.3], [0.1, 0.1, 0.1]]), ends)
    wrong = end_ranking(torch.tensor([[0.1, 0.9, 0.2], [0.9, 0.2, 0.1], [0.1, 0.1, 0.1]]), ends)
    assert right["within_state_auc"] == 1.0 and right["safest_is_safe"] == 1.0 and right["mixed_states"] == 2
    assert wrong["within_state_auc"] == 0.25 and wrong["safest_is_safe"] == 0.5  # (0 + 1/2) / 2; one of two
    assert end_ranking(torch.rand(2, 3), torch.zeros(2, 3, dtype=torch.bool))["within_state_auc"] is None


def test_both_kinds_of_collected_states_give_labels_and_compare_a_refit_head():
    from tv2tv_world.counterfactual_ends import CounterfactualEnds
    from tv2tv_world.termination_refit import BOFStates

    weight, bias = torch.tensor([0.0, 5.0]), torch.tensor(-2.0)  # the refit head: ends where the 2nd feature is on
    steps = BOFStates(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), head=torch.tensor([0.9, 0.1, 0.5]),
                      terminated=torch.tensor([False, True, False]))
    assert steps.labelled()[1] is steps.terminated
    assert steps.compare(weight, bias) == "1 ends in 3 steps; termination AUC 0.000 -> 0.750"  # refit ties a safe step
    one_hot = torch.eye(2)
    tried = CounterfactualEnds(states=torch.stack([one_hot, one_hot.flip(0)]), head=torch.tensor([[0.9, 0.1]] * 2),
                               ends=torch.tensor([[False, True], [True, False]]), taken=torch.tensor([0, 1]))
    states, labels = tried.labelled()
    assert states.shape == (4, 2) and labels.tolist() == [False, True, True, False]
    assert tried.compare(weight, bias) == ("2 states x 2 actions, 2 deadly; pair_auc 0.500 -> 1.000, "
                                           "within_state_auc 0.500 -> 1.000, safest_is_safe 0.500 -> 1.000")

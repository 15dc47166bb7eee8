"""The latent end head: fitted on states where every action was tried, carried in the checkpoint, read by the envs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tv2tv_world.bundle import write_bundle
from tv2tv_world.cli import main
from tv2tv_world.counterfactual_ends import counterfactual_ends
from tv2tv_world.dataset.collect import collect
from tv2tv_world.end_head_fit import end_examples, fit_end_head, head_ranking
from tv2tv_world.envs.imagination import ImaginationEnv
from tv2tv_world.envs.imagination_vector import ImaginationVectorEnv
from tv2tv_world.latent_end_head import LatentEndHead, LatentEndHeadConfig, with_end_head
from tv2tv_world.world_model_checkpoint import load_world_model

TEXTS = ("wait", "move up", "move down")


@torch.no_grad()
def _head_says(head: LatentEndHead, latents, actions) -> np.ndarray:
    """The head's end probability (n,) for each of n latents (n, c, h, w) and its action."""
    logits = head(torch.as_tensor(latents).reshape(-1, *head.cfg.latent_shape))
    return torch.sigmoid(logits[torch.arange(len(logits)), torch.as_tensor(actions).reshape(-1)]).numpy()


def _synthetic(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents (n, 4, 4, 4) where action a ends the game when channel 0 is bright at row 0, column a."""
    latents = torch.randn(n, 4, 4, 4, generator=torch.Generator().manual_seed(seed))
    return latents, latents[:, 0, 0, :3] > 0.5


def test_the_head_learns_which_action_ends_from_where_things_are_in_the_latent():
    latents, ends = _synthetic(768, seed=0)
    losses = []
    head = fit_end_head(latents, ends, list(TEXTS), epochs=25, batch=64, log=lambda epoch, loss: losses.append(loss))
    assert len(losses) == 25 and losses[-1] < 0.5 * losses[0]
    held_out = head_ranking(head, *_synthetic(256, seed=1))
    assert held_out["pair_auc"] > 0.95 and held_out["within_state_auc"] > 0.9
    assert held_out["mean_p_deadly"] > 0.7 > 0.3 > held_out["mean_p_safe"]
    with pytest.raises(ValueError, match="3 actions"):
        fit_end_head(latents, ends[:, :2], list(TEXTS))


def test_the_head_round_trips_as_plain_data_and_refuses_what_it_cannot_read(tmp_path):
    head = LatentEndHead(LatentEndHeadConfig(4, 4, TEXTS, width=8, hidden=16)).eval()
    path = tmp_path / "head.pt"
    torch.save(head.to_dict(), path)
    again = LatentEndHead.from_dict(torch.load(path, weights_only=True))
    latents = torch.randn(5, 4, 4, 4)
    torch.testing.assert_close(again(latents), head(latents))
    assert again.cfg == head.cfg

    probability = head.end_probability(latents[:3], ["move down", "jump", "wait"])
    with torch.no_grad():
        logits = head(latents[:3])
    assert probability[0] == pytest.approx(float(torch.sigmoid(logits[0, 2])))
    assert probability[2] == pytest.approx(float(torch.sigmoid(logits[2, 0])))
    assert torch.isnan(probability[1])  # not an action of the game: the trunk's head decides
    torch.testing.assert_close(with_end_head(torch.full((3,), 0.5), probability),
                               torch.tensor([float(probability[0]), 0.5, float(probability[2])]))

    with pytest.raises(ValueError, match=r"shape \(n, 4, 4, 4\)"):
        head(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="2 texts for 3 latents"):
        head.end_probability(latents[:3], ["wait", "wait"])
    with pytest.raises(ValueError, match="action_texts"):
        LatentEndHeadConfig(4, 4, ("wait", ""))


def test_fit_end_head_writes_a_checkpoint_whose_envs_read_their_ends_from_it(tiny_world_model, tmp_path, capsys):
    data = tmp_path / "random"
    collect("tv2tv_world/Forage-v0", "random", 6, data, seed=5, env_kwargs={"max_steps": 48, "n_hazards": 4},
            progress=False)
    out = tmp_path / "with_head.ckpt"
    main(["fit-end-head", "--checkpoint", str(tiny_world_model), "--data", str(data), "--heldout", str(data),
          "--out", str(out), "--epochs", "3", "--limit", "60"])
    printed = capsys.readouterr().out
    assert "within_state_auc" in printed and '"heldout"' in printed
    before, after = load_world_model(tiny_world_model), load_world_model(out)
    assert before.end_head is None and after.end_head is not None
    assert after.end_head.cfg.action_texts == tuple(after.game["action_texts"])
    for name, value in before.model.state_dict().items():  # the trunk and its heads are untouched
        assert torch.equal(value, after.model.state_dict()[name]), name

    bundled = load_world_model(write_bundle(out, tmp_path / "bundle.pt"))  # the head travels in fp16
    probe = torch.randn(4, *after.end_head.cfg.latent_shape)
    with torch.no_grad():
        torch.testing.assert_close(torch.sigmoid(bundled.end_head(probe)), torch.sigmoid(after.end_head(probe)),
                                   atol=5e-3, rtol=0)
    assert bundled.end_head.dense[0].weight.dtype == torch.float32

    # evaluate-ends reports what the env reports: now the head on the real chunk before each decision
    latents, ends = end_examples(after, [data], limit=40)
    tried = counterfactual_ends(after, [data], limit=40)
    assert torch.equal(tried.ends, ends)
    with torch.no_grad():
        torch.testing.assert_close(tried.head, torch.sigmoid(after.end_head(latents)), atol=1e-5, rtol=1e-4)
    untouched = counterfactual_ends(before, [data], limit=40).head
    assert not torch.allclose(tried.head, untouched, atol=1e-3)

    # single env: step 1 reads the anchor's latent, step 2 the imagined one; any other text: the trunk's head
    env = ImaginationEnv(after, observation="latent", flow_steps=1, termination_threshold=1.0)
    anchor, _ = env.reset(seed=3)
    first, _, _, _, info = env.step(2)
    assert info["termination_probability"] == pytest.approx(float(_head_says(after.end_head, anchor, [2])[0]), abs=1e-6)
    info = env.step(4)[4]
    assert info["termination_probability"] == pytest.approx(float(_head_says(after.end_head, first, [4])[0]), abs=1e-6)
    texts = [ImaginationEnv(loaded, action_mode="text", observation="latent", flow_steps=1) for loaded in (before, after)]
    for text_env in texts:
        text_env.reset(seed=3)
    free = [text_env.step("dance")[4]["termination_probability"] for text_env in texts]
    assert free[0] == pytest.approx(free[1], abs=1e-6)

    # vector env: every sub-env from its own newest latent; after the autoreset, from its new start's latent
    vector = ImaginationVectorEnv(3, after, observation="latent", flow_steps=1, termination_threshold=1.0, horizon=2)
    observations, _ = vector.reset(seed=0)
    actions = np.array([0, 3, 4])
    for step in range(4):
        expected = _head_says(after.end_head, observations, actions)
        observations, _, _, truncated, info = vector.step(actions)
        active = info["_termination_probability"]
        assert active.all() == (step != 2) and truncated.all() == (step == 1)  # step 2 is every sub-env's autoreset
        np.testing.assert_allclose(info["termination_probability"][active], expected[active], atol=1e-6)

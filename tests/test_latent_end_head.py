"""The latent end head: fitted on states where every action was tried, carried in the checkpoint, read by the envs."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from tv2tv_world.cli.main import main
from tv2tv_world.dataset.collect import collect
from tv2tv_world.end_head.counterfactual_ends import NO_LABEL, counterfactual_ends, tried_actions
from tv2tv_world.end_head.fit import EndExamples, end_examples, fit_end_head, head_ranking, imagined_ahead
from tv2tv_world.envs.imagination import ImaginationEnv
from tv2tv_world.envs.imagination_vector import ImaginationVectorEnv
from tv2tv_world.storage.bundle import write_bundle
from tv2tv_world.world_model.latent_end_head import LatentEndHead, LatentEndHeadConfig, with_end_head
from tv2tv_world.world_model.loading import load_world_model

TEXTS = ("wait", "move up", "move down")


@torch.no_grad()
def _head_says(head: LatentEndHead, latents, actions) -> np.ndarray:
    """The head's end probability (n,) for each of n latents (n, c, h, w) and its action."""
    logits = head(torch.as_tensor(latents).reshape(-1, *head.cfg.latent_shape))
    return torch.sigmoid(logits[torch.arange(len(logits)), torch.as_tensor(actions).reshape(-1)]).numpy()


def _fit_on_random_games(checkpoint, tmp_path, episodes: int, seed: int, max_steps: int, options: list[str],
                         heldout: bool = False):
    """Collect random-player Forage games and run `tv2tv fit-end-head` on them with `options` (and, with `heldout`,
    the same games as its held-out data); the games' folder and the written checkpoint."""
    data, out = tmp_path / "random", tmp_path / "with_head.ckpt"
    collect("tv2tv_world/Forage-v0", "random", episodes, data, seed=seed,
            env_kwargs={"max_steps": max_steps, "n_hazards": 4}, progress=False)
    held = ["--heldout", str(data)] if heldout else []
    main(["fit-end-head", "--checkpoint", str(checkpoint), "--data", str(data), "--out", str(out), *held, *options])
    return data, out


def _synthetic(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents (n, 4, 4, 4) where action a ends the game when channel 0 is bright at row 0, column a."""
    latents = torch.randn(n, 4, 4, 4, generator=torch.Generator().manual_seed(seed))
    return latents, latents[:, 0, 0, :3] > 0.5


def test_the_head_learns_which_action_ends_from_where_things_are_in_the_latent():
    latents, ends = _synthetic(768, seed=0)
    losses = []
    head = fit_end_head(EndExamples(latents, ends), list(TEXTS), epochs=25, batch=64,
                        log=lambda epoch, loss: losses.append(loss))
    assert len(losses) == 25 and losses[-1] < 0.5 * losses[0]
    held_out = head_ranking(head, EndExamples(*_synthetic(256, seed=1)))
    assert held_out["pair_auc"] > 0.95 and held_out["within_state_auc"] > 0.9
    assert held_out["mean_p_deadly"] > 0.7 > 0.3 > held_out["mean_p_safe"]
    assert "second_decision" not in held_out
    with pytest.raises(ValueError, match="3 actions"):
        fit_end_head(EndExamples(latents, ends[:, :2]), list(TEXTS))


def _synthetic_pairs(n: int, seed: int) -> EndExamples:
    """`_synthetic`, and second action j ends the game after first action i when channel 1 is bright at row i,
    column j (no label after a first action that ended it)."""
    latents, ends = _synthetic(n, seed)
    pairs = (latents[:, 1, :3, :3] > 0.5).to(torch.int8)
    pairs[ends] = NO_LABEL
    return EndExamples(latents, ends, pairs)


def test_a_two_decision_head_learns_which_second_action_ends_after_each_first():
    head = fit_end_head(_synthetic_pairs(1024, seed=0), list(TEXTS), epochs=30, batch=64)
    assert head.cfg.decisions == 2
    held_out = _synthetic_pairs(256, seed=1)
    report = head_ranking(head, held_out)
    assert report["within_state_auc"] > 0.9 and report["second_decision"]["within_state_auc"] > 0.9
    running = int((held_out.pair_ends != NO_LABEL).all(dim=-1).sum())
    assert report["second_decision"]["states"] == running < 3 * 256  # rows after a deadly first action are left out

    # a stream at its second step is judged from its start latent and first text; the others as a one-decision head
    latents, starts = torch.randn(3, 4, 4, 4), held_out.latents[:3]
    probability = head.end_probability(latents, ["move down", "wait", "move up"], starts, ["move up", None, "jump"])
    with torch.no_grad():
        first, second = head.logits(torch.cat([latents, starts]))
    assert probability[0] == pytest.approx(float(torch.sigmoid(second[3, 1, 2])))
    assert probability[1] == pytest.approx(float(torch.sigmoid(first[1, 0])))
    assert probability[2] == pytest.approx(float(torch.sigmoid(first[2, 1])))  # no action before it: one decision
    with pytest.raises(ValueError, match="first texts"):
        head.end_probability(latents, ["wait"] * 3, None, ["wait", None, None])
    with pytest.raises(ValueError, match="pair ends of shape"):
        fit_end_head(EndExamples(held_out.latents, held_out.ends, held_out.pair_ends[:, :2]), list(TEXTS))


def test_pair_ends_follow_the_game_one_decision_on(tmp_path):
    data = tmp_path / "random"
    collect("tv2tv_world/Forage-v0", "random", 4, data, seed=2, env_kwargs={"max_steps": 64, "n_hazards": 4},
            progress=False)
    decisions = list(tried_actions(data, "tv2tv_world/Forage-v0", 1000, pairs=True))
    checked = 0
    for (_, outcome, taken, pairs), (frames, following, _, _) in zip(decisions, decisions[1:]):
        assert pairs.shape == (5, 5) and ((pairs == NO_LABEL).all(axis=1) >= np.array(outcome)).all()
        if frames.ndim == 4:  # the next decision is in the same episode: its outcomes are this one's row `taken`
            np.testing.assert_array_equal(pairs[taken], np.array(following, np.int8))
            checked += 1
    assert checked > 10 and any(np.any(pairs == 1) for _, _, _, pairs in decisions)
    assert all(p is None for *_, p in tried_actions(data, "tv2tv_world/Forage-v0", 5))


def test_imagined_examples_are_the_next_decisions_as_imagined_with_their_real_labels(tiny_world_model, tmp_path):
    data = tmp_path / "random"
    collect("tv2tv_world/Forage-v0", "random", 3, data, seed=6, env_kwargs={"max_steps": 40, "n_hazards": 4},
            progress=False)
    loaded = load_world_model(tiny_world_model)
    plain = end_examples(loaded, [data], 40, pairs=True)
    both = end_examples(loaded, [data], 40, pairs=True, imagined=2)
    decisions = list(tried_actions(data, loaded.game["env_id"], 40))
    before = [t for t in range(len(decisions) - 1) if decisions[t + 1][0].ndim == 4]  # the next one continues
    n, m, rows = len(plain.ends), len(before), torch.tensor(before)
    assert m > 10 and both.imagined == 2 * m and len(both.latents) == len(both.ends) == len(both.pair_ends) == n + 2 * m
    assert torch.equal(both.latents[:n], plain.latents) and torch.equal(both.ends[:n], plain.ends)
    expected = imagined_ahead(loaded, plain.latents[rows], np.array([[decisions[t][2]] for t in before]))[0]
    for copy in range(2):
        block = slice(n + copy * m, n + (copy + 1) * m)
        assert torch.equal(both.latents[block], expected)
        assert torch.equal(both.ends[block], plain.ends[rows + 1])
        assert torch.equal(both.pair_ends[block], plain.pair_ends[rows + 1])
    assert not torch.allclose(expected, plain.latents[rows + 1], atol=1e-3)  # imagined, not the real next chunk

    c, size = plain.latents.shape[1], plain.latents.shape[-1]
    head = LatentEndHead(LatentEndHeadConfig(c, size, tuple(loaded.game["action_texts"]), decisions=2))
    ours, real_only = head_ranking(head, both), head_ranking(head, plain)
    assert "within_state_auc" in ours.pop("imagined") and ours == real_only  # imagined rows reported apart
    with pytest.raises(ValueError, match="imagined must be >= 0"):
        end_examples(loaded, [data], 5, imagined=-1)


def test_deeper_imagined_examples_follow_the_recorded_actions_from_a_real_chunk(tiny_world_model, tmp_path):
    data = tmp_path / "random"
    collect("tv2tv_world/Forage-v0", "random", 3, data, seed=6, env_kwargs={"max_steps": 40, "n_hazards": 4},
            progress=False)
    loaded = load_world_model(tiny_world_model)
    plain = end_examples(loaded, [data], 40)
    one, deep = end_examples(loaded, [data], 40, imagined=1), end_examples(loaded, [data], 40, imagined=1, depth=3)
    decisions = list(tried_actions(data, loaded.game["env_id"], 40))
    n = len(decisions)
    reach = [0] * n  # how many decisions after t are t's episode, counted from the replays' frames
    for t in range(n):
        while t + reach[t] + 1 < n and decisions[t + reach[t] + 1][0].ndim == 4:
            reach[t] += 1
    rows = [t for t in range(n) if reach[t] > 0]
    plans = np.array([[decisions[min(t + j, n - 1)][2] for j in range(3)] for t in rows])
    chunks = imagined_ahead(loaded, plain.latents[rows], plans)  # (3, len(rows), c, h, w)
    offset = n
    for k in (1, 2, 3):  # grouped by depth: the chunk k steps from the real one at t, with decision t + k's labels
        keep = [i for i, t in enumerate(rows) if reach[t] >= k]
        block = slice(offset, offset + len(keep))
        assert len(keep) >= 5 and torch.equal(deep.latents[block], chunks[k - 1][keep])
        assert torch.equal(deep.ends[block], plain.ends[[rows[i] + k for i in keep]])
        assert torch.equal(deep.depths[offset - n:offset - n + len(keep)], torch.full((len(keep),), k))
        offset += len(keep)
    assert offset == len(deep.ends) == n + deep.imagined
    assert torch.equal(deep.latents[:n + one.imagined], one.latents)  # depth 1 is what --imagined alone gives
    assert not torch.allclose(chunks[1], chunks[0], atol=1e-3)  # a second step, not the first again

    c, size = plain.latents.shape[1], plain.latents.shape[-1]
    report = head_ranking(LatentEndHead(LatentEndHeadConfig(c, size, tuple(loaded.game["action_texts"]))), deep)
    assert sorted(report["imagined_by_depth"]) == [1, 2, 3] and "imagined_by_depth" not in head_ranking(
        LatentEndHead(LatentEndHeadConfig(c, size, tuple(loaded.game["action_texts"]))), one)
    with pytest.raises(ValueError, match="depth must be >= 1"):
        end_examples(loaded, [data], 5, imagined=1, depth=0)


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
    data, out = _fit_on_random_games(tiny_world_model, tmp_path, episodes=6, seed=5, max_steps=48,
                                     options=["--epochs", "3", "--limit", "60", "--symmetries", "2", "--imagined", "1",
                                              "--depth", "2"], heldout=True)
    printed = capsys.readouterr().out
    assert "within_state_auc" in printed and '"heldout"' in printed and '"imagined"' in printed
    assert '"imagined_by_depth"' in printed
    states, recorded = map(int, re.search(r"(\d+) states \((\d+) x 2 symmetries\)", printed).groups())
    assert states == 2 * recorded > 0
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
    examples = end_examples(after, [data], limit=40)
    tried = counterfactual_ends(after, [data], limit=40)
    assert torch.equal(tried.ends, examples.ends) and examples.pair_ends is None
    with torch.no_grad():
        torch.testing.assert_close(tried.head, torch.sigmoid(after.end_head(examples.latents)), atol=1e-5, rtol=1e-4)
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


def test_a_plans_second_step_is_judged_from_the_real_chunk_it_started_from(tiny_world_model, tmp_path, capsys):
    _, out = _fit_on_random_games(tiny_world_model, tmp_path, episodes=3, seed=7, max_steps=32,
                                  options=["--epochs", "2", "--limit", "30", "--pairs"])
    assert '"second_decision"' in capsys.readouterr().out
    loaded = load_world_model(out)
    head = loaded.end_head
    assert head.cfg.decisions == 2

    def says(latents, firsts, actions):
        """The two-decision head's second-step probability (n,) from start latents after first actions."""
        with torch.no_grad():
            second = head.logits(torch.as_tensor(latents).reshape(-1, *head.cfg.latent_shape))[1]
        return torch.sigmoid(second[torch.arange(len(second)), torch.as_tensor(firsts), torch.as_tensor(actions)]).numpy()

    # single env: step 1 from the start's latent, step 2 from it too (after step 1's action), step 3 from step 2's
    env = ImaginationEnv(loaded, observation="latent", flow_steps=1, termination_threshold=1.0)
    start, _ = env.reset(seed=4)
    probabilities = []
    for action in (1, 3, 0):
        observation, _, _, _, info = env.step(action)
        probabilities.append(info["termination_probability"])
        if action == 3:
            second_latent = observation
    assert probabilities[0] == pytest.approx(float(_head_says(head, start, [1])[0]), abs=1e-6)
    assert probabilities[1] == pytest.approx(float(says(start, [1], [3])[0]), abs=1e-6)
    assert probabilities[2] == pytest.approx(float(_head_says(head, second_latent, [0])[0]), abs=1e-6)
    env.reset(seed=4)  # a reset forgets the first step: step 1 again reads one decision ahead
    assert env.step(2)[4]["termination_probability"] == pytest.approx(float(_head_says(head, start, [2])[0]), abs=1e-6)

    # vector env: each sub-env from its own start and first action; after an autoreset, from its new start
    vector = ImaginationVectorEnv(2, loaded, observation="latent", flow_steps=1, termination_threshold=1.0, horizon=3)
    starts, _ = vector.reset(seed=0)
    plans = np.array([[4, 1], [2, 2], [0, 3], [0, 0], [1, 4], [3, 3]])
    info = vector.step(plans[0])[4]
    np.testing.assert_allclose(info["termination_probability"], _head_says(head, starts, plans[0]), atol=1e-6)
    info = vector.step(plans[1])[4]
    np.testing.assert_allclose(info["termination_probability"], says(starts, plans[0], plans[1]), atol=1e-6)
    assert vector.step(plans[2])[3].all()  # the horizon: the next step is every sub-env's autoreset
    new_starts = vector.step(plans[3])[0]
    assert not np.allclose(new_starts, starts)
    info = vector.step(plans[4])[4]
    np.testing.assert_allclose(info["termination_probability"], _head_says(head, new_starts, plans[4]), atol=1e-6)
    info = vector.step(plans[5])[4]
    np.testing.assert_allclose(info["termination_probability"], says(new_starts, plans[4], plans[5]), atol=1e-6)

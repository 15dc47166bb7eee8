"""The world model's training objective."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

from tv2tv_world.world_model.model import FlowConfig, WorldModel, step_text
from tv2tv_world.world_model.mot import MoTConfig

MOT = MoTConfig(dim=48, depth=2, heads=2, latent_channels=4, latent_size=4, patch_size=2)
TEXTS = [[step_text("move up", "go to the red fruit"), "move up", "wait"], ["move left", "move left", "move down"]]


def test_step_text_puts_the_intent_before_the_action():
    assert step_text("move up", "go to the red fruit") == "go to the red fruit. move up"
    assert step_text("wait") == "wait"


def test_overfitting_one_batch_lowers_every_loss():
    torch.manual_seed(0)
    model = WorldModel(MOT, FlowConfig(text_dropout=0.0))
    latents = torch.randn(2, 4, 4, 4, 4)
    rewards = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0]])
    terminated = torch.tensor([[False, False, False], [False, False, True]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    history = []
    for _ in range(60):
        losses = model.loss(latents, TEXTS, rewards, terminated)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        history.append({k: float(v.detach()) for k, v in losses.items()})
    first, last = history[0], {k: sum(h[k] for h in history[-5:]) / 5 for k in history[0]}
    assert last["text"] < 0.3 * first["text"]
    assert last["reward"] < 0.3 * first["reward"] and last["termination"] < 0.5 * first["termination"]
    assert last["flow"] < 0.8 * first["flow"]


def test_termination_pos_weight_scales_only_the_steps_that_end_an_episode():
    def termination_loss(pos_weight: float, terminated: torch.Tensor) -> float:
        torch.manual_seed(0)
        model = WorldModel(MOT, FlowConfig(text_dropout=0.0, termination_pos_weight=pos_weight)).eval()
        latents = torch.randn(2, 4, 4, 4, 4)
        with torch.no_grad():
            return float(model.loss(latents, TEXTS, torch.zeros(2, 3), terminated)["termination"])

    ends, never = torch.ones(2, 3, dtype=torch.bool), torch.zeros(2, 3, dtype=torch.bool)
    assert termination_loss(4.0, ends) == pytest.approx(4 * termination_loss(1.0, ends), rel=1e-5)
    assert termination_loss(4.0, never) == pytest.approx(termination_loss(1.0, never), rel=1e-6)
    with pytest.raises(ValueError, match="termination_pos_weight must be > 0"):
        FlowConfig(termination_pos_weight=0.0)


def test_termination_on_last_steps_ignores_the_steps_a_window_is_known_to_survive():
    def termination_loss(steps: str, terminated: torch.Tensor) -> float:
        torch.manual_seed(0)
        model = WorldModel(MOT, FlowConfig(text_dropout=0.0, termination_steps=steps)).eval()
        with torch.no_grad():
            return float(model.loss(torch.randn(2, 4, 4, 4, 4), TEXTS, torch.zeros(2, 3), terminated)["termination"])

    never = torch.zeros(2, 3, dtype=torch.bool)
    early, last = never.clone(), never.clone()
    early[:, 0], last[:, -1] = True, True
    assert termination_loss("last", early) == pytest.approx(termination_loss("last", never))
    assert termination_loss("last", last) > termination_loss("last", never) + 1.0
    assert termination_loss("all", early) > termination_loss("all", never) + 0.5
    with pytest.raises(ValueError, match="termination_steps must be"):
        FlowConfig(termination_steps="first")


def test_bad_flow_config_is_named():
    with pytest.raises(ValueError, match="time_sampling must be"):
        FlowConfig(time_sampling="cosine")
    with pytest.raises(ValueError, match="vocab_size 100"):
        WorldModel(MoTConfig(vocab_size=100, dim=32, heads=2, latent_channels=4, latent_size=4))


@pytest.mark.parametrize("reads, sees_own_chunk", [("bof", False), ("bof_eof", True)])
def test_a_termination_head_that_reads_eof_too_sees_its_own_steps_chunk(reads, sees_own_chunk):
    """Changing step 2's clean chunk moves step 2's end probability only when the head reads the EOF after it."""
    model = WorldModel(MOT, FlowConfig(text_dropout=0.0, termination_token=reads)).eval()
    assert model.termination_head.in_features == MOT.dim * len(reads.split("_"))
    assert model.reward_head.in_features == MOT.dim
    logits = []
    model.termination_head.register_forward_hook(lambda module, inputs, out: logits.append(out.squeeze(-1)))
    latents = torch.randn(2, 4, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    changed = latents.clone()
    changed[:, 2] += 1.0  # chunk 0 is the anchor: this is step 2's chunk
    with torch.no_grad():
        for chunks in (latents, changed):
            torch.manual_seed(1)  # the same flow times and noise for both
            model.loss(chunks, TEXTS, torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.bool))
    before, after = logits  # (2, 3): steps 1, 2, 3
    torch.testing.assert_close(before[:, 0], after[:, 0])
    assert (not torch.allclose(before[:, 1], after[:, 1], atol=1e-4)) == sees_own_chunk
    assert not torch.allclose(before[:, 2], after[:, 2], atol=1e-4)
    with pytest.raises(ValueError, match="termination_token must be one of"):
        FlowConfig(termination_token="bos")


def test_change_weight_weighs_the_tokens_that_change_from_the_chunk_before():
    model = WorldModel(MOT, FlowConfig(change_weight=2.0))
    latents = torch.zeros(1, 3, 4, 4, 4)
    latents[:, 2, :, :2, :2] = 1.0  # chunk 2's token 0 (a 2x2 patch) changes by 1 everywhere; nothing else changes
    clean = model.transformer.patchify(latents)  # (1, 3, 4 tokens, 16)

    def loss_with_error_at(chunk: int, patch: int, weight: float) -> float:
        model.flow.change_weight = weight
        target = torch.zeros(1, 2, 4, 16)  # chunks 1 and 2
        velocity = target.clone()
        velocity[:, chunk - 1, patch] = 1.0
        return float(model._flow_loss(clean, velocity, target))

    # 8 noisy tokens; the mean change over them is 1/8, so the changed token weighs 1 + 2 * 8 = 17, the others 1
    assert loss_with_error_at(2, 0, 2.0) == pytest.approx(17 / 24)
    assert loss_with_error_at(1, 0, 2.0) == pytest.approx(1 / 24)
    assert loss_with_error_at(2, 0, 0.0) == pytest.approx(1 / 8)  # unweighted: the plain mean
    with pytest.raises(ValueError, match="change_weight must be >= 0"):
        FlowConfig(change_weight=-1.0)


def test_a_refiner_starts_as_the_identity_and_learns_from_the_chunk_before():
    torch.manual_seed(0)
    model = WorldModel(MoTConfig(**{**vars(MOT), "refiner_channels": 8}), FlowConfig())
    velocity, noisy, previous = torch.randn(3, 2, 4, 16).unbind(0)  # 2 chunks of 4 tokens (2x2 patches of 4 channels)
    hidden = torch.randn(2, 4, MOT.dim)
    torch.testing.assert_close(model.refine(velocity, noisy, previous, torch.rand(2), hidden), velocity)
    loss = model.refine(velocity, noisy, previous, torch.rand(2), hidden).square().sum()
    loss.backward()
    assert model.refiner.out[-1].weight.grad.abs().sum() > 0  # its zero start still learns
    with pytest.raises(ValueError, match="refiner_channels must be 0 or a positive multiple of 8"):
        MoTConfig(refiner_channels=12)


def test_a_refiner_grown_deeper_and_given_the_hidden_states_starts_as_the_one_it_grew_from():
    """More blocks and the transformer's hidden states start at zero: the trained refiner's weights, copied
    into the larger one, give the same velocity; then the hidden states and the new blocks learn."""
    torch.manual_seed(0)
    small = WorldModel(MoTConfig(**{**vars(MOT), "refiner_channels": 8}), FlowConfig())
    for parameter in small.refiner.parameters():  # a trained refiner: no zero left in it
        torch.nn.init.normal_(parameter, std=0.2)
    large = WorldModel(MoTConfig(**{**vars(MOT), "refiner_channels": 8, "refiner_blocks": 3,
                                    "refiner_reads_hidden": True}), FlowConfig())
    missing, unexpected = large.load_state_dict(small.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("refiner.") for k in missing)
    velocity, noisy, previous = torch.randn(3, 2, 4, 16).unbind(0)
    hidden, t = torch.randn(2, 4, MOT.dim), torch.rand(2)
    refined = small.refine(velocity, noisy, previous, t, hidden)
    assert not torch.allclose(refined, velocity, atol=1e-3)
    torch.testing.assert_close(large.refine(velocity, noisy, previous, t, hidden), refined)
    large.refine(velocity, noisy, previous, t, hidden).square().sum().backward()
    assert large.refiner.hidden.weight.grad.abs().sum() > 0
    assert large.refiner.blocks[2][-1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="reads the transformer's hidden states; none were given"):
        large.refiner(*(torch.randn(2, 4, 4, 4) for _ in range(3)), t)
    with pytest.raises(ValueError, match="refiner_blocks must be >= 0"):
        MoTConfig(refiner_channels=8, refiner_blocks=-1)


def test_context_noise_corrupts_the_clean_copies_in_training_only():
    from tv2tv_world.world_model.interleave import CLEAN

    torch.manual_seed(0)
    model = WorldModel(MOT, FlowConfig(context_noise=0.5, text_dropout=0.0))
    latents = torch.randn(2, 3, 4, 4, 4)
    seen = {}
    hook = model.transformer.register_forward_pre_hook(lambda m, args: seen.update(layout=args[0], video=args[1],
                                                                                   time=args[2]))
    texts = [["wait", "move up"]] * 2
    zeros = torch.zeros(2, 2)
    model.train().loss(latents, texts, zeros, zeros.bool())
    clean = seen["layout"].kind == CLEAN
    times = seen["time"][clean]
    assert (times >= 0.5).all() and (times < 1).any()  # t_c in [1 - 0.5, 1]
    exact = model.transformer.patchify(latents)
    video = rearrange(seen["video"][clean], "(b k n) d -> b k n d", b=2, k=3)
    assert not torch.allclose(video, exact)
    model.eval().loss(latents, texts, zeros, zeros.bool())
    assert (seen["time"][seen["layout"].kind == CLEAN] == 1).all()
    torch.testing.assert_close(rearrange(seen["video"][seen["layout"].kind == CLEAN], "(b k n) d -> b k n d", b=2, k=3),
                               exact)
    hook.remove()
    with pytest.raises(ValueError, match="context_noise must be in"):
        FlowConfig(context_noise=1.0)

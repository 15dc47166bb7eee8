"""The sampler: cached == uncached, the same stream as training, sliding window, text writing."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from tv2tv_world.tokenizer.video_vae import VideoVAE, VideoVAEConfig
from tv2tv_world.world_model.interleave import NOISY, TEXT, attention_mask, build_layout
from tv2tv_world.world_model.model import FlowConfig, WorldModel
from tv2tv_world.world_model.mot import MoTConfig, rotary
from tv2tv_world.world_model.sampler import Sampler, SamplerConfig

MOT = MoTConfig(dim=48, depth=2, heads=2, latent_channels=4, latent_size=4, patch_size=2)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return WorldModel(MOT, FlowConfig(text_dropout=0.0)).eval()


def _rollout(model, use_cache: bool, texts, guidance=2.0, seed=0):
    sampler = Sampler(model, SamplerConfig(flow_steps=3, guidance=guidance, max_text_tokens=6, use_cache=use_cache))
    generator = torch.Generator().manual_seed(seed)
    ctx = sampler.start(torch.randn(3, 4, 4, 4, generator=generator))
    return [sampler.step(ctx, step_texts, generator=generator) for step_texts in texts]


def test_cached_and_uncached_sampling_give_the_same_frames(model):
    texts = [["move up", None, "wait"], [None, "move left", "go to the red fruit. move down"], ["", None, None]]
    cached, uncached = _rollout(model, True, texts), _rollout(model, False, texts)
    vae = VideoVAE(VideoVAEConfig(latent_channels=4, channels=(16, 32), spatial_compression=8, frame_size=32)).eval()
    for a, b in zip(cached, uncached):
        assert a.texts == b.texts
        assert torch.equal(a.wrote_text, b.wrote_text)
        torch.testing.assert_close(a.latents, b.latents, atol=1e-4, rtol=1e-4)
        with torch.no_grad():
            torch.testing.assert_close(vae.decode(a.latents), vae.decode(b.latents), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(a.reward, b.reward, atol=1e-5, rtol=1e-4)
    assert cached[0].wrote_text.tolist() == [False, True, False] and cached[0].texts[0] == "move up"
    # a different seed draws a different chunk: the comparison above is not trivially true
    assert not torch.allclose(_rollout(model, True, texts, seed=1)[0].latents, cached[0].latents, atol=1e-3)


def test_guidance_extrapolates_from_the_unconditional_velocity_in_one_call(model):
    """With one Euler step a chunk is noise + v_u + w (v_c - v_u): chunks at w = 0, 1, 3 lie on a line.

    w = 1 is the plain conditional pass and w = 0 the unconditional half of the guided call, which
    must not see the step's text (texts of one length, so that positions agree).
    """
    def chunk(guidance, text):
        sampler = Sampler(model, SamplerConfig(flow_steps=1, guidance=guidance))
        ctx = sampler.start(torch.randn(2, 4, 4, 4, generator=torch.Generator().manual_seed(0)))
        return sampler.step(ctx, [text, "wait"], generator=torch.Generator().manual_seed(1)).latents

    unconditional, conditional = chunk(0.0, "move up"), chunk(1.0, "move up")
    torch.testing.assert_close(chunk(3.0, "move up"), unconditional + 3 * (conditional - unconditional),
                               atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(chunk(0.0, "go left"), unconditional, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(chunk(1.0, "go left")[0], conditional[0], atol=1e-3)


@pytest.mark.parametrize("reward_token, termination_token, refiner_channels, reads_hidden",
                         [("bof", None, 0, False), ("eof", None, 0, False), ("bof", "bof_eof", 0, False),
                          ("bof", None, 8, False), ("bof", None, 8, True)])
def test_sampler_builds_the_stream_the_model_was_trained_on(reward_token, termination_token, refiner_channels,
                                                            reads_hidden):
    """One Euler step from t = 0 equals noise + the training forward's velocity (refined from the chunk before
    and the noisy tokens' hidden states, where the model has a refiner); the heads read the same tokens."""
    torch.manual_seed(0)
    flow = FlowConfig(text_dropout=0.0, reward_token=reward_token, termination_token=termination_token)
    model = WorldModel(replace(MOT, refiner_channels=refiner_channels, refiner_reads_hidden=reads_hidden), flow).eval()
    if model.refiner is not None:  # it starts at zero; made to act, so the check below sees it
        torch.nn.init.normal_(model.refiner.out[-1].weight, std=0.1)
        if reads_hidden:
            torch.nn.init.normal_(model.refiner.hidden.weight, std=0.1)
    texts = [["move up", "wait"], ["go to the red fruit. move left", "move down"]]
    generator = torch.Generator().manual_seed(3)
    latents = torch.randn(2, 3, 4, 4, 4, generator=generator)
    sampler = Sampler(model, SamplerConfig(flow_steps=1, guidance=1.0))
    ctx = sampler.start(latents[:, 0])
    first = sampler.step(ctx, [t[0] for t in texts], latents=latents[:, 1])
    noise_seed = torch.Generator().manual_seed(7)
    drawn = sampler.step(ctx, [t[1] for t in texts], generator=noise_seed)

    tok, tf = model.tokenizer, model.transformer
    layout = build_layout(model.encode_steps(texts), tf.cfg.tokens_per_chunk, tok.bos, tok.bof, tok.eof, tok.pad)
    clean = tf.patchify(latents)
    noise = torch.randn(2, tf.cfg.tokens_per_chunk, clean.shape[-1], generator=torch.Generator().manual_seed(7))
    noisy = clean.clone()
    noisy[:, 2] = noise  # x_0 = noise at t = 0
    t = torch.ones(2, 3)
    t[:, 2] = 0.0
    video, flow_time = model._gather(layout, clean, noisy, t)
    with torch.no_grad():
        _, velocity, hidden = tf(layout, video, flow_time, attention_mask(layout))
        states = {name: hidden[(layout.kind == TEXT) & (layout.token == token)].reshape(2, 3, -1)
                  for name, token in (("bof", tok.bof), ("eof", tok.eof))}
        reward_in = states[reward_token][:, 1]
        torch.testing.assert_close(first.reward, model.reward_head(reward_in).squeeze(-1), atol=1e-5, rtol=1e-4)
        termination_in = torch.cat([states[name][:, 1] for name in (termination_token or reward_token).split("_")], -1)
        assert termination_in.shape[-1] == model.termination_head.in_features
        expected_termination = torch.sigmoid(model.termination_head(termination_in).squeeze(-1))
        torch.testing.assert_close(first.termination, expected_termination, atol=1e-5, rtol=1e-4)
        if reward_token == "bof":  # read before the chunk: the drawn chunk of step 2 cannot change it
            torch.testing.assert_close(drawn.reward, model.reward_head(states["bof"][:, 2]).squeeze(-1), atol=1e-5,
                                       rtol=1e-4)
    noisy2 = (layout.kind == NOISY) & (layout.chunk == 2)
    with torch.no_grad():
        per_stream = lambda x: x[noisy2].reshape(2, tf.cfg.tokens_per_chunk, -1)  # noqa: E731
        velocity2 = model.refine(per_stream(velocity), noise, clean[:, 1], torch.zeros(2), per_stream(hidden))
    if model.refiner is not None:
        assert not torch.allclose(velocity2, per_stream(velocity), atol=1e-3)
    expected = noise + velocity2
    torch.testing.assert_close(drawn.latents, tf.unpatchify(expected), atol=1e-4, rtol=1e-4)


def test_sliding_window_bounds_the_context_and_only_relative_positions_matter(model):
    sampler = Sampler(model, SamplerConfig(flow_steps=2, context_steps=3, max_text_tokens=4))
    generator = torch.Generator().manual_seed(0)
    ctx = sampler.start(torch.randn(2, 4, 4, 4, generator=generator))
    lengths, visible_steps = [], []
    for _ in range(40):
        sampler.step(ctx, ["move up", "wait"], generator=generator)
        lengths.append(ctx.length)
        visible_steps.append(len(ctx.step[ctx.inputs.valid.any(dim=0) & (ctx.step >= 0)].unique()))
    assert visible_steps[2:] == [3] * 38  # the anchor's step, then always the last 3 steps
    assert max(lengths[10:25]) == max(lengths[25:]) < 2 * lengths[2]  # hidden slots are dropped in batches
    for b in range(2):  # the window opens like a training stream: BOS, BOF, a clean chunk, EOF, BOS just before
        valid = ctx.inputs.valid[b]
        assert ctx.inputs.token[b, valid][:2].tolist() == [model.tokenizer.bos, model.tokenizer.bof]
        first = ctx.inputs.position[b, valid][:3].tolist()
        assert first == [first[0], first[0] + 1, first[0] + 2] and first[0] > 100

    # a rollout moved a million positions on (cached keys rotated with it) draws the same chunk
    far = ctx.select_streams(torch.arange(2))
    shift = torch.full((2, far.length), 10**6)
    far.inputs.position, far.inputs.order = far.inputs.position + shift, far.inputs.order + shift
    far.next_position = far.next_position + 10**6
    far.kv.rotate_slots(torch.arange(far.length), rotary(shift, MOT.dim // MOT.heads, MOT.rope_base))
    near_step = sampler.step(ctx, ["move up", "wait"], generator=torch.Generator().manual_seed(5))
    far_step = sampler.step(far, ["move up", "wait"], generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(far_step.latents, near_step.latents, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(far_step.reward, near_step.reward, atol=1e-5, rtol=1e-4)

    # the first block's keys depend on each token alone: recomputed at the moved positions they match the cache
    inputs = ctx.inputs
    mask = torch.ones(2, ctx.length, ctx.length, dtype=torch.bool)
    with torch.no_grad():
        *_, kv = model.transformer.extend(inputs.kind, inputs.token, inputs.patch, inputs.position, inputs.video,
                                          inputs.flow_time, mask)
    valid = inputs.valid[:, None, :, None]
    torch.testing.assert_close(ctx.kv.context(0)[0] * valid, kv[0][0] * valid, atol=1e-5, rtol=1e-4)


def test_model_writes_its_own_text_and_decides_when_to_draw():
    """A model trained on 'wait' at every step writes exactly 'wait', then BOF, then draws."""
    torch.manual_seed(0)
    model = WorldModel(MOT, FlowConfig(text_dropout=0.0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    latents = torch.randn(2, 4, 4, 4, 4)
    for _ in range(80):
        loss = model.loss(latents, [["wait"] * 3] * 2, torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.bool))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    sampler = Sampler(model, SamplerConfig(flow_steps=2, temperature=0.0))
    ctx = sampler.start(latents[:, 0])
    for _ in range(2):
        result = sampler.step(ctx, [None, None])
        assert result.texts == ["wait", "wait"] and result.wrote_text.all()
        assert result.latents.shape == (2, 4, 4, 4)


def test_bad_text_is_a_named_error(model):
    sampler = Sampler(model, SamplerConfig(max_text_tokens=8))
    ctx = sampler.start(torch.randn(1, 4, 4, 4))
    with pytest.raises(ValueError, match="the limit is 256"):
        sampler.step(ctx, ["far too long " * 30])
    with pytest.raises(TypeError, match="must be a str"):
        sampler.step(ctx, [3])
    with pytest.raises(ValueError, match="2 texts for 1 rollouts"):
        sampler.step(ctx, ["wait", "wait"])
    with pytest.raises(ValueError, match="flow_steps must be >= 1"):
        SamplerConfig(flow_steps=0)


def test_restarted_stream_behaves_like_a_fresh_rollout_and_others_are_untouched(model):
    """What a vectorized env's autoreset does: one stream skips a step and restarts, the others go on."""
    sampler = Sampler(model, SamplerConfig(flow_steps=2, context_steps=4))
    g = torch.Generator().manual_seed(0)
    anchors, fresh_anchor = torch.randn(3, 4, 4, 4, generator=g), torch.randn(1, 4, 4, 4, generator=g)
    chunks = torch.randn(8, 3, 4, 4, 4, generator=g)
    texts = ["move up", "wait", "move left"]

    ctx, reference = sampler.start(anchors), sampler.start(anchors)
    for k in range(5):
        sampler.step(ctx, texts, latents=chunks[k])
        sampler.step(reference, texts, latents=chunks[k])
    sampler.step(ctx, texts, latents=chunks[5], active=[True, False, True])
    patchify = model.transformer.patchify
    assert torch.equal(ctx.last_chunk[1], patchify(chunks[4, 1]))  # a skipping stream keeps the chunk a refiner reads
    ctx.restart_streams([1], sampler.start(fresh_anchor))
    assert torch.equal(ctx.last_chunk[1], patchify(fresh_anchor[0]))
    assert torch.equal(ctx.last_chunk[[0, 2]], patchify(chunks[5, [0, 2]]))
    sampler.step(reference, texts, latents=chunks[5])
    after = sampler.step(ctx, texts, latents=chunks[6]).reward
    expected = sampler.step(reference, texts, latents=chunks[6]).reward
    alone = sampler.step(sampler.start(fresh_anchor), texts[1:2], latents=chunks[6, 1:2]).reward
    torch.testing.assert_close(after[[0, 2]], expected[[0, 2]], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(after[1:2], alone, atol=1e-5, rtol=1e-4)
    assert (~ctx.inputs.valid.any(dim=0)).sum() < ctx.length / 4  # slots no stream sees are dropped in batches


def test_reward_of_written_text_is_read_at_the_bof_the_model_wrote(model):
    """A stream whose text the model wrote gets the reward that forcing that same text gives."""
    import copy

    model = copy.deepcopy(model)
    with torch.no_grad():  # every logit 0: greedy writing picks byte 0, valid UTF-8, so the text round-trips
        model.transformer.text_out.weight.zero_()
    sampler = Sampler(model, SamplerConfig(flow_steps=2, max_text_tokens=5, temperature=0.0))
    generator = torch.Generator().manual_seed(4)
    anchor, chunk = torch.randn(2, 2, 4, 4, 4, generator=generator)
    wrote = sampler.step(sampler.start(anchor), [None, "move up"], latents=chunk, generator=generator)
    assert wrote.wrote_text.tolist() == [True, False] and wrote.texts[0] == "\x00" * 5
    forced = sampler.step(sampler.start(anchor), wrote.texts, latents=chunk)
    torch.testing.assert_close(wrote.reward, forced.reward, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(wrote.termination, forced.termination, atol=1e-5, rtol=1e-4)
    other = sampler.step(sampler.start(anchor), ["wait", "move down"], latents=chunk)
    assert not torch.allclose(other.reward, forced.reward, atol=1e-4)  # the text changes the reward

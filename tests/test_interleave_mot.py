"""The interleaved sequence, its attention mask, and the Mixture-of-Transformers."""

from __future__ import annotations

import pytest
import torch

from tv2tv_world.world_model.interleave import CLEAN, NOISY, PAD, TEXT, attention_mask, build_layout, text_targets
from tv2tv_world.world_model.mot import Modalities, MoTConfig, MoTTransformer, video_first
from tv2tv_world.world_model.text_tokenizer import ByteTokenizer

TOK = ByteTokenizer()
CFG = MoTConfig(dim=32, depth=2, heads=2, latent_channels=4, latent_size=4, patch_size=2)  # 4 tokens per chunk
N = CFG.tokens_per_chunk


def _layout(texts=(["move up", "wait", "go to the red fruit. move left"], ["move down", "move right", "wait"])):
    steps = [[TOK.encode(t) for t in sample] for sample in texts]
    return build_layout(steps, N, TOK.bos, TOK.bof, TOK.eof, TOK.pad, noisy=True)


def _run(model, layout, video, t, text_dropped=None):
    with torch.no_grad():
        return model(layout, video, t, attention_mask(layout, text_dropped))


@pytest.fixture()
def setup():
    torch.manual_seed(0)
    model = MoTTransformer(CFG).eval()
    layout = _layout()
    b, length = layout.kind.shape
    video = torch.randn(b, length, CFG.latent_channels * CFG.patch_size**2) * layout.is_video[..., None]
    t = torch.rand(b, length)
    return model, layout, video, t


def _where(layout, kind, chunk=None, sample=0):
    sel = layout.kind[sample] == kind
    if chunk is not None:
        sel &= layout.chunk[sample] == chunk
    return sel


def _changed(a, b):
    """(L,) bool: which positions of sample 0 changed in any output."""
    return torch.stack([(x[0] - y[0]).abs().amax(-1) > 1e-6 for x, y in zip(a, b)]).any(0)


def test_layout_puts_text_before_its_chunk_and_pads_short_samples():
    layout = _layout()
    kinds = layout.kind[0].tolist()
    first_noisy = kinds.index(NOISY)
    assert layout.token[0, first_noisy - 1] == TOK.bof
    assert TOK.decode(layout.token[0, kinds.index(TEXT, 1) :][:20].tolist()).startswith("move up")
    assert (layout.kind[0] == NOISY).sum() == 3 * N and (layout.kind[0] == CLEAN).sum() == 4 * N
    assert (layout.kind[1] == PAD).sum() == layout.kind.shape[1] - (layout.kind[1] != PAD).sum() > 0
    noisy, clean = _where(layout, NOISY, 2), _where(layout, CLEAN, 2)
    assert torch.equal(layout.position[0, noisy], layout.position[0, clean])  # copies share positions


def test_noisy_chunk_never_visible_to_later_tokens(setup):
    model, layout, video, t = setup
    out = _run(model, layout, video, t)
    noisy1 = _where(layout, NOISY, 1)
    perturbed = video.clone()
    perturbed[0, noisy1] += 3.0
    changed = _changed(out, _run(model, layout, perturbed, t))
    assert changed[noisy1].all()
    assert not changed[~noisy1].any()
    later_t = t.clone()
    later_t[0, noisy1] = 1 - later_t[0, noisy1]  # its noise level is private too
    assert not _changed(out, _run(model, layout, video, later_t))[~noisy1].any()


def test_noisy_chunk_never_sees_its_own_clean_copy_but_the_next_one_does(setup):
    model, layout, video, t = setup
    clean2 = _where(layout, CLEAN, 2)
    perturbed = video.clone()
    perturbed[0, clean2] += 3.0
    changed = _changed(_run(model, layout, video, t), _run(model, layout, perturbed, t))
    assert not changed[_where(layout, NOISY, 2)].any()
    assert changed[_where(layout, NOISY, 3)].all() and changed[_where(layout, CLEAN, 3)].all()
    assert not changed[_where(layout, CLEAN, 1)].any()


def test_text_is_causal_and_noisy_chunk_reads_its_steps_text(setup):
    model, layout, video, t = setup
    text_positions = torch.nonzero(layout.kind[0] == TEXT).flatten()
    noisy2 = _where(layout, NOISY, 2)
    step2_text = [p for p in text_positions.tolist() if _where(layout, NOISY, 1).nonzero().max() < p < noisy2.nonzero().min()]
    target = step2_text[3]  # a byte of step 2's text
    edited = _layout()
    edited.token[0, target] = TOK.encode("Z")[0]
    changed = _changed(_run(model, layout, video, t), _run(model, edited, video, t))
    assert not changed[:target].any()
    assert changed[noisy2].all()


def test_dropped_text_is_hidden_from_its_own_noisy_chunk_only(setup):
    """CFG's unconditional branch: chunk 2 drawn without step 2's text (nor its BOF, which read it)."""
    model, layout, video, t = setup
    text_positions = torch.nonzero(layout.kind[0] == TEXT).flatten()
    noisy2 = _where(layout, NOISY, 2)
    target = [p for p in text_positions.tolist() if _where(layout, NOISY, 1).nonzero().max() < p < noisy2.nonzero().min()][3]
    edited = _layout()
    edited.token[0, target] = TOK.encode("Z")[0]
    dropped = torch.zeros(2, 4, dtype=torch.bool)
    dropped[0, 2] = True
    changed = _changed(_run(model, layout, video, t, dropped), _run(model, edited, video, t, dropped))
    assert not changed[noisy2].any()
    assert changed[_where(layout, CLEAN, 2)].all() and changed[_where(layout, NOISY, 3)].all()


def test_clean_chunk_tokens_see_each_other_both_ways(setup):
    model, layout, video, t = setup
    clean1 = torch.nonzero(_where(layout, CLEAN, 1)).flatten()
    perturbed = video.clone()
    perturbed[0, clean1[-1]] += 3.0
    changed = _changed(_run(model, layout, video, t), _run(model, layout, perturbed, t))
    assert changed[clean1[0]]


def test_towers_are_separate_but_attention_is_shared():
    torch.manual_seed(0)
    model = MoTTransformer(MoTConfig(**{**CFG.__dict__, "depth": 1}))
    layout = _layout()
    video = torch.randn(*layout.kind.shape, CFG.latent_channels * CFG.patch_size**2)
    _, velocity, _ = model(layout, video, torch.rand(layout.kind.shape), attention_mask(layout))
    velocity.square().sum().backward()
    block = model.blocks[0]
    assert block.mlp[0][0].weight.grad.abs().sum() == 0 and block.proj[0].weight.grad.abs().sum() == 0
    assert block.mlp[1][0].weight.grad.abs().sum() > 0
    assert block.qkv[0].weight.grad.abs().sum() > 0  # video queries read text keys and values


def test_a_pass_over_the_stream_put_video_first_equals_one_in_stream_order():
    """Training's pass reorders each row video-first and routes by slicing; the stream-order pass (the
    sampler's `extend`) routes by mask. Same outputs and the same gradients."""
    torch.manual_seed(0)
    model = MoTTransformer(CFG)
    layout = _layout()
    video = torch.randn(*layout.kind.shape, CFG.latent_channels * CFG.patch_size**2) * layout.is_video[..., None]
    t, mask = torch.rand(layout.kind.shape), attention_mask(layout)
    assert video_first(layout.is_video) is not None and Modalities(layout.is_video).split is None
    results = []
    for run in (lambda: model(layout, video, t, mask),
                lambda: model.extend(layout.kind, layout.token, layout.patch, layout.position, video, t, mask)[:3]):
        model.zero_grad()
        logits, velocity, hidden = run()
        (velocity.square().sum() + logits.logsumexp(-1).sum()).backward()
        results.append(([logits, velocity, hidden], [p.grad.clone() for p in model.parameters()]))
    (outputs, grads), (reference, reference_grads) = results
    for a, b in zip(outputs + grads, reference + reference_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_rows_with_different_numbers_of_chunks_keep_the_stream_order():
    layout = _layout((["move up", "wait"], ["move down", "move right", "wait"]))  # 3 and 4 chunks
    assert video_first(layout.is_video) is None
    model = MoTTransformer(CFG).eval()
    video = torch.randn(*layout.kind.shape, CFG.latent_channels * CFG.patch_size**2) * layout.is_video[..., None]
    t, mask = torch.rand(layout.kind.shape), attention_mask(layout)
    with torch.no_grad():
        outputs = model(layout, video, t, mask)
        reference = model.extend(layout.kind, layout.token, layout.patch, layout.position, video, t, mask)[:3]
    for a, b in zip(outputs, reference):
        torch.testing.assert_close(a, b)


def test_modalities_route_by_slicing_only_where_video_comes_first_in_every_row():
    is_video = torch.tensor([[True, True, False], [True, True, False]])
    assert Modalities(is_video).split == 2
    assert Modalities(torch.ones(2, 3, dtype=torch.bool)).split == 3
    assert Modalities(torch.zeros(2, 3, dtype=torch.bool)).split == 0
    assert Modalities(torch.tensor([[True, False, True], [True, True, False]])).split is None
    x = torch.arange(6.0).reshape(2, 3, 1)
    for mask in (is_video, torch.tensor([[False, True, True], [True, False, True]])):
        routed = Modalities(mask).route(x, lambda t: -t, lambda v: 10 * v)
        torch.testing.assert_close(routed, torch.where(mask[..., None], 10 * x, -x))


def test_text_targets_teach_when_to_switch_to_video():
    layout = _layout()
    targets = text_targets(layout, TOK.bof)
    tokens = layout.token[0].tolist()
    text = torch.nonzero(layout.kind[0] == TEXT).flatten().tolist()
    stream = [tokens[i] for i in text]
    first_bof = stream.index(TOK.bof, 2)  # step 1's BOF (index 1 is the anchor's)
    assert targets[0, text[first_bof - 1]] == TOK.bof  # the plan's last byte predicts BOF
    assert targets[0, text[first_bof]] == -100  # BOF itself is not trained
    assert targets[0, text[first_bof - 2]] == TOK.encode("p")[0]  # "move u" -> "p"
    eof = text[first_bof + 1]
    assert tokens[eof] == TOK.eof and targets[0, eof] == TOK.encode("w")[0]  # EOF -> next plan: "wait"
    assert (targets[0, layout.is_video[0]] == -100).all()


def test_a_prompt_sits_between_bos_and_the_anchor_chunk():
    prompt = TOK.encode("move up, wait")
    layout = build_layout([[[], []]], N, TOK.bos, TOK.bof, TOK.eof, TOK.pad, prompt_tokens=[prompt])
    tokens = layout.token[0].tolist()
    assert tokens[: len(prompt) + 2] == [TOK.bos, *prompt, TOK.bof]
    assert layout.kind[0, len(prompt) + 2] == CLEAN and layout.chunk[0, len(prompt) + 2] == 0
    assert (layout.text_step[0, 1 : len(prompt) + 2] == -1).all()  # CFG never hides the prompt

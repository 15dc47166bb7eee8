"""The video tokenizer: chunking, chunk-by-chunk decoding, causality, configs."""

from __future__ import annotations

import pytest
import torch

from tv2tv_world.tokenizer.video_vae import CausalConv3d, VideoVAE, VideoVAEConfig

TINY = dict(latent_channels=4, channels=(16, 32))


@pytest.mark.parametrize("r", [1, 2, 4])
def test_chunk_then_unchunk_gives_back_the_frames(r):
    vae = VideoVAE(VideoVAEConfig(temporal_compression=r, **TINY))
    frames = torch.rand(2, 1 + 3 * r, 3, 64, 64)
    chunks = vae.chunk(frames)
    assert chunks.shape == (2, 4, 3, r, 64, 64)
    assert torch.equal(chunks[:, 0, :, 0], frames[:, 0])  # chunk 0 repeats the first frame
    assert torch.equal(vae.unchunk(chunks), frames)


@pytest.mark.parametrize("r", [1, 4])
def test_decoding_chunk_by_chunk_equals_decoding_whole(r):
    torch.manual_seed(0)
    vae = VideoVAE(VideoVAEConfig(temporal_compression=r, **TINY)).eval()
    frames = torch.rand(2, 1 + 5 * r, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        latents = vae.encode(vae.chunk(frames))
        assert latents.shape == (2, 6, 4, 8, 8)
        whole = vae.decode(latents)
        pieces = torch.stack([vae.decode(latents[:, i]) for i in range(latents.shape[1])], dim=1)
    assert whole.shape == (2, 6, 3, r, 64, 64)
    torch.testing.assert_close(pieces, whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("r", [2, 4])
def test_frames_decoded_from_one_latent_can_differ(r):
    """A chunk's frames must not be copies of one frame (sprites move within a chunk)."""
    torch.manual_seed(0)
    vae = VideoVAE(VideoVAEConfig(temporal_compression=r, **TINY)).eval()
    with torch.no_grad():
        frames = vae.decode(torch.randn(2, 4, 8, 8))  # (2, 3, r, 64, 64)
    for t in range(1, r):
        assert (frames[:, :, t] - frames[:, :, t - 1]).abs().amax() > 1e-3


def test_encoding_a_chunk_ignores_the_other_chunks():
    torch.manual_seed(0)
    vae = VideoVAE(VideoVAEConfig(**TINY)).eval()
    frames = torch.rand(1, 9, 3, 64, 64) * 2 - 1
    changed = frames.clone()
    changed[:, 5:] = torch.rand_like(changed[:, 5:])  # only chunk 2 changes
    with torch.no_grad():
        a, b = vae.encode(vae.chunk(frames)), vae.encode(vae.chunk(changed))
    torch.testing.assert_close(a[:, :2], b[:, :2])
    assert not torch.allclose(a[:, 2], b[:, 2])


def test_causal_conv_output_never_depends_on_later_frames():
    torch.manual_seed(0)
    conv = CausalConv3d(3, 5, (3, 3, 3))
    x = torch.randn(1, 3, 6, 8, 8)
    later = x.clone()
    later[:, :, 4:] += 1.0
    y, y_later = conv(x), conv(later)
    assert y.shape == (1, 5, 6, 8, 8)
    torch.testing.assert_close(y[:, :, :4], y_later[:, :, :4])
    assert not torch.allclose(y[:, :, 4:], y_later[:, :, 4:])


def test_strided_causal_conv_sees_the_last_frame():
    conv = CausalConv3d(1, 1, (3, 1, 1), stride=(2, 1, 1))
    x = torch.zeros(1, 1, 4, 1, 1)
    bumped = x.clone()
    bumped[:, :, 3] = 1.0
    y, y_bumped = conv(x), conv(bumped)
    assert y.shape[2] == 2
    assert y[:, :, 1] != y_bumped[:, :, 1]


def test_standardised_latents_round_trip_through_the_stored_statistics():
    vae = VideoVAE(VideoVAEConfig(**TINY))
    vae.latent_mean.fill_(0.5)
    vae.latent_std.fill_(2.0)
    raw = torch.randn(3, 4, 8, 8)
    torch.testing.assert_close(vae.standardise(raw), (raw - 0.5) / 2.0)
    torch.testing.assert_close(vae.destandardise(vae.standardise(raw)), raw)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(spatial_compression=16), "spatial_compression 16 must equal"),
        (dict(temporal_compression=3), "temporal_compression must be a power of two"),
        (dict(temporal_compression=8), "temporal_compression must be a power of two <= 4"),
        (dict(frame_size=60), "not divisible"),
    ],
)
def test_bad_config_is_a_named_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VideoVAEConfig(**{**TINY, **kwargs})


def test_frame_count_that_is_not_whole_chunks_is_refused():
    vae = VideoVAE(VideoVAEConfig(**TINY))
    with pytest.raises(ValueError, match="expected 1 \\+ n \\* 4 frames, got 6"):
        vae.chunk(torch.zeros(1, 6, 3, 64, 64))


def test_foreground_weights_mark_pixels_unlike_the_background():
    from tv2tv_world.tokenizer.module import foreground_weights

    chunk = torch.full((1, 3, 4, 8, 8), -0.8)
    chunk[0, 0, :, 2:4, 2:4] = 0.9  # a red sprite on a dark floor
    w = foreground_weights(chunk, 10.0)
    assert w.shape == (1, 1, 4, 8, 8)
    assert (w[0, 0, :, 2:4, 2:4] == 11.0).all()
    assert w.sum() == 4 * 64 + 10.0 * 4 * 4

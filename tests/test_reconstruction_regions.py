"""The tokenizer's error split by region: which pixels are moving, edges and flat, and the shares."""

from __future__ import annotations

import math

import pytest
import torch

from tv2tv_world.evaluation.reconstruction_regions import REGIONS, RegionErrors, region_masks


def _clip() -> torch.Tensor:
    """(3, 3, 16, 16) in [0, 1]: a still grey square at rows/cols 2-5, a white one moving right along rows 10-13."""
    frames = torch.zeros(3, 3, 16, 16)
    frames[:, :, 2:6, 2:6] = 0.5
    for t in range(3):
        frames[t, :, 10:14, 8 + t:12 + t] = 1.0
    return frames


def test_regions_split_every_pixel_into_moving_edges_and_flat():
    masks = region_masks(_clip())
    assert sum(m.int() for m in masks.values()).eq(1).all()  # each pixel in exactly one region
    moving, edges, flat = masks["moving"], masks["edges"], masks["flat"]
    assert moving[0, 10, 8] and moving[1, 10, 8] and not moving[2, 10, 8]  # left by the square in frame 1 only
    assert not moving[0, 10, 13] and moving[1, 10, 13] and moving[2, 10, 13]  # entered by it in frame 2 only
    assert not moving[:, 11, 10:12].any()  # covered by it in all three frames
    assert not moving[:, :8].any()  # nothing moves in the top half
    assert edges[:, 2, 2].all() and edges[:, 1, 3].all() and edges[:, 6, 3].all()  # both sides of the still square's border
    assert flat[:, 3:5, 3:5].all() and flat[:, 0, 10].all()  # inside the square, and empty background


def test_error_shares_follow_where_the_error_is():
    frames = _clip()
    masks = region_masks(frames)
    regions = RegionErrors()
    off = frames.clone()
    off[:, :, 2:6, 2:6] += 0.1  # the still square, inside and on its edge, a little too bright
    regions.add(frames, off)
    report = regions.report()
    assert set(report) == set(REGIONS)
    inside, border = 4 * 3, 12 * 3  # per frame: the square's 2x2 interior is flat, its 12 rim pixels are edges
    assert report["flat"]["error_share"] == pytest.approx(inside / (inside + border))
    assert report["edges"]["error_share"] == pytest.approx(border / (inside + border))
    assert report["moving"]["error_share"] == 0.0
    assert report["moving"]["pixel_share"] == pytest.approx(float(masks["moving"].float().mean()))
    everything = 10 * math.log10(frames.numel() / (0.01 * 3 * 16 * 3))
    assert regions.psnr() == pytest.approx(everything, rel=1e-4)
    assert report["moving"]["psnr_if_perfect"] == pytest.approx(everything, rel=1e-4)
    assert report["edges"]["psnr_if_perfect"] > report["flat"]["psnr_if_perfect"] > everything

    perfect = RegionErrors()
    perfect.add(frames, frames)
    assert all(r["error_share"] == 0.0 and r["psnr_if_perfect"] is None for r in perfect.report().values())

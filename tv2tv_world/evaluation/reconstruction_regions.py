"""Where a tokenizer's reconstruction error lies: on moving pixels, on still edges, or on flat areas.

A game frame is mostly flat background; a tokenizer that blurs loses its decibels on the edges
of sprites and above all on the sprites that move. Splitting the squared error by region says
which of those a better tokenizer has to fix, and what the PSNR would be if it did.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

REGIONS = ("moving", "edges", "flat")
COLOUR_STEP = 0.02  # in [0, 1]: a change of more than ~5 / 255 in some channel counts as a different colour


def region_masks(frames: torch.Tensor) -> dict[str, torch.Tensor]:
    """(t, c, h, w) frames in [0, 1] -> {region: (t, h, w) bool}; the regions cover every pixel once.

    moving: the pixel changes from the frame before or into the frame after.
    edges: still, and some pixel of its 3 x 3 neighbourhood has another colour.
    flat: the rest.
    """
    changed = (frames[1:] - frames[:-1]).abs().amax(dim=1) > COLOUR_STEP  # (t - 1, h, w): frame i + 1 vs i
    moving = torch.zeros(frames.shape[0], *frames.shape[2:], dtype=torch.bool, device=frames.device)
    moving[1:] |= changed
    moving[:-1] |= changed
    padded = F.pad(frames, (1, 1, 1, 1), mode="replicate")
    spread = F.max_pool2d(padded, 3, stride=1) + F.max_pool2d(-padded, 3, stride=1)  # local max - local min
    edges = (spread.amax(dim=1) > COLOUR_STEP) & ~moving
    return {"moving": moving, "edges": edges, "flat": ~(moving | edges)}


class RegionErrors:
    """Squared reconstruction error summed by region over many frames."""

    def __init__(self):
        self.error = dict.fromkeys(REGIONS, 0.0)
        self.pixels = dict.fromkeys(REGIONS, 0)
        self.values = 0  # pixels x channels

    def add(self, target: torch.Tensor, pred: torch.Tensor) -> None:
        """Frames of one episode, each (t, c, h, w) in [0, 1]."""
        squared = (pred - target).pow(2).sum(dim=1)  # (t, h, w)
        for name, mask in region_masks(target).items():
            self.error[name] += float(squared[mask].sum())
            self.pixels[name] += int(mask.sum())
        self.values += target.numel()

    def psnr(self) -> float:
        """PSNR of everything added, from the squared error pooled over every pixel and channel."""
        return -10 * math.log10(max(sum(self.error.values()) / self.values, 1e-10))

    def report(self) -> dict[str, dict[str, float | None]]:
        """{region: pixel_share, error_share, psnr_if_perfect}: the last is the PSNR over all frames
        with that region's error removed (None where no error would be left)."""
        total_error, total_pixels = sum(self.error.values()), sum(self.pixels.values())
        out = {}
        for name in REGIONS:
            rest = (total_error - self.error[name]) / self.values
            out[name] = {
                "pixel_share": self.pixels[name] / total_pixels,
                "error_share": self.error[name] / total_error if total_error else 0.0,
                "psnr_if_perfect": -10 * math.log10(rest) if rest > 0 else None,
            }
        return out

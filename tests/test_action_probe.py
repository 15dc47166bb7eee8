"""The inverse-dynamics probe that measures control reads frames as floats in [-1, 1] or as a screen's uint8."""

from __future__ import annotations

import torch

from tv2tv_world.evaluation.action_probe import ActionProbe, probe_inputs
from tv2tv_world.tokenizer.module import to_uint8, to_unit


def test_the_probe_reads_uint8_frames_as_the_floats_they_stand_for():
    torch.manual_seed(0)
    probe = ActionProbe(actions=5, frames=5, frame_size=16).eval()
    previous, chunks = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8), torch.randint(
        0, 256, (3, 3, 4, 16, 16), dtype=torch.uint8)
    screen = probe_inputs(previous, chunks)  # (3, 5, 3, 16, 16) uint8: a fourth of the floats' memory
    assert screen.dtype == torch.uint8 and screen.shape == (3, 5, 3, 16, 16)
    floats = probe_inputs(to_unit(previous), to_unit(chunks))
    with torch.no_grad():
        torch.testing.assert_close(probe(screen), probe(floats))
    assert torch.equal(to_uint8(floats), screen)

"""Area-average resizing of RGB frames with numpy alone (games must not need torch or cv2)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=16)
def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix: row i averages the input cells that output cell i covers."""
    edges = np.linspace(0.0, n_in, n_out + 1)
    cells = np.arange(n_in)
    lo = np.maximum(edges[:-1, None], cells[None, :])
    hi = np.minimum(edges[1:, None], cells[None, :] + 1)
    weights = np.clip(hi - lo, 0.0, None)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def area_resize(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a (h, w, 3) uint8 frame to (height, width, 3) by averaging covered areas.

    Area averaging keeps thin objects (an Atari ball is 2 pixels wide) visible as a blend
    where nearest-neighbour sampling would drop them.
    """
    if frame.shape[:2] == (height, width):
        return frame
    wy, wx = _area_weights(frame.shape[0], height), _area_weights(frame.shape[1], width)
    out = np.einsum("ih,hwc,jw->ijc", wy, frame.astype(np.float32), wx, optimize=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)

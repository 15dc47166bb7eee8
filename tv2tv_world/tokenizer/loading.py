"""A trained video tokenizer, loaded from its own checkpoint or from the world model that carries it."""

from __future__ import annotations

from pathlib import Path

from tv2tv_world.storage.bundle import dequantize, resolve_checkpoint
from tv2tv_world.storage.checkpoint import CheckpointError, inconsistent_checkpoint, load_checkpoint
from tv2tv_world.tokenizer.video_vae import VideoVAE


def load_tokenizer(path: str | Path) -> VideoVAE:
    """The video tokenizer of a `tv2tv fit` tokenizer checkpoint, or the one a world model carries
    (a bundled model by name too), in eval mode on the CPU."""
    path = resolve_checkpoint(path)
    checkpoint = load_checkpoint(path, kind=None)
    if checkpoint["tv2tv"]["kind"] not in ("video_vae", "world_model"):
        raise CheckpointError(f"{path}: is a {checkpoint['tv2tv']['kind']!r} checkpoint, expected a tokenizer or a world model")
    try:
        return VideoVAE.from_loaded(dequantize(checkpoint))
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        raise inconsistent_checkpoint(path, "the checkpoint's tokenizer", err) from None

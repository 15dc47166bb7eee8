"""Videos in TensorBoard without moviepy: an animated GIF written as an image summary."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from tensorboard.compat.proto.summary_pb2 import Summary


def gif_bytes(frames: np.ndarray, fps: float) -> bytes:
    """(t, h, w, 3) uint8 frames -> an endlessly looping animated GIF."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected (t, h, w, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return buffer.getvalue()


def add_video(writer, tag: str, frames: np.ndarray, step: int, fps: float = 8.0) -> None:
    """Log (t, h, w, 3) uint8 frames to a `torch.utils.tensorboard.SummaryWriter` as a video."""
    h, w = frames.shape[1:3]
    image = Summary.Image(height=h, width=w, colorspace=3, encoded_image_string=gif_bytes(frames, fps))
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)
